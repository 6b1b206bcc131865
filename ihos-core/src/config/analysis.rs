//! `[canary.analysis]`: where the load balancer's access log is, how nginx writes it, and
//! the thresholds of the canary's verdict.

use serde::{Deserialize, Serialize};

use super::duration::Dur;
use super::invalid::{Invalid, invalid};
use crate::analysis::{LogFormat, Thresholds};
use crate::names::RemotePath;

/// `[canary.analysis]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// The access log on each load balancer host that carries the canary route, as that
    /// host sees it (not the path inside nginx's container).
    pub access_log: String,
    /// The `log_format` nginx writes it with: the text as in nginx.conf (its quoted parts
    /// and `escape=` included), or `combined`.
    pub log_format: String,
    /// Fewer canary (or fleet) requests than this give `inconclusive`.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// Significance level of each test.
    #[serde(default = "default_alpha")]
    pub alpha: Fraction,
    /// A canary error rate higher than the fleet's by less than this passes (0.005: half a
    /// percentage point).
    #[serde(default = "default_error_floor")]
    pub min_error_rate_increase: Fraction,
    /// A canary slower than the fleet by less than this (the Hodges-Lehmann shift) passes.
    #[serde(default = "default_latency_floor")]
    pub min_latency_increase: Dur,
    /// Statuses that count as errors beside every 5xx (e.g. `[429]`).
    #[serde(default)]
    pub error_statuses: Vec<u16>,
    /// The nginx upstream the canary route sends its cohort to (e.g. `service_ihos_gray`):
    /// nginx logs its name instead of an address when it found no live server in it, and
    /// such a request is the canary's error.
    #[serde(default)]
    pub canary_upstream: Option<String>,
}

/// A number from 0 to 1 (compared by value; a topology is `Eq`).
#[derive(Debug, Clone, Copy, PartialOrd, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Fraction(pub f64);

impl PartialEq for Fraction {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Fraction {}

fn default_min_requests() -> u64 {
    Thresholds::default().min_requests
}

fn default_alpha() -> Fraction {
    Fraction(Thresholds::default().alpha)
}

fn default_error_floor() -> Fraction {
    Fraction(Thresholds::default().min_error_rate_increase)
}

fn default_latency_floor() -> Dur {
    Dur(std::time::Duration::from_millis(
        Thresholds::default().min_latency_increase_ms,
    ))
}

impl super::CanaryConfig {
    /// `[canary] site_file` and `[canary.analysis]`.
    pub(super) fn check_site_and_analysis(&self) -> Result<(), Invalid> {
        super::validate::check_path("canary.site_file", &self.site_file)?;
        match &self.analysis {
            Some(a) => a.check("canary.analysis"),
            None => Ok(()),
        }
    }
}

impl AnalysisConfig {
    /// The compiled log format (checked by the topology's validation).
    pub fn format(&self) -> Result<LogFormat, crate::analysis::FormatError> {
        LogFormat::parse(&self.log_format)
    }

    /// The verdict's thresholds.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            alpha: self.alpha.0,
            min_requests: self.min_requests,
            min_error_rate_increase: self.min_error_rate_increase.0,
            min_latency_increase_ms: u64::try_from(self.min_latency_increase.0.as_millis())
                .unwrap_or(u64::MAX),
        }
    }

    pub(super) fn check(&self, prefix: &str) -> Result<(), Invalid> {
        let key = |k: &str| format!("{prefix}.{k}");
        RemotePath::new(&self.access_log).map_err(|e| invalid(key("access_log"), e.reason))?;
        let format = self
            .format()
            .map_err(|e| invalid(key("log_format"), e.to_string()))?;
        let missing = format.missing();
        if !missing.is_empty() {
            return Err(invalid(
                key("log_format"),
                format!(
                    "the analysis needs {}; add {} to nginx's log_format and here",
                    missing.join(", "),
                    if missing.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
        if self.min_requests == 0 {
            return Err(invalid(
                key("min_requests"),
                "0 would judge a canary that got no request",
            ));
        }
        let alpha = self.alpha.0;
        if !(alpha > 0.0 && alpha <= 0.5) {
            return Err(invalid(
                key("alpha"),
                format!("{alpha} is not a significance level (0 < alpha <= 0.5; 0.01 is usual)"),
            ));
        }
        let floor = self.min_error_rate_increase.0;
        if !(0.0..1.0).contains(&floor) {
            return Err(invalid(
                key("min_error_rate_increase"),
                format!(
                    "{floor} is not a rate increase (0 <= x < 1; 0.005 is half a percentage point)"
                ),
            ));
        }
        super::validate::check_duration(&key("min_latency_increase"), self.min_latency_increase)?;
        if let Some(u) = &self.canary_upstream {
            if u.is_empty() || u.bytes().any(|b| b.is_ascii_whitespace() || b == b',') {
                return Err(invalid(
                    key("canary_upstream"),
                    format!("{u:?} is not an nginx upstream name"),
                ));
            }
        }
        if let Some(s) = self
            .error_statuses
            .iter()
            .find(|s| !(100..=599).contains(*s))
        {
            return Err(invalid(
                key("error_statuses"),
                format!("{s} is not an HTTP status (100 to 599)"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<AnalysisConfig, String> {
        let text = format!(
            "access_log = \"/var/log/nginx/access.log\"\n\
             log_format = '[$time_iso8601] $status rt=$request_time upstream=$upstream_addr'\n{extra}"
        );
        let c: AnalysisConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        c.check("canary.analysis")
            .map_err(|(k, m)| format!("{k}: {m}"))?;
        Ok(c)
    }

    #[test]
    fn defaults_are_the_documented_thresholds() {
        let c = config("").unwrap();
        assert_eq!(c.thresholds(), Thresholds::default());
    }

    #[test]
    fn every_bad_value_names_its_key() {
        for (extra, key) in [
            ("alpha = 0.0", "canary.analysis.alpha"),
            ("alpha = 0.9", "canary.analysis.alpha"),
            ("alpha = nan", "canary.analysis.alpha"),
            ("min_requests = 0", "canary.analysis.min_requests"),
            (
                "min_error_rate_increase = 1.5",
                "canary.analysis.min_error_rate_increase",
            ),
            (
                "min_error_rate_increase = -0.1",
                "canary.analysis.min_error_rate_increase",
            ),
            (
                "error_statuses = [429, 700]",
                "canary.analysis.error_statuses",
            ),
            (
                "min_latency_increase = \"25h\"",
                "canary.analysis.min_latency_increase",
            ),
        ] {
            let e = config(extra).unwrap_err();
            assert!(e.starts_with(key), "{extra}: {e}");
        }
    }

    #[test]
    fn a_format_without_what_the_analysis_needs_says_what() {
        let c: AnalysisConfig =
            toml::from_str("access_log = \"/var/log/nginx/access.log\"\nlog_format = \"combined\"")
                .unwrap();
        let (key, message) = c.check("canary.analysis").unwrap_err();
        assert_eq!(key, "canary.analysis.log_format");
        assert!(message.contains("$upstream_addr"), "{message}");
        assert!(message.contains("$request_time"), "{message}");
        let bad: AnalysisConfig =
            toml::from_str("access_log = \"relative/access.log\"\nlog_format = \"combined\"")
                .unwrap();
        assert_eq!(bad.check("x").unwrap_err().0, "x.access_log");
    }
}
