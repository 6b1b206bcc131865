//! `ihos validate` on how hosts are reached: the effective connection of each host and
//! where each value came from (the topology, an OpenSSH client config, a default), jump
//! hosts, password logins; and the errors that name the file, line or key.

mod common;

use common::ihos;

const SSH_CONFIG: &str = "\
# the operator's ssh config
Host app*
    User deploy
    IdentityFile ~/.ssh/id_ihos
    ProxyJump ops@bastion
Host app1
    HostName 127.0.0.31
    Port 2201
Host app2
    HostName 127.0.0.32
Host bastion
    HostName 127.0.0.20
    Port 2222
    StrictHostKeyChecking accept-new
Match exec \"true\"
    User nobody
";

fn topology(hosts: &str) -> String {
    format!(
        r#"{hosts}

[load_balancer]
host = "lb"
container = "nginx"
config = "/etc/nginx/nginx.conf"
upstream = "app"

[[instances]]
name = "a1"
host = "app1"
container = "tomcat1"
backend = "127.0.0.31:8080"
webapps = "/opt/a1/webapps"
logs = "/opt/a1/logs"
health = {{ url = "http://127.0.0.31:8080/" }}

[[instances]]
name = "a2"
host = "app2"
container = "tomcat2"
backend = "127.0.0.32:8080"
webapps = "/opt/a2/webapps"
logs = "/opt/a2/logs"
health = {{ url = "http://127.0.0.32:8080/" }}
"#
    )
}

const HOSTS: &str = r#"
ssh_config = "ssh_config"

[hosts.lb]
address = "127.0.0.10"
user = "deploy"

[hosts.app1]
address = "app1"

[hosts.app2]
address = "app2"
port = 22
user = "root"
"#;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// The indented `field value origin` line of a host's block.
fn row<'a>(stderr: &'a str, host: &str, field: &str) -> &'a str {
    let start = stderr
        .find(&format!("host {host}:"))
        .unwrap_or_else(|| panic!("no host {host} in\n{stderr}"));
    stderr[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .find(|l| l.trim_start().starts_with(field))
        .unwrap_or_else(|| panic!("no {field} for {host} in\n{stderr}"))
}

#[test]
fn shows_each_hosts_connection_and_where_each_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "ssh_config", SSH_CONFIG);
    let topo = write(dir.path(), "ihos.toml", &topology(HOSTS));
    let r = ihos(&["validate", "-c", &topo]);
    assert_eq!(r.code, 0, "{r:?}");
    let e = &r.stderr;
    // app1 entirely from the ssh config, through the bastion (a host made for the hop).
    assert!(
        e.contains("host app1: deploy@127.0.0.31:2201 through bastion"),
        "{e}"
    );
    assert!(
        row(e, "app1", "address").contains(&format!("{cfg}:7 (HostName) for app1")),
        "{e}"
    );
    assert!(
        row(e, "app1", "port").contains(&format!("{cfg}:8 (Port)")),
        "{e}"
    );
    assert!(
        row(e, "app1", "user").contains(&format!("{cfg}:3 (User)")),
        "{e}"
    );
    // As ssh: the agent, then the IdentityFile.
    assert!(row(e, "app1", "login").contains("agent, then key"), "{e}");
    assert!(row(e, "app1", "login").contains("id_ihos"), "{e}");
    assert!(
        row(e, "app1", "proxy_jump").contains(&format!("{cfg}:5 (ProxyJump)")),
        "{e}"
    );
    // app2: the topology's port and user win over the config.
    assert!(
        e.contains("host app2: root@127.0.0.32:22 through bastion"),
        "{e}"
    );
    assert!(row(e, "app2", "port").contains(&topo), "{e}");
    assert!(row(e, "app2", "user").contains(&topo), "{e}");
    // The hop: its user from ProxyJump, the rest from its own Host section.
    assert!(e.contains("host bastion: ops@127.0.0.20:2222"), "{e}");
    assert!(
        row(e, "bastion", "host_key_policy").contains("accept-new"),
        "{e}"
    );
    assert!(
        row(e, "bastion", "host_key_policy").contains(":14 (StrictHostKeyChecking)"),
        "{e}"
    );
    // The LB: the topology and defaults only (no Host section matches it).
    assert!(row(e, "lb", "port").contains("default"), "{e}");
    // Match is not evaluated, and says so.
    assert!(e.contains("warning:") && e.contains(":15: Match"), "{e}");
}

#[test]
fn the_command_line_config_replaces_the_topologys_and_errors_say_where() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ssh_config", SSH_CONFIG);
    let other = write(
        dir.path(),
        "other_config",
        "Host app1\n  HostName 127.0.0.39\n  User other\nHost app2 bastion\n  User x\n",
    );
    let topo = write(dir.path(), "ihos.toml", &topology(HOSTS));
    let r = ihos(&["validate", "-c", &topo, "--ssh-config", &other]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("host app1: other@127.0.0.39:22"), "{r:?}");

    // A bad value in the ssh config: its file and line, for the host it applies to.
    let bad = write(dir.path(), "bad_config", "Host app1\n  Port 70000\n");
    let r = ihos(&["validate", "-c", &topo, "--ssh-config", &bad]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&format!("{bad}:2: Port \"70000\"")),
        "{r:?}"
    );
    assert!(r.stderr.contains("hosts.app1.address"), "{r:?}");

    // A user nobody gives.
    let none = write(dir.path(), "none_config", "Host nothing\n  Port 2\n");
    let r = ihos(&["validate", "-c", &topo, "--ssh-config", &none]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("hosts.app1.user"), "{r:?}");

    // A missing ssh config file.
    let r = ihos(&[
        "validate",
        "-c",
        &topo,
        "--ssh-config",
        "/nonexistent/ssh_config",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("/nonexistent/ssh_config"), "{r:?}");
}

#[test]
fn jump_loops_and_password_logins() {
    let dir = tempfile::tempdir().unwrap();
    let looped = r#"
[hosts.lb]
address = "127.0.0.10"
user = "deploy"
proxy_jump = "app2"
[hosts.app1]
address = "127.0.0.11"
user = "deploy"
proxy_jump = "lb"
[hosts.app2]
address = "127.0.0.12"
user = "deploy"
proxy_jump = "app1"
"#;
    let topo = write(dir.path(), "loop.toml", &topology(looped));
    let r = ihos(&["validate", "-c", &topo]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("proxy_jump") && r.stderr.contains("loop"),
        "{r:?}"
    );

    let password = r#"
[hosts.lb]
address = "127.0.0.10"
user = "deploy"
[hosts.app1]
address = "127.0.0.11"
user = "deploy"
auth = { password_env = "IHOS_APP1_PASSWORD" }
proxy_jump = "lb"
[hosts.app2]
address = "127.0.0.12"
user = "deploy"
auth = { methods = ["agent", "password"], password_env = "IHOS_APP1_PASSWORD" }
"#;
    let topo = write(dir.path(), "pw.toml", &topology(password));
    let r = ihos(&["validate", "-c", &topo]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("host app1: deploy@127.0.0.11:22 through lb"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(
            "warning: hosts.app1.auth: logs in with a password; SSH keys are recommended"
        ),
        "{r:?}"
    );
    assert!(r.stderr.contains("warning: hosts.app2.auth"), "{r:?}");
    // The login row says where the password login comes from: the topology, not a default.
    let login = r
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("host app1:"))
        .find(|l| l.trim_start().starts_with("login"))
        .unwrap_or_default();
    assert!(
        login.contains("password from $IHOS_APP1_PASSWORD")
            && login.trim_end().ends_with("pw.toml"),
        "{login:?}"
    );

    // The password itself never goes in the file.
    let literal = password.replace(
        "auth = { password_env = \"IHOS_APP1_PASSWORD\" }",
        "auth = { password = \"hunter2\" }",
    );
    let topo = write(dir.path(), "literal.toml", &topology(&literal));
    let r = ihos(&["validate", "-c", &topo]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("unknown field `password`"), "{r:?}");
    assert!(
        !r.stderr.contains("hunter2") || r.stderr.contains(":9:"),
        "{r:?}"
    );
}
