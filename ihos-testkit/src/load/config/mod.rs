//! What a load run does: target, concurrency and how many clients keep connections alive,
//! duration, request mix, tokens. Validated against hard caps; the target must be a loopback
//! address. A refused value is a [`LoadConfigError`].

mod error;
mod parse;

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rng::Rng;
use super::token::{self, TokenFormat};

pub use error::LoadConfigError;
pub use parse::{check_target, parse_duration, parse_target};

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

/// How a client uses connections. The two kinds meet different failures during a rollout,
/// so the summary counts them apart.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum ClientKind {
    /// One request per connection (`Connection: close`): such a client never meets a
    /// connection the server closed, so each of its failures is a request nginx or a backend
    /// lost.
    #[default]
    #[serde(rename = "close")]
    Close,
    /// Request after request on one kept-alive connection, as a Java app's pooled HTTP client
    /// (Apache HttpClient, OkHttp) does. It meets the idle connections nginx's old workers
    /// close at every reload (see [`crate::load::keepalive`]).
    #[serde(rename = "keepalive")]
    KeepAlive,
}

impl ClientKind {
    /// `close` or `keepalive`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Close => "close",
            ClientKind::KeepAlive => "keepalive",
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
    /// How many of the `concurrency` clients reuse keep-alive connections (the last ones by
    /// index; the others send one request per connection). `None`: a quarter of the clients,
    /// rounded down (see [`LoadConfig::effective_keepalive_clients`]).
    #[serde(default)]
    pub keepalive_clients: Option<u32>,
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
    /// A run against `target` with the defaults: 16 clients (a quarter of them keep-alive
    /// clients), 30 s, 30 % slow (200 ms), 50 % POST, 10 ms mean pause, 30 s timeout, base
    /// path `/ihos`, 1 s buckets.
    pub fn new(target: SocketAddr) -> Self {
        LoadConfig {
            target,
            base_path: "/ihos".into(),
            concurrency: 16,
            keepalive_clients: None,
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

    /// How many clients are keep-alive clients: `keepalive_clients`, else a quarter of
    /// `concurrency` rounded down (a Java app behind nginx talks through a pool of a few
    /// kept-alive connections; most of the load stays one request per connection, whose
    /// figures mean what they meant before keep-alive clients existed).
    pub fn effective_keepalive_clients(&self) -> u32 {
        self.keepalive_clients.unwrap_or(self.concurrency / 4)
    }

    /// The kind of client `index`: the last [`LoadConfig::effective_keepalive_clients`]
    /// indexes are keep-alive clients.
    pub fn client_kind(&self, index: u32) -> ClientKind {
        let keepalive = self.effective_keepalive_clients().min(self.concurrency);
        if index >= self.concurrency - keepalive {
            ClientKind::KeepAlive
        } else {
            ClientKind::Close
        }
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
        match self.keepalive_clients {
            Some(k) if k > self.concurrency => {
                return Err(LoadConfigError::KeepaliveClients {
                    keepalive_clients: k,
                    concurrency: self.concurrency,
                });
            }
            _ => {}
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
    fn keepalive_clients() {
        let mut c = cfg();
        assert_eq!(c.effective_keepalive_clients(), 4, "a quarter of 16");
        let kinds: Vec<ClientKind> = (0..16).map(|i| c.client_kind(i)).collect();
        assert!(
            kinds[..12].iter().all(|k| *k == ClientKind::Close),
            "{kinds:?}"
        );
        assert!(
            kinds[12..].iter().all(|k| *k == ClientKind::KeepAlive),
            "{kinds:?}"
        );
        c.concurrency = 3;
        assert_eq!(c.effective_keepalive_clients(), 0, "rounded down");
        assert_eq!(c.client_kind(2), ClientKind::Close);
        c.keepalive_clients = Some(3);
        c.validate().unwrap();
        assert!((0..3).all(|i| c.client_kind(i) == ClientKind::KeepAlive));
        c.keepalive_clients = Some(0);
        assert!((0..3).all(|i| c.client_kind(i) == ClientKind::Close));
        c.keepalive_clients = Some(4);
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("keepalive_clients 4") && e.contains("concurrency 3"),
            "{e}"
        );
        // A configuration written before keep-alive clients existed reads as the default.
        let mut v = serde_json::to_value(cfg()).unwrap();
        v.as_object_mut().unwrap().remove("keepalive_clients");
        let back: LoadConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back.keepalive_clients, None);
        assert_eq!(
            serde_json::to_value(ClientKind::KeepAlive).unwrap(),
            "keepalive"
        );
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
}
