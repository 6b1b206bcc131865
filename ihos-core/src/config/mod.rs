//! The topology: hosts, the load balancer, the app instances, the canary, and the rollout
//! policy, read from TOML. Unknown keys are errors; every error names the key. The format
//! is shown on [`Topology`].

mod analysis;
mod auth;
mod defaults;
mod duration;
mod hooks;
mod invalid;
mod jump;
mod notify;
mod of_hosts;
mod policy;
mod position;
mod resolve;
mod spec;
mod ssh_resolve;
mod style_serde;
mod teamcity;
mod template;
mod validate;

pub use analysis::{AnalysisConfig, Fraction};
pub use auth::{AuthConfig, AuthMethod};
pub use defaults::SettingOrigin;
pub use duration::Dur;
pub use hooks::{HookConfig, HookOn, HookRun};
pub(crate) use jump::jump_chain;
pub use notify::{Lang, NotifyConfig, NotifyKind, NotifyOn};
pub use policy::{DrainPolicy, OnFailure, Policy};
pub use teamcity::TeamCityConfig;
pub(crate) use teamcity::is_loopback_url;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::lb::{ApplyMode, DisableStyle};

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {reason}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// Not valid TOML, a wrong type, or an unknown key.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong (TOML's message, naming the key).
        message: String,
    },
    /// A value that parses but cannot be right: `FILE:LINE:COL: key: message` when the key
    /// (or, for a missing one, its table) is found in the file, else `FILE: key: message`.
    #[error("{file}{}: {key}: {message}", position.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Invalid {
        /// The file.
        file: String,
        /// The key, e.g. `instances[2].backend`.
        key: String,
        /// What is wrong.
        message: String,
        /// 1-based line and column of the key, or of the table it is missing from.
        position: Option<(usize, usize)>,
    },
}

/// Everything ihos knows about the deployment: hosts, the nginx load balancer, the app
/// instances in rollout order, the optional canary and the rollout [`Policy`]. Read from
/// TOML by [`Topology::from_toml`] or [`Topology::load`]; unknown keys are errors, and every
/// error names the key. Instance settings the instances share may be written once in
/// `[defaults]` or `[hosts.NAME.defaults]`, with the templates `{name}`, `{app}`, `{host}`,
/// `{port}` (see [`InstanceConfig::origins`] for where each resolved value came from).
/// A minimal file (every other key has a default):
///
/// ```toml
/// [hosts.h101]
/// address = "192.168.1.101"
/// user = "deploy"
///
/// [load_balancer]
/// host = "h101"
/// container = "ihos_nginx_proxy_official_1"
/// config = "/opt/docker/ihos/nginx_proxy/nginx.conf"
/// upstream = "service_ihos"
///
/// [[instances]]
/// name = "101-pep1"
/// host = "h101"
/// container = "ihos_pep1_official_1"
/// backend = "192.168.1.101:39091"
/// webapps = "/opt/docker/ihos/pep1/tomcat/webapps"
/// logs = "/opt/docker/ihos/pep1/tomcat/logs"
/// health = { url = "http://127.0.0.1:39091/ihos/" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// Hosts by name.
    pub hosts: BTreeMap<String, HostConfig>,
    /// The nginx load balancers (`[load_balancer]` for one, `[[load_balancers]]` for
    /// several with the same backends: a pair behind keepalived, DNS or an SLB). A backend
    /// is in rotation when every one of them routes to it; the first holds the lock, the
    /// journal and the audit log.
    pub load_balancers: Vec<LbConfig>,
    /// The app instances behind the upstream, in rollout order, each with `[defaults]`,
    /// its host's defaults and templates applied.
    pub instances: Vec<InstanceConfig>,
    /// The canary instance and its routing rule, if there is one.
    pub canary: Option<CanaryConfig>,
    /// How the rollout behaves.
    pub policy: Policy,
    /// Where `ihos fetch` downloads the WAR from, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teamcity: Option<TeamCityConfig>,
    /// The chat robots and webhooks told about runs (`[[notify]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<NotifyConfig>,
    /// Commands run around a rollout (`[[hooks]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookConfig>,
    /// An OpenSSH client config (e.g. `~/.ssh/config`) to read hosts' connection settings
    /// from: a host's `address` may then be a `Host` alias. The topology's own keys win.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_config: Option<PathBuf>,
    /// What loading noticed and did not refuse (e.g. `Match` in the ssh config).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// How a topology file is loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// An OpenSSH client config to use instead of the topology's `ssh_config`
    /// (`ihos --ssh-config`).
    pub ssh_config: Option<PathBuf>,
}

/// How to reach a host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Address or name to connect to (with `ssh_config`: a `Host` alias too; after loading,
    /// its `HostName`).
    pub address: String,
    /// SSH port.
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    /// Login user (required, unless `ssh_config` has a `User` for this host).
    #[serde(default)]
    pub user: String,
    /// How to authenticate.
    #[serde(default)]
    pub auth: AuthConfig,
    /// known_hosts file (default `~/.ssh/known_hosts`).
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// Unknown host keys: refused (`strict`, default) or recorded (`accept-new`).
    #[serde(default)]
    pub host_key_policy: HostKeyPolicyConfig,
    /// Name of an environment variable holding the sudo password, if sudo needs one. The
    /// password itself never goes into configuration.
    #[serde(default)]
    pub sudo_password_env: Option<String>,
    /// A directory the login user can write, for uploads (default `/home/<user>/.ihos`,
    /// `/root/.ihos` for root).
    #[serde(default)]
    pub staging_dir: Option<String>,
    /// Where ihos keeps its records on this host: previous releases, deployment records,
    /// and on the load balancer's host the lock, the journal and the audit log.
    #[serde(default = "default_state_dir")]
    pub state_dir: String,
    /// Run commands on this machine instead of over SSH.
    #[serde(default)]
    pub local: bool,
    /// Another host of this topology to reach this one through (OpenSSH's `ProxyJump`):
    /// one SSH session to it carries the connections of every host behind it. It may have
    /// a `proxy_jump` of its own (a chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_jump: Option<String>,
    /// Where each connection setting came from (`address`, `port`, `user`, `key_file`,
    /// `known_hosts`, `host_key_policy`, `proxy_jump`), when not from the topology itself:
    /// an ssh config's `file:line (Keyword)`, or "default". Filled in when loading.
    #[serde(skip)]
    pub origins: BTreeMap<String, String>,
    /// `[hosts.NAME.defaults]`: settings of the instances on this host (applied to
    /// [`Topology::instances`] when loading).
    #[serde(default, skip_serializing)]
    pub(crate) defaults: Option<spec::InstanceSpec>,
}

fn default_ssh_port() -> u16 {
    22
}

fn default_state_dir() -> String {
    "/var/lib/ihos".into()
}

impl HostConfig {
    /// The upload directory: `staging_dir`, or the login user's `~/.ihos`.
    pub fn staging(&self) -> String {
        match &self.staging_dir {
            Some(d) => d.clone(),
            None if self.user == "root" => "/root/.ihos".into(),
            None => format!("/home/{}/.ihos", self.user),
        }
    }
}

/// Host key policy as written in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicyConfig {
    /// Only keys already in known_hosts.
    #[default]
    Strict,
    /// Unknown keys are recorded; changed keys are still refused.
    AcceptNew,
}

/// The nginx load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LbConfig {
    /// Host it runs on.
    pub host: String,
    /// Its container.
    pub container: String,
    /// Its config file on the host (bind-mounted into the container).
    pub config: String,
    /// The upstream holding the instances.
    pub upstream: String,
    /// `reload` (default, graceful) or `restart` (the runbook's way).
    #[serde(default)]
    pub apply: ApplyMode,
    /// `comment` (default) or `down`.
    #[serde(default, with = "style_serde")]
    pub style: DisableStyle,
    /// The config's path inside the container, if not nginx's default.
    #[serde(default)]
    pub config_in_container: Option<String>,
    /// Whether this load balancer carries the canary's cohort route (default: yes, when
    /// there is a `[canary]`). One that does not sends the cohort's users to the fleet.
    #[serde(default = "yes")]
    pub canary_route: bool,
    /// This load balancer's canary site file, when it is not `[canary] site_file`.
    #[serde(default)]
    pub canary_site_file: Option<String>,
}

fn yes() -> bool {
    true
}

impl LbConfig {
    /// The site file holding the canary route on this load balancer, if it carries one.
    pub fn canary_site<'a>(&'a self, canary: Option<&'a CanaryConfig>) -> Option<&'a str> {
        let canary = canary?;
        self.canary_route.then(|| {
            self.canary_site_file
                .as_deref()
                .unwrap_or(&canary.site_file)
        })
    }
}

/// One app instance: a Tomcat container serving one upstream backend.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Its name, e.g. `101-pep1`.
    pub name: String,
    /// Host it runs on.
    pub host: String,
    /// What `{app}` stands for in templates: the app's short name on its host, e.g. `pep1`
    /// (default: the instance's name).
    #[serde(default)]
    pub app: String,
    /// Its container.
    pub container: String,
    /// Its address in the upstream, `host:port` exactly as in the nginx config.
    pub backend: String,
    /// Tomcat's webapps directory on the host.
    pub webapps: String,
    /// The WAR's file name in webapps.
    #[serde(default = "default_war_name")]
    pub war_name: String,
    /// Tomcat's logs directory on the host.
    pub logs: String,
    /// The app log's file name, with `%Y`, `%m`, `%d` for the date.
    #[serde(default = "default_log_pattern")]
    pub log_pattern: String,
    /// How to tell it is up.
    pub health: HealthConfig,
    /// The port Tomcat listens on inside the container; drain counts connections to it.
    #[serde(default = "default_container_port")]
    pub container_port: u16,
    /// Where each setting came from, by key (`name`, `webapps`, `health.url`, ...).
    /// Filled in when loading.
    #[serde(skip)]
    pub origins: BTreeMap<String, SettingOrigin>,
}

fn default_container_port() -> u16 {
    8080
}

fn default_war_name() -> String {
    "ihos.war".into()
}

fn default_log_pattern() -> String {
    "logFile.%Y-%m-%d.log".into()
}

/// The health check of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// HTTP URL probed from the instance's host (`curl` there).
    pub url: String,
    /// Expected HTTP status.
    #[serde(default = "default_status")]
    pub expect_status: u16,
    /// Timeout of one probe.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Dur,
    /// Text of Tomcat's startup line in its log.
    #[serde(default = "default_startup_line")]
    pub startup_line: String,
    /// The log Tomcat writes that line to, in the logs directory (`%Y`, `%m`, `%d` for the
    /// date).
    #[serde(default = "default_startup_log")]
    pub startup_log: String,
}

fn default_startup_log() -> String {
    "catalina.%Y-%m-%d.log".into()
}

fn default_status() -> u16 {
    200
}

fn default_probe_timeout() -> Dur {
    Dur::secs(5)
}

fn default_startup_line() -> String {
    "Server startup in".into()
}

/// The canary instance and the rule that routes a cohort of users to it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// The nginx site file holding the canary `if` block.
    pub site_file: String,
    /// Text that identifies the block's condition.
    #[serde(default = "default_canary_selector")]
    pub condition_contains: String,
    /// The canary instance (not part of the main upstream).
    pub instance: InstanceConfig,
    /// How to judge it from the load balancer's access log (`[canary.analysis]`).
    #[serde(default)]
    pub analysis: Option<AnalysisConfig>,
}

fn default_canary_selector() -> String {
    "$http_x_pep_token".into()
}

impl Topology {
    /// Parses and validates a topology; `file` names it in errors.
    ///
    /// ```
    /// use ihos_core::{ConfigError, Topology};
    ///
    /// let toml = r#"
    /// [hosts.h101]
    /// address = "192.168.1.101"
    /// user = "deploy"
    ///
    /// [load_balancer]
    /// host = "h101"
    /// container = "nginx"
    /// config = "/opt/nginx/nginx.conf"
    /// upstream = "service_ihos"
    ///
    /// [[instances]]
    /// name = "101-pep1"
    /// host = "h101"
    /// container = "pep1"
    /// backend = "192.168.1.101:39091"
    /// webapps = "/opt/pep1/webapps"
    /// logs = "/opt/pep1/logs"
    /// health = { url = "http://127.0.0.1:39091/ihos/" }
    /// "#;
    /// let topology = Topology::from_toml(toml, "ihos.toml")?;
    /// assert_eq!(topology.instances[0].war_name, "ihos.war"); // a default
    /// assert_eq!(topology.policy.max_unavailable, 1);
    ///
    /// // Errors name the file, the line and the key.
    /// let typo = toml.replace("upstream =", "upstrem =");
    /// let err = Topology::from_toml(&typo, "ihos.toml").unwrap_err();
    /// assert!(matches!(err, ConfigError::Syntax { line: 10, .. }), "{err}");
    /// assert!(err.to_string().contains("upstrem"));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn from_toml(text: &str, file: &str) -> Result<Topology, ConfigError> {
        Self::from_toml_with(text, file, &LoadOptions::default())
    }

    /// [`from_toml`](Self::from_toml) with options: with an ssh config (the topology's
    /// `ssh_config` or `options.ssh_config`), hosts' connection settings are resolved
    /// through it before the topology is checked.
    pub fn from_toml_with(
        text: &str,
        file: &str,
        options: &LoadOptions,
    ) -> Result<Topology, ConfigError> {
        let syntax = |e: toml::de::Error| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |s| position::line_col(text, s.start));
            ConfigError::Syntax {
                file: file.to_string(),
                line,
                column,
                message: e.message().to_string(),
            }
        };
        let spec: spec::TopologySpec = toml::from_str(text).map_err(syntax)?;
        let raw: toml::Table = toml::from_str(text).map_err(syntax)?;
        let invalid = |(key, message): (String, String)| ConfigError::Invalid {
            file: file.to_string(),
            position: position::locate(text, &key),
            key,
            message,
        };
        let mut topology = Topology::resolve(spec, text, file).map_err(invalid)?;
        ssh_resolve::resolve(&mut topology, &raw, options, file).map_err(invalid)?;
        topology
            .validate()
            .map_err(|(key, message)| invalid(topology.attribute(key, message)))?;
        Ok(topology)
    }

    /// Reads, parses and validates a topology file.
    pub fn load(path: &std::path::Path) -> Result<Topology, ConfigError> {
        Self::load_with(path, &LoadOptions::default())
    }

    /// [`load`](Self::load) with options.
    pub fn load_with(
        path: &std::path::Path,
        options: &LoadOptions,
    ) -> Result<Topology, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        Topology::from_toml_with(&text, &file, options)
    }

    /// The jump hosts in front of host `name` (`proxy_jump`), nearest to it first.
    pub fn jump_chain(&self, name: &str) -> Vec<&str> {
        jump_chain(&self.hosts, name)
    }

    /// The first load balancer (the lock, the journal and the audit log are on its host).
    pub fn primary_lb(&self) -> Option<&LbConfig> {
        self.load_balancers.first()
    }

    /// The instance named `name`.
    pub fn instance(&self, name: &str) -> Option<&InstanceConfig> {
        self.instances.iter().find(|i| i.name == name)
    }
}
