//! The fake server's HTTP/1.1: one request per connection, read up to the end of its
//! head (no body), percent-decoded; the answer is written with `Content-Length` and
//! `Connection: close`, or cut after some body bytes (an injected fault).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::TeamCityRequest;

/// A response: status, extra headers, body, and how many body bytes to send before
/// cutting the connection.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Vec<u8>,
    pub(super) cut_after: Option<usize>,
    /// For an error: its details (the exception's message), to answer it in another form.
    pub(super) details: Option<String>,
}

impl Reply {
    pub(super) fn json(value: Value) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type", "application/json".into())],
            body: value.to_string().into_bytes(),
            cut_after: None,
            details: None,
        }
    }

    /// A TeamCity-style plain-text error page.
    pub(super) fn error(status: u16, details: &str) -> Reply {
        let reason = match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            416 => "Range Not Satisfiable",
            _ => "Internal Server Error",
        };
        Reply {
            status,
            headers: vec![("Content-Type", "text/plain".into())],
            body: format!(
                "Responding with error, status code: {status} ({reason}).\nDetails: {details}\n"
            )
            .into_bytes(),
            cut_after: None,
            details: Some(details.to_string()),
        }
    }

    /// A redirect to `location`.
    pub(super) fn redirect(status: u16, location: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Location", location.to_string())],
            body: Vec::new(),
            cut_after: None,
            details: None,
        }
    }

    /// An error as TeamCity 2025 answers it, by `Accept`: `{"errors":[{"message",
    /// "additionalMessage","statusText","stackTrace"}]}` for JSON, `<errors><error>...`
    /// for XML, the old text page otherwise (JetBrains/teamcity-cli issue #130 shows both
    /// forms from a 2025.11 server; `message` is the exception mapper's generic sentence,
    /// `additionalMessage` the exception with its message).
    pub(super) fn in_2025_form(self, accept: Option<&str>) -> Reply {
        let Some(details) = &self.details else {
            return self;
        };
        let accept = accept.unwrap_or_default();
        let status_text = String::from_utf8_lossy(&self.body)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let message = match self.status {
            400 => "Invalid request. Please check the request URL and data are correct.",
            403 => "Access denied. Check the user has enough permissions to perform the operation.",
            404 => {
                "Could not find the entity requested. Check the reference is correct and the user has permissions to access the entity."
            }
            _ => "Error has occurred during request processing.",
        };
        let (content_type, body) = if accept.contains("application/json") {
            let v = serde_json::json!({ "errors": [{
                "additionalMessage": details,
                "message": message,
                "stackTrace": null,
                "statusText": status_text,
            }]});
            ("application/json", v.to_string())
        } else if accept.contains("xml") {
            let esc = |t: &str| {
                t.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            };
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><errors><error><message>{}</message><additionalMessage>{}</additionalMessage><statusText>{}</statusText></error></errors>",
                esc(message),
                esc(details),
                esc(&status_text)
            );
            ("application/xml", xml)
        } else {
            return self;
        };
        Reply {
            headers: vec![("Content-Type", content_type.into())],
            body: body.into_bytes(),
            ..self
        }
    }
}

/// The fake's server: a loopback server whose connections are answered by `handle`.
pub(super) type Server = crate::loopback_server::LoopbackServer;

/// Listens on `ip` (a free port) and answers each request with `handle`.
pub(super) fn start(
    ip: &str,
    handle: impl Fn(TeamCityRequest) -> Reply + Send + Sync + 'static,
) -> std::io::Result<Server> {
    Server::start(ip, move |conn| serve(conn, &handle))
}

/// Reads one request from `conn`, answers it with `handle` and closes the connection.
fn serve(mut conn: TcpStream, handle: impl FnOnce(TeamCityRequest) -> Reply) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let header = |name: &str| {
        text.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((&target, ""));
    let request = TeamCityRequest {
        method,
        path: decode(raw_path),
        query: raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect(),
        authorization: header("authorization"),
        accept: header("accept"),
        range: header("range"),
        status: 0,
    };
    let reply = handle(request);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let body = match reply.cut_after {
        Some(n) => &reply.body[..n.min(reply.body.len())],
        None => &reply.body[..],
    };
    let _ = conn
        .write_all(out.as_bytes())
        .and_then(|()| conn.write_all(body))
        .and_then(|()| conn.flush());
    let _ = conn.shutdown(Shutdown::Both);
}

/// Percent-encodes a path segment or query part (everything but letters and digits).
pub(super) fn encode(part: &str) -> String {
    percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Percent-decodes a path or query part (`+` stays as it is).
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding() {
        assert_eq!(super::decode("a%2Fb%20c+d"), "a/b c+d");
        assert_eq!(super::decode("100%"), "100%");
    }
}
