//! The receiver's HTTP/1.1: one request per connection, its head and its body (by
//! `Content-Length`, or chunked as RFC 9112 section 7.1 frames it), answered with
//! `Content-Length` and `Connection: close`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::loopback_server::LoopbackServer;

/// A request as received.
#[derive(Debug, Clone)]
pub(super) struct HttpRequest {
    pub(super) method: String,
    /// Path and query, as sent.
    pub(super) target: String,
    /// Header names lowercased.
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl HttpRequest {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
pub(super) struct HttpReply {
    pub(super) status: u16,
    pub(super) content_type: &'static str,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: String,
}

/// Larger bodies are refused before they are read (every service caps far below).
const MAX_BODY: usize = 1 << 20;

/// Listens on 127.0.0.1 (a free port) and answers each request with `handle`.
pub(super) fn start(
    handle: impl Fn(HttpRequest) -> HttpReply + Send + Sync + 'static,
) -> std::io::Result<LoopbackServer> {
    LoopbackServer::start("127.0.0.1", move |stream| serve(stream, &handle))
}

fn serve(stream: TcpStream, handle: &dyn Fn(HttpRequest) -> HttpReply) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let reply = match read_request(&mut BufReader::new(stream)) {
        Ok(request) => handle(request),
        Err(why) => HttpReply {
            status: 400,
            content_type: "text/plain",
            headers: vec![],
            body: why,
        },
    };
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        _ => "Service Unavailable",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(reply.body.as_bytes());
    let _ = writer.flush();
}

fn read_line(r: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_request(r: &mut impl BufRead) -> Result<HttpRequest, String> {
    let start = read_line(r)?;
    let mut parts = start.split(' ');
    let (Some(method), Some(target), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("bad request line {start:?}"));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut request = HttpRequest {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size_line = read_line(r)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_line:?}"))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !read_line(r)?.is_empty() {}
                break;
            }
            if request.body.len() + size > MAX_BODY {
                return Err("body too large".into());
            }
            let mut chunk = vec![0; size];
            r.read_exact(&mut chunk).map_err(|e| e.to_string())?;
            request.body.extend_from_slice(&chunk);
            read_line(r)?;
        }
    } else if let Some(len) = request.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        if len > MAX_BODY {
            return Err("body too large".into());
        }
        request.body = vec![0; len];
        r.read_exact(&mut request.body).map_err(|e| e.to_string())?;
    }
    Ok(request)
}
