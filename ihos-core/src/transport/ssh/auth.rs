//! User authentication: agent, a key file (passphrase from an environment variable), the
//! default keys, a password (from an environment variable), or several of them in order.

use std::path::{Path, PathBuf};

use ssh2::Session;
use tracing::{debug, warn};

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
    // Which of password / keyboard-interactive the server takes: asked once, first (the
    // "none" request OpenSSH's client also starts with), not after other methods failed,
    // where it would count as one more failure against MaxAuthTries.
    let offered = if auth.uses_password() {
        session.auth_methods(&target.user).unwrap_or("").to_string()
    } else {
        String::new()
    };
    if session.authenticated() {
        return Ok(()); // "none" was enough
    }
    try_method(session, &target.user, auth, &offered, &mut tried).map_err(fail)?;
    if session.authenticated() {
        if auth.uses_password() {
            warn_password_once(&target.label());
        }
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

/// Tries one method (a chain: each until the user is in). `Err` for a configuration that
/// cannot work (a variable that is not set), which no other method makes right.
fn try_method(
    session: &Session,
    user: &str,
    auth: &SshAuth,
    offered: &str,
    tried: &mut Vec<String>,
) -> Result<(), String> {
    match auth {
        SshAuth::Agent => try_agent(session, user, tried),
        SshAuth::KeyFile {
            path,
            passphrase_env,
        } => {
            let passphrase = match passphrase_env {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    format!("the key passphrase environment variable {var} is not set")
                })?),
                None => None,
            };
            try_key(session, user, path, passphrase.as_deref(), tried);
        }
        SshAuth::DefaultKeys => try_default_keys(session, user, tried),
        SshAuth::AgentThenDefaultKeys => {
            if std::env::var_os("SSH_AUTH_SOCK").is_some() {
                try_agent(session, user, tried);
            }
            try_default_keys(session, user, tried);
        }
        SshAuth::Password { password_env } => {
            let password = std::env::var(password_env).map_err(|_| {
                format!("the password environment variable {password_env} is not set")
            })?;
            try_password(session, user, &password, offered, tried);
        }
        SshAuth::Chain(methods) => {
            for m in methods {
                if session.authenticated() {
                    break;
                }
                try_method(session, user, m, offered, tried)?;
            }
        }
    }
    Ok(())
}

fn try_default_keys(session: &Session, user: &str, tried: &mut Vec<String>) {
    for key in default_keys() {
        if session.authenticated() {
            break;
        }
        try_key(session, user, &key, None, tried);
    }
}

/// `password`, or `keyboard-interactive` when the server offers only that (`offered`: the
/// server's list, empty if unknown). Never both: a refused password is not sent twice.
/// Messages never contain the password.
fn try_password(
    session: &Session,
    user: &str,
    password: &str,
    offered: &str,
    tried: &mut Vec<String>,
) {
    if session.authenticated() {
        return;
    }
    let has = |m: &str| offered.split(',').any(|o| o == m);
    if has("password") || offered.is_empty() {
        match session.userauth_password(user, password) {
            Ok(()) if session.authenticated() => debug!(user, "authenticated with a password"),
            Ok(()) => tried.push("password (more is required)".into()),
            Err(e) => tried.push(format!("password ({})", e.message())),
        }
    } else if has("keyboard-interactive") {
        let mut prompter = PasswordPrompter::new(password);
        match session.userauth_keyboard_interactive(user, &mut prompter) {
            Ok(()) if session.authenticated() => {
                debug!(user, "authenticated with keyboard-interactive");
            }
            Ok(()) => tried.push("keyboard-interactive (more is required)".into()),
            Err(e) => tried.push(format!("keyboard-interactive ({})", e.message())),
        }
    } else {
        tried.push(format!(
            "password (the server offers neither password nor keyboard-interactive: {offered})"
        ));
    }
}

/// Answers keyboard-interactive prompts with the password: the hidden ones (echo off) of
/// the first round only. A server that asks again has refused it; answering again would
/// only count more failures against the account.
struct PasswordPrompter<'a> {
    password: &'a str,
    rounds: u32,
}

impl<'a> PasswordPrompter<'a> {
    fn new(password: &'a str) -> Self {
        PasswordPrompter {
            password,
            rounds: 0,
        }
    }
}

impl ssh2::KeyboardInteractivePrompt for PasswordPrompter<'_> {
    fn prompt<'b>(
        &mut self,
        _username: &str,
        _instructions: &str,
        prompts: &[ssh2::Prompt<'b>],
    ) -> Vec<String> {
        // A round with no prompts (PAM's informational messages) is not an attempt.
        if !prompts.is_empty() {
            self.rounds += 1;
        }
        prompts
            .iter()
            .map(|p| {
                if self.rounds == 1 && !p.echo {
                    self.password.to_string()
                } else {
                    String::new()
                }
            })
            .collect()
    }
}

/// Once per process: a password login works, and keys are better.
fn warn_password_once(host: &str) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        warn!(
            host,
            "logged in with a password; SSH keys are recommended (no secret to keep in an \
             environment variable, and sshd can refuse passwords altogether)"
        );
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use ssh2::KeyboardInteractivePrompt;
    use std::borrow::Cow;

    fn prompt(text: &'static str, echo: bool) -> ssh2::Prompt<'static> {
        ssh2::Prompt {
            text: Cow::Borrowed(text),
            echo,
        }
    }

    #[test]
    fn keyboard_interactive_answers_hidden_prompts_of_the_first_round_only() {
        let mut p = PasswordPrompter::new("s3cret");
        // PAM's banner round: nothing asked, not counted.
        assert!(p.prompt("u", "Welcome", &[]).is_empty());
        let answers = p.prompt(
            "u",
            "",
            &[prompt("Password: ", false), prompt("Name: ", true)],
        );
        assert_eq!(answers, vec!["s3cret".to_string(), String::new()]);
        // Asked again: the password was refused; do not send it a second time.
        let again = p.prompt("u", "", &[prompt("Password: ", false)]);
        assert_eq!(again, vec![String::new()]);
    }

    #[test]
    fn password_use_is_seen_through_chains() {
        let pw = SshAuth::Password {
            password_env: "X".into(),
        };
        assert!(pw.uses_password());
        assert!(SshAuth::Chain(vec![SshAuth::Agent, pw]).uses_password());
        assert!(!SshAuth::Chain(vec![SshAuth::Agent, SshAuth::DefaultKeys]).uses_password());
        assert!(!SshAuth::default().uses_password());
    }
}
