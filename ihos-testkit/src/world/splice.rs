//! Making a new file from an old one and the bytes that differ: the three `dd`s of
//! ihos-core's checked write when it splices (`transport/remote/checked_write.rs`), here
//! one command of their own (`fake_world/checked_write.rs` runs them so), followed by the
//! new file's `sha256sum`. Interpreted as GNU dd does each of its three steps (dd(1), coreutils: `count_bytes`/`skip_bytes`/`seek_bytes` count bytes,
//! not blocks; `conv=excl` fails when anything is at the output's name; without
//! `conv=notrunc` the output is truncated at the seek point, with it never), then
//! `sha256sum`'s line. Any other script is unsupported.

use ihos_core::Output;

use super::fs::{Cred, FsError, normalize};
use super::{HostState, out};
use crate::sha::sha256_hex;

/// The three `dd`s and the digest, as `fake_world/checked_write.rs` runs them.
pub(crate) const SPLICE_SCRIPT: &str = "set -e\n\
dd if=\"$1\" of=\"$2\" bs=65536 count=\"$3\" iflag=count_bytes,nofollow oflag=nofollow conv=excl status=none\n\
dd of=\"$2\" bs=65536 seek=\"$3\" oflag=seek_bytes,nofollow conv=notrunc status=none\n\
dd if=\"$1\" of=\"$2\" bs=65536 skip=\"$4\" seek=\"$5\" iflag=skip_bytes,nofollow oflag=seek_bytes,nofollow conv=notrunc,fsync status=none\n\
sha256sum -- \"$2\"";

fn fail(msg: String) -> Output {
    out(1, "", format!("{msg}\n"))
}

/// Runs the splice script if `argv` is it; `None` otherwise.
pub(crate) fn run(
    h: &mut HostState,
    cred: &Cred,
    argv: &[&str],
    stdin: Option<&[u8]>,
    limit: Option<u64>,
) -> Option<Output> {
    let ["sh", "-c", script, "sh", src, dst, prefix, skip, end] = argv else {
        return None;
    };
    if *script != SPLICE_SCRIPT {
        return None;
    }
    let home = h.home.clone();
    let (src_path, dst_path) = (normalize(src, &home), normalize(dst, &home));
    let number = |s: &str| s.parse::<usize>().ok();
    let (Some(prefix), Some(skip), Some(end)) = (number(prefix), number(skip), number(end)) else {
        return Some(fail(format!("dd: invalid number: {prefix} {skip} {end}")));
    };
    let fs = &mut h.fs;
    if fs.lookup(&dst_path, cred).is_ok() {
        return Some(fail(format!("dd: failed to open '{dst}': File exists")));
    }
    let old = match fs.read(&src_path, cred) {
        Ok(b) => b,
        Err(e) => return Some(fail(format!("dd: failed to open '{src}': {}", e.text()))),
    };
    let mode = fs
        .lookup(&src_path, cred)
        .ok()
        .and_then(|ino| fs.inode(ino))
        .map_or(0o644, |i| i.mode)
        & !0o022;
    // Step 1: the first `prefix` bytes (fewer if the file is shorter).
    let mut new = old[..prefix.min(old.len())].to_vec();
    // Step 2: standard input at `prefix` (a gap is zeros, as a seek past the end makes).
    new.resize(prefix, 0);
    new.extend_from_slice(stdin.unwrap_or_default());
    // Step 3: the old file from `skip` on, written at `end`, nothing truncated.
    let tail = &old[skip.min(old.len())..];
    if new.len() < end + tail.len() {
        new.resize(end + tail.len(), 0);
    }
    new[end..end + tail.len()].copy_from_slice(tail);
    match fs.write(&dst_path, cred, &new, mode, limit) {
        Ok(_) => Some(out(0, format!("{}  {dst}\n", sha256_hex(&new)), "")),
        Err(FsError::NoSpace) => Some(fail(format!(
            "dd: error writing '{dst}': No space left on device"
        ))),
        Err(e) => Some(fail(format!("dd: failed to open '{dst}': {}", e.text()))),
    }
}
