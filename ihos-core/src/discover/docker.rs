//! What `docker` says on a host: a container's bind mounts (`docker inspect`), the
//! container publishing a port (`docker ps`), and the WAR in a webapps directory.

use serde::Deserialize;

use super::{DiscoveredInstance, docker_out};
use crate::command::{Command, Privilege};
use crate::transport::{Transport, TransportError, run_checked};

/// One entry of `docker inspect`'s `.Mounts` (Docker Engine API: `MountPoint`).
#[derive(Debug, Deserialize)]
pub(super) struct Mount {
    #[serde(rename = "Type", default)]
    pub(super) kind: String,
    #[serde(rename = "Source", default)]
    pub(super) source: String,
    #[serde(rename = "Destination", default)]
    pub(super) destination: String,
}

/// The bind mounts of `container`.
pub(super) async fn mounts(
    host: &dyn Transport,
    container: &str,
) -> Result<Vec<Mount>, TransportError> {
    let out = docker_out(
        host,
        &["inspect", "--format", "{{json .Mounts}}", container],
    )
    .await?;
    // `null` when it has none; anything else unreadable is said, not taken for none.
    let all: Vec<Mount> = match serde_json::from_str::<Option<Vec<Mount>>>(out.trim()) {
        Ok(m) => m.unwrap_or_default(),
        Err(e) => {
            return Err(TransportError::Protocol {
                host: host.host().to_string(),
                command: format!("docker inspect {container}"),
                reason: format!("unreadable mounts: {e}"),
            });
        }
    };
    Ok(all.into_iter().filter(|m| m.kind == "bind").collect())
}

/// The container of `docker ps` lines (`NAME\tPORTS`) that publishes TCP `port` on
/// `address` (or on every address), and the port inside it. Ports look like
/// `0.0.0.0:39091->8080/tcp, :::39091->8080/tcp`, neighbouring ones as a range
/// `0.0.0.0:39091-39092->8080-8081/tcp`.
pub(super) fn publisher(ps: &str, address: &str, port: u16) -> Option<(String, u16)> {
    let range = |text: &str| -> Option<(u16, u16)> {
        match text.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => {
                let p = text.parse().ok()?;
                Some((p, p))
            }
        }
    };
    for line in ps.lines() {
        let Some((name, ports)) = line.split_once('\t') else {
            continue;
        };
        for mapping in ports.split(',').map(str::trim) {
            let Some((outside, inside)) = mapping.split_once("->") else {
                continue;
            };
            let Some(inside) = inside.strip_suffix("/tcp") else {
                continue;
            };
            let Some((ip, published)) = outside.rsplit_once(':') else {
                continue;
            };
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let any = ip.is_empty() || ip == "0.0.0.0" || ip == "::";
            let (Some((from, to)), Some((inside_from, _))) = (range(published), range(inside))
            else {
                continue;
            };
            if (from..=to).contains(&port) && (any || ip == address) {
                return Some((name.to_string(), inside_from + (port - from)));
            }
        }
    }
    None
}

/// Fills in what `host` says about `found`'s backend; what it cannot tell goes to `todo`.
pub(super) async fn backend(host: &dyn Transport, found: &mut DiscoveredInstance) {
    let port = found.port;
    let ps = match docker_out(host, &["ps", "--format", "{{.Names}}\t{{.Ports}}"]).await {
        Ok(ps) => ps,
        Err(e) => {
            found
                .todo
                .push(format!("docker ps on {}: {e}", host.host()));
            return;
        }
    };
    let Some((container, inside)) = publisher(&ps, &found.address, port) else {
        found.todo.push(format!(
            "no running container on {} publishes port {port}: set container, webapps, logs",
            host.host()
        ));
        return;
    };
    found.container = Some(container.clone());
    found.container_port = Some(inside);
    let mounts = match mounts(host, &container).await {
        Ok(m) => m,
        Err(e) => {
            found.todo.push(format!("docker inspect {container}: {e}"));
            return;
        }
    };
    let ending = |suffix: &str| {
        mounts
            .iter()
            .find(|m| m.destination.trim_end_matches('/').ends_with(suffix))
            .map(|m| m.source.trim_end_matches('/').to_string())
    };
    found.webapps = ending("/webapps");
    found.logs = ending("/logs");
    for (what, value) in [("webapps", &found.webapps), ("logs", &found.logs)] {
        if value.is_none() {
            found
                .todo
                .push(format!("{container} has no bind mount of Tomcat's {what}"));
        }
    }
    if let Some(webapps) = found.webapps.clone() {
        let cmd = Command::new("find")
            .args([
                webapps.as_str(),
                "-maxdepth",
                "1",
                "-type",
                "f",
                "-name",
                "*.war",
                "-printf",
                "%f\\n",
            ])
            .with_privilege(Privilege::Sudo)
            .timeout(std::time::Duration::from_secs(30));
        let wars: Vec<String> = match run_checked(host, &cmd).await {
            Ok(o) => o.stdout_text().lines().map(str::to_string).collect(),
            Err(e) => {
                found
                    .todo
                    .push(format!("listing {webapps}: {e}: set war_name"));
                return;
            }
        };
        match wars.as_slice() {
            [one] => found.war_name = Some(one.clone()),
            [] => found.todo.push(format!(
                "no *.war in {webapps}: war_name left at its default"
            )),
            many => found.todo.push(format!(
                "several WARs in {webapps} ({}): set war_name",
                many.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::publisher;

    #[test]
    fn the_container_publishing_a_port_is_found() {
        let ps = "dns\t0.0.0.0:39093->53/udp\nnginx\t0.0.0.0:8080->80/tcp\npep1\t127.0.0.11:39091->8080/tcp\npep2\t0.0.0.0:39092->8080/tcp, :::39092->8080/tcp\nduo\t0.0.0.0:39093-39094->8080-8081/tcp\nv6\t[::]:39095->8080/tcp\nidle\t\n";
        let found = |address: &str, port: u16| publisher(ps, address, port);
        assert_eq!(found("127.0.0.11", 39091), Some(("pep1".into(), 8080)));
        assert_eq!(found("10.0.0.5", 39092), Some(("pep2".into(), 8080)));
        assert_eq!(
            found("127.0.0.13", 39091),
            None,
            "published on another address"
        );
        assert_eq!(found("127.0.0.11", 3909), None);
        assert_eq!(
            found("10.0.0.5", 39093),
            Some(("duo".into(), 8080)),
            "tcp, not udp"
        );
        assert_eq!(found("10.0.0.5", 39094), Some(("duo".into(), 8081)));
        assert_eq!(found("10.0.0.5", 39095), Some(("v6".into(), 8080)));
        assert_eq!(publisher("garbage\nno tab", "a", 1), None);
    }
}
