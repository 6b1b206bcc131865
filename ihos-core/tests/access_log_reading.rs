//! Reading an access log on its host incrementally (`read_new`), on real files through a
//! `LocalTransport` (the same `stat` and `dd` commands an SSH host runs): appends, a
//! rotation as logrotate's default `create` mode does it (rename to `.1`, new file), a
//! `copytruncate` rotation, a rotation the cursor cannot follow, and a link planted where
//! the log should be.

use std::io::Write;
use std::path::Path;

use ihos_core::{LocalTransport, LogCursor, Privilege, RemotePath, read_new};

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

async fn read(
    t: &LocalTransport,
    path: &Path,
    cursor: Option<LogCursor>,
    with_rotated: bool,
) -> (LogCursor, ihos_core::LogRead, String) {
    let remote = RemotePath::new(path.to_str().unwrap()).unwrap();
    let mut got = Vec::new();
    let (c, r) = read_new(
        t,
        &remote,
        Privilege::User,
        cursor,
        with_rotated,
        &mut |b| got.extend_from_slice(b),
    )
    .await
    .unwrap();
    (c, r, String::from_utf8(got).unwrap())
}

#[tokio::test]
async fn appends_are_read_once_and_a_create_rotation_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let t = LocalTransport::new("lb");
    append(&log, "a\nb\n");
    let (c1, _, text) = read(&t, &log, None, false).await;
    assert_eq!(text, "a\nb\n");
    append(&log, "c\n");
    let (c2, r2, text) = read(&t, &log, Some(c1), false).await;
    assert_eq!((text.as_str(), r2.followed_rotation), ("c\n", false));
    // logrotate (create): the file is renamed, nginx writes on to it until it reopens
    // (USR1), then to a new file.
    append(&log, "d\n");
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    append(&dir.path().join("access.log.1"), "e\n");
    append(&log, "f\n");
    let (c3, r3, text) = read(&t, &log, Some(c2), false).await;
    assert_eq!(text, "d\ne\nf\n");
    assert!(r3.followed_rotation && r3.gap.is_none());
    let (_, r4, text) = read(&t, &log, Some(c3), false).await;
    assert_eq!((text.as_str(), r4.bytes), ("", 0));
}

#[tokio::test]
async fn a_truncated_or_twice_rotated_log_is_read_from_its_start_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let t = LocalTransport::new("lb");
    append(&log, "one line that is long\n");
    let (c, _, _) = read(&t, &log, None, false).await;
    // copytruncate: same file, emptied, then written again.
    std::fs::write(&log, "x\n").unwrap();
    let (c, r, text) = read(&t, &log, Some(c), false).await;
    assert_eq!(text, "x\n");
    assert!(r.gap.unwrap().contains("truncated"));
    // Rotated twice: access.log.1 is not the file the cursor was in.
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    std::fs::remove_file(dir.path().join("access.log.1")).unwrap();
    std::fs::write(dir.path().join("access.log.1"), "another file\n").unwrap();
    append(&log, "y\n");
    let (_, r, text) = read(&t, &log, Some(c), false).await;
    assert_eq!(text, "y\n");
    // Said either way: the inode may have been reused by the new file (then only the
    // fingerprint of the first bytes tells it apart).
    let gap = r.gap.unwrap();
    assert!(gap.contains("rotated") || gap.contains("replaced"), "{gap}");
}

#[tokio::test]
async fn the_whole_log_with_its_rotated_file_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let t = LocalTransport::new("lb");
    append(&dir.path().join("access.log.1"), "old\n");
    append(&log, "new\n");
    let (_, r, text) = read(&t, &log, None, true).await;
    assert_eq!(text, "old\nnew\n");
    assert!(r.followed_rotation);
    let (_, _, text) = read(&t, &log, None, false).await;
    assert_eq!(text, "new\n");
}

#[tokio::test]
async fn a_link_where_the_log_should_be_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "root:x:0:0\n").unwrap();
    let log = dir.path().join("access.log");
    std::os::unix::fs::symlink(&secret, &log).unwrap();
    let t = LocalTransport::new("lb");
    let remote = RemotePath::new(log.to_str().unwrap()).unwrap();
    let mut got = Vec::new();
    let e = read_new(&t, &remote, Privilege::User, None, false, &mut |b| {
        got.extend_from_slice(b)
    })
    .await
    .unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    assert!(got.is_empty());
    let missing = RemotePath::new(dir.path().join("none.log").to_str().unwrap()).unwrap();
    let e = read_new(&t, &missing, Privilege::User, None, false, &mut |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");
}

#[tokio::test]
async fn chunks_larger_than_one_command_arrive_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let line = "x".repeat(999) + "\n";
    let text = line.repeat(9 * 1024); // 9 MB: three dd commands
    std::fs::write(&log, &text).unwrap();
    let t = LocalTransport::new("lb");
    let (c, r, got) = read(&t, &log, None, false).await;
    assert_eq!(got.len(), text.len());
    assert_eq!((c.offset, r.bytes), (text.len() as u64, text.len() as u64));
}
