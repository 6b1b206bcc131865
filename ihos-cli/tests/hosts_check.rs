//! `ihos hosts check`: every host at once, what failed on which, the exit code. Here with
//! this machine (`local = true`, which runs the load balancer: sudo and docker checked) and
//! a host nothing listens for (its connection refused); the real-sshd scale run is the
//! `hosts_check` bench.

mod common;

use common::ihos;

fn topology(dir: &std::path::Path) -> String {
    let known = dir.join("known_hosts");
    std::fs::write(&known, "").unwrap();
    let text = format!(
        r#"
[hosts.here]
address = "127.0.0.1"
user = "root"
local = true

[hosts.gone]
address = "127.0.0.1"
port = 1
user = "deploy"
known_hosts = "{}"

[load_balancer]
host = "here"
container = "nginx"
config = "/etc/nginx/nginx.conf"
upstream = "app"

[[instances]]
name = "a1"
host = "gone"
container = "tomcat1"
backend = "127.0.0.1:8080"
webapps = "/opt/a1/webapps"
logs = "/opt/a1/logs"
health = {{ url = "http://127.0.0.1:8080/" }}
"#,
        known.display()
    );
    let path = dir.join("ihos.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn names_what_failed_on_which_host_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(dir.path());
    let r = ihos(&["hosts", "check", "-c", &topo]);
    assert_eq!(r.code, 1, "{r:?}");
    let gone = r
        .stdout
        .lines()
        .find(|l| l.starts_with("gone"))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(gone.contains("login, sudo, docker"), "{gone}");
    assert!(gone.contains("refused"), "{gone}");
    assert!(r.stdout.lines().any(|l| l.starts_with("here")), "{r:?}");
    assert!(r.stderr.contains("2 host(s) checked in"), "{r:?}");
    assert!(r.stderr.contains("not ready"), "{r:?}");

    // JSON: one object per host.
    let r = ihos(&["hosts", "check", "--json", "-c", &topo]);
    assert_eq!(r.code, 1, "{r:?}");
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    let gone = lines.iter().find(|v| v["host"] == "gone").unwrap();
    assert!(
        gone["error"].as_str().unwrap().contains("refused"),
        "{gone}"
    );
    assert_eq!(gone["runs_containers"], true);
}
