//! The HTTP side of the TeamCity client: one `ureq` agent, bearer auth, JSON and streamed
//! GETs, and the mapping of HTTP failures to [`FetchError`]s.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::config::is_loopback_url as is_loopback;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use ureq::Agent;
use ureq::http::{Response, Uri};
use ureq::tls::{RootCerts, TlsConfig};

use super::error::FetchError;
use super::redirect::{self, MAX_REDIRECTS};

/// A response whose body is still to be read.
pub(crate) type Streamed = Response<ureq::Body>;

/// An authenticated connection to one TeamCity server.
pub(crate) struct Http {
    agent: Agent,
    base: String,
    token: String,
    token_env: String,
    /// When the current fetch must be done ([`Http::set_deadline`]); every request gets the
    /// time left as its total limit.
    deadline: Mutex<Option<(Instant, Duration)>>,
}

/// Longest a REST answer (JSON) may take: it is small; a server that takes longer is stuck.
const JSON_TIMEOUT: Duration = Duration::from_secs(120);

impl Http {
    /// A client for the server at `base` (no trailing `/`), sending `token` (read from the
    /// environment variable `token_env`, named in errors) as a bearer token.
    pub(crate) fn new(base: &str, token: String, token_env: &str) -> Result<Http, FetchError> {
        if token.is_empty() {
            return Err(FetchError::TokenMissing {
                var: token_env.to_string(),
            });
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FetchError::TokenInvalid {
                var: token_env.to_string(),
            });
        }
        // An internal CA is common for TeamCity: trust the system's roots, not a bundled list.
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let mut config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            // No total timeout (a WAR can be large); a stalled connection fails instead.
            .timeout_per_read(Some(Duration::from_secs(120)))
            .user_agent(format!("ihos/{}", env!("CARGO_PKG_VERSION")))
            // Redirects are followed in `send`, which decides where the token may go.
            .max_redirects(0)
            .tls_config(tls);
        if base.starts_with("https://") {
            // Never downgraded: a redirect to http:// would send the token in clear.
            config = config.https_only(true);
        }
        if is_loopback(base) {
            // A proxy from the environment cannot reach this machine's loopback.
            config = config.proxy(None);
        }
        Ok(Http {
            agent: Agent::new_with_config(config.build()),
            base: base.to_string(),
            token,
            token_env: token_env.to_string(),
            deadline: Mutex::new(None),
        })
    }

    /// Every request from now on ends by `limit` from now, in total.
    pub(crate) fn set_deadline(&self, limit: Duration) {
        let at = Instant::now().checked_add(limit);
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) = at.map(|at| (at, limit));
    }

    /// The time left for a request (at most `cap`), or the error that there is none.
    fn time_left(&self, url: &str, cap: Option<Duration>) -> Result<Option<Duration>, FetchError> {
        let deadline = *self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        let left = match deadline {
            None => None,
            Some((at, limit)) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(FetchError::TimedOut {
                        url: url.to_string(),
                        limit,
                    });
                }
                Some(left)
            }
        };
        Ok(match (left, cap) {
            (Some(l), Some(c)) => Some(l.min(c)),
            (l, c) => l.or(c),
        })
    }

    /// The server's base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The full URL of `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs `path` and parses its JSON body. Errors: [`FetchError::Unauthorized`] for 401
    /// and 403, [`FetchError::Http`] for any other non-2xx status (callers turn a 404 into
    /// what was not found), [`FetchError::BadResponse`] for a body that is not `T`.
    pub(crate) fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, FetchError> {
        let url = self.url(path);
        let mut response = self.send(&url, "application/json", None, Some(JSON_TIMEOUT))?;
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| connection(&url, e))?;
        serde_json::from_str(&text).map_err(|e| FetchError::BadResponse {
            url: url.clone(),
            reason: format!("{e} (the answer starts with {:?})", excerpt(&text, 80)),
        })
    }

    /// GETs `path` for its bytes, from byte `from` on (a `Range` request) when it is not 0.
    /// The status is 200 or 206; the caller reads the body.
    pub(crate) fn get_stream(&self, path: &str, from: u64) -> Result<Streamed, FetchError> {
        let url = self.url(path);
        self.send(&url, "*/*", (from > 0).then_some(from), None)
    }

    /// GETs `url`, following redirects: the token goes only to the server's own origin
    /// (see [`redirect`]); an answer from elsewhere is that server's, never TeamCity's.
    fn send(
        &self,
        url: &str,
        accept: &str,
        from: Option<u64>,
        cap: Option<Duration>,
    ) -> Result<Streamed, FetchError> {
        let mut current: Uri = url.parse().map_err(|_| FetchError::BadResponse {
            url: redirect::without_query(url),
            reason: "not a valid URL".into(),
        })?;
        let mut with_token = true;
        for _ in 0..=MAX_REDIRECTS {
            let text = current.to_string();
            // Shown in messages: a presigned URL's query is a credential.
            let shown = if with_token {
                text.clone()
            } else {
                redirect::without_query(&text)
            };
            if self.base.starts_with("https://") && current.scheme_str() != Some("https") {
                return Err(FetchError::Connection {
                    url: shown,
                    reason: "TeamCity redirected an https request to plain http: refused (the download would cross the network unprotected)".into(),
                });
            }
            let total = self.time_left(url, cap)?;
            let mut request = self
                .agent
                .get(&text)
                .config()
                .timeout_global(total)
                .build()
                .header("Accept", accept);
            if with_token {
                request = request.header("Authorization", format!("Bearer {}", self.token));
            }
            if let Some(from) = from {
                request = request.header("Range", format!("bytes={from}-"));
            }
            let mut response = request.call().map_err(|e| connection(&shown, e))?;
            let status = response.status().as_u16();
            if response.status().is_redirection() && status != 304 {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| redirect::resolve(&current, l));
                let Some(next) = location else {
                    return Err(FetchError::BadResponse {
                        url: shown,
                        reason: format!("HTTP {status} without a usable Location"),
                    });
                };
                with_token = with_token && redirect::keeps_token(&self.base, &next);
                current = next;
                continue;
            }
            if response.status().is_success() {
                return Ok(response);
            }
            // The token went along every hop only while they stayed on the server.
            if !with_token {
                return Err(FetchError::Storage {
                    status,
                    url: shown,
                    message: error_message(&mut response),
                });
            }
            if status == 401 || status == 403 {
                return Err(FetchError::Unauthorized {
                    status,
                    url: url.to_string(),
                    var: self.token_env.clone(),
                });
            }
            return Err(FetchError::Http {
                status,
                url: url.to_string(),
                message: error_message(&mut response),
            });
        }
        Err(FetchError::Connection {
            url: redirect::without_query(&current.to_string()),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
}

/// The message of an error answer's body (its first 64 kB).
fn error_message(response: &mut Streamed) -> String {
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    server_message(&body)
}

/// A transport failure of `url`, in words.
pub(crate) fn connection(url: &str, e: ureq::Error) -> FetchError {
    let reason = match e {
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "cannot connect".to_string(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Io(io) => format!("connection failed: {io}"),
        other => other.to_string(),
    };
    FetchError::Connection {
        url: url.to_string(),
        reason,
    }
}

/// The useful line of an error answer, at most 300 characters: TeamCity 2025's
/// `{"errors":[{"message","additionalMessage"}]}` or `<errors><error>...` (the exception's
/// message when there is one: `message` is the mapper's generic sentence), an S3-style
/// `<Error><Code>..</Code><Message>..` as `Code: Message`, the old text page's `Details:`
/// line without the Java exception class, else the first non-empty line.
fn server_message(body: &str) -> String {
    if let Some(m) = structured_message(body) {
        return excerpt(&m, 300);
    }
    let lines = body.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines
        .clone()
        .find_map(|l| l.strip_prefix("Details:"))
        .map(|d| drop_exception_class(d.trim()))
        .or_else(|| lines.clone().next())
        .unwrap_or_default();
    excerpt(line, 300)
}

/// The message of a JSON or XML error document, if `body` is one.
fn structured_message(body: &str) -> Option<String> {
    let body = body.trim_start();
    if body.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        let first = v.get("errors")?.get(0)?;
        let text = |k: &str| {
            first
                .get(k)
                .and_then(|m| m.as_str())
                .map(str::trim)
                .filter(|m| !m.is_empty())
        };
        let chosen = text("additionalMessage")
            .map(drop_exception_class)
            .or(text("message"))?;
        return Some(chosen.to_string());
    }
    if !body.starts_with('<') {
        return None;
    }
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = start + body[start..].find(&format!("</{name}>"))?;
        Some(unescape_xml(body[start..end].trim())).filter(|t| !t.is_empty())
    };
    if body.contains("<errors>") {
        return tag("additionalMessage")
            .map(|m| drop_exception_class(&m).to_string())
            .or_else(|| tag("message"));
    }
    let message = tag("Message")?;
    Some(match tag("Code") {
        Some(code) => format!("{code}: {message}"),
        None => message,
    })
}

/// "jetbrains....NotFoundException: No build ..." -> "No build ...".
fn drop_exception_class(text: &str) -> &str {
    match text.split_once("Exception: ") {
        Some((class, rest)) if !class.contains(' ') => rest,
        _ => text,
    }
}

fn unescape_xml(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Unreserved characters (RFC 3986) stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` percent-encoded for a URL path: unreserved characters, `/` and `!` (TeamCity's
/// mark of a path inside an archive, a sub-delimiter RFC 3986 allows in a path) stay, the
/// rest is encoded byte by byte.
pub(crate) fn encode_path(s: &str) -> String {
    const PATH: &AsciiSet = &UNRESERVED.remove(b'/').remove(b'!');
    utf8_percent_encode(s, PATH).to_string()
}

/// `s` percent-encoded for a query value, keeping the characters of a TeamCity locator
/// (`:`, `,`, `(`, `)`) readable.
pub(crate) fn encode_query(s: &str) -> String {
    const LOCATOR: &AsciiSet = &UNRESERVED
        .remove(b':')
        .remove(b',')
        .remove(b'(')
        .remove(b')');
    utf8_percent_encode(s, LOCATOR).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teamcity_error_pages_give_their_details_line() {
        let page = "Responding with error, status code: 404 (Not Found).\nDetails: jetbrains.buildServer.server.rest.errors.NotFoundException: No build type nor template is found by id 'Nope'.\nCould not find the entity requested.";
        assert_eq!(
            server_message(page),
            "No build type nor template is found by id 'Nope'."
        );
        assert_eq!(server_message("\n  Internal error\nmore"), "Internal error");
        // TeamCity 2025 (JetBrains/teamcity-cli issue #130 shows both forms).
        let json = r#"{"errors":[{"additionalMessage":"jetbrains.buildServer.server.rest.errors.NotFoundException: No build found by id '5'.","message":"Could not find the entity requested.","stackTrace":null,"statusText":"Responding with error, status code: 404 (Not Found)."}]}"#;
        assert_eq!(server_message(json), "No build found by id '5'.");
        let only = r#"{"errors":[{"message":"Make sure you have supplied correct 'Accept' header.","additionalMessage":""}]}"#;
        assert_eq!(
            server_message(only),
            "Make sure you have supplied correct 'Accept' header."
        );
        let xml = "<?xml version=\"1.0\"?><errors><error><message>Could not find</message><additionalMessage>jetbrains.X.NotFoundException: No artifact &lt;a&amp;b&gt;</additionalMessage></error></errors>";
        assert_eq!(server_message(xml), "No artifact <a&b>");
        let s3 = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert_eq!(server_message(s3), "AccessDenied: Request has expired");
        // Not what it looks like: the text as it is.
        assert_eq!(server_message("{not json"), "{not json");
        assert_eq!(
            server_message("<html><body>502 Bad Gateway</body></html>"),
            "<html><body>502 Bad Gateway</body></html>"
        );
        assert_eq!(server_message(""), "");
        assert_eq!(server_message(&"x".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn encoding_and_loopback() {
        assert_eq!(encode_path("dist/ihos 1.war"), "dist/ihos%201.war");
        assert_eq!(encode_path("a#b?c%"), "a%23b%3Fc%25");
        assert_eq!(
            encode_query("buildType:(id:X),branch:(name:feat/a&b)"),
            "buildType:(id:X),branch:(name:feat%2Fa%26b)"
        );
        assert_eq!(encode_path("é"), "%C3%A9");
        assert_eq!(
            encode_path("dist/app 1.zip!/发.war"),
            "dist/app%201.zip!/%E5%8F%91.war"
        );
        for yes in [
            "http://127.0.0.1:8111",
            "http://localhost/tc",
            "https://[::1]:443",
            "http://127.9.9.9",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "https://ci.example.com",
            "http://10.0.0.1:8111",
            "http://[fe80::1]",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn tokens_are_checked_without_being_shown() {
        let e = Http::new("http://127.0.0.1:1", String::new(), "TC_TOKEN")
            .err()
            .unwrap();
        assert_eq!(
            e,
            FetchError::TokenMissing {
                var: "TC_TOKEN".into()
            }
        );
        let e = Http::new("http://127.0.0.1:1", "abc\r\nX-Evil: 1".into(), "TC_TOKEN")
            .err()
            .unwrap();
        assert!(matches!(e, FetchError::TokenInvalid { .. }));
        assert!(!e.to_string().contains("abc"), "{e}");
    }
}
