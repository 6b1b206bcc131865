//! ihos-core's lock scripts (`rollout/lock_script.rs`, `TAKE` and `GIVE_BACK`; copies of
//! their text: a change there is an unsupported command here until this follows), run as
//! sh runs them, each of their commands a command of this host (see [`super::sh`]).

use ihos_core::{Command, Output, TransportError};

use super::FakeHost;
use super::sh::Sh;

/// ihos-core's `TAKE`.
const TAKE: &str = r#"mkdir -p -- "$1" || exit 4
mkdir -- "$2" 2>/dev/null || { [ -d "$2" ] && exit 3; mkdir -- "$2" || exit 4; }
chmod 0700 -- "$2" && dd of="$3" bs=65536 conv=excl,fsync oflag=nofollow status=none &&
  s=$(sha256sum -- "$3") && s=${s%% *} && [ "${s#\\}" = "$4" ] || { rm -rf -- "$2"; exit 5; }
"#;

/// ihos-core's `GIVE_BACK`.
const GIVE_BACK: &str = r#"[ -d "$1" ] || exit 3
s=$(sha256sum -- "$2" 2>/dev/null) && s=${s%% *} && [ "${s#\\}" = "$3" ] || exit 3
exec rm -rf -- "$1"
"#;

/// Runs `command` if it is one of the lock scripts; `None` otherwise.
pub(super) async fn run(
    host: &FakeHost,
    command: &Command,
) -> Option<Result<Output, TransportError>> {
    let argv = command.argv();
    let mut sh = Sh::new(host, command.privilege());
    match argv.as_slice() {
        ["sh", "-c", script, "sh", state, dir, owner, digest] if *script == TAKE => {
            let stdin = command.stdin_bytes().unwrap_or_default();
            Some(sh.take(state, dir, owner, digest, stdin).await)
        }
        ["sh", "-c", script, "sh", dir, owner, digest] if *script == GIVE_BACK => {
            Some(sh.give_back(dir, owner, digest).await)
        }
        _ => None,
    }
}

impl Sh<'_> {
    async fn take(
        &mut self,
        state: &str,
        dir: &str,
        owner: &str,
        digest: &str,
        stdin: &[u8],
    ) -> Result<Output, TransportError> {
        if !self.cmd(&["mkdir", "-p", "--", state], None).await? {
            return Ok(self.exit(4));
        }
        if !self.quiet(&["mkdir", "--", dir]).await? {
            if self.cmd(&["test", "-d", dir], None).await? {
                return Ok(self.exit(3));
            }
            if !self.cmd(&["mkdir", "--", dir], None).await? {
                return Ok(self.exit(4));
            }
        }
        let dd = [
            "dd",
            &format!("of={owner}"),
            "bs=65536",
            "conv=excl,fsync",
            "oflag=nofollow",
            "status=none",
        ];
        let owned = self.cmd(&["chmod", "0700", "--", dir], None).await?
            && self.cmd(&dd, Some(stdin)).await?
            && self.sum(owner).await?.as_deref() == Some(digest);
        if !owned {
            self.cmd(&["rm", "-rf", "--", dir], None).await?;
            return Ok(self.exit(5));
        }
        Ok(self.exit(0))
    }

    async fn give_back(
        &mut self,
        dir: &str,
        owner: &str,
        digest: &str,
    ) -> Result<Output, TransportError> {
        if !self.cmd(&["test", "-d", dir], None).await? {
            return Ok(self.exit(3));
        }
        let kept = self.stderr_len();
        let sum = self.sum(owner).await?;
        self.truncate_stderr(kept);
        if sum.as_deref() != Some(digest) {
            return Ok(self.exit(3));
        }
        let ok = self.cmd(&["rm", "-rf", "--", dir], None).await?;
        Ok(self.exit(if ok { 0 } else { 1 }))
    }
}
