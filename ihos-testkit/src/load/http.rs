//! A small HTTP/1.1 client on tokio's `TcpStream`: one request per connection
//! (`Connection: close`), so a stale keep-alive connection closed by an nginx reload can never
//! be mistaken for a lost request. Responses are read by `Content-Length`, chunked encoding,
//! or until the server closes.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::Method;

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
        }
    }
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
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

fn fail(kind: ErrorKind, detail: impl Into<String>) -> Failure {
    Failure {
        kind,
        detail: detail.into(),
    }
}

/// The bytes of a request. A POST carries a small `text/plain` body.
pub fn build_request(method: Method, host: &str, path: &str, token: Option<&str>) -> Vec<u8> {
    let mut r = format!(
        "{} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ihos-load\r\nAccept: */*\r\nConnection: close\r\n",
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

/// What [`parse_response`] found so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete response.
    Done(Response),
    /// More bytes are needed.
    Partial,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses `buf` (everything received so far). `eof`: the server has closed the connection.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Parsed, Failure> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if eof {
            return Err(if buf.is_empty() {
                fail(ErrorKind::Closed, "connection closed before any response")
            } else {
                fail(
                    ErrorKind::Closed,
                    "connection closed in the middle of the response head",
                )
            });
        }
        if buf.len() > 64 * 1024 {
            return Err(fail(ErrorKind::Protocol, "response head over 64 KiB"));
        }
        return Ok(Parsed::Partial);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| fail(ErrorKind::Protocol, "response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(fail(
            ErrorKind::Protocol,
            format!("bad status line {status_line:?}"),
        ));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| {
            fail(
                ErrorKind::Protocol,
                format!("bad status line {status_line:?}"),
            )
        })?;
    let mut headers = Vec::new();
    for line in lines {
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| fail(ErrorKind::Protocol, format!("bad header line {line:?}")))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let body = &buf[head_end + 4..];
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let body = if no_body {
        Vec::new()
    } else if chunked {
        match dechunk(body)? {
            Some(b) => b,
            None if eof => {
                return Err(fail(
                    ErrorKind::Closed,
                    "connection closed in the middle of a chunked body",
                ));
            }
            None => return Ok(Parsed::Partial),
        }
    } else if let Some(cl) = get("content-length") {
        let n: usize = cl
            .parse()
            .map_err(|_| fail(ErrorKind::Protocol, format!("bad content-length {cl:?}")))?;
        if body.len() >= n {
            body[..n].to_vec()
        } else if eof {
            return Err(fail(
                ErrorKind::Closed,
                format!("connection closed after {} of {n} body bytes", body.len()),
            ));
        } else {
            return Ok(Parsed::Partial);
        }
    } else if eof {
        body.to_vec()
    } else {
        return Ok(Parsed::Partial);
    };
    Ok(Parsed::Done(Response {
        status,
        headers,
        body,
    }))
}

/// De-chunks a complete chunked body; `None` if incomplete.
fn dechunk(mut b: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(b, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&b[..eol])
            .ok()
            .map(|s| s.split(';').next().unwrap_or("").trim())
            .ok_or_else(|| fail(ErrorKind::Protocol, "bad chunk size"))?;
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| fail(ErrorKind::Protocol, format!("bad chunk size {size_text:?}")))?;
        b = &b[eol + 2..];
        if size == 0 {
            // Trailers end with an empty line.
            return Ok(find(b, b"\r\n").map(|_| out));
        }
        if b.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&b[..size]);
        if &b[size..size + 2] != b"\r\n" {
            return Err(fail(ErrorKind::Protocol, "chunk not followed by CRLF"));
        }
        b = &b[size + 2..];
    }
}

fn io_failure(e: &io::Error, while_: &str) -> Failure {
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

/// Sends one request to `addr` and reads the response, within `timeout`. Any status is a
/// [`Response`] here; the caller decides what is a failure.
pub async fn send(
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> Result<Response, Failure> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| {
            if e.kind() == io::ErrorKind::ConnectionRefused {
                fail(ErrorKind::ConnectRefused, format!("connect {addr}: {e}"))
            } else {
                fail(ErrorKind::Connect, format!("connect {addr}: {e}"))
            }
        })?;
        let _ = s.set_nodelay(true);
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

    fn done(r: Result<Parsed, Failure>) -> Response {
        match r {
            Ok(Parsed::Done(r)) => r,
            other => panic!("{other:?}"),
        }
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

    #[test]
    fn content_length() {
        let full = b"HTTP/1.1 200 OK\r\nX-Ihos-Version: v1\r\nX-Ihos-Instance: 101-pep1\r\nContent-Length: 2\r\n\r\nv1";
        for cut in 0..full.len() {
            assert_eq!(
                parse_response(&full[..cut], false),
                Ok(Parsed::Partial),
                "{cut}"
            );
            let e = parse_response(&full[..cut], true).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Closed, "{cut}");
        }
        let r = done(parse_response(full, false));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ihos-version"), Some("v1"));
        assert_eq!(r.header("x-ihos-instance"), Some("101-pep1"));
        assert_eq!(r.body, b"v1");
    }

    #[test]
    fn chunked_and_eof_bodies() {
        let full = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3;x=y\r\n v2\r\n0\r\n\r\n";
        let r = done(parse_response(full, false));
        assert_eq!(r.body, b"ok v2");
        for cut in 0..full.len() {
            assert_eq!(
                parse_response(&full[..cut], false),
                Ok(Parsed::Partial),
                "{cut}"
            );
            assert!(parse_response(&full[..cut], true).is_err(), "{cut}");
        }
        let r = done(parse_response(
            b"HTTP/1.0 502 Bad Gateway\r\nServer: nginx\r\n\r\n<html>",
            true,
        ));
        assert_eq!(r.status, 502);
        assert_eq!(r.body, b"<html>");
        assert_eq!(
            parse_response(b"HTTP/1.0 200 OK\r\n\r\nabc", false),
            Ok(Parsed::Partial)
        );
        let r = done(parse_response(b"HTTP/1.1 204 No Content\r\n\r\n", false));
        assert!(r.body.is_empty());
    }

    #[test]
    fn malformed() {
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert_eq!(
                parse_response(bad, true).unwrap_err().kind,
                ErrorKind::Protocol,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
