//! [`Aggregator`]: counts records as they come (one per client, merged at the end) and
//! builds the [`Summary`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::record::Record;
use super::round3;
use super::summary::{
    Bucket, ByClientKind, ClassSummary, Counts, FailureSample, InstanceSummary, Latency, Summary,
    UserSummary, VersionSummary,
};
use crate::load::config::{Class, ClientKind, Method};
use crate::load::http::ErrorKind;

/// Accumulates records (one per client, merged at the end).
#[derive(Debug, Default)]
pub struct Aggregator {
    totals: Counts,
    by_client_kind: ByClientKind,
    by_method: BTreeMap<Method, Counts>,
    by_class: BTreeMap<Class, Counts>,
    latency: BTreeMap<Class, Vec<u32>>,
    failed_by_status: BTreeMap<u16, u64>,
    versions: BTreeMap<Arc<str>, VersionSummary>,
    instances: BTreeMap<Arc<str>, InstanceSummary>,
    users: BTreeMap<Arc<str>, UserSummary>,
    buckets: BTreeMap<u64, Bucket>,
    failures: Vec<FailureSample>,
    bucket_ms: u64,
}

const MAX_FAILURE_SAMPLES: usize = 20;

impl Aggregator {
    /// An empty aggregator with timeline buckets `bucket_ms` wide.
    pub fn new(bucket_ms: u64) -> Self {
        Aggregator {
            bucket_ms: bucket_ms.max(1),
            ..Aggregator::default()
        }
    }

    /// Counts one request; `detail` describes a failure.
    pub fn add(&mut self, r: &Record, detail: Option<&str>) {
        self.totals.add(r.error);
        let kind = self.by_client_kind.get_mut(r.client_kind);
        kind.counts.add(r.error);
        if r.met_stale_connection() {
            if r.error.is_none() {
                kind.stale_retried += 1;
            } else {
                kind.stale_failed += 1;
            }
        }
        self.by_method.entry(r.method).or_default().add(r.error);
        self.by_class.entry(r.class).or_default().add(r.error);
        self.latency
            .entry(r.class)
            .or_default()
            .push((r.latency_ms * 1000.0).round().clamp(0.0, u32::MAX as f64) as u32);
        if let (Some(ErrorKind::BadStatus), Some(st)) = (r.error, r.status) {
            *self.failed_by_status.entry(st).or_default() += 1;
        }
        if let Some(v) = &r.version {
            let vs = self
                .versions
                .entry(v.clone())
                .or_insert_with(|| VersionSummary {
                    requests: 0,
                    first_ms: r.start_ms,
                    last_ms: r.start_ms,
                });
            vs.requests += 1;
            vs.first_ms = vs.first_ms.min(r.start_ms);
            vs.last_ms = vs.last_ms.max(r.start_ms);
        }
        if let Some(i) = &r.instance {
            let is = self.instances.entry(i.clone()).or_default();
            is.requests += 1;
            let v = r.version.as_deref().unwrap_or("?");
            *is.versions.entry(v.to_string()).or_default() += 1;
        }
        if let Some(u) = &r.user {
            let us = self.users.entry(u.clone()).or_default();
            us.counts.add(r.error);
            if let Some(i) = &r.instance {
                *us.instances.entry(i.to_string()).or_default() += 1;
            }
        }
        let b = (r.start_ms.max(0.0) as u64) / self.bucket_ms;
        let bucket = self.buckets.entry(b).or_insert_with(|| Bucket {
            t_s: (b * self.bucket_ms) as f64 / 1000.0,
            ..Bucket::default()
        });
        bucket.requests += 1;
        if r.error.is_some() {
            bucket.failed += 1;
        }
        if let Some(v) = &r.version {
            *bucket.versions.entry(v.to_string()).or_default() += 1;
        }
        if let Some(kind) = r.error {
            self.push_failure(FailureSample {
                start_ms: round3(r.start_ms),
                latency_ms: round3(r.latency_ms),
                method: r.method,
                client_kind: r.client_kind,
                retried: r.retried,
                class: r.class,
                kind,
                status: r.status,
                instance: r.instance.as_deref().map(str::to_string),
                detail: detail.unwrap_or("").to_string(),
            });
        }
    }

    fn push_failure(&mut self, f: FailureSample) {
        self.failures.push(f);
        if self.failures.len() > 4 * MAX_FAILURE_SAMPLES {
            self.trim_failures();
        }
    }

    fn trim_failures(&mut self) {
        self.failures
            .sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        self.failures.truncate(MAX_FAILURE_SAMPLES);
    }

    /// Counts `n` connections established by a client of `kind`.
    pub fn add_connections(&mut self, kind: ClientKind, n: u64) {
        self.by_client_kind.get_mut(kind).connections_opened += n;
    }

    /// Adds everything `o` counted.
    pub fn merge(&mut self, o: Aggregator) {
        self.totals.merge(&o.totals);
        for kind in [ClientKind::Close, ClientKind::KeepAlive] {
            let (mine, theirs) = (
                self.by_client_kind.get_mut(kind),
                o.by_client_kind.get(kind),
            );
            mine.counts.merge(&theirs.counts);
            mine.connections_opened += theirs.connections_opened;
            mine.stale_retried += theirs.stale_retried;
            mine.stale_failed += theirs.stale_failed;
        }
        for (k, v) in o.by_method {
            self.by_method.entry(k).or_default().merge(&v);
        }
        for (k, v) in o.by_class {
            self.by_class.entry(k).or_default().merge(&v);
        }
        for (k, mut v) in o.latency {
            self.latency.entry(k).or_default().append(&mut v);
        }
        for (k, v) in o.failed_by_status {
            *self.failed_by_status.entry(k).or_default() += v;
        }
        for (k, v) in o.versions {
            match self.versions.get_mut(&k) {
                Some(s) => {
                    s.requests += v.requests;
                    s.first_ms = s.first_ms.min(v.first_ms);
                    s.last_ms = s.last_ms.max(v.last_ms);
                }
                None => {
                    self.versions.insert(k, v);
                }
            }
        }
        for (k, v) in o.instances {
            let s = self.instances.entry(k).or_default();
            s.requests += v.requests;
            for (vk, n) in v.versions {
                *s.versions.entry(vk).or_default() += n;
            }
        }
        for (k, v) in o.users {
            let s = self.users.entry(k).or_default();
            s.counts.merge(&v.counts);
            for (ik, n) in v.instances {
                *s.instances.entry(ik).or_default() += n;
            }
        }
        for (k, v) in o.buckets {
            let b = self.buckets.entry(k).or_insert_with(|| Bucket {
                t_s: v.t_s,
                ..Bucket::default()
            });
            b.requests += v.requests;
            b.failed += v.failed;
            for (vk, n) in v.versions {
                *b.versions.entry(vk).or_default() += n;
            }
        }
        for f in o.failures {
            self.push_failure(f);
        }
    }

    /// The totals so far.
    pub fn totals(&self) -> &Counts {
        &self.totals
    }

    /// Builds the summary; the header fields (target, durations, seed) and the number of
    /// clients of each kind are filled by the caller.
    pub fn summary(mut self) -> Summary {
        self.trim_failures();
        for kind in [ClientKind::Close, ClientKind::KeepAlive] {
            let k = self.by_client_kind.get_mut(kind);
            k.requests_per_connection = if k.connections_opened == 0 {
                0.0
            } else {
                round3(k.counts.requests as f64 / k.connections_opened as f64)
            };
        }
        let mut all: Vec<u32> = self.latency.values().flatten().copied().collect();
        let mut by_class = BTreeMap::new();
        for (class, counts) in &self.by_class {
            let lat = self
                .latency
                .get_mut(class)
                .map(|v| Latency::of(v))
                .unwrap_or_default();
            by_class.insert(
                class.as_str().to_string(),
                ClassSummary {
                    counts: counts.clone(),
                    latency_ms: lat,
                },
            );
        }
        // Buckets without requests (an outage of the generator itself) appear as zeros.
        let mut timeline = Vec::new();
        if let (Some(&first), Some(&last)) =
            (self.buckets.keys().next(), self.buckets.keys().last())
        {
            for b in first..=last {
                timeline.push(self.buckets.remove(&b).unwrap_or_else(|| Bucket {
                    t_s: (b * self.bucket_ms) as f64 / 1000.0,
                    ..Bucket::default()
                }));
            }
        }
        Summary {
            totals: self.totals,
            by_client_kind: self.by_client_kind,
            failed_by_status: self
                .failed_by_status
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            by_method: self
                .by_method
                .into_iter()
                .map(|(k, v)| (k.as_str().to_string(), v))
                .collect(),
            by_class,
            latency_ms: Latency::of(&mut all),
            versions: self
                .versions
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            instances: self
                .instances
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            users: self
                .users
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            timeline,
            failures: self.failures,
            ..Summary::default()
        }
    }
}
