//! Sending one request to a service: bounded tries with backoff inside a total deadline,
//! and errors that never show the URL (its path or query holds the robot's token).

use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::tls::{RootCerts, TlsConfig};

use super::service::{Answer, Request, answer};
use crate::config::NotifyKind;

/// Tries per request.
const TRIES: u32 = 3;
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

/// `message` with every trace of `url` beyond its host taken out.
fn scrub(message: &str, url: &str) -> String {
    let mut out = message.replace(url, &shown(url));
    if let Ok(u) = url.parse::<ureq::http::Uri>() {
        if let Some(pq) = u.path_and_query() {
            if pq.as_str().len() > 1 {
                out = out.replace(pq.as_str(), "/…");
            }
        }
    }
    out
}

/// Sends `request`, retrying what is worth it, until `deadline`.
pub(crate) fn send(
    agent: &Agent,
    kind: NotifyKind,
    request: &Request,
    deadline: Instant,
) -> Result<(), String> {
    let mut wait = BACKOFF;
    let mut last = String::new();
    for attempt in 1..=TRIES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let after = match try_once(agent, kind, request, left) {
            Answer::Delivered => return Ok(()),
            Answer::Refused(why) => return Err(scrub(&why, &request.url)),
            Answer::Retry(why, after) => {
                last = scrub(&why, &request.url);
                after.map(|a| a.min(MAX_RETRY_AFTER))
            }
        };
        if attempt == TRIES {
            break;
        }
        let pause = after.unwrap_or(wait);
        if Instant::now() + pause >= deadline {
            break;
        }
        std::thread::sleep(pause);
        wait *= 2;
    }
    Err(format!("not delivered in time: {last}"))
}

fn try_once(agent: &Agent, kind: NotifyKind, request: &Request, left: Duration) -> Answer {
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
            answer(kind, status, retry_after.as_deref(), &body)
        }
        // Not connected, timed out, TLS refused: the next try may do better.
        Err(e) => Answer::Retry(e.to_string(), None),
    }
}
