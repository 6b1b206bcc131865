//! Whole files on a host, as root where others may write: new files created exclusively,
//! copies and renames that never follow a link, replacements never seen half-written.

use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::sha::Sha256;
use crate::transport::{Transport, TransportError, expect_sha256, run_checked};

use super::temp_path;

/// Copies `src` to `dst` through a temporary name in `dst`'s directory, then renames it, so
/// `dst` is never seen half-written. As root in directories others may write (webapps is
/// the container's): the temporary file is created exclusively (a file or link already at
/// its name is an error, never written through), the source is not read through a link,
/// and the rename replaces `dst` itself, never a directory or a link's target. The
/// temporary name does not end in `.war` (Tomcat deploys every `*.war` it finds).
pub(crate) async fn copy_atomic(
    t: &dyn Transport,
    src: &RemotePath,
    dst: &RemotePath,
) -> Result<(), TransportError> {
    let tmp = temp_path(dst)?;
    let copied = run_checked(t, &copy_to_new(src, &tmp, Privilege::Sudo)).await;
    let moved = match copied {
        Ok(_) => {
            run_checked(
                t,
                &Command::new("mv")
                    .args(["-f", "-T", "--", tmp.as_str(), dst.as_str()])
                    .sudo(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    if moved.is_err() {
        // A copy cut short (full disk, lost connection) leaves no stray file next to the
        // target, when the host can still be reached.
        remove_quietly(t, &tmp, Privilege::Sudo).await;
    }
    moved.map(|_| ())
}

/// `dd` copying `src` into `tmp`, a new file: created exclusively (a file or link already
/// at its name is an error, never written through), the source not read through a link.
pub(crate) fn copy_to_new(src: &RemotePath, tmp: &RemotePath, privilege: Privilege) -> Command {
    Command::new("dd")
        .args([
            format!("if={src}"),
            format!("of={tmp}"),
            "bs=1048576".into(),
            "iflag=nofollow".into(),
            "oflag=nofollow".into(),
            "conv=excl,fsync".into(),
            "status=none".into(),
        ])
        .with_privilege(privilege)
}

/// Copies `src` into `tmp`, a new file, on the host (no byte crosses the connection), and
/// checks that the copy holds `expected` (`src` may have changed meanwhile: then it is an
/// error, and the copy is left for the caller to remove).
pub(crate) async fn copy_new<T: Transport + ?Sized>(
    t: &T,
    src: &RemotePath,
    tmp: &RemotePath,
    expected: &Sha256,
    privilege: Privilege,
) -> Result<(), TransportError> {
    run_checked(t, &copy_to_new(src, tmp, privilege)).await?;
    expect_sha256(t, tmp, expected, privilege).await
}

/// Renames `tmp` over `path` (`mv -T`: `path` itself is replaced, never a directory or a
/// link's target there).
pub(crate) async fn rename_over<T: Transport + ?Sized>(
    t: &T,
    tmp: &RemotePath,
    path: &RemotePath,
    privilege: Privilege,
) -> Result<(), TransportError> {
    let mv = Command::new("mv")
        .args(["-f", "-T", "--", tmp.as_str(), path.as_str()])
        .with_privilege(privilege);
    run_checked(t, &mv).await.map(|_| ())
}

/// Copies `staged` onto the existing file `path`: `dd` truncates and rewrites it, so it
/// keeps its inode, owner and mode (a bind mount into a container keeps seeing it).
/// `nofollow`: a link planted at `path` (by whoever can write its directory) is an error,
/// never written through as root.
pub(crate) async fn copy_in_place<T: Transport + ?Sized>(
    t: &T,
    staged: &RemotePath,
    path: &RemotePath,
    privilege: Privilege,
) -> Result<(), TransportError> {
    let dd = Command::new("dd")
        .args([
            format!("if={staged}"),
            format!("of={path}"),
            "bs=65536".into(),
            "oflag=nofollow".into(),
            "conv=fsync".into(),
            "status=none".into(),
        ])
        .with_privilege(privilege);
    run_checked(t, &dd).await.map(|_| ())
}

/// Writes `bytes` to `tmp`, a new file: created exclusively (whatever is at the name
/// already, a link planted by whoever can write the directory, is an error, never written
/// through) and checked by its digest there.
pub(crate) async fn write_new<T: Transport + ?Sized>(
    t: &T,
    tmp: &RemotePath,
    bytes: &[u8],
    privilege: Privilege,
) -> Result<(), TransportError> {
    let dd = Command::new("dd")
        .args([
            format!("of={tmp}"),
            "bs=65536".into(),
            "conv=excl,fsync".into(),
            "oflag=nofollow".into(),
            "status=none".into(),
        ])
        .stdin(bytes.to_vec())
        .with_privilege(privilege);
    run_checked(t, &dd).await?;
    expect_sha256(t, tmp, &Sha256::of_bytes(bytes), privilege).await
}

/// `rm -f` that only tries: the cleanup after a failure, when the host may be out of
/// reach. `rm` removes a link itself, never its target.
pub(crate) async fn remove_quietly<T: Transport + ?Sized>(
    t: &T,
    path: &RemotePath,
    privilege: Privilege,
) {
    let rm = Command::new("rm")
        .args(["-f", "--", path.as_str()])
        .with_privilege(privilege);
    let _ = t.run(&rm).await;
}
