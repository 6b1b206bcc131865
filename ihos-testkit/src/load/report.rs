//! Per-request records, their aggregation, and the summary (JSON and human text).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::config::{Class, Method};
use super::http::ErrorKind;

/// One request as it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Start, in ms since the run started.
    pub start_ms: f64,
    /// Time to a complete response (or to the failure), in ms.
    pub latency_ms: f64,
    /// The client that sent it.
    pub client: u32,
    /// GET or POST.
    pub method: Method,
    /// Fast or slow.
    pub class: Class,
    /// HTTP status, if a response came.
    pub status: Option<u16>,
    /// `X-Ihos-Version` of the response.
    pub version: Option<Arc<str>>,
    /// `X-Ihos-Instance` of the response.
    pub instance: Option<Arc<str>>,
    /// Why it failed; `None`: it succeeded (2xx).
    pub error: Option<ErrorKind>,
    /// The user whose token it carried.
    pub user: Option<Arc<str>>,
}

impl Record {
    /// One NDJSON line (no newline).
    pub fn to_json_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            start_ms: f64,
            latency_ms: f64,
            client: u32,
            method: &'static str,
            class: &'static str,
            status: Option<u16>,
            version: Option<&'a str>,
            instance: Option<&'a str>,
            error: Option<&'static str>,
            user: Option<&'a str>,
        }
        serde_json::to_string(&Line {
            start_ms: round3(self.start_ms),
            latency_ms: round3(self.latency_ms),
            client: self.client,
            method: self.method.as_str(),
            class: self.class.as_str(),
            status: self.status,
            version: self.version.as_deref(),
            instance: self.instance.as_deref(),
            error: self.error.map(ErrorKind::as_str),
            user: self.user.as_deref(),
        })
        .expect("a record serializes")
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

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
    fn add(&mut self, error: Option<ErrorKind>) {
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

    fn merge(&mut self, o: &Counts) {
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
    fn of(micros: &mut [u32]) -> Latency {
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
    /// Everything.
    pub totals: Counts,
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

impl Summary {
    /// The human summary: a few lines.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "ihos-load: {} requests to {} in {:.1} s ({} clients, {:.0} req/s){}",
            self.totals.requests,
            self.target,
            self.elapsed_s,
            self.concurrency,
            self.rps,
            if self.stopped_early {
                ", stopped early"
            } else {
                ""
            }
        );
        let kinds = |c: &Counts| {
            if c.failed_by_kind.is_empty() {
                String::new()
            } else {
                let v: Vec<String> = c
                    .failed_by_kind
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                format!(" ({})", v.join(", "))
            }
        };
        let _ = writeln!(s, "  failed: {}{}", self.totals.failed, kinds(&self.totals));
        for (m, c) in &self.by_method {
            let _ = writeln!(
                s,
                "  {m:<4}  {} requests, {} failed{}",
                c.requests,
                c.failed,
                kinds(c)
            );
        }
        if !self.failed_by_status.is_empty() {
            let v: Vec<String> = self
                .failed_by_status
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            let _ = writeln!(s, "  bad statuses: {}", v.join(", "));
        }
        for (c, cs) in &self.by_class {
            let _ = writeln!(
                s,
                "  {c:<4}  {} requests, latency ms p50 {} p90 {} p99 {} max {}",
                cs.counts.requests,
                cs.latency_ms.p50,
                cs.latency_ms.p90,
                cs.latency_ms.p99,
                cs.latency_ms.max
            );
        }
        for (v, vs) in &self.versions {
            let _ = writeln!(
                s,
                "  version {v}: {} responses, {:.1}–{:.1} s",
                vs.requests,
                vs.first_ms / 1000.0,
                vs.last_ms / 1000.0
            );
        }
        if !self.instances.is_empty() {
            let v: Vec<String> = self
                .instances
                .iter()
                .map(|(k, i)| format!("{k} {}", i.requests))
                .collect();
            let _ = writeln!(s, "  instances: {}", v.join(", "));
        }
        for (u, us) in &self.users {
            let v: Vec<String> = us
                .instances
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "  user {u}: {} requests, {} failed, served by {}",
                us.counts.requests,
                us.counts.failed,
                v.join(", ")
            );
        }
        for f in self.failures.iter().take(5) {
            let _ = writeln!(
                s,
                "  failure at {:.3} s: {} {} {}{} after {:.1} ms: {}",
                f.start_ms / 1000.0,
                f.method.as_str(),
                f.class.as_str(),
                f.kind.as_str(),
                f.status.map(|x| format!(" {x}")).unwrap_or_default(),
                f.latency_ms,
                f.detail
            );
        }
        s
    }
}

/// Accumulates records (one per client, merged at the end).
#[derive(Debug, Default)]
pub struct Aggregator {
    totals: Counts,
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

    /// Adds everything `o` counted.
    pub fn merge(&mut self, o: Aggregator) {
        self.totals.merge(&o.totals);
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

    /// Builds the summary; the header fields (target, durations, seed) are filled by the caller.
    pub fn summary(mut self) -> Summary {
        self.trim_failures();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        start_ms: f64,
        method: Method,
        class: Class,
        version: &str,
        err: Option<ErrorKind>,
    ) -> Record {
        Record {
            start_ms,
            latency_ms: if class == Class::Slow { 200.0 } else { 2.0 },
            client: 0,
            method,
            class,
            status: match err {
                None => Some(200),
                Some(ErrorKind::BadStatus) => Some(502),
                _ => None,
            },
            version: (err.is_none()).then(|| Arc::from(version)),
            instance: (err.is_none()).then(|| Arc::from(format!("i-{version}").as_str())),
            error: err,
            user: None,
        }
    }

    #[test]
    fn summary_counts_everything() {
        let mut a = Aggregator::new(1000);
        let mut b = Aggregator::new(1000);
        a.add(&rec(10.0, Method::Get, Class::Fast, "v1", None), None);
        a.add(&rec(500.0, Method::Post, Class::Slow, "v1", None), None);
        a.add(
            &rec(
                1200.0,
                Method::Post,
                Class::Slow,
                "v1",
                Some(ErrorKind::BadStatus),
            ),
            Some("502"),
        );
        b.add(&rec(1300.0, Method::Get, Class::Fast, "v2", None), None);
        b.add(
            &rec(
                3500.0,
                Method::Post,
                Class::Fast,
                "",
                Some(ErrorKind::Reset),
            ),
            Some("reset by peer"),
        );
        b.add(&rec(3600.0, Method::Get, Class::Fast, "v2", None), None);
        a.merge(b);
        assert_eq!(a.totals().requests, 6);
        let s = a.summary();
        assert_eq!(s.totals.requests, 6);
        assert_eq!(s.totals.ok, 4);
        assert_eq!(s.totals.failed, 2);
        assert_eq!(s.totals.failed_by_kind["bad_status"], 1);
        assert_eq!(s.totals.failed_by_kind["reset"], 1);
        assert_eq!(s.failed_by_status["502"], 1);
        assert_eq!(s.by_method["POST"].failed, 2);
        assert_eq!(s.by_method["POST"].requests, 3);
        assert_eq!(s.by_method["GET"].failed, 0);
        assert_eq!(s.by_class["slow"].counts.requests, 2);
        assert_eq!(s.by_class["slow"].latency_ms.p50, 200.0);
        assert_eq!(s.by_class["fast"].latency_ms.max, 2.0);
        assert_eq!(s.versions["v1"].requests, 2);
        assert_eq!(s.versions["v2"].first_ms, 1300.0);
        assert_eq!(s.versions["v2"].last_ms, 3600.0);
        assert_eq!(s.instances["i-v2"].versions["v2"], 2);
        // timeline: 0, 1, 2 (empty), 3
        let t: Vec<(f64, u64, u64)> = s
            .timeline
            .iter()
            .map(|b| (b.t_s, b.requests, b.failed))
            .collect();
        assert_eq!(t, vec![(0.0, 2, 0), (1.0, 2, 1), (2.0, 0, 0), (3.0, 2, 1)]);
        assert_eq!(s.timeline[1].versions["v2"], 1);
        assert!(
            !s.timeline[1].versions.contains_key("v1"),
            "the failed request served no version"
        );
        assert_eq!(s.failures.len(), 2);
        assert_eq!(s.failures[0].kind, ErrorKind::BadStatus);
        assert_eq!(s.failures[1].detail, "reset by peer");
        let text = s.to_text();
        assert!(text.contains("failed: 2 (bad_status 1, reset 1)"), "{text}");
        assert!(text.contains("POST  3 requests, 2 failed"), "{text}");
        // JSON round trip
        let json = serde_json::to_string(&s).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["totals"]["failed"], 2);
        assert_eq!(v["by_method"]["POST"]["failed_by_kind"]["bad_status"], 1);
        assert_eq!(v["by_class"]["slow"]["requests"], 2);
    }

    #[test]
    fn percentiles() {
        let mut v: Vec<u32> = (1..=100).map(|x| x * 1000).collect();
        let l = Latency::of(&mut v);
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Latency::of(&mut []), Latency::default());
        assert_eq!(Latency::of(&mut [7000]).p50, 7.0);
    }

    #[test]
    fn failure_samples_keep_the_first_twenty() {
        let mut a = Aggregator::new(1000);
        for i in (0..200).rev() {
            a.add(
                &rec(
                    f64::from(i),
                    Method::Post,
                    Class::Fast,
                    "",
                    Some(ErrorKind::Closed),
                ),
                None,
            );
        }
        let s = a.summary();
        assert_eq!(s.failures.len(), 20);
        assert_eq!(s.failures[0].start_ms, 0.0);
        assert_eq!(s.failures[19].start_ms, 19.0);
        assert_eq!(s.totals.failed, 200);
    }

    #[test]
    fn ndjson_lines() {
        let mut r = rec(1.23456, Method::Post, Class::Slow, "v2", None);
        r.user = Some(Arc::from("13"));
        let line = r.to_json_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["method"], "POST");
        assert_eq!(v["class"], "slow");
        assert_eq!(v["status"], 200);
        assert_eq!(v["version"], "v2");
        assert_eq!(v["instance"], "i-v2");
        assert_eq!(v["user"], "13");
        assert_eq!(v["start_ms"], 1.235);
        assert!(v["error"].is_null());
        assert!(!line.contains('\n'));
        let f = rec(
            0.0,
            Method::Get,
            Class::Fast,
            "",
            Some(ErrorKind::ConnectRefused),
        );
        let v: serde_json::Value = serde_json::from_str(&f.to_json_line()).unwrap();
        assert_eq!(v["error"], "connect_refused");
        assert!(v["status"].is_null());
    }
}
