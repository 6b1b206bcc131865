//! [`Policy`]: how the rollout behaves (drain, timeouts, `max_unavailable`, what a failure
//! does), the `[policy]` section of the topology.

use serde::{Deserialize, Serialize};

use super::Dur;

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
        }
    }
}
