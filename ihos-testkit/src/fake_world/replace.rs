//! ihos-core's whole-file replacement (`transport/remote/replace.rs`, `REPLACE`; a copy of
//! its text: a change there is an unsupported command here until this follows), run as sh
//! runs it, each of its commands a command of this host (see [`super::sh`]).

use ihos_core::{Command, Output, TransportError};

use super::FakeHost;
use super::sh::Sh;

/// ihos-core's `REPLACE`.
const REPLACE: &str = r#"dd of="$2" bs=65536 conv=excl,fsync oflag=nofollow status=none || { rm -f -- "$2"; exit 4; }
s=$(sha256sum -- "$2") || { rm -f -- "$2"; exit 4; }
s=${s%% *}; s=${s#\\}
[ "$s" = "$3" ] || { rm -f -- "$2"; echo "staged $s"; exit 6; }
mv -f -T -- "$2" "$1" || { rm -f -- "$2"; exit 4; }
[ -z "$4" ] || chmod "$4" -- "$1" || exit 5
"#;

/// Runs `command` if it is the replacement; `None` otherwise.
pub(super) async fn run(
    host: &FakeHost,
    command: &Command,
) -> Option<Result<Output, TransportError>> {
    let argv = command.argv();
    let ["sh", "-c", script, "sh", file, tmp, digest, mode] = argv.as_slice() else {
        return None;
    };
    if *script != REPLACE {
        return None;
    }
    let stdin = command.stdin_bytes().unwrap_or_default();
    let mut sh = Sh::new(host, command.privilege());
    Some(sh.replace(file, tmp, digest, mode, stdin).await)
}

impl Sh<'_> {
    async fn replace(
        &mut self,
        file: &str,
        tmp: &str,
        digest: &str,
        mode: &str,
        stdin: &[u8],
    ) -> Result<Output, TransportError> {
        let of = format!("of={tmp}");
        let dd = [
            "dd",
            &of,
            "bs=65536",
            "conv=excl,fsync",
            "oflag=nofollow",
            "status=none",
        ];
        if !self.cmd(&dd, Some(stdin)).await? {
            self.rm(&[tmp]).await?;
            return Ok(self.exit(4));
        }
        match self.sum(tmp).await? {
            None => {
                self.rm(&[tmp]).await?;
                return Ok(self.exit(4));
            }
            Some(d) if d != digest => {
                self.rm(&[tmp]).await?;
                return Ok(self.say(&format!("staged {d}"), 6));
            }
            Some(_) => {}
        }
        if !self.cmd(&["mv", "-f", "-T", "--", tmp, file], None).await? {
            self.rm(&[tmp]).await?;
            return Ok(self.exit(4));
        }
        if !mode.is_empty() && !self.cmd(&["chmod", mode, "--", file], None).await? {
            return Ok(self.exit(5));
        }
        Ok(self.exit(0))
    }
}
