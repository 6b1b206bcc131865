//! Per-request records, their aggregation, and the summary (JSON and human text).
//!
//! [`Record`]: one request as it happened; [`Aggregator`]: the counting; [`Summary`] and
//! its parts: the result, as JSON (the two kinds of client apart in [`ByClientKind`]);
//! `text`: the result as a few lines for humans.

mod aggregate;
mod record;
mod summary;
mod text;

pub use aggregate::Aggregator;
pub use record::Record;
pub use summary::{
    Bucket, ByClientKind, ClassSummary, ClientKindSummary, Counts, FailureSample, InstanceSummary,
    Latency, Summary, UserSummary, VersionSummary,
};

/// `x` rounded to 3 decimals (ms to µs in the JSON).
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::config::{Class, ClientKind, Method};
    use super::super::http::ErrorKind;
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
            client_kind: ClientKind::Close,
            retried: false,
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
    fn client_kinds_apart() {
        let mut a = Aggregator::new(1000);
        let mut b = Aggregator::new(1000);
        let ka = |mut r: Record, retried: bool| {
            r.client_kind = ClientKind::KeepAlive;
            r.retried = retried;
            r
        };
        a.add(&rec(1.0, Method::Get, Class::Fast, "v1", None), None);
        a.add(
            &rec(2.0, Method::Post, Class::Fast, "", Some(ErrorKind::Reset)),
            Some("reset"),
        );
        a.add_connections(ClientKind::Close, 2);
        b.add(
            &ka(rec(3.0, Method::Get, Class::Fast, "v1", None), false),
            None,
        );
        b.add(
            &ka(rec(4.0, Method::Get, Class::Fast, "v1", None), true),
            None,
        );
        b.add(
            &ka(
                rec(
                    5.0,
                    Method::Post,
                    Class::Fast,
                    "",
                    Some(ErrorKind::StaleClosed),
                ),
                false,
            ),
            Some("stale"),
        );
        b.add(
            &ka(
                rec(6.0, Method::Get, Class::Fast, "", Some(ErrorKind::Timeout)),
                true,
            ),
            Some("retry timed out"),
        );
        b.add_connections(ClientKind::KeepAlive, 2);
        a.merge(b);
        let mut s = a.summary();
        s.by_client_kind.close.clients = 3;
        s.by_client_kind.keepalive.clients = 1;
        let (c, k) = (&s.by_client_kind.close, &s.by_client_kind.keepalive);
        assert_eq!((c.counts.requests, c.counts.failed), (2, 1));
        assert_eq!((c.connections_opened, c.requests_per_connection), (2, 1.0));
        assert_eq!((c.stale_retried, c.stale_failed), (0, 0));
        assert_eq!((k.counts.requests, k.counts.failed), (4, 2));
        assert_eq!(
            (k.stale_retried, k.stale_failed, k.stale_connections()),
            (1, 2, 3)
        );
        assert_eq!((k.connections_opened, k.requests_per_connection), (2, 2.0));
        assert_eq!(k.counts.failed_by_kind["stale_closed"], 1);
        // The totals: every user-visible request of both kinds.
        assert_eq!((s.totals.requests, s.totals.failed), (6, 3));
        let json: serde_json::Value = serde_json::to_value(&s).unwrap();
        let kj = &json["by_client_kind"]["keepalive"];
        assert_eq!(kj["requests"], 4);
        assert_eq!(kj["stale_retried"], 1);
        assert_eq!(kj["stale_failed"], 2);
        assert_eq!(kj["connections_opened"], 2);
        assert_eq!(kj["requests_per_connection"], 2.0);
        assert_eq!(json["by_client_kind"]["close"]["clients"], 3);
        let text = s.to_text();
        assert!(
            text.contains(
                "one-request-per-connection clients (3): 2 requests on 2 connections, 1 failed (reset 1)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "keep-alive clients (1): 4 requests on 2 connections (2.0 per connection); 3 met a stale connection"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "1 retried on a new connection, 2 failed (a POST is not retried); 2 failed in all (stale_closed 1, timeout 1)"
            ),
            "{text}"
        );
        assert!(text.contains("(keep-alive client, retried)"), "{text}");
        // A summary written before client kinds existed still reads.
        let mut old = serde_json::to_value(&s).unwrap();
        old.as_object_mut().unwrap().remove("by_client_kind");
        let back: Summary = serde_json::from_value(old).unwrap();
        assert_eq!(back.by_client_kind, ByClientKind::default());
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
        assert_eq!(v["client_kind"], "close");
        assert_eq!(v["retried"], false);
        assert!(v["status"].is_null());
    }
}
