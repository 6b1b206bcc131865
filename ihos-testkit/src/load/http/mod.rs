//! A small HTTP/1.1 client on tokio's `TcpStream`. [`send`]: one request per connection
//! (`Connection: close`), so a stale keep-alive connection closed by an nginx reload can never
//! be mistaken for a lost request (the keep-alive clients, which do meet such connections, are
//! in [`super::keepalive`] and share this module's framing). Responses are read by
//! `Content-Length`, chunked encoding, or until the server closes; [`parse_framed`] also says
//! where a response ends and whether its connection may carry another request.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::{ClientKind, Method};

mod parse;

pub use parse::{Framed, Parsed, Response, parse_framed, parse_response};

/// A response is at most this big (head and body).
pub const MAX_RESPONSE: usize = 1 << 20;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connection was refused (nothing listens).
    ConnectRefused,
    /// Another error while connecting.
    Connect,
    /// The connection was reset (or the pipe broke) while sending or receiving.
    Reset,
    /// The server closed the connection before a complete response.
    Closed,
    /// No complete response within the request timeout.
    Timeout,
    /// A complete response whose status is not 2xx.
    BadStatus,
    /// A response that is not HTTP/1.x as expected.
    Protocol,
    /// A keep-alive client's request on a reused connection that the server had closed (EOF
    /// or reset before any byte of a response) and that was not retried: a POST (see
    /// [`super::keepalive`] for which requests are retried, as Java HTTP clients do).
    StaleClosed,
}

impl ErrorKind {
    /// The name used in summaries (`connect_refused`, `bad_status`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::Connect => "connect",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::BadStatus => "bad_status",
            ErrorKind::Protocol => "protocol",
            ErrorKind::StaleClosed => "stale_closed",
        }
    }
}

/// A failure: its kind and a short description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind.
    pub kind: ErrorKind,
    /// What happened.
    pub detail: String,
}

pub(super) fn fail(kind: ErrorKind, detail: impl Into<String>) -> Failure {
    Failure {
        kind,
        detail: detail.into(),
    }
}

/// The bytes of a one-request-per-connection request (`Connection: close`). A POST carries
/// a small `text/plain` body.
pub fn build_request(method: Method, host: &str, path: &str, token: Option<&str>) -> Vec<u8> {
    request_bytes(method, host, path, token, ClientKind::Close)
}

/// The bytes of a request of a client of `kind`: `Connection: close`, or `Connection:
/// keep-alive` as Apache HttpClient 4 (`RequestClientConnControl`) and OkHttp
/// (`BridgeInterceptor`) send on HTTP/1.1.
pub fn request_bytes(
    method: Method,
    host: &str,
    path: &str,
    token: Option<&str>,
    kind: ClientKind,
) -> Vec<u8> {
    let connection = match kind {
        ClientKind::Close => "close",
        ClientKind::KeepAlive => "keep-alive",
    };
    let mut r = format!(
        "{} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ihos-load\r\nAccept: */*\r\nConnection: {connection}\r\n",
        method.as_str()
    );
    if let Some(t) = token {
        r.push_str("x-pep-token: ");
        r.push_str(t);
        r.push_str("\r\n");
    }
    match method {
        Method::Get => r.push_str("\r\n"),
        Method::Post => {
            let body = "ihos-load=1";
            r.push_str("Content-Type: text/plain\r\n");
            r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        }
    }
    r.into_bytes()
}

pub(super) fn io_failure(e: &io::Error, while_: &str) -> Failure {
    let kind = match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
        io::ErrorKind::UnexpectedEof => ErrorKind::Closed,
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Reset,
    };
    fail(kind, format!("{while_}: {e}"))
}

/// Opens a connection to `addr` (no delay: requests are small and one at a time).
pub(super) async fn connect(addr: SocketAddr) -> Result<TcpStream, Failure> {
    let s = TcpStream::connect(addr).await.map_err(|e| {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            fail(ErrorKind::ConnectRefused, format!("connect {addr}: {e}"))
        } else {
            fail(ErrorKind::Connect, format!("connect {addr}: {e}"))
        }
    })?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Sends one request to `addr` on a new connection and reads the response, within
/// `timeout`. Any status is a [`Response`] here; the caller decides what is a failure.
pub async fn send(
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> Result<Response, Failure> {
    send_counted(addr, request, timeout, &mut 0).await
}

/// [`send`], adding 1 to `opened` once the connection is established (the summary's
/// `connections_opened`).
pub async fn send_counted(
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
    opened: &mut u64,
) -> Result<Response, Failure> {
    let exchange = async {
        let mut s = connect(addr).await?;
        *opened += 1;
        s.write_all(request)
            .await
            .map_err(|e| io_failure(&e, "sending the request"))?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 8192];
        loop {
            let n = s
                .read(&mut chunk)
                .await
                .map_err(|e| io_failure(&e, "reading the response"))?;
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE {
                return Err(fail(ErrorKind::Protocol, "response over 1 MiB"));
            }
            if let Parsed::Done(r) = parse_response(&buf, n == 0)? {
                return Ok(r);
            }
            if n == 0 {
                return Err(fail(ErrorKind::Closed, "connection closed"));
            }
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(fail(
            ErrorKind::Timeout,
            format!("no complete response within {timeout:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn keepalive_requests_ask_to_keep_the_connection() {
        let k = String::from_utf8(request_bytes(
            Method::Get,
            "h",
            "/v",
            None,
            ClientKind::KeepAlive,
        ))
        .unwrap();
        assert!(k.contains("\r\nConnection: keep-alive\r\n"), "{k}");
        assert!(!k.contains("close"), "{k}");
    }

    #[test]
    fn requests() {
        let g = build_request(Method::Get, "127.0.0.10:8080", "/ihos/version", None);
        assert_eq!(
            String::from_utf8(g).unwrap(),
            "GET /ihos/version HTTP/1.1\r\nHost: 127.0.0.10:8080\r\nUser-Agent: ihos-load\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let p = String::from_utf8(build_request(
            Method::Post,
            "h",
            "/ihos/work?ms=5",
            Some("eyJ"),
        ))
        .unwrap();
        assert!(p.starts_with("POST /ihos/work?ms=5 HTTP/1.1\r\n"), "{p}");
        assert!(p.contains("\r\nx-pep-token: eyJ\r\n"), "{p}");
        assert!(p.ends_with("Content-Length: 11\r\n\r\nihos-load=1"), "{p}");
    }
}
