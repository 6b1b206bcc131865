//! What ihos-core's `sh -c` scripts are run with here: their commands, each one a command
//! of the host ([`FakeHost::run_one`]: logged, hit by the faults that match it), and what
//! the script printed so far (its stderr is its commands' stderr, as a real shell's is).
//! A command that does not end (a hang, a dropped connection) ends the script with its
//! error there (a real host's script would go on without its client: ihos-core takes an
//! unanswered script as having done anything it may do, so stopping here hides nothing).

use ihos_core::{Command, Output, Privilege, TransportError};

use super::FakeHost;

/// A script's shell.
pub(super) struct Sh<'a> {
    host: &'a FakeHost,
    privilege: Privilege,
    stdout: String,
    stderr: Vec<u8>,
}

impl<'a> Sh<'a> {
    /// A shell on `host` whose commands run with `privilege` (the script's).
    pub(super) fn new(host: &'a FakeHost, privilege: Privilege) -> Self {
        Sh {
            host,
            privilege,
            stdout: String::new(),
            stderr: Vec::new(),
        }
    }

    /// One command of the script: whether it succeeded.
    pub(super) async fn cmd(
        &mut self,
        argv: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<bool, TransportError> {
        let mut c = Command::new(argv[0])
            .args(argv[1..].iter().copied())
            .with_privilege(self.privilege);
        if let Some(bytes) = stdin {
            c = c.stdin(bytes.to_vec());
        }
        let out = self.host.run_one(&c).await?;
        self.stderr.extend_from_slice(&out.stderr);
        Ok(out.success())
    }

    /// How much stderr the script printed so far.
    pub(super) fn stderr_len(&self) -> usize {
        self.stderr.len()
    }

    /// Forgets the stderr printed after `len` (a `2>/dev/null`).
    pub(super) fn truncate_stderr(&mut self, len: usize) {
        self.stderr.truncate(len);
    }

    /// `COMMAND 2>/dev/null`: whether it succeeded, its stderr thrown away.
    pub(super) async fn quiet(&mut self, argv: &[&str]) -> Result<bool, TransportError> {
        let kept = self.stderr_len();
        let ok = self.cmd(argv, None).await?;
        self.truncate_stderr(kept);
        Ok(ok)
    }

    /// `s=$(sha256sum -- "$1"); s=${s%% *}; d=${s#\\}`: the digest, if `sha256sum`
    /// succeeded.
    pub(super) async fn sum(&mut self, path: &str) -> Result<Option<String>, TransportError> {
        let c = Command::new("sha256sum")
            .args(["--", path])
            .with_privilege(self.privilege);
        let out = self.host.run_one(&c).await?;
        self.stderr.extend_from_slice(&out.stderr);
        if !out.success() {
            return Ok(None);
        }
        let line = out.stdout_text();
        let first = line.split(' ').next().unwrap_or_default();
        Ok(Some(first.strip_prefix('\\').unwrap_or(first).to_string()))
    }

    /// `rm -f -- PATH...` (one command per path here).
    pub(super) async fn rm(&mut self, paths: &[&str]) -> Result<(), TransportError> {
        for p in paths {
            self.cmd(&["rm", "-f", "--", p], None).await?;
        }
        Ok(())
    }

    /// `echo LINE`.
    pub(super) fn echo(&mut self, line: &str) {
        self.stdout.push_str(line);
        self.stdout.push('\n');
    }

    /// `exit STATUS`: the script's output.
    pub(super) fn exit(&mut self, status: i32) -> Output {
        Output {
            status: Some(status),
            stdout: std::mem::take(&mut self.stdout).into_bytes(),
            stderr: std::mem::take(&mut self.stderr),
        }
    }

    /// `echo LINE; exit STATUS`.
    pub(super) fn say(&mut self, line: &str, status: i32) -> Output {
        self.echo(line);
        self.exit(status)
    }
}
