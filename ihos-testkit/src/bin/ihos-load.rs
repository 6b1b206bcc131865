//! `ihos-load`: constant-concurrency HTTP load against a loopback target (the sandbox's nginx),
//! for a bounded time. Most clients send one request per connection; `--keepalive-clients` of
//! them reuse keep-alive connections as a Java app's HTTP client pool does, and the summary
//! shows the two kinds apart. JSON summary on stdout, human summary on stderr, optional
//! per-request NDJSON file. SIGINT/SIGTERM stop it early (requests in flight finish, the
//! summary is printed; a second signal quits at once with code 130).
//!
//! Exit codes: 0 done; 1 some requests failed and `--fail-on-error` was given; 2 bad usage or
//! configuration (e.g. a non-loopback target); 3 an output file could not be written.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ihos_testkit::load::{self, LoadConfig, LoadConfigError, TokenFormat};

#[derive(Debug, Parser)]
#[command(
    name = "ihos-load",
    version,
    about = "Constant-concurrency HTTP load against a loopback target, recording every request",
    after_help = "Two kinds of client, counted apart (JSON: by_client_kind.close, by_client_kind.keepalive):\n  \
        one request per connection (Connection: close): never meets a connection the server closed;\n    \
        each failure is a request nginx or a backend lost.\n  \
        keep-alive (--keepalive-clients, default a quarter of -c): one connection reused request after\n    \
        request, like a Java app's HTTP client pool. nginx closes idle keep-alive connections at every\n    \
        reload; the client's next request, written without a check first (as Apache HttpClient 4.5\n    \
        does within 2 s of idle), meets that stale connection. As HttpClient does, a GET is then\n    \
        retried once on a new connection (stale_retried), a POST is not (a failure of kind\n    \
        stale_closed, counted in stale_failed).\n\
        totals count every user-visible request of both kinds.\n\n\
        Example (the sandbox's nginx):\n  ihos-load --target http://127.0.0.10:8080 -c 16 -d 30s --records /tmp/load.ndjson > summary.json"
)]
struct Args {
    /// Target URL: http://127.x.y.z:PORT[/BASE] (loopback addresses only; no names).
    #[arg(long, default_value = "http://127.0.0.10:8080")]
    target: String,
    /// Path prefix of the app (default: the target's path, else /ihos). "" for none.
    #[arg(long)]
    base: Option<String>,
    /// Concurrent clients (1..=256).
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: u32,
    /// How many of the clients reuse keep-alive connections (0..=CONCURRENCY; default a
    /// quarter of them, rounded down). The others send one request per connection.
    #[arg(short = 'k', long)]
    keepalive_clients: Option<u32>,
    /// How long to start requests (at most 10m), e.g. 30s, 2m.
    #[arg(short = 'd', long, default_value = "30s", value_parser = load::parse_duration)]
    duration: Duration,
    /// Share of slow requests (BASE/work?ms=SLOW_MS), 0..=1.
    #[arg(long, default_value_t = 0.3)]
    slow_fraction: f64,
    /// How long the app holds a slow request, in ms.
    #[arg(long, default_value_t = 200)]
    slow_ms: u64,
    /// Share of POSTs (nginx does not retry a POST it already sent), 0..=1.
    #[arg(long, default_value_t = 0.5)]
    post_fraction: f64,
    /// Mean pause of a client between requests (each pause uniform in [0, 2*PAUSE]).
    #[arg(long, default_value = "10ms", value_parser = load::parse_duration)]
    pause: Duration,
    /// Clients start at random offsets in [0, SPREAD) (default: one mean request period).
    #[arg(long, value_parser = load::parse_duration)]
    start_spread: Option<Duration>,
    /// A request not answered within this is a timeout failure (at most 120s).
    #[arg(long, default_value = "30s", value_parser = load::parse_duration)]
    timeout: Duration,
    /// User ids, comma separated: client i sends the x-pep-token of user i % n.
    #[arg(long, value_delimiter = ',')]
    users: Vec<String>,
    /// Token form: plain (base64 of {"id":"..","n":..}) or jwt (header.payload.sig).
    #[arg(long, default_value = "plain")]
    token_format: TokenFormat,
    /// Random seed (default: from the clock; printed in the summary).
    #[arg(long)]
    seed: Option<u64>,
    /// Width of the summary's timeline buckets.
    #[arg(long, default_value = "1s", value_parser = load::parse_duration)]
    bucket: Duration,
    /// Write every request as one JSON line to this file.
    #[arg(long)]
    records: Option<std::path::PathBuf>,
    /// Print a progress line to stderr this often (e.g. 5s; default: never).
    #[arg(long, value_parser = load::parse_duration)]
    progress: Option<Duration>,
    /// Exit with code 1 if any request failed.
    #[arg(long)]
    fail_on_error: bool,
    /// No human summary on stderr.
    #[arg(short, long)]
    quiet: bool,
    /// Compact JSON on stdout (one line).
    #[arg(long)]
    compact: bool,
}

fn config(a: &Args) -> Result<LoadConfig, LoadConfigError> {
    let (addr, path) = load::parse_target(&a.target)?;
    let mut c = LoadConfig::new(addr);
    c.base_path = match (&a.base, path) {
        (Some(b), _) => b.trim_end_matches('/').to_string(),
        (None, Some(p)) => p,
        (None, None) => "/ihos".into(),
    };
    c.concurrency = a.concurrency;
    c.keepalive_clients = a.keepalive_clients;
    c.duration = a.duration;
    c.mix.slow_fraction = a.slow_fraction;
    c.mix.slow_ms = a.slow_ms;
    c.mix.post_fraction = a.post_fraction;
    c.pause = a.pause;
    c.start_spread = a.start_spread;
    c.timeout = a.timeout;
    c.users = a
        .users
        .iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    c.token_format = a.token_format;
    c.seed = a.seed;
    c.bucket = a.bucket;
    c.keep_records = a.records.is_some();
    c.validate()?;
    Ok(c)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ihos-load: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ihos-load: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(run(args, cfg))
}

async fn run(args: Args, cfg: LoadConfig) -> ExitCode {
    if !args.quiet {
        eprintln!(
            "ihos-load: {} clients ({} keep-alive) -> http://{}{} for {:?} (slow {:.0}% x {} ms, POST {:.0}%{})",
            cfg.concurrency,
            cfg.effective_keepalive_clients(),
            cfg.target,
            cfg.base_path,
            cfg.duration,
            cfg.mix.slow_fraction * 100.0,
            cfg.mix.slow_ms,
            cfg.mix.post_fraction * 100.0,
            if cfg.users.is_empty() {
                String::new()
            } else {
                format!(", users {}", cfg.users.join(","))
            }
        );
    }
    let handle = match load::spawn(cfg) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("ihos-load: {e}");
            return ExitCode::from(2);
        }
    };
    let stopper = handle.stopper();
    let signals = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("ihos-load: stopping (requests in flight finish; signal again to quit now)");
        stopper.stop();
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("ihos-load: quitting without a summary");
        std::process::exit(130);
    });
    let ticker = args.progress.filter(|d| !d.is_zero()).map(|every| {
        let counters = handle.progress_counters();
        tokio::spawn(async move {
            let t0 = tokio::time::Instant::now();
            let mut tick = tokio::time::interval_at(t0 + every, every);
            loop {
                tick.tick().await;
                let s = counters.snapshot();
                let versions: Vec<String> =
                    s.versions.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                eprintln!(
                    "ihos-load: {:>6.1} s  {} requests  {} failed ({} POST)  stale keep-alive connections: {} retried, {} failed  versions {}",
                    t0.elapsed().as_secs_f64(),
                    s.requests,
                    s.failed,
                    s.failed_post,
                    s.stale_retried,
                    s.stale_failed,
                    versions.join(" ")
                );
            }
        })
    });
    let result = handle.join().await;
    signals.abort();
    if let Some(t) = ticker {
        t.abort();
    }
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ihos-load: {e}");
            return ExitCode::from(2);
        }
    };
    let mut code = 0;
    if let Some(path) = &args.records {
        let write = || -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
            for r in &result.records {
                f.write_all(r.to_json_line().as_bytes())?;
                f.write_all(b"\n")?;
            }
            f.flush()
        };
        if let Err(e) = write() {
            eprintln!("ihos-load: cannot write {}: {e}", path.display());
            code = 3;
        }
    }
    let s = &result.summary;
    if !args.quiet {
        eprint!("{}", s.to_text());
    }
    let json = if args.compact {
        serde_json::to_string(s)
    } else {
        serde_json::to_string_pretty(s)
    }
    .expect("the summary serializes");
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{json}").and_then(|()| out.flush()).is_err() {
        code = 3;
    }
    if code == 0 && args.fail_on_error && s.totals.failed > 0 {
        code = 1;
    }
    ExitCode::from(code)
}
