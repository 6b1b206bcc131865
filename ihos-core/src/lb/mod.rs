//! [`LoadBalancer`]: backends in and out of rotation, and [`NginxLb`], which does it by
//! editing an nginx config inside (or bind-mounted into) a container. [`CanaryRoute`]: the
//! rule that routes a cohort of users to the canary ([`NginxCanaryRoute`]: an `if` block in
//! a site file); [`MultiLb`] and [`MultiCanaryRoute`] drive several load balancers as one,
//! all or none.

mod all_or_none;
mod canary;
mod canary_multi;
mod multi;
mod nginx;

#[cfg(feature = "mocks")]
pub use canary::MockCanaryRoute;
pub(crate) use canary::nginx_canary_route;
pub use canary::{CanaryRoute, CanaryRule, NginxCanaryRoute};
pub use canary_multi::MultiCanaryRoute;
pub use multi::MultiLb;
pub use nginx::{NginxLb, NginxLbOptions};

use async_trait::async_trait;
pub use ihos_nginx::{DisableStyle, ServerState};

use crate::container::ContainerError;
use crate::transport::TransportError;

/// How nginx is made to use a new configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyMode {
    /// `nginx -s reload`: graceful, in-flight requests finish (measured: 0 requests lost).
    #[default]
    Reload,
    /// Restart the nginx container, the runbook's way (measured: 16 to 1,500 requests lost
    /// per restart). Only on explicit request.
    Restart,
}

/// One backend of the upstream.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Backend {
    /// `host:port` as written in the config.
    pub address: String,
    /// Enabled, down or commented out.
    pub state: ServerState,
    /// Line in the config file.
    pub line: u32,
}

/// What a change did to the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbChange {
    /// The file before.
    pub before: Vec<u8>,
    /// The file after (equal to `before` for a no-op).
    pub after: Vec<u8>,
    /// A unified diff (empty for a no-op).
    pub diff: String,
    /// What was done, or why nothing was.
    pub message: String,
}

impl LbChange {
    /// Whether the file changed (and nginx was made to use it).
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// A failure of a load balancer operation. When a change fails, the previous config bytes
/// are back in place and nginx runs the previous config, unless the variant says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LbError {
    /// The config does not parse.
    #[error("{host}: {path}:{error}")]
    Parse {
        /// The host.
        host: String,
        /// The config file.
        path: String,
        /// Where and what.
        error: Box<ihos_nginx::ParseError>,
    },
    /// The editor refused the change (unknown backend, last enabled one, ...).
    #[error("{host}: {path}: {error}")]
    Edit {
        /// The host.
        host: String,
        /// The config file.
        path: String,
        /// Why.
        error: Box<ihos_nginx::EditError>,
    },
    /// `nginx -t` rejected the new config; the previous one was restored.
    #[error("{host}: nginx -t rejected the new {path}, previous version restored: {output}")]
    Validation {
        /// The host.
        host: String,
        /// The config file.
        path: String,
        /// nginx's output.
        output: String,
    },
    /// `nginx -t` rejects the config as it is, before any change by ihos.
    #[error("{host}: nginx -t rejects {path} as it is now (before any change): {output}")]
    CurrentRejected {
        /// The host.
        host: String,
        /// The config file.
        path: String,
        /// nginx's output.
        output: String,
    },
    /// Reloading or restarting nginx failed; the previous config was restored and applied.
    #[error("{host}: applying {path} failed, previous version restored: {reason}")]
    Apply {
        /// The host.
        host: String,
        /// The config file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Something failed and restoring the previous config failed too: a human must look.
    #[error("{host}: {path}: {failure}; RESTORING THE PREVIOUS CONFIG FAILED TOO: {restore}")]
    RestoreFailed {
        /// The host.
        host: String,
        /// The config file.
        path: String,
        /// The first failure.
        failure: String,
        /// The restore failure.
        restore: String,
    },
    /// The file changed on the host between ihos's read and its write (another writer: a
    /// person with `vi`, another tool); nothing was written. Run the operation again.
    #[error(
        "{host}: {path} changed while ihos was editing it (sha256 {read} when read, {now} now); nothing was written, run it again"
    )]
    ChangedConcurrently {
        /// The host.
        host: String,
        /// The config file.
        path: String,
        /// Its digest when read.
        read: String,
        /// Its digest just before the write.
        now: String,
    },
    /// Several load balancers disagree on the upstream's backends, or an operation needs
    /// one of them.
    #[error("{reason}")]
    Inconsistent {
        /// What.
        reason: String,
    },
    /// Reaching the host failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Controlling the nginx container failed.
    #[error(transparent)]
    Container(#[from] ContainerError),
}

/// Takes backends of one upstream in and out of rotation.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait LoadBalancer: Send + Sync {
    /// The backends of the upstream with their state, as the config file says.
    async fn backends(&self) -> Result<Vec<Backend>, LbError>;

    /// The addresses of the backends out of rotation (down or commented out), in file
    /// order: what the `max_unavailable` check asks before each change, where the fleet
    /// may have thousands in. The default reads [`LoadBalancer::backends`]; one that keeps
    /// its config answers without copying every backend.
    async fn out_of_rotation(&self) -> Result<Vec<String>, LbError> {
        Ok(self
            .backends()
            .await?
            .into_iter()
            .filter(|b| !b.state.is_enabled())
            .map(|b| b.address)
            .collect())
    }

    /// Takes `address` out of rotation: edit, validate, apply. Refuses the last enabled one.
    async fn disable(&self, address: &str) -> Result<LbChange, LbError>;

    /// Puts `address` back into rotation: edit, validate, apply.
    async fn enable(&self, address: &str) -> Result<LbChange, LbError>;

    /// Puts `enable` back into rotation and takes `disable` out as ONE change where the
    /// load balancer can (nginx: one edit, one `nginx -t`, one reload, so idle keep-alive
    /// connections are closed once per transition, not twice). On an error nothing is
    /// promised about `enable`: the caller enables it again on its own (a no-op if it is
    /// in). The default makes two changes, enable then disable.
    async fn swap(&self, enable: &str, disable: &str) -> Result<LbChange, LbError> {
        let first = self.enable(enable).await?;
        let second = self.disable(disable).await?;
        Ok(LbChange {
            message: format!("{}; {}", first.message, second.message),
            diff: format!("{}{}", first.diff, second.diff),
            before: first.before,
            after: second.after,
        })
    }

    /// Validates the current config and makes nginx use it.
    async fn apply(&self) -> Result<(), LbError>;

    /// Validates the current config as it is, changing nothing (`nginx -t`): the preflight's
    /// check that the run's first edit will not be refused for what is already in the files.
    async fn check(&self) -> Result<(), LbError>;

    /// The config file's bytes.
    async fn config(&self) -> Result<Vec<u8>, LbError>;

    /// Puts `bytes` back as the config (in place), validates and applies them.
    async fn restore(&self, bytes: &[u8]) -> Result<(), LbError>;

    /// How many processes still serve requests under a previous configuration (nginx's old
    /// workers finishing their connections after a reload). Drain waits for zero.
    async fn old_workers(&self) -> Result<usize, LbError>;
}
