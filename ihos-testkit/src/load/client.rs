//! One client of a load run: one request at a time, a random pause between two, until the
//! run's deadline or a stop. A one-request-per-connection client opens a connection per
//! request ([`super::http::send`]); a keep-alive client reuses one
//! ([`super::keepalive::KeepAliveClient`]). Each request becomes a [`Record`], counted by the
//! client's own [`Aggregator`] (merged by the run at the end).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::Progress;
use super::config::{ClientKind, LoadConfig};
use super::http::{self, ErrorKind};
use super::keepalive::KeepAliveClient;
use super::report::{Aggregator, Record};
use super::rng::Rng;

/// What a client counted and kept.
pub(super) struct ClientOut {
    pub(super) agg: Aggregator,
    pub(super) records: Vec<Record>,
    pub(super) dropped: u64,
}

/// Small per-client string interner (versions, instances).
#[derive(Default)]
struct Interner(Vec<Arc<str>>);

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.iter().find(|a| &***a == s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if self.0.len() < 64 {
            self.0.push(a.clone());
        }
        a
    }
}

/// Sleeps until `until`; false if stopped first.
async fn sleep_until(until: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    let slept = tokio::select! {
        _ = tokio::time::sleep_until(until) => true,
        _ = stop.wait_for(|s| *s) => false,
    };
    slept && !*stop.borrow()
}

/// Runs client `index` (its kind: [`LoadConfig::client_kind`]) until `deadline` or a stop.
#[allow(clippy::too_many_arguments)]
pub(super) async fn client(
    index: u32,
    config: Arc<LoadConfig>,
    host: String,
    mut rng: Rng,
    start: Instant,
    first: Instant,
    deadline: Instant,
    cap: usize,
    mut stop: watch::Receiver<bool>,
    progress: Arc<Progress>,
) -> ClientOut {
    let mut out = ClientOut {
        agg: Aggregator::new(config.bucket.as_millis().max(1) as u64),
        records: Vec::new(),
        dropped: 0,
    };
    let token = config.token_for_client(index);
    let user: Option<Arc<str>> = token.as_ref().map(|(u, _)| Arc::from(u.as_str()));
    let token = token.map(|(_, t)| t);
    let mut interner = Interner::default();
    let kind = config.client_kind(index);
    let mut keepalive =
        (kind == ClientKind::KeepAlive).then(|| KeepAliveClient::new(config.target));
    let mut opened = 0u64;
    if !sleep_until(first.min(deadline), &mut stop).await {
        return out;
    }
    loop {
        let t0 = Instant::now();
        if t0 >= deadline || *stop.borrow() {
            break;
        }
        let spec = config.mix.pick(&config.base_path, &mut rng);
        let req = http::request_bytes(spec.method, &host, &spec.path, token.as_deref(), kind);
        let (result, retried) = match keepalive.as_mut() {
            Some(k) => {
                let ex = k.send(spec.method, &req, config.timeout).await;
                (ex.result, ex.retried)
            }
            None => (
                http::send_counted(config.target, &req, config.timeout, &mut opened).await,
                false,
            ),
        };
        let t1 = Instant::now();
        let mut rec = Record {
            start_ms: (t0 - start).as_secs_f64() * 1000.0,
            latency_ms: (t1 - t0).as_secs_f64() * 1000.0,
            client: index,
            client_kind: kind,
            retried,
            method: spec.method,
            class: spec.class,
            status: None,
            version: None,
            instance: None,
            error: None,
            user: user.clone(),
        };
        let detail = match result {
            Ok(resp) => {
                rec.status = Some(resp.status);
                rec.version = resp.header("x-ihos-version").map(|v| interner.get(v));
                rec.instance = resp.header("x-ihos-instance").map(|v| interner.get(v));
                if (200..300).contains(&resp.status) {
                    None
                } else {
                    rec.error = Some(ErrorKind::BadStatus);
                    let body = String::from_utf8_lossy(&resp.body);
                    let line = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                    Some(format!(
                        "HTTP {}: {}",
                        resp.status,
                        line.chars().take(120).collect::<String>()
                    ))
                }
            }
            Err(f) => {
                rec.error = Some(f.kind);
                Some(f.detail)
            }
        };
        out.agg.add(&rec, detail.as_deref());
        progress.add(&rec);
        if config.keep_records {
            if out.records.len() < cap {
                out.records.push(rec);
            } else {
                out.dropped += 1;
            }
        }
        let pause_ns = config.pause.as_nanos() as u64;
        let pause = Duration::from_nanos(if pause_ns == 0 {
            0
        } else {
            rng.below(2 * pause_ns + 1)
        });
        if !pause.is_zero() && !sleep_until((t1 + pause).min(deadline), &mut stop).await {
            break;
        }
    }
    opened += keepalive.map_or(0, |k| k.connections_opened());
    out.agg.add_connections(kind, opened);
    out
}
