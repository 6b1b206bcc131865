//! `ihos canary analyze --access-log FILE`: the verdict from a local copy of the load
//! balancer's access log (offline: the topology's hosts are documentation addresses and are
//! never contacted), its exit code (0 pass, 1 fail, 4 inconclusive), the table on stderr
//! and the JSON on stdout.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{Run, ihos};
use serde_json::Value;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/ihos.toml");
const CANARY: &str = "192.168.1.102:39091";
const FLEET: [&str; 4] = [
    "192.168.1.101:39091",
    "192.168.1.101:39092",
    "192.168.1.103:39091",
    "192.168.1.103:39092",
];

/// One line in the example's log_format.
fn line(sec: u32, upstream: &str, ustatus: &str, urt: &str, status: u16) -> String {
    format!(
        "127.0.0.1 [2026-12-03T10:{:02}:{:02}+08:00] \"GET /ihos/work?ms=1 HTTP/1.1\" {status} 5 \
         rt=0.010 upstream={upstream} ustatus={ustatus} urt={urt}\n",
        sec / 60,
        sec % 60
    )
}

/// `canary` tries of the canary and ten times as many of the fleet; `bad(i)` says whether
/// the i-th canary try fails (502 retried on the fleet: the user saw a 200), and
/// `canary_ms` its time.
fn log(canary: u32, bad: impl Fn(u32) -> bool, canary_ms: u32) -> String {
    let mut text = String::new();
    for i in 0..canary {
        let sec = i % 3600;
        if bad(i) {
            text.push_str(&line(
                sec,
                &format!("{CANARY}, {}", FLEET[0]),
                "502, 200",
                "0.001, 0.010",
                200,
            ));
        } else {
            text.push_str(&line(sec, CANARY, "200", &format!("0.{canary_ms:03}"), 200));
        }
        for j in 0..10u32 {
            let ms = 5 + (i * 7 + j * 3) % 20;
            let _ = write!(
                text,
                "{}",
                line(
                    sec,
                    FLEET[(j % 4) as usize],
                    "200",
                    &format!("0.{ms:03}"),
                    200
                )
            );
        }
    }
    text
}

fn analyze(dir: &Path, text: &str, extra: &[&str]) -> Run {
    let file = dir.join("access.log");
    std::fs::write(&file, text).unwrap();
    let mut args = vec!["-c", EXAMPLE, "canary", "analyze", "--access-log"];
    let f = file.to_str().unwrap().to_string();
    args.push(&f);
    args.extend_from_slice(extra);
    ihos(&args)
}

#[test]
fn a_clean_canary_passes() {
    let dir = tempfile::tempdir().unwrap();
    let r = analyze(dir.path(), &log(400, |_| false, 12), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("canary analysis: PASS"), "{}", r.stderr);
    assert!(r.stderr.contains("error rate"), "{}", r.stderr);
    assert!(r.stderr.contains("Mann-Whitney"), "{}", r.stderr);
}

#[test]
fn errors_nginx_hid_behind_retries_fail_the_canary() {
    let dir = tempfile::tempdir().unwrap();
    // One canary try in twenty failed; nginx retried each on the fleet, users saw 200s.
    let r = analyze(dir.path(), &log(400, |i| i % 20 == 0, 12), &["--json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON object");
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["canary"]["errors"], 20);
    assert_eq!(v["canary"]["errors_retried"], 20);
    assert_eq!(v["canary"]["requests"], 400);
    // The retries' second tries are the fleet's, and succeeded.
    assert_eq!(v["fleet"]["requests"], 4020);
    assert_eq!(v["fleet"]["errors"], 0);
    let error_rate = &v["metrics"][0];
    assert_eq!(error_rate["name"], "error_rate");
    assert_eq!(error_rate["result"], "fail");
    assert!(error_rate["p_value"].as_f64().unwrap() < 0.01);
    assert_eq!(v["unparsed_lines"], 0);
    assert!(
        r.stderr.contains("canary analysis: fail (exit 1)"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_slower_canary_fails_on_latency() {
    let dir = tempfile::tempdir().unwrap();
    let r = analyze(dir.path(), &log(400, |_| false, 315), &["--json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let latency = &v["metrics"][1];
    assert_eq!(latency["name"], "latency");
    assert_eq!(latency["result"], "fail");
    assert!(
        latency["difference"].as_f64().unwrap() >= 290.0,
        "{latency}"
    );
    assert_eq!(v["metrics"][0]["result"], "pass");
}

#[test]
fn too_little_canary_traffic_is_inconclusive_even_when_it_all_failed() {
    let dir = tempfile::tempdir().unwrap();
    let r = analyze(dir.path(), &log(150, |_| true, 12), &["--json"]);
    assert_eq!(r.code, 4, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["verdict"], "inconclusive");
    assert!(
        v["reason"].as_str().unwrap().contains("too few"),
        "{}",
        v["reason"]
    );
}

#[test]
fn unparsed_lines_are_counted_and_located_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = log(300, |_| false, 12);
    text.push_str("GET /secret-token-abc123 HTTP/1.1 a line of another format\n");
    let r = analyze(dir.path(), &text, &["--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["unparsed_lines"], 1);
    assert_eq!(v["unparsed"][0]["line"], 3301);
    assert!(!r.stdout.contains("secret-token") && !r.stderr.contains("secret-token"));
}

#[test]
fn since_and_until_bound_the_window() {
    let dir = tempfile::tempdir().unwrap();
    // 400 canary tries over 400 seconds from 10:00:00+08:00; the window keeps 100 of them.
    let r = analyze(
        dir.path(),
        &log(400, |_| false, 12),
        &[
            "--json",
            "--since",
            "2026-12-03T10:05:00+08:00",
            "--until",
            "2026-12-03T02:06:40Z",
        ],
    );
    assert_eq!(r.code, 4, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["canary"]["requests"], 100);
    assert_eq!(v["window"]["from"], "since");
    let r = analyze(dir.path(), "", &["--since", "yesterday"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("neither a time"), "{}", r.stderr);
}

#[test]
fn a_topology_without_analysis_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let start = text.find("[canary.analysis]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let topology = dir.path().join("ihos.toml");
    std::fs::write(&topology, format!("{}{}", &text[..start], &text[end..])).unwrap();
    std::fs::write(dir.path().join("access.log"), "").unwrap();
    let log = dir.path().join("access.log");
    let r = ihos(&[
        "-c",
        topology.to_str().unwrap(),
        "canary",
        "analyze",
        "--access-log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("[canary.analysis]"), "{}", r.stderr);
}
