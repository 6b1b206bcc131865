//! ihos-core's `READ_REGULAR_FROM` and `SHA256_IF_REGULAR` (copies of its text: a change
//! there is an unsupported command here until this follows), run as POSIX sh runs them:
//! `test -h` is false on this file system (it has no links), `-e` says whether the path
//! is there, `-f` whether it is a regular file (here: not a directory), then `dd` reads
//! the range or `sha256sum` hashes the file.

use ihos_core::Output;

use super::fs::Cred;
use super::{HostState, out, shell};
use crate::clock::VirtualTime;

/// ihos-core's `if_regular!()`, the start of both scripts.
macro_rules! if_regular {
    () => {
        "[ -h \"$1\" ] && exit 3; [ -e \"$1\" ] || exit 0; [ -f \"$1\" ] || exit 3; "
    };
}

/// ihos-core's `READ_REGULAR_FROM`.
pub(crate) const READ_REGULAR_FROM: &str = concat!(
    if_regular!(),
    "exec dd if=\"$1\" iflag=skip_bytes,count_bytes,nofollow,nonblock skip=\"$2\" count=\"$3\" status=none"
);

/// ihos-core's `SHA256_IF_REGULAR`.
pub(crate) const SHA256_IF_REGULAR: &str = concat!(if_regular!(), "exec sha256sum -- \"$1\"");

/// `sh -c READ_REGULAR_FROM sh PATH SKIP COUNT` or `sh -c SHA256_IF_REGULAR sh PATH` on
/// `h`; `None`: neither script.
pub(crate) fn run(
    h: &mut HostState,
    cred: &Cred,
    argv: &[&str],
    limit: Option<u64>,
    now: VirtualTime,
) -> Option<Output> {
    let (path, then): (&str, Vec<String>) = match argv {
        ["sh", "-c", script, "sh", path, skip, count] if *script == READ_REGULAR_FROM => (
            path,
            vec![
                "dd".into(),
                format!("if={path}"),
                "iflag=skip_bytes,count_bytes,nofollow,nonblock".into(),
                format!("skip={skip}"),
                format!("count={count}"),
                "status=none".into(),
            ],
        ),
        ["sh", "-c", script, "sh", path] if *script == SHA256_IF_REGULAR => (
            path,
            vec!["sha256sum".into(), "--".into(), path.to_string()],
        ),
        _ => return None,
    };
    let mut sh = |args: Vec<String>| shell::run(h, cred, &args, None, limit, now);
    let test = |flag: &str| vec!["test".into(), flag.into(), path.to_string()];
    if !sh(test("-e"))?.success() {
        return Some(out(0, "", ""));
    }
    if !sh(test("-f"))?.success() {
        return Some(out(3, "", ""));
    }
    sh(then)
}
