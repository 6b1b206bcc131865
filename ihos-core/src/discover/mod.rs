//! `ihos init`: a topology from what is running. From the load balancer's host, the nginx
//! container's config (found by its bind mount) and the upstream's `server` lines; on each
//! backend's host, the container publishing that port (`docker ps`), its webapps and logs
//! bind mounts (`docker inspect`) and the WAR in webapps. What cannot be found is left for
//! the person to fill in ([`Discovered::todo`]); [`render`] writes the TOML.

mod docker;
mod render;

use std::sync::Arc;

pub use render::render;

use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::transport::{Transport, TransportError, run_checked};

/// What `discover` needs to know.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DiscoverOptions {
    /// The nginx container on the load balancer's host.
    pub nginx_container: String,
    /// The upstream holding the app's backends.
    pub upstream: String,
    /// nginx's config inside its container (default `/etc/nginx/nginx.conf`).
    pub config_in_container: String,
}

impl DiscoverOptions {
    /// Options for `nginx_container` and `upstream`, nginx's config at its default place.
    pub fn new(nginx_container: impl Into<String>, upstream: impl Into<String>) -> Self {
        DiscoverOptions {
            nginx_container: nginx_container.into(),
            upstream: upstream.into(),
            config_in_container: "/etc/nginx/nginx.conf".into(),
        }
    }
}

/// The load balancer as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredLb {
    /// The nginx container.
    pub container: String,
    /// Its config on the host (the bind mount's source).
    pub config: String,
    /// Its config inside the container.
    pub config_in_container: String,
    /// The upstream.
    pub upstream: String,
}

/// One backend of the upstream and what was found behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredInstance {
    /// The `server` address, as written (`192.168.1.101:39091`).
    pub backend: String,
    /// The address part (the host to look on).
    pub address: String,
    /// The port part (nginx's default 80 when the line has none).
    pub port: u16,
    /// Whether the line is in rotation now.
    pub enabled: bool,
    /// The container publishing the backend's port.
    pub container: Option<String>,
    /// The port inside the container.
    pub container_port: Option<u16>,
    /// Tomcat's webapps directory on the host.
    pub webapps: Option<String>,
    /// Tomcat's logs directory on the host.
    pub logs: Option<String>,
    /// The WAR in webapps (the only `*.war` there).
    pub war_name: Option<String>,
    /// What was not found, and why.
    pub todo: Vec<String>,
}

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The load balancer.
    pub lb: DiscoveredLb,
    /// The upstream's servers, in file order.
    pub instances: Vec<DiscoveredInstance>,
    /// Servers that are not a `host:port` ihos can manage (a `unix:` socket), and why.
    pub skipped: Vec<String>,
}

/// Why discovery could not start: the load balancer's side (without it there is nothing to
/// write).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// A command on the load balancer's host failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The nginx container has no bind mount for its config.
    #[error(
        "container {container} on {host} has no bind mount at {path} (is its nginx config elsewhere? pass it with --config-in-container)"
    )]
    NoConfigMount {
        /// The host.
        host: String,
        /// The container.
        container: String,
        /// The path looked for.
        path: String,
    },
    /// The config could not be read as nginx config.
    #[error("{file}: {message}")]
    Config {
        /// The file on the host.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The config has no such upstream.
    #[error("{file} has no upstream {upstream:?} (upstreams: {})", known.join(", "))]
    NoUpstream {
        /// The file on the host.
        file: String,
        /// The upstream asked for.
        upstream: String,
        /// The upstreams there.
        known: Vec<String>,
    },
}

/// The transport to a backend's address, or why there is none.
pub type HostOf<'a> = dyn Fn(&str) -> Result<Arc<dyn Transport>, String> + 'a;

/// Finds the load balancer's config and upstream through `lb`, then each backend through
/// the transport `host_of` gives for its address (an error: why it cannot be reached, left
/// as a TODO).
pub async fn discover(
    lb: &dyn Transport,
    host_of: &HostOf<'_>,
    options: &DiscoverOptions,
) -> Result<Discovered, DiscoverError> {
    let mounts = docker::mounts(lb, &options.nginx_container).await?;
    let config = config_source(&mounts, &options.config_in_container).ok_or_else(|| {
        DiscoverError::NoConfigMount {
            host: lb.host().to_string(),
            container: options.nginx_container.clone(),
            path: options.config_in_container.clone(),
        }
    })?;
    let path = RemotePath::new(&config).map_err(|e| DiscoverError::Config {
        file: config.clone(),
        message: e.to_string(),
    })?;
    let text = lb.read_file(&path, Privilege::Sudo).await?;
    let doc = ihos_nginx::Document::parse(text).map_err(|e| DiscoverError::Config {
        file: config.clone(),
        message: e.to_string(),
    })?;
    let upstream = doc
        .upstream(&options.upstream)
        .map_err(|_| DiscoverError::NoUpstream {
            file: config.clone(),
            upstream: options.upstream.clone(),
            known: doc.upstreams().into_iter().map(|u| u.name).collect(),
        })?;
    let mut instances = Vec::new();
    let mut skipped = Vec::new();
    for server in &upstream.servers {
        let Some((address, port)) = split_backend(&server.address) else {
            skipped.push(format!(
                "server {}: not a host:port ihos can manage",
                server.address
            ));
            continue;
        };
        let mut found = DiscoveredInstance {
            backend: server.address.clone(),
            address: address.clone(),
            port,
            enabled: server.state.is_enabled(),
            container: None,
            container_port: None,
            webapps: None,
            logs: None,
            war_name: None,
            todo: Vec::new(),
        };
        match host_of(&address) {
            Ok(host) => docker::backend(host.as_ref(), &mut found).await,
            Err(why) => found.todo.push(format!(
                "host {address} could not be reached ({why}): fill in by hand"
            )),
        }
        instances.push(found);
    }
    Ok(Discovered {
        lb: DiscoveredLb {
            container: options.nginx_container.clone(),
            config,
            config_in_container: options.config_in_container.clone(),
            upstream: options.upstream.clone(),
        },
        instances,
        skipped,
    })
}

/// The config's file on the host: the source of the bind mount at `path`, or of the
/// longest one holding it (`-v /opt/nginx:/etc/nginx` for `/etc/nginx/nginx.conf`).
fn config_source(mounts: &[docker::Mount], path: &str) -> Option<String> {
    mounts
        .iter()
        .filter_map(|m| {
            let dest = m.destination.trim_end_matches('/');
            let rest = if path == dest {
                ""
            } else {
                path.strip_prefix(dest)?.strip_prefix('/')?
            };
            Some((dest.len(), m.source.trim_end_matches('/'), rest))
        })
        .max_by_key(|(len, ..)| *len)
        .map(|(_, source, rest)| {
            if rest.is_empty() {
                source.to_string()
            } else {
                format!("{source}/{rest}")
            }
        })
}

/// A `server` address as host and port (nginx's default 80 when it has none); `None` for
/// what is not `host[:port]` (`unix:/path`, an IPv6 address without brackets).
fn split_backend(address: &str) -> Option<(String, u16)> {
    if address.starts_with("unix:") {
        return None;
    }
    if let Some(v6) = address.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if rest.is_empty() => 80,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match address.split_once(':') {
        Some((host, port)) if !port.contains(':') && !host.is_empty() => {
            Some((host.to_string(), port.parse().ok()?))
        }
        Some(_) => None,
        None if !address.is_empty() => Some((address.to_string(), 80)),
        None => None,
    }
}

/// Runs `docker ARGS` with sudo on `host` (bounded), its stdout.
async fn docker_out(host: &dyn Transport, args: &[&str]) -> Result<String, TransportError> {
    let cmd = Command::new("docker")
        .args(args.iter().copied())
        .with_privilege(Privilege::Sudo)
        .timeout(std::time::Duration::from_secs(60));
    Ok(run_checked(host, &cmd).await?.stdout_text())
}

/// Transports to `addresses` (by address) for discovery: each as a host of a topology of
/// hosts only ([`crate::Topology::of_hosts`]), each named as [`crate::render_discovered`] names it.
pub fn connect_addresses(
    addresses: &[String],
    user: Option<&str>,
    options: &crate::LoadOptions,
) -> Result<std::collections::BTreeMap<String, Arc<dyn Transport>>, DiscoverConnectError> {
    let names = render::host_names(addresses.iter().map(String::as_str));
    let named: Vec<(String, String)> = names
        .iter()
        .map(|(address, name)| (name.clone(), address.clone()))
        .collect();
    let topology = crate::Topology::of_hosts(&named, user, options)?;
    let mut by_name = crate::fleet::host_transports(&topology)?;
    Ok(named
        .into_iter()
        .filter_map(|(name, address)| by_name.remove(&name).map(|t| (address, t)))
        .collect())
}

/// Why hosts could not be set up for discovery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverConnectError {
    /// A host's settings (the ssh config) are wrong.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// A transport could not be made.
    #[error(transparent)]
    Fleet(#[from] crate::FleetError),
}

#[cfg(test)]
mod tests {
    use super::docker::Mount;
    use super::{config_source, split_backend};

    #[test]
    fn server_addresses_split_as_nginx_reads_them() {
        assert_eq!(
            split_backend("10.0.0.1:39091"),
            Some(("10.0.0.1".into(), 39091))
        );
        assert_eq!(split_backend("app1"), Some(("app1".into(), 80)));
        assert_eq!(
            split_backend("[fd00::5]:8080"),
            Some(("fd00::5".into(), 8080))
        );
        assert_eq!(split_backend("[fd00::5]"), Some(("fd00::5".into(), 80)));
        for no in [
            "unix:/run/t.sock",
            "fd00::5",
            "",
            ":80",
            "a:b",
            "[x]y",
            "a:99999",
        ] {
            assert_eq!(split_backend(no), None, "{no}");
        }
    }

    #[test]
    fn the_config_is_found_in_a_mounted_file_or_directory() {
        let m = |s: &str, d: &str| Mount {
            kind: "bind".into(),
            source: s.into(),
            destination: d.into(),
        };
        let path = "/etc/nginx/nginx.conf";
        assert_eq!(
            config_source(&[m("/opt/ngx/nginx.conf", path)], path).as_deref(),
            Some("/opt/ngx/nginx.conf")
        );
        let dirs = [
            m("/opt", "/etc"),
            m("/opt/nginx/", "/etc/nginx/"),
            m("/x", "/etc/nginx2"),
        ];
        assert_eq!(
            config_source(&dirs, path).as_deref(),
            Some("/opt/nginx/nginx.conf")
        );
        assert_eq!(config_source(&[m("/x", "/etc/nginx2")], path), None);
    }
}
