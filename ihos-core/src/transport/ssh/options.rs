//! What to connect to and how: [`SshTarget`], [`SshOptions`], [`SshAuth`], [`HostKeyPolicy`].
//!
//! Options hold no secrets: a key passphrase or a sudo password is named by the environment
//! variable it is read from, when it is needed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One SSH host and the user to log in as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshTarget {
    /// Host name or IP address.
    pub host: String,
    /// TCP port (22 by default).
    pub port: u16,
    /// Login user.
    pub user: String,
}

impl SshTarget {
    /// `user@host:port`.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        SshTarget {
            host: host.into(),
            port,
            user: user.into(),
        }
    }

    /// The host's name in known_hosts: `host` on port 22, `[host]:port` otherwise (as
    /// OpenSSH writes and looks it up).
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }

    /// The name shown in messages: `host`, or `host:port` when the port is not 22.
    pub fn label(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.label())
    }
}

/// What to do with a host key that known_hosts does not list. There is deliberately no
/// policy that skips verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse unknown hosts (like OpenSSH's `StrictHostKeyChecking yes`).
    #[default]
    Strict,
    /// Record an unknown host's key in known_hosts and go on; a changed key is still refused
    /// (like `StrictHostKeyChecking accept-new`).
    AcceptNew,
}

/// How to authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SshAuth {
    /// The keys offered by the ssh-agent at `$SSH_AUTH_SOCK`.
    Agent,
    /// A private key file (OpenSSH or PEM format).
    KeyFile {
        /// The private key.
        path: PathBuf,
        /// Name of the environment variable holding the key's passphrase, if it has one.
        passphrase_env: Option<String>,
    },
    /// The default keys without a passphrase (`~/.ssh/id_ed25519`, `~/.ssh/id_ecdsa`,
    /// `~/.ssh/id_rsa`).
    DefaultKeys,
    /// The agent if `$SSH_AUTH_SOCK` is set, then the default keys without a passphrase.
    #[default]
    AgentThenDefaultKeys,
    /// A password, read from an environment variable when it is needed: SSH `password`
    /// authentication, or `keyboard-interactive` when the server offers only that (the
    /// password answers its hidden prompts, once).
    Password {
        /// Name of the environment variable holding the password.
        password_env: String,
    },
    /// Each method in turn until the server lets the user in. A server that requires two
    /// (sshd's `AuthenticationMethods publickey,password`) is satisfied by listing both.
    Chain(Vec<SshAuth>),
}

impl SshAuth {
    /// Whether a password is among the methods.
    pub fn uses_password(&self) -> bool {
        match self {
            SshAuth::Password { .. } => true,
            SshAuth::Chain(all) => all.iter().any(SshAuth::uses_password),
            _ => false,
        }
    }
}

/// Connection options. `SshOptions::default()` is strict host key checking against
/// `~/.ssh/known_hosts`, agent-then-default-keys authentication and `sudo -n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshOptions {
    /// Limit for TCP connect, SSH handshake and authentication together.
    pub connect_timeout: Duration,
    /// Timeout of a command that has none of its own (`None`: no limit).
    pub command_timeout: Option<Duration>,
    /// How long one blocking SSH operation (e.g. writing part of an upload) may make no
    /// progress before the connection is taken as lost.
    pub io_timeout: Duration,
    /// Send an SSH keepalive after this much idle time (`None`: never).
    pub keepalive_interval: Option<Duration>,
    /// The known_hosts file (`None`: `$HOME/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// What to do with an unknown host key.
    pub host_key_policy: HostKeyPolicy,
    /// How to authenticate.
    pub auth: SshAuth,
    /// Name of the environment variable holding the login user's sudo password. Unset:
    /// commands run with `sudo -n` and fail at once if sudo wants a password.
    pub sudo_password_env: Option<String>,
    /// At most this many sessions (connections) to the host at once. One is made first; a
    /// second only when a command must run while every session is busy with another (a
    /// poll's reads at once, a load balancer on an app host), or all of them once the
    /// first is in when [`Transport::warm_up`](crate::Transport::warm_up) is asked (a
    /// rollout does). Each is a login (through a jump host: one forwarded channel each,
    /// over its one session).
    pub sessions: usize,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Some(Duration::from_secs(600)),
            io_timeout: Duration::from_secs(60),
            keepalive_interval: Some(Duration::from_secs(15)),
            known_hosts: None,
            host_key_policy: HostKeyPolicy::Strict,
            auth: SshAuth::default(),
            sudo_password_env: None,
            sessions: 3,
        }
    }
}

impl SshOptions {
    /// The known_hosts file to use.
    pub fn known_hosts_path(&self) -> Option<PathBuf> {
        match &self.known_hosts {
            Some(p) => Some(p.clone()),
            None => home_dir().map(|h| h.join(".ssh").join("known_hosts")),
        }
    }
}

/// `$HOME`, if set and not empty.
pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// A duration as whole milliseconds for libssh2 (at least 1, at most `u32::MAX`).
pub(crate) fn millis_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_names_like_openssh() {
        assert_eq!(
            SshTarget::new("h.example", 22, "u").known_hosts_name(),
            "h.example"
        );
        assert_eq!(
            SshTarget::new("127.0.0.11", 2222, "u").known_hosts_name(),
            "[127.0.0.11]:2222"
        );
        assert_eq!(
            SshTarget::new("127.0.0.11", 2222, "deploy").to_string(),
            "deploy@127.0.0.11:2222"
        );
    }

    #[test]
    fn defaults_are_strict() {
        let o = SshOptions::default();
        assert_eq!(o.host_key_policy, HostKeyPolicy::Strict);
        assert_eq!(o.sudo_password_env, None);
        assert_eq!(millis_u32(Duration::from_micros(10)), 1);
    }
}
