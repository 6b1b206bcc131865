//! The topology TOML `ihos init` writes: what was found, with comments saying where it
//! came from, and every gap as a commented TODO. Never a secret: logins are named (a
//! user, an ssh config), never given.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Discovered, DiscoveredInstance};

/// A host's name in the topology: `h` and the last number of its address
/// (`192.168.1.101` -> `h101`), else the address made a name.
pub(super) fn host_name(address: &str) -> String {
    let last = address.rsplit(['.', ':']).next().unwrap_or_default();
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return format!("h{last}");
    }
    let name: String = address
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("h_{name}")
}

/// The app's short name: the directory holding Tomcat (`.../pep1/tomcat/webapps` ->
/// `pep1`), else the one holding webapps, else the container's name.
fn app_of(i: &DiscoveredInstance) -> String {
    let from_path = i.webapps.as_deref().and_then(|w| {
        let parts: Vec<&str> = w.split('/').filter(|p| !p.is_empty()).collect();
        let at = parts.iter().rposition(|p| *p == "webapps")?;
        let mut k = at.checked_sub(1)?;
        if parts[k].starts_with("tomcat") {
            k = k.checked_sub(1)?;
        }
        Some(parts[k].to_string())
    });
    let app = from_path
        .or_else(|| i.container.clone())
        .unwrap_or_else(|| "app".into());
    app.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The topology for `found`, whose load balancer is on `lb_address`; `user`: the login
/// user of every host (unless the ssh config gives it); `ssh_config`: the OpenSSH client
/// config to read connections from.
pub fn render(
    found: &Discovered,
    lb_address: &str,
    user: Option<&str>,
    ssh_config: Option<&str>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `ihos init` from what runs now: check it, fill in the TODOs, then\n# `ihos validate --effective` and `ihos plan --war ihos.war`.\n# No secret goes in this file: a password is read from the variable `auth.password_env` names."
    );
    if let Some(c) = ssh_config {
        let _ = writeln!(out, "ssh_config = {}", quoted(c));
    }
    let mut hosts: BTreeMap<String, String> = BTreeMap::new();
    hosts.insert(host_name(lb_address), lb_address.to_string());
    for i in &found.instances {
        hosts.insert(host_name(&i.address), i.address.clone());
    }
    for (name, address) in &hosts {
        let _ = writeln!(out, "\n[hosts.{name}]\naddress = {}", quoted(address));
        match user {
            Some(u) => {
                let _ = writeln!(out, "user = {}", quoted(u));
            }
            None if ssh_config.is_none() => {
                let _ = writeln!(
                    out,
                    "# user = \"deploy\"                 # TODO: the login user"
                );
            }
            None => {}
        }
    }
    let lb = &found.lb;
    let _ = writeln!(
        out,
        "\n[load_balancer]\nhost = {}\ncontainer = {}\nconfig = {}              # the bind mount of {} in the container\nconfig_in_container = {}\nupstream = {}",
        quoted(&host_name(lb_address)),
        quoted(&lb.container),
        quoted(&lb.config),
        lb.config_in_container,
        quoted(&lb.config_in_container),
        quoted(&lb.upstream)
    );
    for i in &found.instances {
        write_instance(&mut out, i);
    }
    let _ = writeln!(
        out,
        "\n# TODO: a canary instance outside the upstream, if there is one:\n# [canary]\n# site_file = \"/path/to/sites-enabled/app\"\n# [canary.instance]\n# name = \"...\"  (the same settings as an instance)"
    );
    out
}

fn write_instance(out: &mut String, i: &DiscoveredInstance) {
    let host = host_name(&i.address);
    let app = app_of(i);
    let octet = host.trim_start_matches('h').trim_start_matches('_');
    let _ = writeln!(out, "\n[[instances]]");
    if !i.enabled {
        let _ = writeln!(out, "# out of rotation when ihos init ran");
    }
    for todo in &i.todo {
        let _ = writeln!(out, "# TODO: {todo}");
    }
    let _ = writeln!(out, "name = {}", quoted(&format!("{octet}-{app}")));
    let _ = writeln!(out, "host = {}", quoted(&host));
    let _ = writeln!(out, "backend = {}", quoted(&i.backend));
    let field = |out: &mut String, key: &str, value: &Option<String>| {
        let _ = match value {
            Some(v) => writeln!(out, "{key} = {}", quoted(v)),
            None => writeln!(out, "# {key} = \"...\"   # TODO"),
        };
    };
    field(out, "container", &i.container);
    field(out, "webapps", &i.webapps);
    field(out, "logs", &i.logs);
    if let Some(w) = &i.war_name {
        let _ = writeln!(out, "war_name = {}", quoted(w));
    }
    if let Some(p) = i.container_port {
        let _ = writeln!(out, "container_port = {p}");
    }
    let context = i
        .war_name
        .as_deref()
        .and_then(|w| w.strip_suffix(".war"))
        .map(|c| {
            if c == "ROOT" {
                String::new()
            } else {
                format!("{c}/")
            }
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "health = {{ url = {} }}   # TODO: the app's health URL if it has one (this is its context root)",
        quoted(&format!("http://{}/{context}", i.backend))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_addresses_and_paths() {
        assert_eq!(host_name("192.168.1.101"), "h101");
        assert_eq!(host_name("127.0.0.11"), "h11");
        assert_eq!(host_name("app-1.corp"), "h_app_1_corp");
        let mut i = DiscoveredInstance {
            backend: "10.0.0.1:39091".into(),
            address: "10.0.0.1".into(),
            enabled: true,
            container: Some("c\"1".into()),
            container_port: Some(8080),
            webapps: Some("/opt/docker/ihos/pep1/tomcat/webapps".into()),
            logs: None,
            war_name: Some("ihos.war".into()),
            todo: vec!["x".into()],
        };
        assert_eq!(app_of(&i), "pep1");
        i.webapps = Some("/srv/a b/webapps".into());
        assert_eq!(app_of(&i), "a_b");
        i.webapps = None;
        assert_eq!(app_of(&i), "c_1");
    }
}
