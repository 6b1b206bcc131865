//! [`Policy`]: how the rollout behaves (drain, timeouts, `max_unavailable`, what a failure
//! does), the `[policy]` section of the topology.

use serde::{Deserialize, Serialize};

use super::Dur;
use super::invalid::{Invalid, invalid};
use super::validate::{check_duration, check_text};

/// What to do when an instance fails to update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Put the previous WAR back, start it, return it to rotation, stop the rollout.
    #[default]
    Rollback,
    /// Stop where it is, the instance out of rotation, for a human to look.
    Halt,
}

/// Drain policy: how long to wait after taking an instance out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DrainPolicy {
    /// Always wait at least this long (background jobs).
    #[serde(default)]
    pub min: Dur,
    /// Idle means no connection for this long.
    #[serde(default = "default_idle")]
    pub idle: Dur,
    /// Never wait longer (the runbook's 30 minutes).
    #[serde(default = "default_drain_max")]
    pub max: Dur,
}

fn default_idle() -> Dur {
    Dur::secs(5)
}

fn default_drain_max() -> Dur {
    Dur::secs(30 * 60)
}

impl Default for DrainPolicy {
    fn default() -> Self {
        DrainPolicy {
            min: Dur::default(),
            idle: default_idle(),
            max: default_drain_max(),
        }
    }
}

/// How the rollout behaves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Drain policy.
    #[serde(default)]
    pub drain: DrainPolicy,
    /// How long an instance may take to become healthy.
    #[serde(default = "default_start_timeout")]
    pub start_timeout: Dur,
    /// Grace period of `docker stop`.
    #[serde(default = "default_stop_grace")]
    pub stop_grace: Dur,
    /// At most this many backends out of rotation at once.
    #[serde(default = "default_max_unavailable")]
    pub max_unavailable: usize,
    /// `rollback` (default) or `halt`.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Watch the app log this long from Tomcat's startup line (as ihos first sees it; the
    /// health check runs meanwhile) before putting the instance back into rotation:
    /// exceptions right after startup.
    #[serde(default = "default_log_watch")]
    pub log_watch: Dur,
    /// A log line containing any of these is an error.
    #[serde(default = "default_error_patterns")]
    pub log_error_patterns: Vec<String>,
    /// Releases each instance keeps on its host for `ihos rollback --to`, counting the one
    /// it runs (the previous release is kept for `ihos rollback` whatever the number).
    #[serde(default = "default_keep_releases")]
    pub keep_releases: usize,
}

/// Most releases an instance may keep: each is a WAR on its host's disk.
pub(crate) const MAX_KEEP_RELEASES: usize = 50;

fn default_keep_releases() -> usize {
    3
}

fn default_start_timeout() -> Dur {
    Dur::secs(300)
}

fn default_stop_grace() -> Dur {
    Dur::secs(30)
}

fn default_log_watch() -> Dur {
    Dur::secs(5)
}

fn default_max_unavailable() -> usize {
    1
}

fn default_error_patterns() -> Vec<String> {
    vec!["Exception".into(), " ERROR ".into()]
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            drain: DrainPolicy::default(),
            start_timeout: default_start_timeout(),
            stop_grace: default_stop_grace(),
            max_unavailable: default_max_unavailable(),
            on_failure: OnFailure::default(),
            log_watch: default_log_watch(),
            log_error_patterns: default_error_patterns(),
            keep_releases: default_keep_releases(),
        }
    }
}

impl Policy {
    /// Every value that cannot work, by its key, for a fleet of `instances`.
    pub(super) fn check(&self, instances: usize) -> Result<(), Invalid> {
        let p = self;
        for (key, value) in [
            ("policy.drain.min", p.drain.min),
            ("policy.drain.idle", p.drain.idle),
            ("policy.drain.max", p.drain.max),
            ("policy.start_timeout", p.start_timeout),
            ("policy.stop_grace", p.stop_grace),
            ("policy.log_watch", p.log_watch),
        ] {
            check_duration(key, value)?;
        }
        for pattern in &p.log_error_patterns {
            check_text("policy.log_error_patterns", pattern)?;
        }
        if p.max_unavailable == 0 {
            return Err(invalid("policy.max_unavailable", "must be at least 1"));
        }
        if p.max_unavailable >= instances && instances > 1 {
            return Err(invalid(
                "policy.max_unavailable",
                format!(
                    "{} would take every instance out of rotation (there are {})",
                    p.max_unavailable, instances
                ),
            ));
        }
        if !(1..=super::policy::MAX_KEEP_RELEASES).contains(&p.keep_releases) {
            return Err(invalid(
                "policy.keep_releases",
                format!(
                    "{} is not between 1 (only the release it runs) and {}",
                    p.keep_releases,
                    super::policy::MAX_KEEP_RELEASES
                ),
            ));
        }
        if p.drain.min > p.drain.max {
            return Err(invalid(
                "policy.drain.min",
                format!(
                    "{} is longer than policy.drain.max ({})",
                    p.drain.min, p.drain.max
                ),
            ));
        }
        if p.log_error_patterns.iter().any(String::is_empty) {
            return Err(invalid(
                "policy.log_error_patterns",
                "an empty pattern would match every line",
            ));
        }
        Ok(())
    }
}
