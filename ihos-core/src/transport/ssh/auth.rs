//! User authentication: agent, a key file (passphrase from an environment variable), or the
//! agent then the default keys.

use std::path::{Path, PathBuf};

use ssh2::Session;
use tracing::debug;

use super::options::{SshAuth, SshTarget, home_dir};
use crate::transport::TransportError;

/// Authenticates `target.user` as `auth` says. The error lists what was tried.
pub(crate) fn authenticate(
    session: &Session,
    target: &SshTarget,
    auth: &SshAuth,
) -> Result<(), TransportError> {
    let fail = |reason: String| TransportError::Auth {
        host: target.label(),
        user: target.user.clone(),
        reason,
    };
    let mut tried: Vec<String> = Vec::new();
    match auth {
        SshAuth::Agent => try_agent(session, &target.user, &mut tried),
        SshAuth::KeyFile {
            path,
            passphrase_env,
        } => {
            let passphrase = match passphrase_env {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    fail(format!(
                        "the key passphrase environment variable {var} is not set"
                    ))
                })?),
                None => None,
            };
            try_key(
                session,
                &target.user,
                path,
                passphrase.as_deref(),
                &mut tried,
            );
        }
        SshAuth::AgentThenDefaultKeys => {
            if std::env::var_os("SSH_AUTH_SOCK").is_some() {
                try_agent(session, &target.user, &mut tried);
            }
            for key in default_keys() {
                if session.authenticated() {
                    break;
                }
                try_key(session, &target.user, &key, None, &mut tried);
            }
        }
    }
    if session.authenticated() {
        return Ok(());
    }
    if tried.is_empty() {
        tried.push("no agent ($SSH_AUTH_SOCK unset) and no key in ~/.ssh".into());
    }
    let offered = session
        .auth_methods(&target.user)
        .map(|m| format!("; the server accepts: {m}"))
        .unwrap_or_default();
    Err(fail(format!("tried {}{offered}", tried.join(", "))))
}

fn try_agent(session: &Session, user: &str, tried: &mut Vec<String>) {
    match session.userauth_agent(user) {
        Ok(()) if session.authenticated() => debug!(user, "authenticated with the agent"),
        Ok(()) => tried.push("agent (no key accepted)".into()),
        Err(e) => tried.push(format!("agent ({})", e.message())),
    }
}

fn try_key(
    session: &Session,
    user: &str,
    path: &Path,
    passphrase: Option<&str>,
    tried: &mut Vec<String>,
) {
    if !path.exists() {
        tried.push(format!("{} (no such file)", path.display()));
        return;
    }
    match session.userauth_pubkey_file(user, None, path, passphrase) {
        Ok(()) if session.authenticated() => {
            debug!(user, key = %path.display(), "authenticated with a key file");
        }
        Ok(()) => tried.push(format!("{} (not accepted)", path.display())),
        Err(e) => tried.push(format!("{} ({})", path.display(), e.message())),
    }
}

fn default_keys() -> Vec<PathBuf> {
    let Some(home) = home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|k| home.join(".ssh").join(k))
        .filter(|p| p.exists())
        .collect()
}
