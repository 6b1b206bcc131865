//! Reading a response: [`parse_response`] and [`parse_framed`] (which also says where the
//! response ends and whether its connection may carry another request). Bodies are framed by
//! `Content-Length`, chunked encoding, or the server's close.

use super::{ErrorKind, Failure, MAX_RESPONSE, fail};

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

/// What [`parse_response`] found so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete response.
    Done(Response),
    /// More bytes are needed.
    Partial,
}

/// A complete response and where it ends (see [`parse_framed`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Framed {
    /// The response.
    pub response: Response,
    /// How many bytes of the buffer it took; bytes after them are not part of it.
    pub len: usize,
    /// Whether the connection may carry another request: HTTP/1.1 without `Connection:
    /// close`, or HTTP/1.0 with `Connection: keep-alive`, and a body not ended by the close.
    pub reusable: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses `buf` (everything received so far). `eof`: the server has closed the connection.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Parsed, Failure> {
    Ok(match parse_framed(buf, eof)? {
        Some(f) => Parsed::Done(f.response),
        None => Parsed::Partial,
    })
}

/// Like [`parse_response`], and where the response ends and whether its connection can be
/// reused: what a keep-alive client needs to never read one response into the next. `None`:
/// more bytes are needed.
pub fn parse_framed(buf: &[u8], eof: bool) -> Result<Option<Framed>, Failure> {
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
        return Ok(None);
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
    let body_start = head_end + 4;
    let body = &buf[body_start..];
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let connection = get("connection").unwrap_or("").to_ascii_lowercase();
    let has_token = |t: &str| connection.split(',').any(|x| x.trim() == t);
    let mut reusable =
        status != 101 && !has_token("close") && (version != "HTTP/1.0" || has_token("keep-alive"));
    let (body, len) = if no_body {
        (Vec::new(), body_start)
    } else if chunked {
        match dechunk(body)? {
            Some((b, n)) => (b, body_start + n),
            None if eof => {
                return Err(fail(
                    ErrorKind::Closed,
                    "connection closed in the middle of a chunked body",
                ));
            }
            None => return Ok(None),
        }
    } else if let Some(cl) = get("content-length") {
        let n: usize = cl
            .parse()
            .map_err(|_| fail(ErrorKind::Protocol, format!("bad content-length {cl:?}")))?;
        if body.len() >= n {
            (body[..n].to_vec(), body_start + n)
        } else if eof {
            return Err(fail(
                ErrorKind::Closed,
                format!("connection closed after {} of {n} body bytes", body.len()),
            ));
        } else {
            return Ok(None);
        }
    } else if eof {
        // The body ends with the connection: nothing can follow it.
        reusable = false;
        (body.to_vec(), buf.len())
    } else {
        return Ok(None);
    };
    Ok(Some(Framed {
        response: Response {
            status,
            headers,
            body,
        },
        len,
        reusable,
    }))
}

/// De-chunks a complete chunked body: the body and how many bytes it took (trailers
/// included); `None` if incomplete.
fn dechunk(b: &[u8]) -> Result<Option<(Vec<u8>, usize)>, Failure> {
    let all = b.len();
    let mut b = b;
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
            // Trailers (header lines) end with an empty line.
            let mut rest = b;
            loop {
                let Some(eol) = find(rest, b"\r\n") else {
                    return Ok(None);
                };
                rest = &rest[eol + 2..];
                if eol == 0 {
                    return Ok(Some((out, all - rest.len())));
                }
            }
        }
        // A size no response can have (it would overflow): refused, not waited for.
        let Some(end) = size.checked_add(2).filter(|&e| e <= MAX_RESPONSE + 2) else {
            return Err(fail(
                ErrorKind::Protocol,
                format!("chunk size {size_text:?} over the response limit"),
            ));
        };
        if b.len() < end {
            return Ok(None);
        }
        out.extend_from_slice(&b[..size]);
        if &b[size..size + 2] != b"\r\n" {
            return Err(fail(ErrorKind::Protocol, "chunk not followed by CRLF"));
        }
        b = &b[size + 2..];
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
    fn a_chunk_size_no_response_can_have_is_refused_not_a_panic() {
        for size in ["ffffffffffffffff", "fffffffffffffffe", "100001"] {
            let head = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nab");
            let e = parse_response(head.as_bytes(), false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Protocol, "{size}: {e:?}");
        }
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
    fn framing_ends_each_response_exactly() {
        let one = |b: &[u8]| parse_framed(b, false).unwrap().expect("complete");
        let next = b"HTTP/1.1 200 OK\r\n";
        let cl = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc".to_vec();
        let ch =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
                .to_vec();
        let empty = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".to_vec();
        for r in [&cl, &ch, &empty] {
            let mut buf = r.clone();
            buf.extend_from_slice(next);
            let f = one(&buf);
            assert_eq!(f.len, r.len(), "{}", String::from_utf8_lossy(r));
            assert!(f.reusable);
        }
        assert_eq!(one(&ch).response.body, b"abc");
        // A chunked body is not done until the empty line after its trailers.
        let cut = &ch[..ch.len() - 2];
        assert_eq!(parse_framed(cut, false), Ok(None));
        // Both Content-Length and chunked: chunked frames it (RFC 9112 6.3).
        let both = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(one(both).len, both.len());
    }

    #[test]
    fn which_connections_may_carry_another_request() {
        let reusable = |head: &str| {
            let r = format!("{head}\r\nContent-Length: 0\r\n\r\n");
            one_framed(r.as_bytes()).reusable
        };
        assert!(reusable("HTTP/1.1 200 OK"));
        assert!(reusable("HTTP/1.1 200 OK\r\nConnection: keep-alive"));
        assert!(!reusable("HTTP/1.1 200 OK\r\nConnection: close"));
        assert!(!reusable("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close"));
        assert!(!reusable("HTTP/1.0 200 OK"));
        assert!(reusable("HTTP/1.0 200 OK\r\nConnection: Keep-Alive"));
        // A body ended by the close: nothing can follow.
        let f = parse_framed(b"HTTP/1.1 200 OK\r\n\r\nabc", true)
            .unwrap()
            .unwrap();
        assert!(!f.reusable);
        assert_eq!(f.response.body, b"abc");
    }

    fn one_framed(b: &[u8]) -> Framed {
        parse_framed(b, false).unwrap().expect("complete")
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
