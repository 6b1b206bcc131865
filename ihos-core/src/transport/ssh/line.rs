//! The shell line a [`Command`] runs with on an SSH host: its locale, how it gets root, and
//! the host-side time limit that stops it.
//!
//! `env LC_ALL=C [sudo ...] [timeout -k 5 SECS] PROGRAM ARGS...`
//!
//! - `env LC_ALL=C`: messages ihos reads (sudo's, docker's, coreutils') are in English
//!   whatever the host's locale; `env` rather than `VAR=x cmd` so any login shell runs it.
//!   sudo keeps `LC_*` for the command (sudoers' default `env_keep`).
//! - `sudo -n --` when sudo needs no password; with a password, `sudo -k -S -p PROMPT --
//!   sh -c 'printf ... "$0" >&2; exec "$@"' MARKER`: `-k` ignores cached credentials so
//!   sudo always asks (it would otherwise read nothing and leave the password in the
//!   command's stdin), the unique `PROMPT` tells the session when sudo asks (the password
//!   is written only then), and `MARKER` when the command runs (its input only then: see
//!   [`super::feed`]).
//! - `timeout -k 5 SECS` (coreutils), under sudo so that root's command is the one stopped:
//!   a command past its limit is stopped on the host, not only abandoned by ihos.

use std::sync::OnceLock;
use std::time::Duration;

use crate::command::{Command, Privilege, shell_quote};

/// Seconds between `timeout`'s TERM and its KILL.
pub(crate) const KILL_AFTER_SECS: u64 = 5;

/// Exit statuses of `timeout` when it stopped the command: TERM (124), KILL (128 + 9).
const TIMEOUT_STATUSES: [i32; 2] = [124, 137];

/// How a sudo command authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SudoVia {
    /// `sudo -n`: fails at once if a password is needed.
    NoPassword,
    /// `sudo -k -S -p PROMPT`: the password is written when `PROMPT` shows on stderr.
    Password,
}

/// The shell line for `command`, stopped on the host after `limit` if one is given.
pub(crate) fn remote_line(command: &Command, sudo: SudoVia, limit: Option<Duration>) -> String {
    let mut words: Vec<String> = vec!["env".into(), "LC_ALL=C".into()];
    if command.privilege() == Privilege::Sudo {
        match sudo {
            SudoVia::NoPassword => words.extend(["sudo", "-n", "--"].map(String::from)),
            SudoVia::Password => {
                words.extend(["sudo", "-k", "-S", "-p"].map(String::from));
                words.push(sudo_prompt().to_string());
                words.push("--".into());
                // The first thing the command does once sudo let it run: say so on stderr
                // (its input is held back until then, see `feed`).
                words.extend(["sh", "-c", MARKER_SCRIPT].map(String::from));
                words.push(sudo_marker().to_string());
            }
        }
    }
    if let Some(limit) = limit {
        words.extend([
            "timeout".into(),
            "-k".into(),
            KILL_AFTER_SECS.to_string(),
            seconds(limit),
        ]);
    }
    words.extend(command.argv().into_iter().map(String::from));
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The probe that tells whether sudo needs a password for this user, cached credentials
/// ignored: exit 0 when it does not.
pub(crate) fn sudo_probe_line() -> String {
    "env LC_ALL=C sudo -k -n true".to_string()
}

/// The probe that tells whether the host has a usable `timeout`: exit 0 when it does.
pub(crate) fn timeout_probe_line() -> String {
    "env LC_ALL=C timeout 10 true".to_string()
}

/// Whether a finished command's `status`, after `elapsed` of a `limit`, is `timeout`
/// stopping it (a command that itself exits 124, or is killed, early is not).
pub(crate) fn stopped_by_timeout(status: Option<i32>, elapsed: Duration, limit: Duration) -> bool {
    // `None`: killed by a signal. `timeout -k` sends KILL to its process group, itself
    // included, and sudo then ends with the same signal: no status comes back at all.
    status.is_none_or(|s| TIMEOUT_STATUSES.contains(&s)) && elapsed >= limit
}

/// sudo's password prompt for this process: unique, so that no other output is taken for
/// it, and free of `%` (sudo expands `%u`, `%h`, ... in prompts).
pub(crate) fn sudo_prompt() -> &'static str {
    static PROMPT: OnceLock<String> = OnceLock::new();
    PROMPT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = format!("{}:{nanos}", std::process::id());
        let digest = crate::sha::Sha256::of_bytes(seed.as_bytes()).to_string();
        format!("[ihos sudo password {}]", &digest[..16])
    })
}

/// Prints its `$0` (the marker) on stderr, then runs its arguments as they are.
const MARKER_SCRIPT: &str = r#"printf '%s\n' "$0" >&2; exec "$@""#;

/// What a command run through `sudo -S` prints on stderr once sudo let it run (then a
/// line break): unique like the prompt.
pub(crate) fn sudo_marker() -> &'static str {
    static MARKER: OnceLock<String> = OnceLock::new();
    MARKER.get_or_init(|| sudo_prompt().replace("password", "accepted"))
}

/// `limit` as `timeout` reads it: whole seconds, or a decimal fraction (at least 1 ms, as
/// `timeout 0` would mean no limit at all).
fn seconds(limit: Duration) -> String {
    let ms = limit.as_millis().max(1);
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_set_the_locale_sudo_and_the_host_side_limit() {
        let c = Command::new("docker").arg("stop").arg("my app").sudo();
        assert_eq!(
            remote_line(&c, SudoVia::NoPassword, None),
            "env LC_ALL=C sudo -n -- docker stop 'my app'"
        );
        assert_eq!(
            remote_line(&c, SudoVia::NoPassword, Some(Duration::from_secs(300))),
            "env LC_ALL=C sudo -n -- timeout -k 5 300 docker stop 'my app'"
        );
        let line = remote_line(&c, SudoVia::Password, Some(Duration::from_millis(1500)));
        let (prompt, marker) = (shell_quote(sudo_prompt()), shell_quote(sudo_marker()));
        let script = shell_quote(MARKER_SCRIPT);
        assert_eq!(
            line,
            format!(
                "env LC_ALL=C sudo -k -S -p {prompt} -- sh -c {script} {marker} timeout -k 5 1.500 docker stop 'my app'"
            )
        );
        let user = Command::new("id").sudo().with_privilege(Privilege::User);
        assert_eq!(
            remote_line(&user, SudoVia::Password, Some(Duration::ZERO)),
            "env LC_ALL=C timeout -k 5 0.001 id"
        );
    }

    #[test]
    fn the_prompt_is_unique_and_has_nothing_sudo_expands() {
        let p = sudo_prompt();
        assert!(!p.contains('%'), "{p}");
        assert!(p.len() > 30, "{p}");
        assert_eq!(p, sudo_prompt(), "one prompt per process");
        assert_ne!(sudo_marker(), p);
        assert!(!p.contains(sudo_marker()) && !sudo_marker().contains(p));
    }

    #[test]
    fn the_marker_wrapper_runs_the_command_with_its_arguments_and_input() {
        // What sudo runs, minus sudo: the marker on stderr first, then the command as is.
        let c = Command::new("sh")
            .arg("-c")
            .arg("cat; printf ' %s|' \"$@\"")
            .arg("sh")
            .arg("a b")
            .arg("$HOME")
            .sudo();
        let line = remote_line(&c, SudoVia::Password, None);
        let without_sudo = line.split_once(" -- ").unwrap().1;
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(without_sudo)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(b"input")?;
                child.wait_with_output()
            })
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "input a b| $HOME|");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("{}\n", sudo_marker())
        );
    }

    #[test]
    fn only_timeouts_own_statuses_after_the_limit_count_as_stopped() {
        let limit = Duration::from_secs(2);
        assert!(stopped_by_timeout(Some(124), limit, limit));
        assert!(stopped_by_timeout(Some(137), Duration::from_secs(8), limit));
        assert!(!stopped_by_timeout(
            Some(124),
            Duration::from_secs(1),
            limit
        ));
        assert!(!stopped_by_timeout(Some(1), Duration::from_secs(9), limit));
        assert!(stopped_by_timeout(None, Duration::from_secs(9), limit));
        assert!(!stopped_by_timeout(None, Duration::from_secs(1), limit));
    }

    #[test]
    fn the_line_runs_in_a_real_shell_with_the_c_locale_and_stops_at_its_limit() {
        let c = Command::new("sh")
            .arg("-c")
            .arg("echo \"$LC_ALL\"; exec sleep 5");
        let started = std::time::Instant::now();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(remote_line(
                &c,
                SudoVia::NoPassword,
                Some(Duration::from_millis(200)),
            ))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "C\n");
        assert_eq!(out.status.code(), Some(124), "{out:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
