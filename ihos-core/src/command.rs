//! Typed remote commands and the one function that turns them into a shell line.
//!
//! Nothing in ihos concatenates raw strings into a command line: a [`Command`] holds a
//! program and its arguments, and [`Command::to_shell_line`] quotes each of them for a POSIX
//! shell (what sshd runs a command with).

use std::fmt;
use std::time::Duration;

/// How a command gets root rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Privilege {
    /// Run as the logged-in user.
    #[default]
    User,
    /// Through `sudo`.
    Sudo,
}

/// Time a command may run when it sets no timeout of its own ([`Command::timeout`]), for
/// transports without a configured default (`LocalTransport`, the fake hosts, and a
/// third-party [`Transport`](crate::Transport) should apply it too; `SshTransport` uses its
/// `command_timeout` option): no command waits forever on a stuck connection.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// A program with typed arguments, to run on a host.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    program: String,
    args: Vec<String>,
    privilege: Privilege,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
    cut_off_when_abandoned: bool,
}

impl Command {
    /// A command running `program` (a name looked up in `PATH`, or an absolute path).
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            privilege: Privilege::User,
            stdin: None,
            timeout: None,
            cut_off_when_abandoned: false,
        }
    }

    /// Appends one argument (passed as one word, whatever it contains).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs it through `sudo`.
    pub fn sudo(mut self) -> Self {
        self.privilege = Privilege::Sudo;
        self
    }

    /// Sets the privilege.
    pub fn with_privilege(mut self, privilege: Privilege) -> Self {
        self.privilege = privilege;
        self
    }

    /// Bytes for the command's standard input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Fails the command with a timeout error if it runs longer (without one, the
    /// transport's default applies, e.g. [`DEFAULT_COMMAND_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Stopped at once when its caller stops waiting for it (a hook that a stop request
    /// ends), where a command is otherwise let run to its end for a moment, its output
    /// thrown away: an SSH session whose command is cut off mid-run is lost (sshd closes
    /// a channel only once its command has exited), and most commands end within it.
    pub fn cut_off_when_abandoned(mut self) -> Self {
        self.cut_off_when_abandoned = true;
        self
    }

    /// Whether [`Command::cut_off_when_abandoned`] was asked for.
    pub fn is_cut_off_when_abandoned(&self) -> bool {
        self.cut_off_when_abandoned
    }

    /// The program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The arguments.
    pub fn arguments(&self) -> &[String] {
        &self.args
    }

    /// Whether it runs through sudo.
    pub fn privilege(&self) -> Privilege {
        self.privilege
    }

    /// The standard input, if any.
    pub fn stdin_bytes(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }

    /// The timeout, if any.
    pub fn timeout_value(&self) -> Option<Duration> {
        self.timeout
    }

    /// Program and arguments, without sudo: the argv the command runs with.
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }

    /// The shell line for this command. With sudo: `sudo -n -- prog args` (fails at once
    /// when a password is needed) or, when a password will be written to stdin,
    /// `sudo -S -p '' -- prog args`.
    pub fn to_shell_line(&self, sudo_password_on_stdin: bool) -> String {
        let mut words: Vec<&str> = Vec::new();
        if self.privilege == Privilege::Sudo {
            if sudo_password_on_stdin {
                words.extend(["sudo", "-S", "-p", "", "--"]);
            } else {
                words.extend(["sudo", "-n", "--"]);
            }
        }
        words.push(&self.program);
        words.extend(self.args.iter().map(String::as_str));
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Shows the command as it would run, for messages and logs. Standard input is not shown
/// (it may be a secret or a file).
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_shell_line(false))
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("line", &self.to_shell_line(false))
            .field("stdin_bytes", &self.stdin.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Quotes one word for a POSIX shell: safe words stay as they are, anything else goes in
/// single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if safe {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// What a finished command returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Exit status; `None` if it was killed by a signal.
    pub status: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text, trimmed (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_every_argument_one_word() {
        assert_eq!(shell_quote("abc-1.2/x:y"), "abc-1.2/x:y");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote("a;b|c&d`e`"), "'a;b|c&d`e`'");
        assert_eq!(shell_quote("line\nbreak"), "'line\nbreak'");
    }

    #[test]
    fn sudo_is_non_interactive_by_default() {
        let c = Command::new("docker")
            .arg("stop")
            .arg("my container")
            .sudo();
        assert_eq!(
            c.to_shell_line(false),
            "sudo -n -- docker stop 'my container'"
        );
        assert_eq!(
            c.to_shell_line(true),
            "sudo -S -p '' -- docker stop 'my container'"
        );
        assert_eq!(c.to_string(), "sudo -n -- docker stop 'my container'");
    }

    #[test]
    fn quoted_line_round_trips_through_a_real_shell() {
        let nasty = [
            "plain",
            "with space",
            "it's",
            "$HOME",
            "`id`",
            "a\"b",
            "*",
            "",
            "new\nline",
            "\\",
        ];
        let c = Command::new("printf").arg("%s\\0").args(nasty);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(c.to_shell_line(false))
            .output()
            .unwrap();
        let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        let want: Vec<&[u8]> = nasty
            .iter()
            .map(|s| s.as_bytes())
            .chain(std::iter::once(&b""[..]))
            .collect();
        assert_eq!(got, want);
    }
}
