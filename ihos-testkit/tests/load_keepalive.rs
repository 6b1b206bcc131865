//! The load generator's keep-alive client (`KeepAliveClient`) against a local server on
//! 127.0.0.1 that behaves as nginx does towards its clients (`keepalive_server`): one
//! connection reused, each response framed exactly however it is sent, `Connection: close`
//! and HTTP/1.0 ending a connection without a failure, a connection closed while idle (an
//! nginx reload) retried for a GET and a failure for a POST. Whole runs:
//! `load_keepalive_runs.rs`.

mod keepalive_server;

use std::net::SocketAddr;
use std::time::Duration;

use ihos_testkit::load::http::{ErrorKind, Response, request_bytes};
use ihos_testkit::load::{ClientKind, Exchange, KeepAliveClient, Method};
use keepalive_server::{Framing, Plan, Server, Stale, body_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const T: Duration = Duration::from_secs(5);

fn req(method: Method, path: &str) -> Vec<u8> {
    request_bytes(method, "127.0.0.1", path, None, ClientKind::KeepAlive)
}

async fn send(c: &mut KeepAliveClient, method: Method) -> Exchange {
    c.send(method, &req(method, "/ihos/version"), T).await
}

fn ok(ex: &Exchange) -> &Response {
    match &ex.result {
        Ok(r) => r,
        Err(f) => panic!("{f:?} ({ex:?})"),
    }
}

/// The response is the server's answer to its request `seq`, whole and alone.
fn check_body(r: &Response) -> u64 {
    assert_eq!(r.status, 200);
    let seq: u64 = r.header("x-seq").expect("X-Seq").parse().unwrap();
    assert_eq!(
        r.body,
        body_for(seq),
        "body of response {seq}: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    seq
}

#[tokio::test]
async fn one_connection_carries_every_request_each_response_framed_exactly() {
    for framing in [Framing::Length, Framing::Chunked, Framing::Alternate] {
        for (dribble, interim) in [(false, false), (true, false), (false, true), (true, true)] {
            let plan = Plan {
                framing,
                dribble,
                interim,
                ..Plan::default()
            };
            let what = format!("{plan:?}");
            let server = Server::start(plan).await;
            let mut c = KeepAliveClient::new(server.addr);
            for i in 1..=24u64 {
                let method = if i % 3 == 0 {
                    Method::Post
                } else {
                    Method::Get
                };
                let ex = send(&mut c, method).await;
                assert!(!ex.stale && !ex.retried, "{what}: {ex:?}");
                // One request, one response: the server's request numbers go 1, 2, 3, ...
                assert_eq!(check_body(ok(&ex)), i, "{what}");
                assert!(c.is_connected(), "{what}");
            }
            assert_eq!(c.connections_opened(), 1, "{what}");
            assert_eq!(server.stats.connections(), 1, "{what}");
            let seen = server.stats.seen();
            assert_eq!(seen.len(), 24, "{what}");
            assert!(
                seen.iter()
                    .all(|s| s.head.contains("Connection: keep-alive")),
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_retried_for_a_get_not_for_a_post() {
    for how in [
        Stale::AfterResponse,
        Stale::ResetOnNextRequest,
        Stale::EofOnNextRequest,
    ] {
        // Every connection is closed after its first response, as an nginx reload closes
        // the idle connections of its old workers.
        let server = Server::start(Plan {
            close_idle: Some((1, how)),
            ..Plan::default()
        })
        .await;
        let mut c = KeepAliveClient::new(server.addr);
        let first = send(&mut c, Method::Get).await;
        assert_eq!(check_body(ok(&first)), 1);
        assert!(
            c.is_connected(),
            "{how:?}: nothing said the connection ends"
        );

        // A GET on the closed connection: EOF or reset before any byte, sent again on a new
        // connection (Apache HttpClient: idempotent), and answered.
        let get = send(&mut c, Method::Get).await;
        assert!(get.stale && get.retried, "{how:?}: {get:?}");
        assert_eq!(check_body(ok(&get)), 2);
        assert_eq!(c.connections_opened(), 2, "{how:?}");

        // A POST on the next closed connection: not sent again (HttpClient: not idempotent
        // and completely sent), a user-visible failure of its own kind.
        let post = send(&mut c, Method::Post).await;
        assert!(post.stale && !post.retried, "{how:?}: {post:?}");
        let f = post.result.as_ref().unwrap_err();
        assert_eq!(f.kind, ErrorKind::StaleClosed, "{how:?}: {f:?}");
        assert!(f.detail.contains("POST not retried"), "{}", f.detail);
        assert_eq!(
            c.connections_opened(),
            2,
            "{how:?}: no retry, no new connection"
        );
        assert!(!c.is_connected());
        if how == Stale::EofOnNextRequest {
            // The server did read that POST: why it may not be sent twice.
            let seen = server.stats.seen();
            assert_eq!(seen.last().map(|s| s.method.as_str()), Some("POST"));
            assert!(!seen.last().unwrap().answered);
        }

        // The next request opens a new connection: no stale connection, nothing retried.
        let next = send(&mut c, Method::Post).await;
        assert!(!next.stale && !next.retried, "{how:?}: {next:?}");
        ok(&next);
        assert_eq!(c.connections_opened(), 3, "{how:?}");
    }
}

#[tokio::test]
async fn a_post_that_could_not_be_written_is_retried() {
    // The server resets the connection 50 ms after its response; 300 ms later the client's
    // write fails: the POST was not sent, so HttpClient sends it again.
    let server = Server::start(Plan {
        close_idle: Some((1, Stale::ResetAfterResponse)),
        ..Plan::default()
    })
    .await;
    let mut c = KeepAliveClient::new(server.addr);
    ok(&send(&mut c, Method::Get).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let post = send(&mut c, Method::Post).await;
    assert!(post.stale && post.retried, "{post:?}");
    assert_eq!(check_body(ok(&post)), 2);
    assert_eq!(c.connections_opened(), 2);
}

#[tokio::test]
async fn a_failure_on_a_new_connection_is_not_a_stale_connection() {
    // The server reads each request on a new connection and closes without an answer.
    let server = Server::start(Plan {
        close_idle: Some((0, Stale::EofOnNextRequest)),
        ..Plan::default()
    })
    .await;
    let mut c = KeepAliveClient::new(server.addr);
    for n in 1..=3 {
        let ex = send(&mut c, Method::Get).await;
        assert!(!ex.stale && !ex.retried, "{ex:?}");
        assert_eq!(ex.result.unwrap_err().kind, ErrorKind::Closed);
        assert_eq!(c.connections_opened(), n);
    }
    assert_eq!(server.stats.seen().len(), 3, "each GET sent once");

    // Nothing listens: refused, not retried.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free = l.local_addr().unwrap();
    drop(l);
    let mut c = KeepAliveClient::new(free);
    let ex = send(&mut c, Method::Get).await;
    assert_eq!(ex.result.unwrap_err().kind, ErrorKind::ConnectRefused);
    assert_eq!(c.connections_opened(), 0);
}

#[tokio::test]
async fn connection_close_and_http_1_0_end_the_connection_without_a_failure() {
    // nginx's keepalive_requests: the 3rd response on a connection says Connection: close.
    let server = Server::start(Plan {
        keepalive_requests: Some(3),
        dribble: true,
        ..Plan::default()
    })
    .await;
    let mut c = KeepAliveClient::new(server.addr);
    for i in 1..=7u64 {
        let ex = send(&mut c, Method::Post).await;
        assert!(!ex.stale && !ex.retried, "{i}: {ex:?}");
        assert_eq!(check_body(ok(&ex)), i);
        assert_eq!(c.is_connected(), i % 3 != 0, "{i}");
    }
    assert_eq!(c.connections_opened(), 3, "requests 1-3, 4-6, 7");
    assert_eq!(server.stats.connections(), 3);

    // HTTP/1.0 without keep-alive: the server keeps the socket open, but the exchange is
    // over; a client that reused it would wait in vain (a timeout) or see a stale connection.
    let server = Server::start(Plan {
        http10: true,
        ..Plan::default()
    })
    .await;
    let mut c = KeepAliveClient::new(server.addr);
    for i in 1..=3u64 {
        let ex = c
            .send(Method::Get, &req(Method::Get, "/v"), Duration::from_secs(1))
            .await;
        assert!(!ex.stale, "{ex:?}");
        assert_eq!(check_body(ok(&ex)), i);
        assert!(!c.is_connected());
    }
    assert_eq!(c.connections_opened(), 3);
}

/// A server on 127.0.0.1 that answers every request on a connection with `answer`.
async fn raw_server(answer: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = s.read(&mut chunk).await {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..h + 4); // GETs only: no body
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn bytes_after_a_complete_response_are_a_protocol_failure_and_a_timeout_drops_the_connection()
{
    let addr =
        raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n").await;
    let mut c = KeepAliveClient::new(addr);
    let ex = send(&mut c, Method::Get).await;
    let f = ex.result.unwrap_err();
    assert_eq!(f.kind, ErrorKind::Protocol, "{f:?}");
    assert!(
        f.detail.contains("bytes after a complete response"),
        "{f:?}"
    );
    assert!(!c.is_connected());

    // HTTP/1.0 with Connection: keep-alive is reused.
    let addr =
        raw_server(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")
            .await;
    let mut c = KeepAliveClient::new(addr);
    for _ in 0..3 {
        assert_eq!(ok(&send(&mut c, Method::Get).await).body, b"ok");
    }
    assert_eq!(c.connections_opened(), 1);

    // A response that never completes: a timeout, and the connection is not reused.
    let addr = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok").await;
    let mut c = KeepAliveClient::new(addr);
    let ex = c
        .send(
            Method::Get,
            &req(Method::Get, "/"),
            Duration::from_millis(200),
        )
        .await;
    assert_eq!(ex.result.unwrap_err().kind, ErrorKind::Timeout);
    assert!(!c.is_connected());
    let ex = c
        .send(
            Method::Get,
            &req(Method::Get, "/"),
            Duration::from_millis(200),
        )
        .await;
    assert!(!ex.stale);
    assert_eq!(c.connections_opened(), 2);
}
