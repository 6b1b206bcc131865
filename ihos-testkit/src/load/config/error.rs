//! [`LoadConfigError`]: every refused value of a load configuration, named with its option.

use std::net::IpAddr;
use std::time::Duration;

use super::{MAX_CONCURRENCY, MAX_DURATION, MAX_SLOW_MS, MAX_TIMEOUT};

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
    /// `keepalive_clients` is over `concurrency` (they are some of the `concurrency` clients).
    #[error(
        "keepalive_clients {keepalive_clients} is out of range 0..=concurrency (concurrency {concurrency})"
    )]
    KeepaliveClients {
        /// The value given.
        keepalive_clients: u32,
        /// The run's concurrency.
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
