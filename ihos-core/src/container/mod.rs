//! [`Container`]: one container's life cycle, and [`DockerCli`], which drives it with the
//! `docker` command through a [`Transport`](crate::Transport).

mod docker;

pub use docker::DockerCli;

use std::time::Duration;

use async_trait::async_trait;

use crate::command::Output;
use crate::names::ContainerName;
use crate::transport::TransportError;

/// A container's health check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// The container has no health check.
    None,
    /// Its health check has not passed yet.
    Starting,
    /// Its health check passes.
    Healthy,
    /// Its health check fails.
    Unhealthy,
}

/// What the engine needs to know about a container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerState {
    /// Whether a container of that name exists.
    pub exists: bool,
    /// Whether it is running.
    pub running: bool,
    /// Docker's status word (`running`, `exited`, `restarting`, ...; `missing` if none).
    pub status: String,
    /// Health check state.
    pub health: Health,
    /// Main process id on the host, when running.
    pub pid: Option<u32>,
    /// When it last started (RFC 3339, as docker reports it).
    pub started_at: Option<String>,
    /// Exit code of the last run.
    pub exit_code: Option<i64>,
}

impl ContainerState {
    /// The state of a container that does not exist.
    pub fn missing() -> Self {
        ContainerState {
            exists: false,
            running: false,
            status: "missing".into(),
            health: Health::None,
            pid: None,
            started_at: None,
            exit_code: None,
        }
    }
}

/// A failure of a container operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// No container has that name on the host.
    #[error("{host}: no container named {container}")]
    NotFound {
        /// The host.
        host: String,
        /// The container.
        container: String,
    },
    /// `docker` refused or failed.
    #[error("{host}: container {container}: `{command}` failed: {reason}")]
    Docker {
        /// The host.
        host: String,
        /// The container.
        container: String,
        /// The command.
        command: String,
        /// Docker's message.
        reason: String,
    },
    /// The container exists but is not running (e.g. `docker exec` into a stopped one).
    #[error("{host}: container {container} is not running")]
    NotRunning {
        /// The host.
        host: String,
        /// The container.
        container: String,
    },
    /// A signal name that is not one.
    #[error("invalid signal name {0:?}")]
    InvalidSignal(String),
    /// The host could not be reached or the command not run.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// A process of a container as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its pid (in the host's namespace).
    pub pid: u32,
    /// Its command line (as `ps -o args` shows it: nginx's workers retitle theirs).
    pub command: String,
}

/// Controls one container.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Container: Send + Sync {
    /// The container's name.
    fn name(&self) -> &ContainerName;

    /// Its current state ([`ContainerState::missing`] if it does not exist).
    async fn state(&self) -> Result<ContainerState, ContainerError>;

    /// Starts it (a no-op if running).
    async fn start(&self) -> Result<(), ContainerError>;

    /// Stops it: SIGTERM, then SIGKILL after `grace`.
    async fn stop(&self, grace: Duration) -> Result<(), ContainerError>;

    /// Stops then starts it.
    async fn restart(&self, grace: Duration) -> Result<(), ContainerError>;

    /// Runs a program inside it. A non-zero exit is returned, not an error.
    async fn exec(&self, argv: &[String]) -> Result<Output, ContainerError>;

    /// Its processes, listed from outside (`docker top`: no process is started in it,
    /// about a third of an exec's time). [`ContainerError::NotRunning`] if it is stopped.
    async fn processes(&self) -> Result<Vec<Process>, ContainerError>;

    /// Sends a signal (`HUP`, `TERM`, ...) to its main process.
    async fn signal(&self, signal: &str) -> Result<(), ContainerError>;
}
