//! Checks a parsed [`Topology`] beyond its types: references, names, paths, addresses.
//! Errors are `(key, message)`, the key spelled as in the file (`instances[2].backend`).

use std::collections::HashSet;

use super::duration::MAX_DURATION;
use super::{Dur, InstanceConfig, Topology};
use crate::names::{ContainerName, RemotePath};

pub(super) use super::invalid::{Invalid, check_env_name, invalid};

/// Why a backend address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadBackend {
    #[error("{0:?} has no port (expected host:port, as in the nginx upstream)")]
    NoPort(String),
    #[error("{0:?} has no valid host")]
    NoHost(String),
    #[error("{value:?} has an invalid port {port:?}")]
    Port { value: String, port: String },
}

/// Checks `host:port`: a non-empty host and a port 1–65535.
pub(crate) fn check_backend(value: &str) -> Result<(), BadBackend> {
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err(BadBackend::NoPort(value.to_string()));
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(BadBackend::NoHost(value.to_string()));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(BadBackend::Port {
            value: value.to_string(),
            port: port.to_string(),
        }),
    }
}

pub(super) fn check_path(key: &str, value: &str) -> Result<(), Invalid> {
    RemotePath::new(value)
        .map(|_| ())
        .map_err(|e| invalid(key, e.reason))
}

/// A directory ihos writes into or deletes in: absolute, and at least two levels deep (`/`
/// or `/opt` as webapps or state would hand a whole tree to the deleting steps).
fn check_dir(key: &str, value: &str) -> Result<RemotePath, Invalid> {
    let path = RemotePath::new(value).map_err(|e| invalid(key, e.reason))?;
    if path.as_str().matches('/').count() < 2 {
        return Err(invalid(
            key,
            format!("{value:?} is too close to the root: at least two levels, like /opt/app"),
        ));
    }
    Ok(path)
}

/// Text that reaches a command line or a log line: no control characters (a newline
/// would start another line of a record, a NUL end an argument).
pub(super) fn check_text(key: &str, value: &str) -> Result<(), Invalid> {
    if value.chars().any(char::is_control) {
        return Err(invalid(
            key,
            format!("{value:?} contains a control character"),
        ));
    }
    Ok(())
}

/// A log file name where only `%Y`, `%m`, `%d` (and `%%`) are replaced: one path
/// component once the date is in, never `.` or `..`.
fn check_file_pattern(key: &str, value: &str) -> Result<(), Invalid> {
    let mut chars = value.chars();
    let mut placeholders_ok = true;
    while let Some(c) = chars.next() {
        if c == '%' && !matches!(chars.next(), Some('Y' | 'm' | 'd' | '%')) {
            placeholders_ok = false;
        }
    }
    let name = value.replace("%%", "%");
    let ok = placeholders_ok
        && !value.contains('/')
        && !value.chars().any(char::is_control)
        && !name.is_empty()
        && name != "."
        && name != "..";
    if !ok {
        return Err(invalid(
            key,
            format!("{value:?}: a file name where only %Y, %m, %d are replaced"),
        ));
    }
    Ok(())
}

/// A duration ihos waits or computes deadlines with.
pub(super) fn check_duration(key: &str, value: Dur) -> Result<(), Invalid> {
    if value.0 > MAX_DURATION {
        return Err(invalid(
            key,
            format!("{value} is longer than the limit of 24h"),
        ));
    }
    Ok(())
}

/// Neither directory is the other or inside it.
fn check_apart(key: &str, a: &RemotePath, b: &RemotePath, what: &str) -> Result<(), Invalid> {
    if a == b || a.is_inside(b) || b.is_inside(a) {
        return Err(invalid(
            key,
            format!(
                "{a} overlaps {what} {b}: keep them apart (Tomcat deploys every WAR it finds in webapps)"
            ),
        ));
    }
    Ok(())
}

fn check_container(key: &str, value: &str) -> Result<(), Invalid> {
    ContainerName::new(value)
        .map(|_| ())
        .map_err(|e| invalid(key, e.reason))
}

impl Topology {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.hosts.is_empty() {
            return Err(invalid("hosts", "no host is defined"));
        }
        let host_list = || self.hosts.keys().cloned().collect::<Vec<_>>().join(", ");
        let check_host_ref = |key: &str, name: &str| {
            if self.hosts.contains_key(name) {
                Ok(())
            } else {
                Err(invalid(
                    key,
                    format!("no host named {name:?} (hosts: {})", host_list()),
                ))
            }
        };
        for (name, h) in &self.hosts {
            let key = |k: &str| format!("hosts.{name}.{k}");
            if h.address.trim().is_empty() {
                return Err(invalid(key("address"), "empty address"));
            }
            if h.address
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(invalid(
                    key("address"),
                    format!("{:?} is not a host name or address", h.address),
                ));
            }
            if h.user.is_empty() {
                return Err(invalid(
                    key("user"),
                    "not set (set it here, or give an ssh_config with a User for this host)",
                ));
            }
            // Like useradd's names: the user is also a path component (its home).
            let user_ok = h
                .user
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && h.user
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !user_ok {
                return Err(invalid(
                    key("user"),
                    format!("{:?} is not a valid user name", h.user),
                ));
            }
            check_env_name(&key("sudo_password_env"), &h.sudo_password_env)?;
            h.auth.check(&key("auth"))?;
            if let Some(dir) = &h.staging_dir {
                check_dir(&key("staging_dir"), dir)?;
            }
            check_dir(&key("state_dir"), &h.state_dir)?;
        }
        super::jump::check_proxy_jumps(&self.hosts)?;

        if self.load_balancers.is_empty() {
            return Err(invalid(
                "load_balancer",
                "no load balancer is defined ([load_balancer], or [[load_balancers]] for several)",
            ));
        }
        let several = self.load_balancers.len() > 1;
        let mut seen = HashSet::new();
        for (i, lb) in self.load_balancers.iter().enumerate() {
            let prefix = if several {
                format!("load_balancers[{i}]")
            } else {
                "load_balancer".to_string()
            };
            let key = |k: &str| format!("{prefix}.{k}");
            check_host_ref(&key("host"), &lb.host)?;
            check_container(&key("container"), &lb.container)?;
            check_path(&key("config"), &lb.config)?;
            if lb.upstream.is_empty()
                || lb
                    .upstream
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"';{}#$".contains(c))
            {
                return Err(invalid(
                    key("upstream"),
                    format!("{:?} is not an upstream name", lb.upstream),
                ));
            }
            if let Some(site) = &lb.canary_site_file {
                check_path(&key("canary_site_file"), site)?;
                if !lb.canary_route {
                    return Err(invalid(
                        key("canary_site_file"),
                        "this load balancer has canary_route = false: it carries no canary route, so it has no canary site file (remove one of the two)",
                    ));
                }
            }
            if self.canary.is_none() && (lb.canary_site_file.is_some() || !lb.canary_route) {
                return Err(invalid(
                    key(if lb.canary_route {
                        "canary_site_file"
                    } else {
                        "canary_route"
                    }),
                    "there is no [canary] in this topology",
                ));
            }
            if let Some(site) = lb.canary_site(self.canary.as_ref()) {
                if !seen.insert((lb.host.as_str(), site)) || site == lb.config {
                    return Err(invalid(
                        key("canary_site_file"),
                        format!(
                            "{site} on host {} is already another load balancer's file: each edits its own",
                            lb.host
                        ),
                    ));
                }
            }
            if !seen.insert((lb.host.as_str(), lb.config.as_str())) {
                return Err(invalid(
                    key("config"),
                    format!(
                        "{} on host {} is already another load balancer's: each has its own nginx and config",
                        lb.config, lb.host
                    ),
                ));
            }
        }

        if self.canary.is_some()
            && self
                .load_balancers
                .iter()
                .all(|lb| lb.canary_site(self.canary.as_ref()).is_none())
        {
            return Err(invalid(
                "canary",
                "no load balancer carries the canary route (each has canary_route = false)",
            ));
        }
        if self.instances.is_empty() {
            return Err(invalid("instances", "no instance is defined"));
        }
        let mut names = HashSet::new();
        let mut backends = HashSet::new();
        let mut containers = HashSet::new();
        let mut webapps = HashSet::new();
        for (i, inst) in self.instances.iter().enumerate() {
            let prefix = format!("instances[{i}]");
            check_instance(&prefix, inst, &check_host_ref)?;
            self.check_instance_dirs(&prefix, inst)?;
            if !names.insert(&inst.name) {
                return Err(invalid(
                    format!("{prefix}.name"),
                    format!("{:?} is used by another instance", inst.name),
                ));
            }
            if !backends.insert(&inst.backend) {
                return Err(invalid(
                    format!("{prefix}.backend"),
                    format!("{:?} is used by another instance", inst.backend),
                ));
            }
            if !containers.insert((&inst.host, &inst.container)) {
                return Err(invalid(
                    format!("{prefix}.container"),
                    format!(
                        "{:?} on {} is used by another instance",
                        inst.container, inst.host
                    ),
                ));
            }
            // Two instances deploying into one webapps directory would overwrite each other.
            if !webapps.insert((&inst.host, &inst.webapps)) {
                return Err(invalid(
                    format!("{prefix}.webapps"),
                    format!(
                        "{:?} on {} is used by another instance",
                        inst.webapps, inst.host
                    ),
                ));
            }
        }
        if let Some(c) = &self.canary {
            c.check_site_and_analysis()?;
            let ci = &c.instance;
            check_instance("canary.instance", ci, &check_host_ref)?;
            self.check_instance_dirs("canary.instance", ci)?;
            // The canary is updated outside the upstream's rotation (its route is closed
            // instead): sharing anything with a fleet instance would stop a server that is
            // still in rotation.
            if names.contains(&ci.name) {
                return Err(invalid(
                    "canary.instance.name",
                    format!("{:?} is also a fleet instance", ci.name),
                ));
            }
            if backends.contains(&ci.backend) {
                return Err(invalid(
                    "canary.instance.backend",
                    format!("{:?} is also a fleet instance's backend", ci.backend),
                ));
            }
            if containers.contains(&(&ci.host, &ci.container)) {
                return Err(invalid(
                    "canary.instance.container",
                    format!(
                        "{:?} on {} is also a fleet instance's container",
                        ci.container, ci.host
                    ),
                ));
            }
            if webapps.contains(&(&ci.host, &ci.webapps)) {
                return Err(invalid(
                    "canary.instance.webapps",
                    format!(
                        "{:?} on {} is also a fleet instance's webapps",
                        ci.webapps, ci.host
                    ),
                ));
            }
        }

        self.teamcity.as_ref().map_or(Ok(()), |tc| tc.check())?;
        super::notify::check_all(&self.notify)?;
        super::hooks::check_all(&self.hooks, self.hosts.keys())?;

        self.policy.check(self.instances.len())?;
        Ok(())
    }
}

impl Topology {
    /// The instance's webapps apart from its host's state and staging directories (the
    /// previous release kept there must never be deployed, nor a staged WAR).
    fn check_instance_dirs(&self, prefix: &str, inst: &InstanceConfig) -> Result<(), Invalid> {
        let key = |k: &str| format!("{prefix}.{k}");
        let webapps = check_dir(&key("webapps"), &inst.webapps)?;
        check_dir(&key("logs"), &inst.logs)?;
        let Some(host) = self.hosts.get(&inst.host) else {
            return Ok(());
        };
        let host_key = |k: &str| format!("hosts.{}.{k}", inst.host);
        let state = check_dir(&host_key("state_dir"), &host.state_dir)?;
        check_apart(&key("webapps"), &webapps, &state, "the host's state_dir")?;
        let staging = check_dir(&host_key("staging_dir"), &host.staging())?;
        check_apart(
            &key("webapps"),
            &webapps,
            &staging,
            "the host's staging_dir",
        )
    }
}

fn check_instance(
    prefix: &str,
    inst: &InstanceConfig,
    check_host_ref: &dyn Fn(&str, &str) -> Result<(), Invalid>,
) -> Result<(), Invalid> {
    let key = |k: &str| format!("{prefix}.{k}");
    if inst.name.is_empty()
        || !inst
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(invalid(
            key("name"),
            format!("{:?}: use letters, digits, '_', '.', '-'", inst.name),
        ));
    }
    check_host_ref(&key("host"), &inst.host)?;
    check_container(&key("container"), &inst.container)?;
    check_backend(&inst.backend).map_err(|e| invalid(key("backend"), e.to_string()))?;
    check_path(&key("webapps"), &inst.webapps)?;
    check_path(&key("logs"), &inst.logs)?;
    let war_ok = inst.war_name.ends_with(".war")
        && inst.war_name.len() > 4
        && !inst.war_name.starts_with('.')
        && inst
            .war_name
            .bytes()
            // `#` makes Tomcat's nested and versioned context names (`app#v2.war`).
            .all(|b| b.is_ascii_alphanumeric() || b"_.-#".contains(&b));
    if !war_ok {
        return Err(invalid(
            key("war_name"),
            format!("{:?} must be a file name ending in .war", inst.war_name),
        ));
    }
    check_file_pattern(&key("log_pattern"), &inst.log_pattern)?;
    check_file_pattern(&key("health.startup_log"), &inst.health.startup_log)?;
    if inst.container_port == 0 {
        return Err(invalid(key("container_port"), "0 is not a port"));
    }
    let h = &inst.health;
    if h.startup_line.trim().is_empty() {
        return Err(invalid(
            key("health.startup_line"),
            "an empty line would be found in any log",
        ));
    }
    check_text(&key("health.startup_line"), &h.startup_line)?;
    if !(100..=599).contains(&h.expect_status) {
        return Err(invalid(
            key("health.expect_status"),
            format!("{} is not an HTTP status", h.expect_status),
        ));
    }
    check_duration(&key("health.timeout"), h.timeout)?;
    let url = &inst.health.url;
    let uri = url.parse::<ureq::http::Uri>().ok();
    let http = matches!(
        uri.as_ref().and_then(|u| u.scheme_str()),
        Some("http" | "https")
    ) && uri
        .as_ref()
        .and_then(|u| u.host())
        .is_some_and(|h| !h.is_empty());
    if !http || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            key("health.url"),
            format!("{url:?} is not an http(s) URL"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigError, Topology};

    const GOOD: &str = r#"
[hosts.h101]
address = "192.168.1.101"
user = "deploy"

[hosts.h103]
address = "192.168.1.103"
user = "deploy"

[load_balancer]
host = "h101"
container = "ihos_nginx_proxy_official_1"
config = "/opt/docker/ihos/nginx_proxy/nginx.conf"
upstream = "service_ihos"

[[instances]]
name = "101-pep1"
host = "h101"
container = "ihos_pep1_official_1"
backend = "192.168.1.101:39091"
webapps = "/opt/docker/ihos/pep1/tomcat/webapps"
logs = "/opt/docker/ihos/pep1/tomcat/logs"
health = { url = "http://127.0.0.1:39091/ihos/" }

[[instances]]
name = "103-pep1"
host = "h103"
container = "ihos_pep1_official_1"
backend = "192.168.1.103:39091"
webapps = "/opt/docker/ihos/pep1/tomcat/webapps"
logs = "/opt/docker/ihos/pep1/tomcat/logs"
health = { url = "http://127.0.0.1:39091/ihos/" }
"#;

    fn err(text: &str) -> ConfigError {
        Topology::from_toml(text, "ihos.toml").unwrap_err()
    }

    #[test]
    fn good_config_gets_defaults() {
        let t = Topology::from_toml(GOOD, "ihos.toml").unwrap();
        assert_eq!(t.instances[0].war_name, "ihos.war");
        assert_eq!(t.instances[0].log_pattern, "logFile.%Y-%m-%d.log");
        assert_eq!(t.policy.max_unavailable, 1);
        assert_eq!(t.policy.drain.max.0.as_secs(), 1800);
        assert_eq!(t.hosts["h101"].port, 22);
    }

    #[test]
    fn errors_name_the_key() {
        let e = err(&GOOD.replace("\"192.168.1.103:39091\"", "\"192.168.1.103\""));
        assert_eq!(
            e.to_string(),
            "ihos.toml:29:1: instances[1].backend: \"192.168.1.103\" has no port (expected host:port, as in the nginx upstream)"
        );
        let e = err(&GOOD.replace("host = \"h103\"", "host = \"h104\""));
        assert_eq!(
            e.to_string(),
            "ihos.toml:27:1: instances[1].host: no host named \"h104\" (hosts: h101, h103)"
        );
        let e = err(&GOOD.replace(
            "webapps = \"/opt/docker/ihos/pep1/tomcat/webapps\"\nlogs",
            "webapps = \"opt/x\"\nlogs",
        ));
        assert!(
            e.to_string()
                .contains("instances[0].webapps: it must be absolute"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "container = \"ihos_pep1_official_1\"\nbackend = \"192.168.1.101",
            "container = \"a;b\"\nbackend = \"192.168.1.101",
        ));
        assert!(e.to_string().contains("instances[0].container"), "{e}");
    }

    /// GOOD with a canary whose fields are the fleet's first instance's, but for `keep`.
    fn canary_sharing(keep: &str) -> String {
        let fields = [
            ("name", "\"102-pep1\"", "\"101-pep1\""),
            (
                "backend",
                "\"192.168.1.102:39091\"",
                "\"192.168.1.101:39091\"",
            ),
            ("container", "\"ihos_canary\"", "\"ihos_pep1_official_1\""),
            (
                "webapps",
                "\"/opt/docker/ihos/canary/webapps\"",
                "\"/opt/docker/ihos/pep1/tomcat/webapps\"",
            ),
        ];
        let mut canary = String::from(
            "\n[canary]\nsite_file = \"/opt/docker/ihos/nginx_proxy/sites-enabled/ihos\"\n\n[canary.instance]\nhost = \"h101\"\nlogs = \"/opt/docker/ihos/canary/logs\"\nhealth = { url = \"http://127.0.0.1:39093/ihos/\" }\n",
        );
        for (key, own, shared) in fields {
            let value = if key == keep { shared } else { own };
            canary.push_str(&format!("{key} = {value}\n"));
        }
        format!("{GOOD}{canary}")
    }

    #[test]
    fn the_canary_shares_nothing_with_the_fleet() {
        assert!(Topology::from_toml(&canary_sharing("none"), "ihos.toml").is_ok());
        for (key, says) in [
            (
                "name",
                "canary.instance.name: \"101-pep1\" is also a fleet instance",
            ),
            (
                "backend",
                "canary.instance.backend: \"192.168.1.101:39091\" is also a fleet instance's backend",
            ),
            (
                "container",
                "canary.instance.container: \"ihos_pep1_official_1\" on h101 is also a fleet instance's container",
            ),
            ("webapps", "canary.instance.webapps:"),
        ] {
            let e = err(&canary_sharing(key));
            assert!(e.to_string().contains(says), "{key}: {e}");
        }
    }

    #[test]
    fn two_instances_never_share_a_webapps_directory() {
        let same_host = GOOD.replace(
            "name = \"103-pep1\"\nhost = \"h103\"\ncontainer = \"ihos_pep1_official_1\"\nbackend = \"192.168.1.103:39091\"",
            "name = \"103-pep1\"\nhost = \"h101\"\ncontainer = \"ihos_pep2\"\nbackend = \"192.168.1.101:39092\"",
        );
        assert_ne!(same_host, GOOD);
        let e = err(&same_host);
        assert_eq!(
            e.to_string(),
            "ihos.toml:30:1: instances[1].webapps: \"/opt/docker/ihos/pep1/tomcat/webapps\" on h101 is used by another instance"
        );
    }

    #[test]
    fn unknown_keys_and_bad_types_give_a_position() {
        let e = err(&GOOD.replace(
            "user = \"deploy\"\n\n[hosts.h103]",
            "user = \"deploy\"\npassword = \"x\"\n\n[hosts.h103]",
        ));
        match &e {
            ConfigError::Syntax { line, message, .. } => {
                assert_eq!(*line, 5, "{e}");
                assert!(message.contains("unknown field `password`"), "{e}");
            }
            other => panic!("{other}"),
        }
        let e = err(&format!(
            "{GOOD}\n[policy]\nstart_timeout = \"5 minutes\"\n"
        ));
        assert!(
            e.to_string().contains("\"5 minutes\" is not a duration"),
            "{e}"
        );
        let e = err(&format!("{GOOD}\n[policy]\nmax_unavailable = 2\n"));
        assert!(e.to_string().contains("policy.max_unavailable"), "{e}");
    }
}

#[cfg(test)]
mod load_balancers_tests {
    use super::super::{ConfigError, Topology};

    const HOSTS: &str = r#"
[hosts.lb1]
address = "10.0.0.1"
user = "deploy"
[hosts.lb2]
address = "10.0.0.2"
user = "deploy"
[hosts.app]
address = "10.0.0.3"
user = "deploy"

[[instances]]
name = "a"
host = "app"
container = "a"
backend = "10.0.0.3:8080"
webapps = "/srv/a/webapps"
logs = "/srv/a/logs"
health = { url = "http://10.0.0.3:8080/" }
"#;

    pub(super) const CANARY: &str = r#"
[canary]
site_file = "/etc/nginx/conf.d/site.conf"
[canary.instance]
name = "c"
host = "app"
container = "c"
backend = "10.0.0.3:8099"
webapps = "/srv/c/webapps"
logs = "/srv/c/logs"
health = { url = "http://10.0.0.3:8099/" }
"#;

    pub(super) fn lb(key: &str, host: &str) -> String {
        format!(
            "[{key}]\nhost = \"{host}\"\ncontainer = \"nginx\"\nconfig = \"/etc/nginx/nginx.conf\"\nupstream = \"app\"\n"
        )
    }

    pub(super) fn load(lbs: &str) -> Result<Topology, ConfigError> {
        Topology::from_toml(&format!("{HOSTS}\n{lbs}"), "t.toml")
    }

    #[test]
    fn one_table_or_several_and_each_checked_by_its_key() {
        let one = load(&lb("load_balancer", "lb1")).unwrap();
        assert_eq!(one.load_balancers.len(), 1);
        assert_eq!(one.primary_lb().unwrap().host, "lb1");
        let two = load(&format!(
            "{}{}",
            lb("[load_balancers]", "lb1"),
            lb("[load_balancers]", "lb2")
        ))
        .unwrap();
        let hosts: Vec<&str> = two.load_balancers.iter().map(|l| l.host.as_str()).collect();
        assert_eq!(hosts, ["lb1", "lb2"]);

        let cases = [
            (
                format!(
                    "{}{}",
                    lb("load_balancer", "lb1"),
                    lb("[load_balancers]", "lb2")
                ),
                "load_balancer",
                "both",
            ),
            (
                format!(
                    "{}{}",
                    lb("[load_balancers]", "lb1"),
                    lb("[load_balancers]", "lb1")
                ),
                "load_balancers[1].config",
                "already another load balancer's",
            ),
            (
                format!(
                    "{}{}",
                    lb("[load_balancers]", "lb1"),
                    lb("[load_balancers]", "nope")
                ),
                "load_balancers[1].host",
                "no host named",
            ),
            (String::new(), "load_balancer", "no load balancer"),
        ];
        for (text, key, says) in cases {
            match load(&text) {
                Err(ConfigError::Invalid {
                    key: k, message, ..
                }) => {
                    assert_eq!(k, key, "{text}");
                    assert!(message.contains(says), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod canary_route_tests {
    use super::super::{ConfigError, Topology};
    use super::load_balancers_tests::{CANARY, lb, load};

    fn refused(text: &str, key: &str, says: &str) {
        match load(text) {
            Err(ConfigError::Invalid {
                key: k, message, ..
            }) => {
                assert_eq!(k, key, "{text}");
                assert!(message.contains(says), "{text}: {message}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }

    fn sites(t: &Topology) -> Vec<Option<&str>> {
        t.load_balancers
            .iter()
            .map(|l| l.canary_site(t.canary.as_ref()))
            .collect()
    }

    #[test]
    fn each_load_balancer_carries_the_route_unless_told_otherwise() {
        let both = load(&format!(
            "{}{}{CANARY}",
            lb("[load_balancers]", "lb1"),
            lb("[load_balancers]", "lb2")
        ))
        .unwrap();
        let site = "/etc/nginx/conf.d/site.conf";
        assert_eq!(sites(&both), [Some(site), Some(site)]);

        let own = load(&format!(
            "{}{}canary_site_file = \"/srv/lb2/site.conf\"\n{CANARY}",
            lb("[load_balancers]", "lb1"),
            lb("[load_balancers]", "lb2")
        ))
        .unwrap();
        assert_eq!(sites(&own), [Some(site), Some("/srv/lb2/site.conf")]);

        let one = load(&format!(
            "{}canary_route = false\n{}{CANARY}",
            lb("[load_balancers]", "lb1"),
            lb("[load_balancers]", "lb2")
        ))
        .unwrap();
        assert_eq!(sites(&one), [None, Some(site)]);
    }

    #[test]
    fn a_route_nobody_carries_or_a_file_twice_is_refused() {
        refused(
            &format!(
                "{}canary_route = false\n{}canary_route = false\n{CANARY}",
                lb("[load_balancers]", "lb1"),
                lb("[load_balancers]", "lb2")
            ),
            "canary",
            "no load balancer carries the canary route",
        );
        refused(
            &format!(
                "{}canary_site_file = \"/srv/site.conf\"\n",
                lb("load_balancer", "lb1")
            ),
            "load_balancer.canary_site_file",
            "no [canary]",
        );
        refused(
            &format!("{}canary_route = false\n", lb("load_balancer", "lb1")),
            "load_balancer.canary_route",
            "no [canary]",
        );
        refused(
            &format!(
                "{}canary_route = false\ncanary_site_file = \"/srv/lb2/site.conf\"\n{}{CANARY}",
                lb("[load_balancers]", "lb1"),
                lb("[load_balancers]", "lb2")
            ),
            "load_balancers[0].canary_site_file",
            "canary_route = false",
        );
        refused(
            &format!(
                "{}canary_site_file = \"/etc/nginx/nginx.conf\"\n{CANARY}",
                lb("load_balancer", "lb1")
            ),
            "load_balancer.canary_site_file",
            "already another load balancer's file",
        );
        refused(
            &format!(
                "{}{}config = \"/srv/lb/nginx.conf\"\n{CANARY}",
                lb("[load_balancers]", "lb1"),
                lb("[load_balancers]", "lb1").replace("config = \"/etc/nginx/nginx.conf\"\n", "")
            ),
            "load_balancers[1].canary_site_file",
            "already another load balancer's file",
        );
        refused(
            &format!(
                "{}canary_site_file = \"relative/site.conf\"\n{CANARY}",
                lb("load_balancer", "lb1")
            ),
            "load_balancer.canary_site_file",
            "",
        );
    }
}

#[cfg(test)]
mod example_tests {
    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../../examples/ihos.toml");
        let t = super::super::Topology::from_toml(text, "examples/ihos.toml").unwrap();
        assert_eq!(t.instances.len(), 4);
        assert_eq!(
            t.canary.as_ref().unwrap().instance.backend,
            "192.168.1.102:39091"
        );
        assert_eq!(t.policy.drain.idle.0.as_secs(), 10);
    }
}
