//! `ihos nginx show FILE [--json]`: upstreams, servers and `if` blocks.

mod common;

use common::{BROKEN, Fixture};
use serde_json::Value;

fn json(f: &Fixture) -> Value {
    let r = f.nginx("show", &["--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    serde_json::from_str(&r.stdout).expect("stdout is one JSON object")
}

fn states(v: &Value, upstream: usize) -> Vec<String> {
    v["upstreams"][upstream]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn json_lists_runbook_upstreams() {
    let f = Fixture::nginx_conf();
    let v = json(&f);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["file"], f.arg());
    let ups = v["upstreams"].as_array().unwrap();
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[0]["name"], "service_ihos");
    assert_eq!(ups[0]["line"], 18);
    assert_eq!(ups[1]["name"], "service_ihos_gray");
    let addrs: Vec<&str> = ups[0]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        addrs,
        [
            "192.168.1.101:39091",
            "192.168.1.101:39092",
            "192.168.1.103:39091",
            "192.168.1.103:39092"
        ]
    );
    let s0 = &ups[0]["servers"][0];
    assert_eq!(s0["line"], 19);
    assert_eq!(
        s0["params"],
        serde_json::json!(["max_fails=5", "fail_timeout=10s"])
    );
    assert_eq!(states(&v, 0), ["enabled"; 4]);
    assert_eq!(ups[1]["servers"][0]["address"], "192.168.1.102:39091");
    assert_eq!(ups[1]["servers"][0]["line"], 26);
    assert_eq!(v["if_blocks"], serde_json::json!([]));
}

#[test]
fn json_reports_commented_and_down_states() {
    let f = Fixture::nginx_conf();
    let r = f.nginx(
        "disable",
        &[
            "--upstream",
            "service_ihos",
            "--server",
            "192.168.1.101:39091",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = f.nginx(
        "disable",
        &[
            "--upstream",
            "service_ihos",
            "--server",
            "192.168.1.103:39092",
            "--style",
            "down",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&f);
    assert_eq!(states(&v, 0), ["commented", "enabled", "enabled", "down"]);
    // A commented-out server keeps its address, params and line.
    let s0 = &v["upstreams"][0]["servers"][0];
    assert_eq!(s0["address"], "192.168.1.101:39091");
    assert_eq!(s0["line"], 19);
    assert_eq!(
        v["upstreams"][0]["servers"][3]["params"],
        serde_json::json!(["max_fails=5", "fail_timeout=10s", "down"])
    );
}

#[test]
fn json_lists_the_commented_canary_block() {
    let f = Fixture::site();
    let v = json(&f);
    assert_eq!(v["upstreams"], serde_json::json!([]));
    let blocks = v["if_blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    let canary = &blocks[0];
    assert_eq!(canary["enabled"], false);
    assert_eq!(canary["line"], 8);
    assert_eq!(canary["end_line"], 10);
    assert_eq!(
        canary["condition"],
        "($http_x_pep_token ~* \"(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)\")"
    );
    assert_eq!(
        canary["regex"],
        "(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)"
    );
    assert_eq!(canary["context"], serde_json::json!(["server", "location"]));
    let route = &blocks[1];
    assert_eq!(route["enabled"], true);
    assert_eq!(route["line"], 11);
    assert_eq!(route["end_line"], 14);
    assert_eq!(route["regex"], Value::Null);
}

#[test]
fn human_listing_goes_to_stdout() {
    let f = Fixture::nginx_conf();
    let r = f.nginx("show", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "");
    assert!(
        r.stdout
            .contains("upstream service_ihos (line 18): 4 servers, 4 enabled\n"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("    19  enabled    192.168.1.101:39091  max_fails=5 fail_timeout=10s\n"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("upstream service_ihos_gray (line 25): 1 server, 1 enabled\n"),
        "{r:?}"
    );

    let f = Fixture::site();
    let r = f.nginx("show", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(
            "  lines 8-10  commented  in server > location  if ($http_x_pep_token ~* \"(eyJpZCI6IjE"
        ),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("    regex: (eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)\n"),
        "{r:?}"
    );
}

#[test]
fn broken_file_exits_2_with_position() {
    let f = Fixture::new("broken.conf", BROKEN);
    for args in [&[][..], &["--json"][..]] {
        let r = f.nginx("show", args);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stderr.starts_with(&format!("{}:4:5: ", f.arg())), "{r:?}");
        assert_eq!(r.stdout, "");
    }
}
