//! [`SshConfig`]: the OpenSSH client config (`~/.ssh/config`), read the way `ssh` reads it,
//! for the settings that decide how a host is reached: `HostName`, `Port`, `User`,
//! `IdentityFile`, `ProxyJump`, `UserKnownHostsFile`, `StrictHostKeyChecking`.
//!
//! - For each setting the first value obtained wins, in file order, over the `Host` sections
//!   whose patterns match the name given (ssh_config(5)); `IdentityFile`s add up.
//! - `Include` is followed; `Match` sections are not evaluated: they are skipped with a
//!   warning. `ProxyCommand` is not run (a warning says to use `ProxyJump`).
//! - Every value keeps its file and line, so `ihos validate` can say where it came from.
//!
//! Written here rather than taken from a crate: the crates that parse this format keep no
//! line numbers, and "where did this port come from" is the question a user asks.

mod parse;
mod pattern;

use std::fmt;
use std::path::{Path, PathBuf};

use parse::{BlockKind, Directive, Parsed};

/// A config file ihos cannot use, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
pub struct SshConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Where a value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// The keyword as OpenSSH spells it, e.g. `HostName`.
    pub keyword: &'static str,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} ({})",
            self.file.display(),
            self.line,
            self.keyword
        )
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromConfig<T> {
    /// The value.
    pub value: T,
    /// Where.
    pub origin: Origin,
}

/// `StrictHostKeyChecking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// `yes`: only known keys.
    Yes,
    /// `accept-new`: unknown keys recorded, changed ones refused.
    AcceptNew,
    /// `no` / `off`: OpenSSH accepts unknown keys (and some changed ones); ihos treats it as
    /// `accept-new` and never accepts a changed key.
    No,
    /// `ask`: ihos cannot ask, so it is `yes`.
    Ask,
}

/// One hop of `ProxyJump`: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHop {
    /// The user, if given.
    pub user: Option<String>,
    /// The host (an alias, looked up in the config in its turn, or an address).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

/// What the config says for one host name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// `HostName` (`%h` replaced by the name asked for).
    pub host_name: Option<FromConfig<String>>,
    /// `Port`.
    pub port: Option<FromConfig<u16>>,
    /// `User`.
    pub user: Option<FromConfig<String>>,
    /// `IdentityFile`s, in order (`~` and `%d`, `%h`, `%r`, `%u`, `%%` expanded).
    pub identity_files: Vec<FromConfig<PathBuf>>,
    /// `ProxyJump` hops, nearest first (`none`: empty).
    pub proxy_jump: Option<FromConfig<Vec<JumpHop>>>,
    /// The first `UserKnownHostsFile`.
    pub known_hosts: Option<FromConfig<PathBuf>>,
    /// `StrictHostKeyChecking`.
    pub strict_host_key_checking: Option<FromConfig<StrictHostKeyChecking>>,
    /// Things said about this host that ihos does not do as `ssh` would.
    pub warnings: Vec<String>,
}

/// A parsed OpenSSH client config.
#[derive(Debug)]
pub struct SshConfig {
    parsed: Parsed,
    home: Option<PathBuf>,
}

impl SshConfig {
    /// Reads `path` (and what it includes); `~` is `$HOME`.
    pub fn load(path: &Path) -> Result<SshConfig, SshConfigError> {
        let home = crate::transport::home_dir();
        let parsed = parse::parse_file(path, home.as_deref())?;
        Ok(SshConfig { parsed, home })
    }

    /// Parses `text` as if read from `file`, with `home` as `~`.
    pub fn parse(
        text: &str,
        file: &Path,
        home: Option<&Path>,
    ) -> Result<SshConfig, SshConfigError> {
        let parsed = parse::parse_text(text, file, home)?;
        Ok(SshConfig {
            parsed,
            home: home.map(Path::to_path_buf),
        })
    }

    /// Warnings about the file as a whole (`Match` sections, `Include`s not followed).
    pub fn warnings(&self) -> &[String] {
        &self.parsed.warnings
    }

    /// The settings for `name` (the name as given, e.g. an alias), `login_user` being the
    /// user ihos logs in as if the config names none (for `%r`).
    pub fn query(
        &self,
        name: &str,
        login_user: Option<&str>,
    ) -> Result<HostSettings, SshConfigError> {
        let mut s = HostSettings::default();
        // A directive applies when its section matches, and the sections it was included
        // under too.
        let applies = |d: &Directive| {
            let mut at = Some(d.block);
            while let Some(i) = at {
                let Some(b) = self.parsed.blocks.get(i) else {
                    return false;
                };
                let matches = match &b.kind {
                    BlockKind::All => true,
                    BlockKind::Host(patterns) => pattern::host_matches(patterns, name),
                    BlockKind::Match => false,
                };
                if !matches {
                    return false;
                }
                at = b.inside;
            }
            true
        };
        // ProxyCommand and ProxyJump share one setting in OpenSSH: the first of either wins.
        let mut proxy_decided = false;
        // Paths are expanded once everything is read: `%h` is the final HostName, `%r` the
        // final user (ssh.c expands them after reading the config).
        let mut identity_raw: Vec<(String, Origin)> = Vec::new();
        let mut known_raw: Option<(String, Origin)> = None;
        for d in self.parsed.directives.iter().filter(|d| applies(d)) {
            let err = |message: String| SshConfigError {
                file: d.file.clone(),
                line: d.line,
                message,
            };
            let origin = |keyword| Origin {
                file: d.file.clone(),
                line: d.line,
                keyword,
            };
            let first = || {
                d.args
                    .first()
                    .cloned()
                    .ok_or_else(|| err(format!("{} without a value", d.keyword)))
            };
            match d.keyword.as_str() {
                "hostname" if s.host_name.is_none() => {
                    // HostName knows `%h` (the name given) and `%%` only.
                    let value = first()?
                        .replace("%%", "\u{0}")
                        .replace("%h", name)
                        .replace('\u{0}', "%");
                    s.host_name = Some(FromConfig {
                        value,
                        origin: origin("HostName"),
                    });
                }
                "port" if s.port.is_none() => {
                    let text = first()?;
                    let value = text
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| err(format!("Port {text:?} is not a port number")))?;
                    s.port = Some(FromConfig {
                        value,
                        origin: origin("Port"),
                    });
                }
                "user" if s.user.is_none() => {
                    s.user = Some(FromConfig {
                        value: first()?,
                        origin: origin("User"),
                    });
                }
                "identityfile" => identity_raw.push((first()?, origin("IdentityFile"))),
                "proxyjump" if !proxy_decided => {
                    proxy_decided = true;
                    let text = first()?;
                    let hops = if text.eq_ignore_ascii_case("none") {
                        Vec::new()
                    } else {
                        text.split(',')
                            .map(parse_hop)
                            .collect::<Result<_, _>>()
                            .map_err(err)?
                    };
                    s.proxy_jump = Some(FromConfig {
                        value: hops,
                        origin: origin("ProxyJump"),
                    });
                }
                "userknownhostsfile" if known_raw.is_none() => {
                    let value = first()?;
                    if value == "none" || value == "/dev/null" {
                        return Err(err(format!(
                            "UserKnownHostsFile {value}: ihos checks every host key against a known_hosts file; name one"
                        )));
                    }
                    if d.args.len() > 1 {
                        s.warnings.push(format!(
                            "{}:{}: UserKnownHostsFile lists {} files; ihos reads the first only",
                            d.file.display(),
                            d.line,
                            d.args.len()
                        ));
                    }
                    known_raw = Some((value, origin("UserKnownHostsFile")));
                }
                "stricthostkeychecking" if s.strict_host_key_checking.is_none() => {
                    let text = first()?;
                    let value = match text.to_ascii_lowercase().as_str() {
                        "yes" | "true" => StrictHostKeyChecking::Yes,
                        "accept-new" => StrictHostKeyChecking::AcceptNew,
                        "no" | "off" | "false" => StrictHostKeyChecking::No,
                        "ask" => StrictHostKeyChecking::Ask,
                        _ => {
                            return Err(err(format!(
                                "StrictHostKeyChecking {text:?}: expected yes, accept-new, no or ask"
                            )));
                        }
                    };
                    s.strict_host_key_checking = Some(FromConfig {
                        value,
                        origin: origin("StrictHostKeyChecking"),
                    });
                }
                "proxycommand" if !proxy_decided => {
                    proxy_decided = true;
                    if d.args.first().is_some_and(|a| a == "none") {
                        continue;
                    }
                    s.warnings.push(format!(
                        "{}:{}: ProxyCommand is not run by ihos; use ProxyJump (or proxy_jump in the topology)",
                        d.file.display(),
                        d.line
                    ));
                }
                _ => {}
            }
        }
        let host = s.host_name.as_ref().map_or(name, |h| h.value.as_str());
        let user = login_user.or(s.user.as_ref().map(|u| u.value.as_str()));
        let home = self.home.as_deref();
        let expand = |(raw, origin): (String, Origin)| {
            let tokens = Tokens {
                host,
                alias: name,
                remote_user: user,
                home,
            };
            percent(&raw, &tokens)
                .map(|v| FromConfig {
                    value: PathBuf::from(v),
                    origin: origin.clone(),
                })
                .map_err(|message| SshConfigError {
                    file: origin.file.clone(),
                    line: origin.line,
                    message,
                })
        };
        s.identity_files = identity_raw
            .into_iter()
            .map(expand)
            .collect::<Result<_, _>>()?;
        s.known_hosts = known_raw.map(expand).transpose()?;
        Ok(s)
    }
}

/// `[user@]host[:port]` (or `ssh://[user@]host[:port]`).
fn parse_hop(text: &str) -> Result<JumpHop, String> {
    let t = text.trim();
    let t = t.strip_prefix("ssh://").unwrap_or(t);
    let (user, rest) = match t.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, t),
    };
    // `[v6]:port`, `host:port`, or a bare host (a v6 address without brackets has colons).
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r
            .split_once(']')
            .ok_or_else(|| format!("ProxyJump {text:?}: unclosed ["))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match rest.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h.to_string(), Some(p)),
            _ => (rest.to_string(), None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("ProxyJump {text:?}: {p:?} is not a port number"))
        })
        .transpose()?;
    if host.is_empty() || user.as_deref() == Some("") {
        return Err(format!("ProxyJump {text:?}: expected [user@]host[:port]"));
    }
    Ok(JumpHop { user, host, port })
}

/// What `%` tokens stand for.
struct Tokens<'a> {
    /// `%h`: the HostName (or the name given when there is none).
    host: &'a str,
    /// `%n`: the name as given.
    alias: &'a str,
    /// `%r`: the user logged in as.
    remote_user: Option<&'a str>,
    /// `~` and `%d`.
    home: Option<&'a Path>,
}

/// ssh_config's tokens in paths: `~/`, `%d` (home), `%h`, `%n`, `%r`, `%u` (local user),
/// `%%`. Others are refused rather than left in a path.
fn percent(text: &str, t: &Tokens<'_>) -> Result<String, String> {
    let home_text = t.home.map(|h| h.display().to_string());
    let mut out = String::new();
    let mut rest = text;
    if let Some(r) = text.strip_prefix("~/") {
        let h = home_text
            .as_deref()
            .ok_or("~ used but there is no home directory")?;
        out.push_str(h);
        out.push('/');
        rest = r;
    }
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(t.host),
            Some('n') => out.push_str(t.alias),
            Some('d') => out.push_str(
                home_text
                    .as_deref()
                    .ok_or("%d used but there is no home directory")?,
            ),
            Some('r') => {
                let me = t.remote_user.map(str::to_string).or_else(local_user);
                out.push_str(&me.ok_or("%r used but the user is not known")?);
            }
            Some('u') => {
                out.push_str(&local_user().ok_or("%u used but the local user is not known")?)
            }
            Some(other) => return Err(format!("%{other} in {text:?} is not expanded by ihos")),
            None => return Err(format!("{text:?} ends with a lone %")),
        }
    }
    Ok(out)
}

fn local_user() -> Option<String> {
    Some(whoami::username()).filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests;
