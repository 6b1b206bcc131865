//! What a load run does: target, concurrency, duration, request mix, tokens. Validated
//! against hard caps; the target must be a loopback address. A refused value is a
//! [`LoadConfigError`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rng::Rng;
use super::token::{self, TokenFormat};

/// At most this many concurrent clients.
pub const MAX_CONCURRENCY: u32 = 256;
/// A run lasts at most this long.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// A slow request holds at most this long.
pub const MAX_SLOW_MS: u64 = 60_000;
/// One request may take at most this long before it counts as a timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);
/// At most this many per-request records are kept (the summary always counts everything).
pub const MAX_RECORDS: usize = 2_000_000;

/// A load configuration, target or option value that is refused. Each message names the
/// option (or the text given) and the value at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadConfigError {
    /// The target is not in 127.0.0.0/8.
    #[error("refusing target {ip}: only loopback addresses (127.0.0.0/8) may be loaded")]
    NotLoopback {
        /// The target's address.
        ip: IpAddr,
    },
    /// The target's port is 0.
    #[error("target port 0")]
    PortZero,
    /// A target URL with a scheme other than `http://`.
    #[error("{target:?}: only http:// targets")]
    TargetScheme {
        /// The target as given.
        target: String,
    },
    /// A target URL whose port is not a number in 0..=65535.
    #[error("{target:?}: bad port {port:?}")]
    TargetPort {
        /// The target as given.
        target: String,
        /// Its port part.
        port: String,
    },
    /// A target URL whose host is not an IPv4 address (names are not resolved).
    #[error("{target:?}: the host must be an IPv4 address in 127.0.0.0/8 (no names)")]
    TargetHost {
        /// The target as given.
        target: String,
    },
    /// `concurrency` is 0 or over [`MAX_CONCURRENCY`].
    #[error("concurrency {concurrency} is out of range 1..={MAX_CONCURRENCY}")]
    Concurrency {
        /// The value given.
        concurrency: u32,
    },
    /// `duration` is zero or over [`MAX_DURATION`].
    #[error("duration {duration:?} is out of range (0, {max}s]", max = MAX_DURATION.as_secs())]
    Duration {
        /// The value given.
        duration: Duration,
    },
    /// `timeout` is zero or over [`MAX_TIMEOUT`].
    #[error("timeout {timeout:?} is out of range (0, {max}s]", max = MAX_TIMEOUT.as_secs())]
    Timeout {
        /// The value given.
        timeout: Duration,
    },
    /// `mix.slow_fraction` is not in 0..=1.
    #[error("slow fraction {fraction} is out of range 0..=1")]
    SlowFraction {
        /// The value given.
        fraction: f64,
    },
    /// `mix.post_fraction` is not in 0..=1.
    #[error("post fraction {fraction} is out of range 0..=1")]
    PostFraction {
        /// The value given.
        fraction: f64,
    },
    /// `mix.slow_ms` is over [`MAX_SLOW_MS`].
    #[error("slow request time {slow_ms} ms is over {MAX_SLOW_MS} ms")]
    SlowMs {
        /// The value given, in ms.
        slow_ms: u64,
    },
    /// `pause` is over 60 s.
    #[error("pause is over 60 s")]
    Pause {
        /// The value given.
        pause: Duration,
    },
    /// The (effective) `start_spread` is longer than `duration`.
    #[error("start spread is longer than the run")]
    StartSpread {
        /// The spread that would be used.
        spread: Duration,
        /// The run's duration.
        duration: Duration,
    },
    /// `bucket` is under 10 ms.
    #[error("bucket is under 10 ms")]
    Bucket {
        /// The value given.
        bucket: Duration,
    },
    /// `base_path` is neither empty nor `/like/this`.
    #[error("base path {base_path:?} must be empty or /like/this (no trailing slash)")]
    BasePath {
        /// The value given.
        base_path: String,
    },
    /// One of `users` cannot be put into a token.
    #[error("user id {user:?}: use 1-64 characters of [A-Za-z0-9_.-]")]
    UserId {
        /// The first bad user id.
        user: String,
    },
    /// Not a number with an optional unit.
    #[error("{text:?} is not a duration like 30s, 500ms, 2m")]
    DurationSyntax {
        /// The text given.
        text: String,
    },
    /// A negative or infinite number.
    #[error("{text:?} is not a duration")]
    DurationValue {
        /// The text given.
        text: String,
    },
    /// A unit other than ms, s, m, h.
    #[error("{text:?}: units are ms, s, m, h")]
    DurationUnit {
        /// The text given.
        text: String,
    },
    /// Over 10⁷ s.
    #[error("{text:?} is too long")]
    DurationTooLong {
        /// The text given.
        text: String,
    },
}

/// HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Method {
    /// Retried by nginx on another backend when one fails (idempotent).
    #[serde(rename = "GET")]
    Get,
    /// Not retried by nginx once sent (non-idempotent): reveals a backend stopped too early.
    #[serde(rename = "POST")]
    Post,
}

impl Method {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// `BASE/version`.
    Fast,
    /// `BASE/work?ms=M`: held M ms by the app (in-flight work to drain).
    Slow,
}

impl Class {
    /// `fast` or `slow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Fast => "fast",
            Class::Slow => "slow",
        }
    }
}

/// The request mix: each request is independently slow with `slow_fraction` and a POST with
/// `post_fraction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    /// Share of slow requests, 0..=1.
    pub slow_fraction: f64,
    /// How long a slow request is held, in ms.
    pub slow_ms: u64,
    /// Share of POSTs, 0..=1.
    pub post_fraction: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            slow_fraction: 0.3,
            slow_ms: 200,
            post_fraction: 0.5,
        }
    }
}

/// One request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// GET or POST.
    pub method: Method,
    /// Fast or slow.
    pub class: Class,
    /// Path and query, e.g. `/ihos/work?ms=200`.
    pub path: String,
}

impl Mix {
    /// Draws the next request.
    pub fn pick(&self, base: &str, rng: &mut Rng) -> RequestSpec {
        let class = if rng.chance(self.slow_fraction) {
            Class::Slow
        } else {
            Class::Fast
        };
        let method = if rng.chance(self.post_fraction) {
            Method::Post
        } else {
            Method::Get
        };
        let path = match class {
            Class::Fast => format!("{base}/version"),
            Class::Slow => format!("{base}/work?ms={}", self.slow_ms),
        };
        RequestSpec {
            method,
            class,
            path,
        }
    }

    /// Mean time a request is held by the app, in ms (fast ones counted as 0).
    pub fn mean_hold_ms(&self) -> f64 {
        self.slow_fraction * self.slow_ms as f64
    }
}

/// A load run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadConfig {
    /// Where to send requests (a 127.0.0.0/8 address).
    pub target: SocketAddr,
    /// Path prefix of the app, e.g. `/ihos` (no trailing slash; may be empty).
    pub base_path: String,
    /// Number of clients, each sending one request at a time.
    pub concurrency: u32,
    /// How long new requests are started.
    pub duration: Duration,
    /// The request mix.
    pub mix: Mix,
    /// Mean pause of a client between two requests (each pause is uniform in `[0, 2 * pause]`).
    pub pause: Duration,
    /// Clients start at uniformly random offsets in `[0, start_spread)`; `None`: one mean
    /// request period (pause + mean hold time + 5 ms, at least 50 ms).
    pub start_spread: Option<Duration>,
    /// A request taking longer is a `timeout` failure.
    pub timeout: Duration,
    /// User ids; client `i` sends `x-pep-token` of user `users[i % len]`. Empty: no token.
    pub users: Vec<String>,
    /// How tokens are written.
    pub token_format: TokenFormat,
    /// Random seed (`None`: from the clock).
    pub seed: Option<u64>,
    /// Width of the timeline buckets of the summary.
    pub bucket: Duration,
    /// Keep per-request records (at most [`MAX_RECORDS`]).
    pub keep_records: bool,
}

impl LoadConfig {
    /// A run against `target` with the defaults: 16 clients, 30 s, 30 % slow (200 ms), 50 %
    /// POST, 10 ms mean pause, 30 s timeout, base path `/ihos`, 1 s buckets.
    pub fn new(target: SocketAddr) -> Self {
        LoadConfig {
            target,
            base_path: "/ihos".into(),
            concurrency: 16,
            duration: Duration::from_secs(30),
            mix: Mix::default(),
            pause: Duration::from_millis(10),
            start_spread: None,
            timeout: Duration::from_secs(30),
            users: Vec::new(),
            token_format: TokenFormat::Plain,
            seed: None,
            bucket: Duration::from_secs(1),
            keep_records: false,
        }
    }

    /// The spread of client start offsets actually used.
    pub fn effective_start_spread(&self) -> Duration {
        self.start_spread.unwrap_or_else(|| {
            let ms = self.pause.as_secs_f64() * 1000.0 + self.mix.mean_hold_ms() + 5.0;
            Duration::from_secs_f64(ms.max(50.0) / 1000.0)
        })
    }

    /// The token client `index` sends, if any.
    pub fn token_for_client(&self, index: u32) -> Option<(String, String)> {
        if self.users.is_empty() {
            return None;
        }
        let user = &self.users[index as usize % self.users.len()];
        Some((
            user.clone(),
            token::token(user, u64::from(index), self.token_format),
        ))
    }

    /// Checks every value against the caps; the target must be loopback.
    pub fn validate(&self) -> Result<(), LoadConfigError> {
        check_target(self.target)?;
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(LoadConfigError::Concurrency {
                concurrency: self.concurrency,
            });
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(LoadConfigError::Duration {
                duration: self.duration,
            });
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Err(LoadConfigError::Timeout {
                timeout: self.timeout,
            });
        }
        let fraction_ok = |f: f64| (0.0..=1.0).contains(&f);
        if !fraction_ok(self.mix.slow_fraction) {
            return Err(LoadConfigError::SlowFraction {
                fraction: self.mix.slow_fraction,
            });
        }
        if !fraction_ok(self.mix.post_fraction) {
            return Err(LoadConfigError::PostFraction {
                fraction: self.mix.post_fraction,
            });
        }
        if self.mix.slow_ms > MAX_SLOW_MS {
            return Err(LoadConfigError::SlowMs {
                slow_ms: self.mix.slow_ms,
            });
        }
        if self.pause > Duration::from_secs(60) {
            return Err(LoadConfigError::Pause { pause: self.pause });
        }
        let spread = self.effective_start_spread();
        if spread > self.duration {
            return Err(LoadConfigError::StartSpread {
                spread,
                duration: self.duration,
            });
        }
        if self.bucket < Duration::from_millis(10) {
            return Err(LoadConfigError::Bucket {
                bucket: self.bucket,
            });
        }
        let base_ok = self.base_path.is_empty()
            || (self.base_path.starts_with('/')
                && !self.base_path.ends_with('/')
                && self
                    .base_path
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_.-~".contains(&b)));
        if !base_ok {
            return Err(LoadConfigError::BasePath {
                base_path: self.base_path.clone(),
            });
        }
        if let Some(bad) = self.users.iter().find(|u| !token::valid_user_id(u)) {
            return Err(LoadConfigError::UserId { user: bad.clone() });
        }
        Ok(())
    }
}

/// Only 127.0.0.0/8 targets are allowed.
pub fn check_target(addr: SocketAddr) -> Result<(), LoadConfigError> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.octets()[0] == 127 => {}
        ip => return Err(LoadConfigError::NotLoopback { ip }),
    }
    if addr.port() == 0 {
        return Err(LoadConfigError::PortZero);
    }
    Ok(())
}

/// Parses `http://127.0.0.10:8080`, `http://127.0.0.10:8080/ihos`, or `127.0.0.10:8080` into an
/// address and an optional path (no name resolution: the host must be an IPv4 literal in
/// 127.0.0.0/8; the port defaults to 80).
pub fn parse_target(text: &str) -> Result<(SocketAddr, Option<String>), LoadConfigError> {
    let rest = text.strip_prefix("http://").unwrap_or(text);
    if rest.contains("://") {
        return Err(LoadConfigError::TargetScheme {
            target: text.to_string(),
        });
    }
    let (hostport, path) = match rest.find('/') {
        Some(i) => (
            &rest[..i],
            Some(rest[i..].trim_end_matches('/').to_string()),
        ),
        None => (rest, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|_| LoadConfigError::TargetPort {
                target: text.to_string(),
                port: p.to_string(),
            })?,
        ),
        None => (hostport, 80),
    };
    let ip: Ipv4Addr = host.parse().map_err(|_| LoadConfigError::TargetHost {
        target: text.to_string(),
    })?;
    let addr = SocketAddr::new(IpAddr::V4(ip), port);
    check_target(addr)?;
    Ok((addr, path.filter(|p| !p.is_empty())))
}

/// Parses `30s`, `500ms`, `2m`, `1h`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, LoadConfigError> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let owned = || text.to_string();
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| LoadConfigError::DurationSyntax { text: owned() })?;
    if !n.is_finite() || n < 0.0 {
        return Err(LoadConfigError::DurationValue { text: owned() });
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(LoadConfigError::DurationUnit { text: owned() }),
    };
    if secs > 1e7 {
        return Err(LoadConfigError::DurationTooLong { text: owned() });
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LoadConfig {
        LoadConfig::new("127.0.0.10:8080".parse().unwrap())
    }

    #[test]
    fn defaults_are_valid() {
        cfg().validate().unwrap();
        assert_eq!(
            cfg().effective_start_spread(),
            Duration::from_millis(75),
            "10 ms pause + 0.3 * 200 ms + 5 ms"
        );
    }

    #[test]
    fn only_loopback_targets() {
        for ok in ["127.0.0.1:80", "127.255.1.2:8080"] {
            check_target(ok.parse().unwrap()).unwrap();
        }
        for bad in [
            "10.0.0.1:80",
            "192.168.1.101:80",
            "0.0.0.0:80",
            "[::1]:80",
            "8.8.8.8:53",
        ] {
            let e = check_target(bad.parse().unwrap()).unwrap_err().to_string();
            assert!(e.contains("only loopback"), "{bad}: {e}");
        }
        let mut c = cfg();
        c.target = "192.168.1.101:39091".parse().unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn target_parsing() {
        assert_eq!(
            parse_target("http://127.0.0.10:8080").unwrap(),
            ("127.0.0.10:8080".parse().unwrap(), None)
        );
        assert_eq!(
            parse_target("127.0.0.11:39091/ihos/").unwrap(),
            ("127.0.0.11:39091".parse().unwrap(), Some("/ihos".into()))
        );
        assert_eq!(parse_target("http://127.0.0.1").unwrap().0.port(), 80);
        assert!(parse_target("http://localhost:80").is_err());
        assert!(parse_target("http://192.168.1.101:39091").is_err());
        assert!(parse_target("https://127.0.0.1:443").is_err());
        assert!(parse_target("http://127.0.0.1:99999").is_err());
    }

    #[test]
    fn caps() {
        let mut c = cfg();
        c.concurrency = MAX_CONCURRENCY + 1;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("concurrency")
        );
        c.concurrency = 0;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.duration = MAX_DURATION + Duration::from_secs(1);
        assert!(c.validate().unwrap_err().to_string().contains("duration"));
        let mut c = cfg();
        c.mix.post_fraction = 1.5;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.mix.slow_ms = MAX_SLOW_MS + 1;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.timeout = Duration::from_secs(121);
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.users = vec!["1".into(), "a b".into()];
        assert!(c.validate().unwrap_err().to_string().contains("user id"));
        let mut c = cfg();
        c.base_path = "/ihos/".into();
        assert!(c.validate().is_err());
        c.base_path = String::new();
        c.validate().unwrap();
    }

    #[test]
    fn mix_proportions() {
        let mix = Mix {
            slow_fraction: 0.25,
            slow_ms: 150,
            post_fraction: 0.4,
        };
        let mut rng = Rng::new(3);
        let n = 20_000;
        let (mut slow, mut post) = (0, 0);
        for _ in 0..n {
            let r = mix.pick("/ihos", &mut rng);
            match r.class {
                Class::Slow => {
                    slow += 1;
                    assert_eq!(r.path, "/ihos/work?ms=150");
                }
                Class::Fast => assert_eq!(r.path, "/ihos/version"),
            }
            if r.method == Method::Post {
                post += 1;
            }
        }
        let fs = slow as f64 / n as f64;
        let fp = post as f64 / n as f64;
        assert!((0.23..0.27).contains(&fs), "{fs}");
        assert!((0.38..0.42).contains(&fp), "{fp}");
        // all or nothing
        let only = Mix {
            slow_fraction: 0.0,
            slow_ms: 1,
            post_fraction: 1.0,
        };
        for _ in 0..100 {
            let r = only.pick("", &mut rng);
            assert_eq!((r.class, r.method), (Class::Fast, Method::Post));
            assert_eq!(r.path, "/version");
        }
    }

    #[test]
    fn tokens_per_client() {
        let mut c = cfg();
        assert!(c.token_for_client(0).is_none());
        c.users = vec!["1".into(), "2".into()];
        let (u0, t0) = c.token_for_client(0).unwrap();
        let (u3, t3) = c.token_for_client(3).unwrap();
        assert_eq!((u0.as_str(), u3.as_str()), ("1", "2"));
        assert!(t0.starts_with("eyJpZCI6IjE"));
        assert!(t3.starts_with("eyJpZCI6IjI"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
