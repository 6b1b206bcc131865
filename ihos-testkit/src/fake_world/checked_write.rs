//! ihos-core's checked write (`transport/remote/checked_write.rs`, `CHECKED_WRITE`; a copy
//! of its text: a change there is an unsupported command here until this follows), run as
//! sh runs it: each of its commands is a command of this host, logged and hit by the
//! faults that match it (a real host's `dd` runs out of disk inside a script as it does
//! outside one), and the script's status and lines follow from their results as its `||`
//! and tests make them (sh(1p): `$(...)` gives the substituted command's status, `exit` in
//! a function ends the script). Its three splicing `dd`s are one command here, the
//! splice script of `world/splice.rs`.

use ihos_core::{Command, Output, TransportError};

use super::FakeHost;
use super::sh::Sh;
use crate::world::splice::SPLICE_SCRIPT;

/// ihos-core's `CHECKED_WRITE`.
const CHECKED_WRITE: &str = r#"set -f
f=$1 new=$2 read=$3 want=$4 keep=$5 keeptmp=$6 prefix=$7 skip=$8 end=$9
say() { echo "$1"; exit "$2"; }
sum() { s=$(sha256sum -- "$1") || return 1; s=${s%% *}; d=${s#\\}; }
if [ "$read" != - ]; then
  sum "$f" || say 'failed digest' 4
  [ "$d" = "$read" ] || say "now $d" 3
fi
if [ "$prefix" = - ]; then
  dd of="$new" bs=65536 conv=excl,fsync oflag=nofollow status=none || { rm -f -- "$new"; say 'failed stage' 4; }
else
  { dd if="$f" of="$new" bs=65536 count="$prefix" iflag=count_bytes,nofollow oflag=nofollow conv=excl status=none &&
    dd of="$new" bs=65536 seek="$prefix" oflag=seek_bytes,nofollow conv=notrunc status=none &&
    dd if="$f" of="$new" bs=65536 skip="$skip" seek="$end" iflag=skip_bytes,nofollow oflag=seek_bytes,nofollow conv=notrunc,fsync status=none
  } || { rm -f -- "$new"; say 'failed splice' 5; }
fi
sum "$new" || { rm -f -- "$new"; say 'failed digest' 4; }
[ "$d" = "$want" ] || { rm -f -- "$new"; say "staged $d" 6; }
if [ -n "$keep" ]; then
  dd if="$f" of="$keeptmp" bs=1048576 iflag=nofollow oflag=nofollow conv=excl,fsync status=none || { rm -f -- "$keeptmp" "$new"; say 'failed backup' 4; }
  sum "$keeptmp" || { rm -f -- "$keeptmp" "$new"; say 'failed digest' 4; }
  [ "$d" = "$read" ] || { rm -f -- "$keeptmp" "$new"; say "now $d" 3; }
  mv -f -T -- "$keeptmp" "$keep" || { rm -f -- "$keeptmp"; echo unkept; }
fi
dd if="$new" of="$f" bs=65536 oflag=nofollow conv=fsync status=none || { rm -f -- "$new"; say 'failed write' 7; }
rm -f -- "$new"
sum "$f" || say 'failed digest' 7
[ "$d" = "$want" ] || say "landed $d" 8
"#;

/// Runs `command` if it is the checked write; `None` otherwise. An inner command that does
/// not end (a hang, a dropped connection) ends the whole with its error.
pub(super) async fn run(
    host: &FakeHost,
    command: &Command,
) -> Option<Result<Output, TransportError>> {
    let argv = command.argv();
    let [
        "sh",
        "-c",
        script,
        "sh",
        f,
        new,
        read,
        want,
        keep,
        keep_tmp,
        prefix,
        skip,
        end,
    ] = argv.as_slice()
    else {
        return None;
    };
    if *script != CHECKED_WRITE {
        return None;
    }
    let mut sh = Sh::new(host, command.privilege());
    let args = Args {
        f,
        new,
        read,
        want,
        keep,
        keep_tmp,
        splice: (*prefix != "-").then_some([*prefix, *skip, *end]),
    };
    let stdin = command.stdin_bytes().unwrap_or_default();
    Some(sh.checked_write(&args, stdin).await)
}

struct Args<'a> {
    f: &'a str,
    new: &'a str,
    read: &'a str,
    want: &'a str,
    keep: &'a str,
    keep_tmp: &'a str,
    splice: Option<[&'a str; 3]>,
}

impl Sh<'_> {
    async fn checked_write(
        &mut self,
        a: &Args<'_>,
        stdin: &[u8],
    ) -> Result<Output, TransportError> {
        if a.read != "-" {
            match self.sum(a.f).await? {
                None => return Ok(self.say("failed digest", 4)),
                Some(d) if d != a.read => return Ok(self.say(&format!("now {d}"), 3)),
                Some(_) => {}
            }
        }
        let of_new = format!("of={}", a.new);
        match a.splice {
            None => {
                let dd = [
                    "dd",
                    &of_new,
                    "bs=65536",
                    "conv=excl,fsync",
                    "oflag=nofollow",
                    "status=none",
                ];
                if !self.cmd(&dd, Some(stdin)).await? {
                    self.rm(&[a.new]).await?;
                    return Ok(self.say("failed stage", 4));
                }
            }
            Some([prefix, skip, end]) => {
                let splice = [
                    "sh",
                    "-c",
                    SPLICE_SCRIPT,
                    "sh",
                    a.f,
                    a.new,
                    prefix,
                    skip,
                    end,
                ];
                if !self.cmd(&splice, Some(stdin)).await? {
                    self.rm(&[a.new]).await?;
                    return Ok(self.say("failed splice", 5));
                }
            }
        }
        match self.sum(a.new).await? {
            None => {
                self.rm(&[a.new]).await?;
                return Ok(self.say("failed digest", 4));
            }
            Some(d) if d != a.want => {
                self.rm(&[a.new]).await?;
                return Ok(self.say(&format!("staged {d}"), 6));
            }
            Some(_) => {}
        }
        if !a.keep.is_empty() {
            let (if_f, of_tmp) = (format!("if={}", a.f), format!("of={}", a.keep_tmp));
            let dd = [
                "dd",
                &if_f,
                &of_tmp,
                "bs=1048576",
                "iflag=nofollow",
                "oflag=nofollow",
                "conv=excl,fsync",
                "status=none",
            ];
            if !self.cmd(&dd, None).await? {
                self.rm(&[a.keep_tmp, a.new]).await?;
                return Ok(self.say("failed backup", 4));
            }
            match self.sum(a.keep_tmp).await? {
                None => {
                    self.rm(&[a.keep_tmp, a.new]).await?;
                    return Ok(self.say("failed digest", 4));
                }
                Some(d) if d != a.read => {
                    self.rm(&[a.keep_tmp, a.new]).await?;
                    return Ok(self.say(&format!("now {d}"), 3));
                }
                Some(_) => {}
            }
            let mv = ["mv", "-f", "-T", "--", a.keep_tmp, a.keep];
            if !self.cmd(&mv, None).await? {
                self.rm(&[a.keep_tmp]).await?;
                self.echo("unkept");
            }
        }
        let (if_new, of_f) = (format!("if={}", a.new), format!("of={}", a.f));
        let dd = [
            "dd",
            &if_new,
            &of_f,
            "bs=65536",
            "oflag=nofollow",
            "conv=fsync",
            "status=none",
        ];
        if !self.cmd(&dd, None).await? {
            self.rm(&[a.new]).await?;
            return Ok(self.say("failed write", 7));
        }
        self.rm(&[a.new]).await?;
        match self.sum(a.f).await? {
            None => Ok(self.say("failed digest", 7)),
            Some(d) if d != a.want => Ok(self.say(&format!("landed {d}"), 8)),
            Some(_) => Ok(self.exit(0)),
        }
    }
}
