//! The topology as written, before `[defaults]`, per-host defaults and templates are
//! applied: every instance setting optional and carrying its place in the file, so that
//! each resolved value can say where it came from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{Dur, HookConfig, HostConfig, LbConfig, NotifyConfig, Policy, TeamCityConfig};

/// An instance's settings as written in `[[instances]]`, `[canary.instance]`, `[defaults]`
/// or `[hosts.NAME.defaults]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceSpec {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) host: Option<Spanned<String>>,
    pub(crate) app: Option<Spanned<String>>,
    pub(crate) container: Option<Spanned<String>>,
    pub(crate) backend: Option<Spanned<String>>,
    pub(crate) webapps: Option<Spanned<String>>,
    pub(crate) war_name: Option<Spanned<String>>,
    pub(crate) logs: Option<Spanned<String>>,
    pub(crate) log_pattern: Option<Spanned<String>>,
    pub(crate) health: Option<HealthSpec>,
    pub(crate) container_port: Option<Spanned<u16>>,
}

/// `health` as written: merged key by key with the defaults' `health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthSpec {
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) expect_status: Option<Spanned<u16>>,
    pub(crate) timeout: Option<Spanned<Dur>>,
    pub(crate) startup_line: Option<Spanned<String>>,
    pub(crate) startup_log: Option<Spanned<String>>,
}

/// `[canary]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CanarySpec {
    pub(super) site_file: String,
    #[serde(default = "super::default_canary_selector")]
    pub(super) condition_contains: String,
    pub(super) instance: InstanceSpec,
    #[serde(default)]
    pub(super) analysis: Option<super::AnalysisConfig>,
}

/// The whole file as written; [`super::Topology`] is what it resolves to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopologySpec {
    pub(super) hosts: BTreeMap<String, HostConfig>,
    #[serde(default)]
    pub(super) load_balancers: Vec<LbConfig>,
    #[serde(default)]
    pub(super) load_balancer: Option<LbConfig>,
    /// Instance settings every instance gets unless its host's defaults or itself say
    /// otherwise.
    #[serde(default)]
    pub(super) defaults: Option<InstanceSpec>,
    pub(super) instances: Vec<InstanceSpec>,
    #[serde(default)]
    pub(super) canary: Option<CanarySpec>,
    #[serde(default)]
    pub(super) policy: Policy,
    #[serde(default)]
    pub(super) teamcity: Option<TeamCityConfig>,
    #[serde(default)]
    pub(super) notify: Vec<NotifyConfig>,
    #[serde(default)]
    pub(super) hooks: Vec<HookConfig>,
    #[serde(default)]
    pub(super) ssh_config: Option<PathBuf>,
}
