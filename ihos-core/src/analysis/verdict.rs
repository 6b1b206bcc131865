//! [`Analysis`]: a [`Tally`] judged. Each metric is a one-sided test (is the canary worse?)
//! with an effect-size floor: it fails only when the difference is both significant (p below
//! `alpha`) and large enough to matter. Too few canary requests is `inconclusive`, never a
//! pass.

use serde::Serialize;

use super::histogram::Histogram;
use super::stats::{fisher_greater, hodges_lehmann, mann_whitney_greater};
use super::tally::{BackendCount, SideTally, Tally};

/// The thresholds of a verdict (`[canary.analysis]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    /// Significance level of each test.
    pub alpha: f64,
    /// Fewer canary requests than this (or fleet requests) give `inconclusive`.
    pub min_requests: u64,
    /// The canary's error rate must exceed the fleet's by at least this much (0.005 is half
    /// a percentage point) to fail.
    pub min_error_rate_increase: f64,
    /// The canary's times must be slower by at least this many milliseconds (the
    /// Hodges-Lehmann shift) to fail.
    pub min_latency_increase_ms: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            alpha: 0.01,
            min_requests: 200,
            min_error_rate_increase: 0.005,
            min_latency_increase_ms: 50,
        }
    }
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No metric shows the canary worse.
    Pass,
    /// A metric shows the canary worse, significantly and by more than its floor.
    Fail,
    /// Too few requests to tell.
    Inconclusive,
}

impl Verdict {
    /// `pass`, `fail` or `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One metric's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricResult {
    /// Not worse, or not by enough.
    Pass,
    /// Worse.
    Fail,
    /// Not judged (too few requests; or a quantile shown for information).
    None,
}

/// One line of the analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// `error_rate`, `latency` (the test over all times), `latency_p50`, `latency_p95`,
    /// `latency_p99`.
    pub name: &'static str,
    /// The canary's value (a rate, or milliseconds).
    pub canary: Option<f64>,
    /// The fleet's value.
    pub fleet: Option<f64>,
    /// canary - fleet (for `latency`: the Hodges-Lehmann shift, ms).
    pub difference: Option<f64>,
    /// The test's p-value (`error_rate`, `latency`).
    pub p_value: Option<f64>,
    /// Pass or fail (`none` for the quantiles, shown for information).
    pub result: MetricResult,
}

/// One side's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideSummary {
    /// Tries its backends got.
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
    /// Of the errors, tries nginx retried on another backend.
    pub errors_retried: u64,
    /// errors / requests.
    pub error_rate: Option<f64>,
    /// Times, ms.
    pub p50_ms: Option<u64>,
    /// See `p50_ms`.
    pub p95_ms: Option<u64>,
    /// See `p50_ms`.
    pub p99_ms: Option<u64>,
    /// Per backend.
    pub backends: Vec<BackendCount>,
}

/// A judged tally.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in a sentence.
    pub reason: String,
    /// Each metric.
    pub metrics: Vec<Metric>,
    /// The canary's side.
    pub canary: SideSummary,
    /// The fleet's side.
    pub fleet: SideSummary,
    /// The thresholds used.
    pub thresholds: Thresholds,
}

fn rate(t: &SideTally) -> Option<f64> {
    (t.requests > 0).then(|| t.errors as f64 / t.requests as f64)
}

fn summary(t: &SideTally, backends: Vec<BackendCount>) -> SideSummary {
    SideSummary {
        requests: t.requests,
        errors: t.errors,
        errors_retried: t.retried,
        error_rate: rate(t),
        p50_ms: t.latency.quantile(0.50),
        p95_ms: t.latency.quantile(0.95),
        p99_ms: t.latency.quantile(0.99),
        backends,
    }
}

fn quantile_metric(name: &'static str, q: f64, c: &Histogram, f: &Histogram) -> Metric {
    let (cv, fv) = (c.quantile(q), f.quantile(q));
    Metric {
        name,
        canary: cv.map(|v| v as f64),
        fleet: fv.map(|v| v as f64),
        difference: cv.zip(fv).map(|(a, b)| a as f64 - b as f64),
        p_value: None,
        result: MetricResult::None,
    }
}

impl Analysis {
    /// Judges a tally; `canary_backends`: which of its backends are the canary's.
    pub fn of(tally: &Tally, canary_backends: &[String], th: &Thresholds) -> Analysis {
        let (c, f) = (&tally.canary, &tally.fleet);
        let (canary_list, fleet_list) = tally
            .backends
            .iter()
            .cloned()
            .partition(|b| canary_backends.contains(&b.address));
        let enough = c.requests >= th.min_requests && f.requests >= th.min_requests;

        let error_p = fisher_greater(c.errors, c.requests, f.errors, f.requests);
        let error_diff = rate(c).zip(rate(f)).map(|(a, b)| a - b);
        let error_worse =
            error_diff.is_some_and(|d| d >= th.min_error_rate_increase) && error_p < th.alpha;
        let mw = mann_whitney_greater(&c.latency, &f.latency);
        let shift = hodges_lehmann(&c.latency, &f.latency);
        let latency_worse = mw.is_some_and(|m| m.p_value < th.alpha)
            && shift.is_some_and(|s| {
                s >= i64::try_from(th.min_latency_increase_ms).unwrap_or(i64::MAX)
            });
        let judged = |worse: bool| match (enough, worse) {
            (false, _) => MetricResult::None,
            (true, true) => MetricResult::Fail,
            (true, false) => MetricResult::Pass,
        };
        let metrics = vec![
            Metric {
                name: "error_rate",
                canary: rate(c),
                fleet: rate(f),
                difference: error_diff,
                p_value: Some(error_p),
                result: judged(error_worse),
            },
            Metric {
                name: "latency",
                canary: c.latency.quantile(0.5).map(|v| v as f64),
                fleet: f.latency.quantile(0.5).map(|v| v as f64),
                difference: shift.map(|s| s as f64),
                p_value: mw.map(|m| m.p_value),
                result: judged(latency_worse),
            },
            quantile_metric("latency_p50", 0.50, &c.latency, &f.latency),
            quantile_metric("latency_p95", 0.95, &c.latency, &f.latency),
            quantile_metric("latency_p99", 0.99, &c.latency, &f.latency),
        ];
        let (verdict, reason) = if !enough {
            (
                Verdict::Inconclusive,
                format!(
                    "too few requests to tell: canary {}, fleet {} (at least {} each needed)",
                    c.requests, f.requests, th.min_requests
                ),
            )
        } else if error_worse || latency_worse {
            let mut why = Vec::new();
            if error_worse {
                why.push(format!(
                    "error rate {:.2}% against the fleet's {:.2}% (p = {:.2e})",
                    rate(c).unwrap_or(0.0) * 100.0,
                    rate(f).unwrap_or(0.0) * 100.0,
                    error_p
                ));
            }
            if latency_worse {
                why.push(format!(
                    "{} ms slower (p = {:.2e})",
                    shift.unwrap_or(0),
                    mw.map_or(1.0, |m| m.p_value)
                ));
            }
            (
                Verdict::Fail,
                format!("the canary is worse: {}", why.join("; ")),
            )
        } else {
            (
                Verdict::Pass,
                format!(
                    "no worse than the fleet over {} canary and {} fleet requests",
                    c.requests, f.requests
                ),
            )
        };
        Analysis {
            verdict,
            reason,
            metrics,
            canary: summary(c, canary_list),
            fleet: summary(f, fleet_list),
            thresholds: th.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(requests: u64, errors: u64, times: &[(u64, u64)]) -> SideTally {
        let mut t = SideTally {
            requests,
            errors,
            ..SideTally::default()
        };
        for &(ms, n) in times {
            t.latency.add_n(ms, n);
        }
        t
    }

    fn judge(canary: SideTally, fleet: SideTally) -> Analysis {
        let tally = Tally {
            canary,
            fleet,
            ..Tally::default()
        };
        Analysis::of(&tally, &[], &Thresholds::default())
    }

    #[test]
    fn five_percent_errors_fail() {
        let a = judge(side(400, 20, &[(5, 400)]), side(4000, 2, &[(5, 4000)]));
        assert_eq!(a.verdict, Verdict::Fail, "{}", a.reason);
        assert_eq!(a.metrics[0].result, MetricResult::Fail);
        assert_eq!(a.metrics[1].result, MetricResult::Pass);
    }

    #[test]
    fn three_hundred_ms_slower_fails_and_the_same_passes() {
        let slow = judge(
            side(400, 0, &[(305, 300), (505, 100)]),
            side(4000, 0, &[(5, 3000), (205, 1000)]),
        );
        assert_eq!(slow.verdict, Verdict::Fail, "{}", slow.reason);
        assert_eq!(slow.metrics[1].difference, Some(300.0));
        let same = judge(
            side(400, 0, &[(5, 300), (205, 100)]),
            side(4000, 0, &[(5, 3000), (205, 1000)]),
        );
        assert_eq!(same.verdict, Verdict::Pass, "{}", same.reason);
    }

    #[test]
    fn significant_but_below_the_floor_passes() {
        // 2 ms slower on every request: certain, and too small to matter.
        let a = judge(side(4000, 0, &[(7, 4000)]), side(40000, 0, &[(5, 40000)]));
        assert!(a.metrics[1].p_value.unwrap() < 1e-10);
        assert_eq!(a.verdict, Verdict::Pass);
    }

    #[test]
    fn too_few_requests_is_inconclusive_even_when_all_failed() {
        let a = judge(side(199, 199, &[(5, 199)]), side(4000, 0, &[(5, 4000)]));
        assert_eq!(a.verdict, Verdict::Inconclusive);
        assert!(a.metrics.iter().all(|m| m.result == MetricResult::None));
        let no_fleet = judge(side(400, 0, &[(5, 400)]), side(0, 0, &[]));
        assert_eq!(no_fleet.verdict, Verdict::Inconclusive);
    }
}
