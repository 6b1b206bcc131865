//! The result of a load run as data: [`Summary`] and its parts (serialized as the run's
//! JSON summary).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::round3;
use crate::load::config::{Class, ClientKind, Method};
use crate::load::http::ErrorKind;

/// Requests, successes and failures of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Requests.
    pub requests: u64,
    /// 2xx responses.
    pub ok: u64,
    /// Everything else.
    pub failed: u64,
    /// Failures by kind (`bad_status`, `reset`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed_by_kind: BTreeMap<String, u64>,
}

impl Counts {
    pub(super) fn add(&mut self, error: Option<ErrorKind>) {
        self.requests += 1;
        match error {
            None => self.ok += 1,
            Some(k) => {
                self.failed += 1;
                *self
                    .failed_by_kind
                    .entry(k.as_str().to_string())
                    .or_default() += 1;
            }
        }
    }

    pub(super) fn merge(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.failed += o.failed;
        for (k, v) in &o.failed_by_kind {
            *self.failed_by_kind.entry(k.clone()).or_default() += v;
        }
    }
}

/// Latency percentiles in ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Latency {
    pub(super) fn of(micros: &mut [u32]) -> Latency {
        if micros.is_empty() {
            return Latency::default();
        }
        micros.sort_unstable();
        let at = |q: f64| {
            let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
            round3(f64::from(micros[i]) / 1000.0)
        };
        Latency {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: round3(f64::from(micros[micros.len() - 1]) / 1000.0),
        }
    }
}

/// The requests of one kind of client and how they used their connections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientKindSummary {
    /// Clients of this kind.
    pub clients: u32,
    /// User-visible requests (a request retried after a stale connection counts once, with
    /// its retry's outcome) and their failures.
    #[serde(flatten)]
    pub counts: Counts,
    /// Connections established.
    pub connections_opened: u64,
    /// `requests / connections_opened` (0 without connections): about 1 for one request per
    /// connection; for keep-alive clients, how long a connection lasted.
    pub requests_per_connection: f64,
    /// Requests that met a stale connection (a kept-alive connection the server had closed
    /// while idle, e.g. an nginx reload) and succeeded on a new connection (GETs).
    pub stale_retried: u64,
    /// Requests that met a stale connection and failed in the end: a POST not retried
    /// (`stale_closed`), or a retry that failed too. Included in `failed`.
    pub stale_failed: u64,
}

impl ClientKindSummary {
    /// Requests that met a stale connection.
    pub fn stale_connections(&self) -> u64 {
        self.stale_retried + self.stale_failed
    }
}

/// The requests of each kind of client, apart: keep-alive clients meet stale connections,
/// one-request-per-connection clients never do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ByClientKind {
    /// One request per connection (`Connection: close`).
    pub close: ClientKindSummary,
    /// Reused keep-alive connections.
    pub keepalive: ClientKindSummary,
}

impl ByClientKind {
    /// The summary of `kind`.
    pub fn get(&self, kind: ClientKind) -> &ClientKindSummary {
        match kind {
            ClientKind::Close => &self.close,
            ClientKind::KeepAlive => &self.keepalive,
        }
    }

    /// The summary of `kind`, to fill in.
    pub fn get_mut(&mut self, kind: ClientKind) -> &mut ClientKindSummary {
        match kind {
            ClientKind::Close => &mut self.close,
            ClientKind::KeepAlive => &mut self.keepalive,
        }
    }
}

/// One kind of request (fast or slow).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    /// Counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// Latency of all its requests, failed ones included.
    pub latency_ms: Latency,
}

/// A version served.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionSummary {
    /// Requests answered with it (any status).
    pub requests: u64,
    /// Start of the first such request, ms.
    pub first_ms: f64,
    /// Start of the last such request, ms.
    pub last_ms: f64,
}

/// An instance that answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceSummary {
    /// Requests it answered.
    pub requests: u64,
    /// Of those, by version.
    pub versions: BTreeMap<String, u64>,
}

/// A user's requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserSummary {
    /// Counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// Instances that answered, with counts.
    pub instances: BTreeMap<String, u64>,
}

/// One time bucket (by request start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Bucket start, seconds since the run started.
    pub t_s: f64,
    /// Requests started in it.
    pub requests: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Of those, by version served.
    pub versions: BTreeMap<String, u64>,
}

/// A failed request, for the summary's sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureSample {
    /// Start, ms.
    pub start_ms: f64,
    /// Latency, ms.
    pub latency_ms: f64,
    /// Method.
    pub method: Method,
    /// The kind of client that sent it.
    #[serde(default)]
    pub client_kind: ClientKind,
    /// It was a retry after a stale keep-alive connection.
    #[serde(default)]
    pub retried: bool,
    /// Fast or slow.
    pub class: Class,
    /// Kind.
    pub kind: ErrorKind,
    /// Status, if any.
    pub status: Option<u16>,
    /// Instance, if the app answered.
    pub instance: Option<String>,
    /// What happened.
    pub detail: String,
}

/// The result of a load run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The target.
    pub target: String,
    /// Clients.
    pub concurrency: u32,
    /// Planned duration, s.
    pub duration_s: f64,
    /// Actual run time until the last request ended, s.
    pub elapsed_s: f64,
    /// Whether the run was stopped before its duration.
    pub stopped_early: bool,
    /// The seed used.
    pub seed: u64,
    /// Everything: every user-visible request of both kinds of client.
    pub totals: Counts,
    /// One-request-per-connection and keep-alive clients apart.
    #[serde(default)]
    pub by_client_kind: ByClientKind,
    /// Requests per second (started requests / duration of the start window).
    pub rps: f64,
    /// Failures by HTTP status (`bad_status` ones).
    pub failed_by_status: BTreeMap<String, u64>,
    /// By method (`GET`, `POST`).
    pub by_method: BTreeMap<String, Counts>,
    /// By kind (`fast`, `slow`).
    pub by_class: BTreeMap<String, ClassSummary>,
    /// Latency of all requests.
    pub latency_ms: Latency,
    /// Versions served.
    pub versions: BTreeMap<String, VersionSummary>,
    /// Instances that answered.
    pub instances: BTreeMap<String, InstanceSummary>,
    /// By user (when tokens were sent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, UserSummary>,
    /// Requests, failures and versions over time.
    pub timeline: Vec<Bucket>,
    /// The first failures (at most 20), by start time.
    pub failures: Vec<FailureSample>,
    /// Records not kept because of the cap.
    #[serde(default)]
    pub records_dropped: u64,
}
