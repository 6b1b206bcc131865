//! `[[hooks]]`: commands run around a rollout, with the lock held.
//!
//! ```toml
//! [[hooks]]
//! on = "post-instance"                  # pre-rollout | pre-instance | post-instance | post-rollout | failure
//! run = ["curl", "-fsS", "--max-time", "5", "http://127.0.0.1:39091/ihos/health"]  # argv, or a string for sh -c
//! where = "h101"                        # "local" (default) or a host of the topology
//! # name = "smoke test"                 # how events and the plan call it
//! # gate = true                         # default for pre-rollout, pre-instance, post-instance
//! # timeout = "5m"                      # the default (at most 1h)
//! # sudo = false                        # on a host: run it with sudo
//! # env = ["SMOKE_TOKEN"]               # local hooks: variables copied from ihos's environment
//! ```

use serde::{Deserialize, Serialize};

use super::Dur;
use super::invalid::{Invalid, check_env_name, invalid};

/// A command run at one point of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// When it runs.
    pub on: HookOn,
    /// What it runs.
    pub run: HookRun,
    /// Where: `local` (this machine) or a host of the topology.
    #[serde(default = "default_where", rename = "where")]
    pub at: String,
    /// Its name in events, the journal and the plan (default: its command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether its failure stops the run at the safe point (default: yes where it can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<bool>,
    /// How long it may take (default 5 minutes, at most 1 hour): then it is killed and
    /// failed.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// On a host: run it with sudo.
    #[serde(default)]
    pub sudo: bool,
    /// Variables copied from ihos's own environment (a local hook gets no other but
    /// `PATH`, `HOME`, `LANG`, `TZ` and the `IHOS_*` ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookOn {
    /// After the preflight, before any change.
    PreRollout,
    /// Before each instance leaves rotation.
    PreInstance,
    /// After each instance is healthy and its log clean, before it goes back into rotation
    /// (a smoke test against the instance alone).
    PostInstance,
    /// After the run, however it ended (`IHOS_OUTCOME`).
    PostRollout,
    /// After a run that failed (an instance rolled back, or not restored).
    Failure,
}

impl HookOn {
    /// Its name in the topology and in `IHOS_EVENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            HookOn::PreRollout => "pre-rollout",
            HookOn::PreInstance => "pre-instance",
            HookOn::PostInstance => "post-instance",
            HookOn::PostRollout => "post-rollout",
            HookOn::Failure => "failure",
        }
    }

    /// Whether a failure there can stop something.
    pub fn can_gate(self) -> bool {
        matches!(
            self,
            HookOn::PreRollout | HookOn::PreInstance | HookOn::PostInstance
        )
    }
}

/// A hook's command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum HookRun {
    /// A program and its arguments, run as they are.
    Argv(Vec<String>),
    /// A line run by `sh -c`.
    Shell(String),
}

impl HookRun {
    /// The argv that runs it.
    pub fn argv(&self) -> Vec<String> {
        match self {
            HookRun::Argv(v) => v.clone(),
            HookRun::Shell(line) => vec!["sh".into(), "-c".into(), line.clone()],
        }
    }

    /// How it is shown.
    pub fn display(&self) -> String {
        match self {
            HookRun::Argv(v) => v.join(" "),
            HookRun::Shell(line) => line.clone(),
        }
    }
}

fn default_where() -> String {
    "local".into()
}

fn default_timeout() -> Dur {
    Dur::secs(5 * 60)
}

/// Longest a hook may be given.
const MAX_TIMEOUT_SECS: u64 = 3600;

impl HookConfig {
    /// Whether its failure stops the run.
    pub fn is_gate(&self) -> bool {
        self.on.can_gate() && self.gate.unwrap_or(true)
    }

    /// Whether it runs on this machine.
    pub fn is_local(&self) -> bool {
        self.at == "local"
    }

    /// Its name: given, or its command (cut).
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => {
                let shown = self.run.display();
                match shown.char_indices().nth(60) {
                    Some((cut, _)) => format!("{}…", &shown[..cut]),
                    None => shown,
                }
            }
        }
    }

    fn check(&self, index: usize, hosts: &[&str]) -> Result<(), Invalid> {
        let key = |k: &str| format!("hooks[{index}].{k}");
        match &self.run {
            HookRun::Argv(v) if v.first().is_none_or(|p| p.trim().is_empty()) => {
                return Err(invalid(key("run"), "names no program"));
            }
            HookRun::Shell(line) if line.trim().is_empty() => {
                return Err(invalid(key("run"), "is empty"));
            }
            // On a host it runs as `env VAR=... PROGRAM`: `env` would take it for a variable.
            HookRun::Argv(v) if v[0].contains('=') => {
                return Err(invalid(
                    key("run"),
                    format!("{:?}: a program's name has no `=`", v[0]),
                ));
            }
            _ => {}
        }
        let texts = self.run.argv().into_iter().chain(self.name.clone());
        for t in texts {
            if t.contains('\0') {
                return Err(invalid(key("run"), "holds a NUL byte"));
            }
        }
        if !self.is_local() && !hosts.contains(&self.at.as_str()) {
            return Err(invalid(
                key("where"),
                format!(
                    "{:?} is neither \"local\" nor a host of the topology ({})",
                    self.at,
                    hosts.join(", ")
                ),
            ));
        }
        if self.gate == Some(true) && !self.on.can_gate() {
            return Err(invalid(
                key("gate"),
                format!(
                    "a {} hook runs when nothing is left to stop: it cannot be a gate",
                    self.on.as_str()
                ),
            ));
        }
        let secs = self.timeout.0.as_secs();
        if self.timeout.0.is_zero() || secs > MAX_TIMEOUT_SECS {
            return Err(invalid(
                key("timeout"),
                "must be more than 0s and at most 1h",
            ));
        }
        if self.sudo && self.is_local() {
            return Err(invalid(
                key("sudo"),
                "only for a hook on a host (where = \"HOST\"); a local hook runs as ihos does",
            ));
        }
        for name in &self.env {
            check_env_name(&key("env"), &Some(name.clone()))?;
        }
        if !self.env.is_empty() && !self.is_local() {
            return Err(invalid(
                key("env"),
                "variables are passed to local hooks only: on a host they would be on the \
                 command line, visible to every user there; read the secret on the host",
            ));
        }
        Ok(())
    }
}

/// Checks every `hooks[N]` against the topology's `hosts`.
pub(super) fn check_all<'a>(
    hooks: &[HookConfig],
    hosts: impl Iterator<Item = &'a String>,
) -> Result<(), Invalid> {
    let hosts: Vec<&str> = hosts.map(String::as_str).collect();
    hooks
        .iter()
        .enumerate()
        .try_for_each(|(n, h)| h.check(n, &hosts))
}
