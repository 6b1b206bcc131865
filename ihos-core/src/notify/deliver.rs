//! Sending one request to a service: bounded tries with backoff inside a total deadline,
//! and errors that never show the URL (its path or query holds the robot's token).

use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::tls::{RootCerts, TlsConfig};

use super::service::{Answer, Request, answer};
use crate::config::NotifyKind;

/// Tries per request.
pub(crate) const TRIES: u32 = 3;
/// The wait before the second try; doubled before each next one.
const BACKOFF: Duration = Duration::from_millis(1000);
/// Longest wait a `Retry-After` may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Longest one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(8);
/// The largest answer read (services answer a few bytes of JSON).
const ANSWER_BYTES: u64 = 64 << 10;

/// An HTTP client for robots: the system's trusted roots (company proxies re-sign TLS),
/// no redirects (a redirect would carry the message elsewhere), the environment's proxy
/// except for this machine.
pub(crate) fn agent(loopback: bool) -> Agent {
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    let mut config = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TRY_TIMEOUT))
        .user_agent(format!("ihos/{}", env!("CARGO_PKG_VERSION")))
        .max_redirects(0)
        .tls_config(tls);
    if loopback {
        config = config.proxy(None);
    }
    Agent::new_with_config(config.build())
}

/// `url` without what may be secret: its scheme and host only.
pub(crate) fn shown(url: &str) -> String {
    match url.parse::<ureq::http::Uri>() {
        Ok(u) => format!(
            "{}://{}",
            u.scheme_str().unwrap_or("?"),
            u.host().unwrap_or("?")
        ),
        Err(_) => "(an unreadable URL)".into(),
    }
}

/// The parts of `url` that may be secret: its query values and its long path segments
/// (Feishu's hook id, Slack's token), as written, percent-decoded, and as an HTML page
/// would echo them.
fn secret_parts(url: &str) -> Vec<String> {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return vec![url.to_string()];
    };
    let mut parts: Vec<String> = vec![url.to_string()];
    if let Some(pq) = uri.path_and_query() {
        parts.push(pq.as_str().to_string());
    }
    let query_values = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split_once('=').map(|(_, v)| v))
        .filter(|v| v.len() >= 4);
    let long_segments = uri.path().split('/').filter(|s| s.len() >= 16);
    for part in query_values.chain(long_segments) {
        parts.push(part.to_string());
        let decoded = percent_encoding::percent_decode_str(part)
            .decode_utf8_lossy()
            .into_owned();
        parts.push(decoded);
    }
    let html: Vec<String> = parts.iter().map(|p| p.replace('&', "&amp;")).collect();
    parts.extend(html);
    // Longest first: a whole URL goes before the value inside it.
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    parts.dedup();
    parts
}

/// `text` with every secret part of `url` taken out.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.to_string();
    for part in secret_parts(url) {
        if !part.is_empty() {
            out = out.replace(&part, "…");
        }
    }
    out
}

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failed {
    /// The service answered no.
    Refused(String),
    /// No answer in time, or none that can be read.
    NoAnswer(String),
}

/// Sends `request`, at most `tries` times while it is worth it, until `deadline`.
pub(crate) fn send(
    agent: &Agent,
    kind: NotifyKind,
    request: &Request,
    deadline: Instant,
    tries: u32,
) -> Result<(), Failed> {
    let mut wait = BACKOFF;
    let mut last = String::new();
    for attempt in 1..=tries {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let after = match try_once(agent, kind, request, left) {
            Ok(Answer::Delivered) => return Ok(()),
            Ok(Answer::Refused(why)) => return Err(Failed::Refused(why)),
            Ok(Answer::Retry(why, after)) => {
                last = why;
                after.map(|a| a.min(MAX_RETRY_AFTER))
            }
            Err(Unreached { why, again: true }) => {
                last = why;
                None
            }
            Err(Unreached { why, again: false }) => return Err(Failed::NoAnswer(why)),
        };
        if attempt == tries {
            break;
        }
        let pause = after.unwrap_or(wait);
        if Instant::now() + pause >= deadline {
            break;
        }
        std::thread::sleep(pause);
        wait *= 2;
    }
    Err(Failed::NoAnswer(format!("not delivered in time: {last}")))
}

/// Whether a request that failed this way may go again: only when it cannot have
/// reached the service (a second message would otherwise be posted twice) and another
/// try can do better (a certificate refused now is refused again).
fn worth_retrying(e: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    match e {
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
        ureq::Error::Timeout(t) => matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect),
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::NotConnected | ErrorKind::AddrNotAvailable
        ),
        _ => false,
    }
}

/// A request that got no answer: why, and whether another try is worth it.
struct Unreached {
    why: String,
    again: bool,
}

fn try_once(
    agent: &Agent,
    kind: NotifyKind,
    request: &Request,
    left: Duration,
) -> Result<Answer, Unreached> {
    let mut req = agent
        .post(&request.url)
        .config()
        .timeout_global(Some(left.min(TRY_TIMEOUT)))
        .build();
    for (name, value) in &request.headers {
        req = req.header(*name, value);
    }
    match req.send(&request.body[..]) {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = response
                .body_mut()
                .with_config()
                .limit(ANSWER_BYTES)
                .read_to_string()
                .unwrap_or_default();
            // Before anything is cut from it: a proxy's page may echo the whole URL.
            let body = scrub(&body, &request.url);
            Ok(match answer(kind, status, retry_after.as_deref(), &body) {
                Answer::Refused(why) => Answer::Refused(scrub(&why, &request.url)),
                Answer::Retry(why, after) => Answer::Retry(scrub(&why, &request.url), after),
                Answer::Delivered => Answer::Delivered,
            })
        }
        Err(e) => Err(Unreached {
            why: scrub(&e.to_string(), &request.url),
            again: worth_retrying(&e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_echo_of_a_robots_secrets_is_taken_out() {
        let dt = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef&timestamp=1700000000002&sign=VGvd0brDJp%2FnMZtR%2BXnA3y%3D";
        let page = "<p>Blocked: https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef&amp;timestamp=1700000000002&amp;sign=VGvd0brDJp/nMZtR+XnA3y=</p>";
        let out = scrub(page, dt);
        for secret in ["0123456789abcdef", "VGvd0brDJp", "1700000000002"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        let fs =
            "https://open.feishu.cn/open-apis/bot/v2/hook/2e9b3f1c-0000-4a6e-9d3b-7c1f2a3b4c5d";
        let out = scrub("no hook 2e9b3f1c-0000-4a6e-9d3b-7c1f2a3b4c5d here", fs);
        assert!(!out.contains("2e9b3f1c"), "{out}");
        let slack = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
        let out = scrub(
            &format!("{} no_service for {slack}", "x".repeat(300)),
            slack,
        );
        assert!(!out.contains("XXXXXXXXXXXXXXXX"), "{out}");
        assert!(out.ends_with("no_service for …"), "{out}");
    }
}
