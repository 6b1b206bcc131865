//! `ihos rollout --simulate`: the whole rollout of the runbook's topology against fake hosts
//! in virtual time, through the real binary; human progress and NDJSON events.

use std::io::Write;
use std::path::Path;
use std::process::Command;

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ihos.toml")
}

fn war(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("ihos.war");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    z.start_file("WEB-INF/web.xml", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(b"<web-app/>").unwrap();
    z.finish().unwrap();
    path
}

#[test]
fn simulated_rollout_of_the_runbook_topology_completes_with_invariants_held() {
    let dir = tempfile::tempdir().unwrap();
    let war = war(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_ihos"))
        .arg("-c")
        .arg(example())
        .args(["rollout", "--simulate", "--war"])
        .arg(&war)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for inst in ["101-pep1", "101-pep2", "103-pep1", "103-pep2"] {
        assert!(stderr.contains(&format!("{inst}: updated in")), "{stderr}");
    }
    assert!(stderr.contains("Completed"), "{stderr}");
    assert!(
        stderr.contains("safety invariants held throughout"),
        "{stderr}"
    );
    assert!(stderr.contains("no host is contacted"), "{stderr}");
}

#[test]
fn simulated_rollout_prints_ndjson_events_with_a_schema() {
    let dir = tempfile::tempdir().unwrap();
    let war = war(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_ihos"))
        .arg("-c")
        .arg(example())
        .args([
            "rollout",
            "--simulate",
            "--json",
            "--only",
            "101-pep1",
            "--war",
        ])
        .arg(&war)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is one JSON event"))
        .collect();
    assert!(
        events
            .iter()
            .all(|e| e["schema"] == 1 && e["time"].is_string())
    );
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"lock_taken"));
    assert_eq!(kinds.last(), Some(&"rollout_finished"));
    let steps: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "step_started")
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "disable",
            "drain",
            "keep_previous",
            "stop",
            "remove",
            "install",
            "start",
            "wait_healthy",
            "scan_log",
            "enable",
            "record"
        ]
    );
    let last = events.last().unwrap();
    assert_eq!(last["outcome"], "completed");
    assert_eq!(last["updated"], serde_json::json!(["101-pep1"]));
}

#[test]
fn a_corrupt_war_is_refused_before_anything_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.war");
    std::fs::write(&bad, b"PK\x03\x04 truncated").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ihos"))
        .arg("-c")
        .arg(example())
        .args(["rollout", "--simulate", "--war"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid WAR"));
}

#[test]
fn simulation_follows_the_topology_war_name_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let war = war(dir.path());
    let topology = dir.path().join("ihos.toml");
    // Fake hosts only: the 192.0.2.x (TEST-NET) addresses are names, nothing is contacted.
    std::fs::write(&topology, SHOP).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ihos"))
        .arg("-c")
        .arg(&topology)
        .args(["rollout", "--simulate", "--war"])
        .arg(&war)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("/srv/a/webapps/shop.war sha256"),
        "{stderr}"
    );
    assert!(
        stderr.contains("safety invariants held throughout"),
        "{stderr}"
    );
}

const SHOP: &str = r#"
[hosts.h1]
address = "192.0.2.1"
user = "deploy"

[load_balancer]
host = "h1"
container = "lb"
config = "/etc/nginx/nginx.conf"
upstream = "app"

[[instances]]
name = "a"
host = "h1"
container = "app_a"
backend = "192.0.2.1:8081"
webapps = "/srv/a/webapps"
war_name = "shop.war"
logs = "/srv/a/logs"
health = { url = "http://127.0.0.1:8081/health" }

[[instances]]
name = "b"
host = "h1"
container = "app_b"
backend = "192.0.2.1:8082"
webapps = "/srv/b/webapps"
war_name = "shop.war"
logs = "/srv/b/logs"
health = { url = "http://127.0.0.1:8082/health" }
"#;
