//! The topology TOML `ihos init` writes: what was found, with comments saying where it
//! came from, and every gap as a commented TODO. Never a secret: logins are named (a
//! user, an ssh config), never given.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Discovered, DiscoveredInstance};

/// A host's short name: `h` and the last number of its address (`192.168.1.101` ->
/// `h101`), else the address made a name.
fn short_name(address: &str) -> String {
    let last = address.rsplit(['.', ':']).next().unwrap_or_default();
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return format!("h{last}");
    }
    long_name(address)
}

/// The whole address made a name (`10.0.0.1` -> `h_10_0_0_1`).
fn long_name(address: &str) -> String {
    let name: String = address
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("h_{name}")
}

/// Each address's host name: its short name when no other address has the same one
/// (`10.0.0.1` and `10.0.1.1` are `h_10_0_0_1` and `h_10_0_1_1`, never both `h1`).
pub(super) fn host_names<'a>(
    addresses: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, String> {
    let all: std::collections::BTreeSet<&str> = addresses.into_iter().collect();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for a in &all {
        *count.entry(short_name(a)).or_default() += 1;
    }
    all.into_iter()
        .map(|a| {
            let short = short_name(a);
            let name = if count[&short] == 1 {
                short
            } else {
                long_name(a)
            };
            (a.to_string(), name)
        })
        .collect()
}

/// The app's short name: the directory holding Tomcat (`.../pep1/tomcat/webapps` ->
/// `pep1`), else the one holding webapps, else the container's name.
fn app_of(i: &DiscoveredInstance) -> String {
    let from_path = i.webapps.as_deref().and_then(|w| {
        let parts: Vec<&str> = w.split('/').filter(|p| !p.is_empty()).collect();
        let at = parts.iter().rposition(|p| *p == "webapps")?;
        let mut k = at.checked_sub(1)?;
        if parts[k] == "tomcat" {
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
    let names = host_names(
        std::iter::once(lb_address).chain(found.instances.iter().map(|i| i.address.as_str())),
    );
    let name_of = |address: &str| names.get(address).cloned().unwrap_or_default();
    let mut hosts: Vec<(&String, &String)> = names.iter().map(|(a, n)| (n, a)).collect();
    hosts.sort();
    for (name, address) in hosts {
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
        "\n[load_balancer]\nhost = {}\ncontainer = {}\nconfig = {}              # where {} in the container is mounted from\nconfig_in_container = {}\nupstream = {}",
        quoted(&name_of(lb_address)),
        quoted(&lb.container),
        quoted(&lb.config),
        one_line(&lb.config_in_container),
        quoted(&lb.config_in_container),
        quoted(&lb.upstream)
    );
    let mut used = std::collections::BTreeSet::new();
    for i in &found.instances {
        write_instance(&mut out, i, &name_of(&i.address), &mut used);
    }
    for skipped in &found.skipped {
        let _ = writeln!(out, "\n# not written: {}", one_line(skipped));
    }
    let _ = writeln!(
        out,
        "\n# TODO: a canary instance outside the upstream, if there is one:\n# [canary]\n# site_file = \"/path/to/sites-enabled/app\"\n# [canary.instance]\n# name = \"...\"  (the same settings as an instance)"
    );
    out
}

/// `text` on one comment line (a command's stderr may have several).
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The context path Tomcat serves a WAR at: `app.war` -> `app/`, `a#b.war` -> `a/b/`,
/// `app##2.war` -> `app/` (a version), `ROOT.war` -> "".
fn context_of(war: &str) -> String {
    let base = war.strip_suffix(".war").unwrap_or(war);
    let base = base.split("##").next().unwrap_or(base);
    if base == "ROOT" || base.is_empty() {
        return String::new();
    }
    format!("{}/", base.replace('#', "/"))
}

fn write_instance(
    out: &mut String,
    i: &DiscoveredInstance,
    host: &str,
    used: &mut std::collections::BTreeSet<String>,
) {
    let app = app_of(i);
    let prefix = host.trim_start_matches('h').trim_start_matches('_');
    let mut name = format!("{prefix}-{app}");
    if used.contains(&name) {
        // Two instances whose paths say the same: told apart by their port.
        name = format!("{prefix}-{app}-{}", i.port);
    }
    used.insert(name.clone());
    let _ = writeln!(out, "\n[[instances]]");
    if !i.enabled {
        let _ = writeln!(out, "# out of rotation when ihos init ran");
    }
    for todo in &i.todo {
        let _ = writeln!(out, "# TODO: {}", one_line(todo));
    }
    let _ = writeln!(out, "name = {}", quoted(&name));
    let _ = writeln!(out, "host = {}", quoted(host));
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
    let context = i.war_name.as_deref().map(context_of).unwrap_or_default();
    let _ = writeln!(
        out,
        "health = {{ url = {} }}   # TODO: the app's health URL if it has one (this is its context root)",
        quoted(&format!("http://{}/{context}", i.backend))
    );
}

#[cfg(test)]
mod tests {
    use super::super::DiscoveredLb;
    use super::*;

    fn instance(address: &str, port: u16, webapps: &str) -> DiscoveredInstance {
        DiscoveredInstance {
            backend: format!("{address}:{port}"),
            address: address.into(),
            port,
            enabled: true,
            container: Some(format!("c{port}")),
            container_port: Some(8080),
            webapps: Some(webapps.into()),
            logs: Some("/srv/logs".into()),
            war_name: Some("ihos.war".into()),
            todo: vec![],
        }
    }

    #[test]
    fn names_come_from_addresses_and_paths() {
        let n = host_names(["192.168.1.101", "127.0.0.11", "app-1.corp"]);
        assert_eq!(n["192.168.1.101"], "h101");
        assert_eq!(n["127.0.0.11"], "h11");
        assert_eq!(n["app-1.corp"], "h_app_1_corp");
        let n = host_names(["10.0.0.1", "10.0.1.1", "10.0.0.5", "fd00::6"]);
        assert_eq!(n["10.0.0.1"], "h_10_0_0_1");
        assert_eq!(n["10.0.1.1"], "h_10_0_1_1");
        assert_eq!(n["10.0.0.5"], "h5");
        let mut i = instance("10.0.0.1", 39091, "/opt/docker/ihos/pep1/tomcat/webapps");
        assert_eq!(app_of(&i), "pep1");
        i.webapps = Some("/opt/tomcat-a/webapps".into());
        assert_eq!(app_of(&i), "tomcat-a");
        i.webapps = Some("/srv/a b/webapps".into());
        assert_eq!(app_of(&i), "a_b");
        i.webapps = None;
        i.container = Some("c\"1".into());
        assert_eq!(app_of(&i), "c_1");
        assert_eq!(context_of("ihos.war"), "ihos/");
        assert_eq!(context_of("a#b.war"), "a/b/");
        assert_eq!(context_of("app##2.war"), "app/");
        assert_eq!(context_of("ROOT.war"), "");
    }

    #[test]
    fn what_is_written_is_a_valid_topology_with_distinct_names() {
        let mut a = instance("10.0.0.1", 39091, "/opt/tomcat/webapps");
        a.todo =
            vec!["docker ps on x: sudo: unable to resolve host\nCannot connect = 1\n[evil]".into()];
        let found = Discovered {
            lb: DiscoveredLb {
                container: "nginx".into(),
                config: "/opt/nginx/nginx.conf".into(),
                config_in_container: "/etc/nginx/nginx.conf\n[x]".into(),
                upstream: "app".into(),
            },
            instances: vec![
                a,
                instance("10.0.0.1", 39092, "/opt/tomcat/webapps2/../webapps"),
                instance("10.0.1.1", 39091, "/srv/x/webapps"),
            ],
            skipped: vec!["server unix:/run/a.sock\nsecond".into()],
        };
        let text = render(&found, "10.0.0.1", Some("deploy"), Some("/etc/ssh_config"));
        let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let hosts = table["hosts"].as_table().unwrap();
        assert_eq!(hosts.len(), 2, "{text}");
        assert_eq!(hosts["h_10_0_0_1"]["address"].as_str(), Some("10.0.0.1"));
        let names: Vec<&str> = table["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        let distinct: std::collections::BTreeSet<&&str> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
        assert!(!table.contains_key("evil"), "{text}");
    }
}
