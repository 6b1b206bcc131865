//! A load generator for the real sandbox (DESIGN.md §5): constant concurrency for a bounded
//! time against a loopback HTTP target, recording every request.
//!
//! - `concurrency` clients (at most [`MAX_CONCURRENCY`]) each send one request at a time, with
//!   a random pause between two requests, for `duration` (at most [`MAX_DURATION`]); requests
//!   in flight at the end are allowed to finish (each is bounded by `timeout`), then the run
//!   ends by itself.
//! - Two kinds of client ([`ClientKind`]). Most send one request per connection
//!   (`Connection: close`): they never meet a connection the server closed, so each of their
//!   failures is a request nginx or a backend lost. `keepalive_clients` of them (default a
//!   quarter) reuse one keep-alive connection, as a Java app's pooled HTTP client does
//!   ([`keepalive`]): they meet the idle connections nginx's old workers close at every
//!   reload, retry a GET that met one on a new connection and count a POST that met one as
//!   failed (`stale_closed`), as Apache HttpClient does. The summary shows the kinds apart
//!   ([`Summary::by_client_kind`]: requests, failed, connections opened, requests per
//!   connection, stale connections retried and failed); its totals count every user-visible
//!   request of both kinds (a retried GET once, with its retry's outcome).
//! - Clients start at random offsets within the first request period: phase-aligned clients
//!   would all probe the backend at the same instants and under-count an outage.
//! - Requests mix fast (`BASE/version`) and slow (`BASE/work?ms=M`) ones, GETs and POSTs:
//!   nginx retries a failed GET on another backend but never a POST it already sent, so POSTs
//!   reveal a backend stopped while it still had work.
//! - With user ids, client `i` sends `x-pep-token` of user `i % n` (see [`token`]), so a canary
//!   rule's cohort can be followed.
//! - Only 127.0.0.0/8 targets are accepted.
//! - Every request gets a [`Record`]: start offset, latency, client and its kind, whether it
//!   was retried after a stale connection, method, class, status, served version and instance
//!   (headers `X-Ihos-Version`, `X-Ihos-Instance` of the sandbox app), error kind
//!   ([`ErrorKind`]: `connect_refused`, `connect`, `reset`, `closed`, `timeout`, `bad_status`,
//!   `protocol`, `stale_closed`). The [`Summary`] (serde) counts failures by kind, status,
//!   method and class, latency percentiles, versions and instances seen, and a timeline.
//! - A refused configuration is a [`LoadConfigError`] (it names the option and value at
//!   fault); a run that cannot finish is a [`LoadError`].
//!
//! ```no_run
//! # async fn f() -> Result<(), ihos_testkit::load::LoadError> {
//! use ihos_testkit::load::{LoadConfig, run};
//! let mut cfg = LoadConfig::new("127.0.0.10:8080".parse().unwrap());
//! cfg.duration = std::time::Duration::from_secs(30);
//! let result = run(cfg).await?;
//! assert_eq!(result.summary.totals.failed, 0, "{}", result.summary.to_text());
//! # Ok(()) }
//! ```
//!
//! The binary `ihos-load` wraps this for scripts (JSON summary on stdout, text on stderr).

mod client;
pub mod config;
pub mod http;
pub mod keepalive;
pub mod report;
pub mod rng;
pub mod token;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub use config::{
    Class, ClientKind, LoadConfig, LoadConfigError, MAX_CONCURRENCY, MAX_DURATION, MAX_RECORDS,
    MAX_SLOW_MS, MAX_TIMEOUT, Method, Mix, check_target, parse_duration, parse_target,
};
pub use http::ErrorKind;
pub use keepalive::{Exchange, KeepAliveClient};
pub use report::{Aggregator, ByClientKind, ClientKindSummary, Counts, Record, Summary};
pub use token::{TokenFormat, UnknownTokenFormat};

use rng::Rng;

/// What a run produced.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// The summary.
    pub summary: Summary,
    /// Every request by start time (empty unless `keep_records`; at most [`MAX_RECORDS`]).
    pub records: Vec<Record>,
}

/// Why a load run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The configuration was refused before the run started.
    #[error(transparent)]
    Config(#[from] LoadConfigError),
    /// The task driving the run panicked or was cancelled.
    #[error("load task failed: {0}")]
    Task(tokio::task::JoinError),
}

/// Live counters of a running load.
#[derive(Debug, Default)]
pub struct Progress {
    requests: AtomicU64,
    failed: AtomicU64,
    failed_post: AtomicU64,
    stale_retried: AtomicU64,
    stale_failed: AtomicU64,
    versions: Mutex<BTreeMap<Arc<str>, u64>>,
}

/// A snapshot of [`Progress`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Requests finished.
    pub requests: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Of the failed, POSTs.
    pub failed_post: u64,
    /// Keep-alive requests that met a stale connection and succeeded on a new one.
    pub stale_retried: u64,
    /// Keep-alive requests that met a stale connection and failed (counted in `failed`).
    pub stale_failed: u64,
    /// Responses by version served.
    pub versions: BTreeMap<String, u64>,
}

impl Progress {
    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            failed_post: self.failed_post.load(Ordering::Relaxed),
            stale_retried: self.stale_retried.load(Ordering::Relaxed),
            stale_failed: self.stale_failed.load(Ordering::Relaxed),
            versions: self
                .versions
                .lock()
                .map(|m| m.iter().map(|(k, v)| (k.to_string(), *v)).collect())
                .unwrap_or_default(),
        }
    }

    fn add(&self, r: &Record) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if r.error.is_some() {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if r.method == Method::Post {
                self.failed_post.fetch_add(1, Ordering::Relaxed);
            }
        }
        if r.met_stale_connection() {
            let counter = if r.error.is_none() {
                &self.stale_retried
            } else {
                &self.stale_failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let (Some(v), Ok(mut m)) = (&r.version, self.versions.lock()) {
            *m.entry(v.clone()).or_default() += 1;
        }
    }
}

/// A load running in the background (see [`spawn`]).
#[derive(Debug)]
pub struct LoadHandle {
    stop: Stopper,
    progress: Arc<Progress>,
    join: tokio::task::JoinHandle<LoadResult>,
}

/// Stops a running load early (clonable, usable from another task).
#[derive(Debug, Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    /// Stops starting new requests; requests in flight finish.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl LoadHandle {
    /// Live counters.
    pub fn progress(&self) -> ProgressSnapshot {
        self.progress.snapshot()
    }

    /// The live counters themselves (to watch them from another task).
    pub fn progress_counters(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Stops starting new requests; requests in flight finish. Then [`LoadHandle::join`].
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// A handle that can stop the load from elsewhere.
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }

    /// Waits for the end of the run (its duration, or [`LoadHandle::stop`]). The only error
    /// is [`LoadError::Task`].
    pub async fn join(self) -> Result<LoadResult, LoadError> {
        self.join.await.map_err(LoadError::Task)
    }
}

/// Runs a load to its end.
pub async fn run(config: LoadConfig) -> Result<LoadResult, LoadError> {
    spawn(config)?.join().await
}

/// Starts a load on the current tokio runtime, once [`LoadConfig::validate`] accepts
/// `config`.
pub fn spawn(config: LoadConfig) -> Result<LoadHandle, LoadConfigError> {
    config.validate()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let join = tokio::spawn(drive(config, stop_rx, p));
    Ok(LoadHandle {
        stop: Stopper(Arc::new(stop_tx)),
        progress,
        join,
    })
}

async fn drive(
    config: LoadConfig,
    stop: watch::Receiver<bool>,
    progress: Arc<Progress>,
) -> LoadResult {
    let seed = config.seed.unwrap_or_else(Rng::seed_from_time);
    let config = Arc::new(config);
    let start = Instant::now();
    let deadline = start + config.duration;
    let spread = config.effective_start_spread();
    let host = config.target.to_string();
    let per_client_cap = MAX_RECORDS / config.concurrency as usize;
    let mut tasks = Vec::with_capacity(config.concurrency as usize);
    for i in 0..config.concurrency {
        let mut rng = Rng::for_client(seed, i);
        let offset = Duration::from_nanos(rng.below(spread.as_nanos() as u64));
        tasks.push(tokio::spawn(client::client(
            i,
            config.clone(),
            host.clone(),
            rng,
            start,
            start + offset,
            deadline,
            per_client_cap,
            stop.clone(),
            progress.clone(),
        )));
    }
    let bucket_ms = config.bucket.as_millis().max(1) as u64;
    let mut agg = Aggregator::new(bucket_ms);
    let mut records = Vec::new();
    let mut dropped = 0;
    for t in tasks {
        // A client task only ends by returning (it never panics on I/O errors).
        if let Ok(out) = t.await {
            agg.merge(out.agg);
            records.extend(out.records);
            dropped += out.dropped;
        }
    }
    let end = Instant::now();
    records.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let stopped_early = *stop.borrow() && end < deadline;
    let window = (end.min(deadline) - start).as_secs_f64().max(1e-3);
    let mut summary = agg.summary();
    summary.target = config.target.to_string();
    summary.concurrency = config.concurrency;
    for i in 0..config.concurrency {
        summary
            .by_client_kind
            .get_mut(config.client_kind(i))
            .clients += 1;
    }
    summary.duration_s = config.duration.as_secs_f64();
    summary.elapsed_s = (end - start).as_secs_f64();
    summary.stopped_early = stopped_early;
    summary.seed = seed;
    summary.rps = summary.totals.requests as f64 / window;
    summary.records_dropped = dropped;
    LoadResult { summary, records }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A fake app on 127.0.0.1: answers like the sandbox app; with `fail_posts`, closes the
    /// connection on every POST without answering (what nginx turns into a 502 for a POST).
    async fn fake_app(fail_posts: bool) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(h) = text.find("\r\n\r\n") {
                            let body_len = if text.starts_with("POST") { 11 } else { 0 };
                            if buf.len() >= h + 4 + body_len {
                                break;
                            }
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).to_string();
                    seen.lock().unwrap().push(text.clone());
                    if fail_posts && text.starts_with("POST") {
                        return; // dropped: connection closed without a response
                    }
                    let line = text.lines().next().unwrap_or("");
                    if line.contains("/work?ms=") {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let body = "v1";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nX-Ihos-Version: v1\r\nX-Ihos-Instance: fake-1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        (addr, seen)
    }

    fn quick(addr: std::net::SocketAddr) -> LoadConfig {
        let mut c = LoadConfig::new(addr);
        c.concurrency = 4;
        c.duration = Duration::from_millis(400);
        c.mix.slow_ms = 20;
        c.pause = Duration::from_millis(5);
        c.seed = Some(1);
        c.keep_records = true;
        c.bucket = Duration::from_millis(100);
        c
    }

    #[tokio::test]
    async fn a_healthy_target_gives_zero_failures() {
        let (addr, seen) = fake_app(false).await;
        let mut c = quick(addr);
        c.users = vec!["1".into(), "2".into()];
        let t0 = std::time::Instant::now();
        let r = run(c).await.unwrap();
        let s = &r.summary;
        assert!(t0.elapsed() < Duration::from_secs(3), "stops by itself");
        assert!(s.totals.requests > 20, "{}", s.to_text());
        assert_eq!(s.totals.failed, 0, "{}", s.to_text());
        assert_eq!(s.versions["v1"].requests, s.totals.requests);
        assert_eq!(s.instances["fake-1"].requests, s.totals.requests);
        assert!(s.by_method["GET"].requests > 0 && s.by_method["POST"].requests > 0);
        assert!(
            s.by_class["slow"].latency_ms.p50 >= 19.0,
            "{:?}",
            s.by_class
        );
        assert_eq!(r.records.len() as u64, s.totals.requests);
        assert!(r.records.windows(2).all(|w| w[0].start_ms <= w[1].start_ms));
        assert!(r.records.iter().all(|x| x.start_ms < 400.0));
        assert_eq!(s.users.len(), 2);
        let seen = seen.lock().unwrap();
        assert!(seen.iter().any(|t| t.contains("x-pep-token: eyJpZCI6IjEi")));
        assert!(seen.iter().any(|t| t.contains("x-pep-token: eyJpZCI6IjIi")));
        // A quarter of the 4 clients keeps connections alive; the fake app closes each
        // connection after its response (`Connection: close`), so the keep-alive client
        // reconnects for every request, which is no failure.
        let close = &s.by_client_kind.close;
        let ka = &s.by_client_kind.keepalive;
        assert_eq!((close.clients, ka.clients), (3, 1));
        let said_close = seen
            .iter()
            .filter(|t| t.contains("Connection: close"))
            .count() as u64;
        assert_eq!(said_close, close.counts.requests);
        assert_eq!(seen.len() as u64 - said_close, ka.counts.requests);
        assert!(ka.counts.requests > 0);
        assert_eq!(ka.connections_opened, ka.counts.requests);
        assert_eq!(close.connections_opened, close.counts.requests);
        assert_eq!(ka.stale_connections(), 0);
    }

    #[tokio::test]
    async fn dropped_posts_are_failures_and_refused_connects_too() {
        let (addr, _) = fake_app(true).await;
        let r = run(quick(addr)).await.unwrap();
        let s = &r.summary;
        assert!(s.by_method["POST"].failed > 0, "{}", s.to_text());
        assert_eq!(s.by_method["POST"].failed, s.by_method["POST"].requests);
        assert_eq!(s.by_method["GET"].failed, 0);
        assert_eq!(
            s.totals.failed_by_kind.get("closed").copied(),
            Some(s.totals.failed)
        );

        // Nothing listens: every request is connect_refused.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let free = l.local_addr().unwrap();
        drop(l);
        let mut c = quick(free);
        c.duration = Duration::from_millis(100);
        let s = run(c).await.unwrap().summary;
        assert!(s.totals.requests > 0);
        assert_eq!(s.totals.failed, s.totals.requests);
        assert_eq!(
            s.totals.failed_by_kind["connect_refused"],
            s.totals.requests
        );
    }

    #[tokio::test]
    async fn clients_start_at_random_offsets_and_stop_early_on_request() {
        let (addr, _) = fake_app(false).await;
        let mut c = quick(addr);
        c.concurrency = 8;
        c.duration = Duration::from_secs(30);
        c.start_spread = Some(Duration::from_millis(200));
        c.pause = Duration::from_millis(50);
        let h = spawn(c).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(h.progress().requests > 0);
        let t0 = std::time::Instant::now();
        h.stop();
        let r = h.join().await.unwrap();
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert!(r.summary.stopped_early);
        // first request of each client: spread over the 200 ms, not all at once
        let mut firsts: Vec<f64> = (0..8)
            .filter_map(|i| r.records.iter().find(|x| x.client == i).map(|x| x.start_ms))
            .collect();
        firsts.sort_by(f64::total_cmp);
        assert_eq!(firsts.len(), 8);
        assert!(firsts[7] - firsts[0] > 20.0, "{firsts:?}");
        assert!(firsts[7] < 200.0 + 50.0, "{firsts:?}");
    }

    #[tokio::test]
    async fn refuses_non_loopback_targets() {
        for t in ["192.168.1.101:80", "10.1.2.3:8080", "[::1]:80"] {
            let e = spawn(LoadConfig::new(t.parse().unwrap()))
                .unwrap_err()
                .to_string();
            assert!(e.contains("only loopback"), "{t}: {e}");
        }
    }
}
