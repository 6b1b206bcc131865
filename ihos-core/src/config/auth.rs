//! `hosts.NAME.auth`: how ihos logs in to a host, and the [`SshAuth`] it becomes.
//!
//! ```toml
//! auth = { key_file = "~/.ssh/id_ed25519" }                  # a key
//! auth = { password_env = "IHOS_DEPLOY_PASSWORD" }            # a password (keys are better)
//! auth = { methods = ["agent", "key", "password"], key_file = "~/.ssh/deploy", password_env = "IHOS_PW" }
//! ```
//!
//! Secrets never go into the file: a passphrase or password is named by the environment
//! variable that holds it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::invalid::{Invalid, check_env_name, invalid};
use crate::transport::SshAuth;

/// SSH authentication.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// A private key file (else the ssh-agent, then the default keys).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Name of an environment variable holding the key's passphrase.
    #[serde(default)]
    pub passphrase_env: Option<String>,
    /// Name of an environment variable holding the login password (`password`, or
    /// `keyboard-interactive` when the server offers only that).
    #[serde(default)]
    pub password_env: Option<String>,
    /// The methods to try, in order. Unset: the key file if one is given, then the password
    /// if one is given; with neither, the agent then the default keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<AuthMethod>>,
    /// The `IdentityFile`s the ssh config gives this host (filled in when loading, when
    /// `key_file` is not set): the agent is tried first, then each of them, as ssh does.
    #[serde(skip)]
    pub identity_files: Vec<PathBuf>,
}

/// One way to log in, as listed in `auth.methods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// The keys of the ssh-agent at `$SSH_AUTH_SOCK`.
    Agent,
    /// `key_file`, or the default keys (`~/.ssh/id_ed25519`, ...) when none is given.
    Key,
    /// The password from `password_env`.
    Password,
}

impl AuthConfig {
    /// Whether this logs in with a password (`validate` recommends keys then).
    pub fn uses_password(&self) -> bool {
        self.effective_methods().contains(&AuthMethod::Password)
    }

    /// The methods in the order they are tried.
    fn effective_methods(&self) -> Vec<AuthMethod> {
        if let Some(m) = &self.methods {
            return m.clone();
        }
        let mut m = Vec::new();
        if self.key_file.is_some() {
            m.push(AuthMethod::Key);
        } else if !self.identity_files.is_empty() {
            m.extend([AuthMethod::Agent, AuthMethod::Key]);
        }
        if self.password_env.is_some() {
            m.push(AuthMethod::Password);
        }
        m
    }

    /// What the transport does; `expand` turns `~/` into the home directory.
    pub fn to_ssh_auth(&self, expand: impl Fn(&Path) -> PathBuf) -> SshAuth {
        let methods = self.effective_methods();
        if methods.is_empty() {
            return SshAuth::default();
        }
        let mut all: Vec<SshAuth> = Vec::new();
        for m in methods {
            match m {
                AuthMethod::Agent => all.push(SshAuth::Agent),
                AuthMethod::Key => match &self.key_file {
                    Some(k) => all.push(SshAuth::KeyFile {
                        path: expand(k),
                        passphrase_env: self.passphrase_env.clone(),
                    }),
                    None if !self.identity_files.is_empty() => {
                        all.extend(self.identity_files.iter().map(|k| SshAuth::KeyFile {
                            path: expand(k),
                            passphrase_env: None,
                        }));
                    }
                    None => all.push(SshAuth::DefaultKeys),
                },
                AuthMethod::Password => all.extend(
                    self.password_env
                        .clone()
                        .map(|password_env| SshAuth::Password { password_env }),
                ),
            }
        }
        if all.len() == 1 {
            all.remove(0)
        } else {
            SshAuth::Chain(all)
        }
    }

    /// Checks the settings together; `key` is the table's key, e.g. `hosts.h101.auth`.
    pub(crate) fn check(&self, key: &str) -> Result<(), Invalid> {
        let k = |field: &str| format!("{key}.{field}");
        check_env_name(&k("passphrase_env"), &self.passphrase_env)?;
        check_env_name(&k("password_env"), &self.password_env)?;
        if self.passphrase_env.is_some() && self.key_file.is_none() {
            return Err(invalid(
                k("passphrase_env"),
                "a passphrase is for a key: set key_file too",
            ));
        }
        let Some(methods) = &self.methods else {
            return Ok(());
        };
        if methods.is_empty() {
            return Err(invalid(
                k("methods"),
                "empty: list at least one of \"agent\", \"key\", \"password\"",
            ));
        }
        for (i, m) in methods.iter().enumerate() {
            if methods[..i].contains(m) {
                return Err(invalid(
                    k("methods"),
                    format!("{m:?} is listed twice").to_lowercase(),
                ));
            }
        }
        let listed = |m| methods.contains(&m);
        if listed(AuthMethod::Password) && self.password_env.is_none() {
            return Err(invalid(
                k("methods"),
                "\"password\" is listed but password_env (the variable holding it) is not set",
            ));
        }
        if !listed(AuthMethod::Password) && self.password_env.is_some() {
            return Err(invalid(
                k("password_env"),
                "set, but \"password\" is not in methods: it would never be used",
            ));
        }
        if !listed(AuthMethod::Key) && self.key_file.is_some() {
            return Err(invalid(
                k("key_file"),
                "set, but \"key\" is not in methods: it would never be used",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(toml_text: &str) -> AuthConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn same(p: &Path) -> PathBuf {
        p.to_path_buf()
    }

    #[test]
    fn methods_default_from_what_is_given() {
        assert_eq!(auth("").to_ssh_auth(same), SshAuth::AgentThenDefaultKeys);
        assert_eq!(
            auth(r#"password_env = "PW""#).to_ssh_auth(same),
            SshAuth::Password {
                password_env: "PW".into()
            }
        );
        assert_eq!(
            auth("key_file = \"/k\"\npassword_env = \"PW\"").to_ssh_auth(same),
            SshAuth::Chain(vec![
                SshAuth::KeyFile {
                    path: "/k".into(),
                    passphrase_env: None
                },
                SshAuth::Password {
                    password_env: "PW".into()
                },
            ])
        );
        let a = auth("methods = [\"password\", \"agent\", \"key\"]\npassword_env = \"PW\"");
        assert!(a.uses_password());
        assert_eq!(
            a.to_ssh_auth(same),
            SshAuth::Chain(vec![
                SshAuth::Password {
                    password_env: "PW".into()
                },
                SshAuth::Agent,
                SshAuth::DefaultKeys,
            ])
        );
        assert!(a.check("hosts.h.auth").is_ok());
    }

    #[test]
    fn contradictions_are_refused_with_the_key() {
        let cases = [
            ("methods = []", "hosts.h.auth.methods", "empty"),
            (
                "methods = [\"key\", \"key\"]",
                "hosts.h.auth.methods",
                "twice",
            ),
            (
                "methods = [\"password\"]",
                "hosts.h.auth.methods",
                "password_env",
            ),
            (
                "methods = [\"agent\"]\npassword_env = \"PW\"",
                "hosts.h.auth.password_env",
                "never be used",
            ),
            (
                "methods = [\"agent\"]\nkey_file = \"/k\"",
                "hosts.h.auth.key_file",
                "never be used",
            ),
            (
                "password_env = \"my password\"",
                "hosts.h.auth.password_env",
                "not an environment variable",
            ),
            (
                "passphrase_env = \"P\"",
                "hosts.h.auth.passphrase_env",
                "key_file",
            ),
        ];
        for (text, key, says) in cases {
            let e = auth(text).check("hosts.h.auth").unwrap_err();
            assert_eq!(e.0, key, "{text}");
            assert!(e.1.contains(says), "{text}: {}", e.1);
        }
        let e = toml::from_str::<AuthConfig>("methods = [\"hostbased\"]").unwrap_err();
        assert!(e.to_string().contains("hostbased"), "{e}");
        let e = toml::from_str::<AuthConfig>("password = \"hunter2\"").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
