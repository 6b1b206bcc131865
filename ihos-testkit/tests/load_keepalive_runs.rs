//! Whole load runs with keep-alive clients against the nginx-like local server
//! (`keepalive_server`): connections reused over every framing, a reload's closed connections
//! retried for GETs and failed for POSTs, `Connection: close` after `keepalive_requests`,
//! and the summary (JSON, text, `ihos-load`) showing the two kinds of client apart.

mod keepalive_server;

use std::net::SocketAddr;
use std::time::Duration;

use ihos_testkit::load::http::ErrorKind;
use ihos_testkit::load::{self, ClientKind, LoadConfig, Method, Summary};
use keepalive_server::{Plan, Server};

const T: Duration = Duration::from_secs(5);

fn config(addr: SocketAddr, concurrency: u32, keepalive: u32, ms: u64) -> LoadConfig {
    let mut c = LoadConfig::new(addr);
    c.concurrency = concurrency;
    c.keepalive_clients = Some(keepalive);
    c.duration = Duration::from_millis(ms);
    c.pause = Duration::from_millis(2);
    c.start_spread = Some(Duration::from_millis(20));
    c.timeout = T;
    c.seed = Some(7);
    c.keep_records = true;
    c
}

fn text(s: &Summary) -> String {
    format!(
        "{}\n{}",
        s.to_text(),
        serde_json::to_string_pretty(&s.by_client_kind).unwrap()
    )
}

#[tokio::test]
async fn keepalive_clients_reuse_their_connections_and_read_every_framing() {
    // Hostile framing: pieces of 1-3 bytes, chunked and Content-Length in turn on each
    // connection, interim 100 Continue, bodies holding "0\r\n\r\n" and "HTTP/1.1 200 OK".
    let server = Server::start(Plan {
        dribble: true,
        interim: true,
        delay: Duration::from_millis(1),
        ..Plan::default()
    })
    .await;
    // The dribbled answers take ~100 ms each, and the run is bounded by time, not count: on a
    // loaded CI machine 0.8 s gave only 9.5 requests per connection (stop 26). What matters
    // is reuse (4 connections for many requests), so ask for 5 per connection in 1.5 s.
    let r = load::run(config(server.addr, 4, 4, 1500)).await.unwrap();
    let s = &r.summary;
    let ka = &s.by_client_kind.keepalive;
    assert_eq!(ka.clients, 4);
    assert!(ka.counts.requests >= 20, "{}", text(s));
    assert_eq!(s.totals.failed, 0, "{}", text(s));
    assert_eq!(ka.connections_opened, 4, "{}", text(s));
    assert_eq!(server.stats.connections(), 4);
    assert!(ka.requests_per_connection >= 5.0, "{}", text(s));
    // Both framings were read on the same connections.
    assert!(s.versions["chunked"].requests > 0 && s.versions["length"].requests > 0);
    assert!(
        r.records
            .iter()
            .all(|x| x.client_kind == ClientKind::KeepAlive && !x.retried)
    );
    assert_eq!(s.by_client_kind.close.counts.requests, 0);
}

#[tokio::test]
async fn a_reload_closes_idle_keepalive_connections_gets_are_retried_posts_fail() {
    for post_fraction in [0.0, 0.5] {
        let server = Server::start(Plan::default()).await;
        let mut c = config(server.addr, 6, 3, 1000);
        c.mix.post_fraction = post_fraction;
        let h = load::spawn(c).unwrap();
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.reload();
        }
        let r = h.join().await.unwrap();
        let s = &r.summary;
        let (close, ka) = (&s.by_client_kind.close, &s.by_client_kind.keepalive);
        let what = format!("POST share {post_fraction}:\n{}", text(s));
        assert_eq!((close.clients, ka.clients), (3, 3));
        // Each keep-alive client met at least one connection closed under it.
        assert!(ka.stale_connections() >= 3, "{what}");
        assert!(ka.stale_retried > 0, "{what}");
        assert!(
            ka.stale_connections()
                <= server
                    .stats
                    .stale_closes
                    .load(std::sync::atomic::Ordering::SeqCst),
            "{what}"
        );
        assert_eq!(close.counts.failed, 0, "{what}");
        assert!(ka.connections_opened > 3, "{what}");
        assert_eq!(ka.counts.failed, ka.stale_failed, "{what}");
        assert_eq!(
            ka.counts
                .failed_by_kind
                .get("stale_closed")
                .copied()
                .unwrap_or(0),
            ka.stale_failed,
            "{what}"
        );
        // Totals: every user-visible request, failures included.
        assert_eq!(
            s.totals.requests,
            close.counts.requests + ka.counts.requests
        );
        assert_eq!(s.totals.failed, ka.stale_failed, "{what}");
        if post_fraction == 0.0 {
            assert_eq!(
                s.totals.failed, 0,
                "only GETs: every stale connection retried; {what}"
            );
        } else {
            assert!(ka.stale_failed > 0, "{what}");
        }
        for x in &r.records {
            if x.retried {
                assert_eq!(
                    (x.client_kind, x.method),
                    (ClientKind::KeepAlive, Method::Get)
                );
            }
            if x.error == Some(ErrorKind::StaleClosed) {
                assert_eq!(
                    (x.client_kind, x.method),
                    (ClientKind::KeepAlive, Method::Post)
                );
            }
        }
        let retried = r.records.iter().filter(|x| x.retried).count() as u64;
        assert_eq!(retried, ka.stale_retried, "{what}");
    }
}

#[tokio::test]
async fn connection_close_after_keepalive_requests_is_no_failure() {
    let server = Server::start(Plan {
        keepalive_requests: Some(5),
        ..Plan::default()
    })
    .await;
    let r = load::run(config(server.addr, 4, 4, 600)).await.unwrap();
    let s = &r.summary;
    let ka = &s.by_client_kind.keepalive;
    assert_eq!(s.totals.failed, 0, "{}", text(s));
    assert_eq!(ka.stale_connections(), 0, "{}", text(s));
    assert!(ka.counts.requests >= 40, "{}", text(s));
    assert_eq!(ka.connections_opened, server.stats.connections());
    // 5 requests per connection, the last connection of each client maybe fewer.
    assert!(
        ka.connections_opened * 5 >= ka.counts.requests,
        "{}",
        text(s)
    );
    assert!(
        ka.connections_opened <= ka.counts.requests / 5 + 4,
        "{}",
        text(s)
    );
}

#[tokio::test]
async fn the_summary_shows_both_kinds_apart_in_json_and_text() {
    let server = Server::start(Plan::default()).await;
    let r = load::run(config(server.addr, 4, 2, 400)).await.unwrap();
    let s = &r.summary;
    let v = serde_json::to_value(s).unwrap();
    let (close, ka) = (
        &v["by_client_kind"]["close"],
        &v["by_client_kind"]["keepalive"],
    );
    assert_eq!(
        (close["clients"].as_u64(), ka["clients"].as_u64()),
        (Some(2), Some(2))
    );
    let (cr, kr) = (
        close["requests"].as_u64().unwrap(),
        ka["requests"].as_u64().unwrap(),
    );
    assert!(cr > 0 && kr > 0, "{v}");
    assert_eq!(v["totals"]["requests"].as_u64(), Some(cr + kr));
    assert_eq!(
        close["connections_opened"].as_u64(),
        Some(cr),
        "one per request"
    );
    assert_eq!(
        ka["connections_opened"].as_u64(),
        Some(2),
        "one per keep-alive client"
    );
    for k in [
        "failed",
        "stale_retried",
        "stale_failed",
        "requests_per_connection",
    ] {
        assert!(ka[k].is_number(), "{k}: {v}");
    }
    let t = s.to_text();
    assert!(
        t.contains(&format!(
            "one-request-per-connection clients (2): {cr} requests on {cr} connections, 0 failed"
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "keep-alive clients (2): {kr} requests on 2 connections ({:.1} per connection); 0 met a stale connection",
            s.by_client_kind.keepalive.requests_per_connection
        )),
        "{t}"
    );
    let line = r
        .records
        .iter()
        .find(|x| x.client_kind == ClientKind::KeepAlive)
        .unwrap();
    let j: serde_json::Value = serde_json::from_str(&line.to_json_line()).unwrap();
    assert_eq!(
        (j["client_kind"].as_str(), j["retried"].as_bool()),
        (Some("keepalive"), Some(false))
    );
}

#[tokio::test]
async fn ihos_load_takes_the_number_of_keepalive_clients() {
    let server = Server::start(Plan::default()).await;
    let bin = env!("CARGO_BIN_EXE_ihos-load");
    let target = format!("http://{}/ihos", server.addr);
    let out = tokio::process::Command::new(bin)
        .args(["--target", &target, "-c", "4", "--keepalive-clients", "1"])
        .args(["-d", "300ms", "--pause", "2ms", "--seed", "1", "--compact"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["by_client_kind"]["keepalive"]["clients"], 1, "{v}");
    assert_eq!(v["by_client_kind"]["close"]["clients"], 3, "{v}");
    assert_eq!(
        v["by_client_kind"]["keepalive"]["connections_opened"], 1,
        "{v}"
    );
    assert!(stderr.contains("4 clients (1 keep-alive)"), "{stderr}");
    assert!(stderr.contains("keep-alive clients (1): "), "{stderr}");
    assert!(
        stderr.contains("one-request-per-connection clients (3): "),
        "{stderr}"
    );

    let out = tokio::process::Command::new(bin)
        .args(["--target", &target, "-c", "4", "-k", "5"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("keepalive_clients 5"), "{stderr}");

    let out = tokio::process::Command::new(bin)
        .arg("--help")
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--keepalive-clients"), "{help}");
    assert!(help.contains("stale_closed"), "{help}");
}
