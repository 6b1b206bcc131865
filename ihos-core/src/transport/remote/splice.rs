//! A new file made on the host from an old one there and only the bytes where the new one
//! differs (nginx.conf after a wave's change: a few lines of a file that grows with the
//! fleet), so that a rollout moves O(instances) bytes of config, not O(instances²).
//!
//! One command: `dd` copies the old file's common beginning into the new file (created
//! exclusively, never through a link), appends the differing bytes from standard input,
//! then the old file's common end; `sha256sum` of the result comes back and must be the
//! new bytes' digest (an old file changed meanwhile gives another one: an error, the file
//! is left for the caller to remove, as after [`write_new`]). A host whose `dd` lacks GNU's
//! byte flags makes the script fail: the whole file is then sent as before.

use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::sha::Sha256;
use crate::transport::{Transport, TransportError, run_checked, same_sha256};

use super::write_new;

/// The script: `$1` old file, `$2` new file, `$3` bytes kept from the start, `$4` where the
/// kept end starts in the old file, `$5` where it goes in the new one. Arguments, never
/// text in the script. GNU dd's `count_bytes`, `skip_bytes` and `seek_bytes`.
pub(crate) const SPLICE_SCRIPT: &str = "set -e\n\
dd if=\"$1\" of=\"$2\" bs=65536 count=\"$3\" iflag=count_bytes,nofollow oflag=nofollow conv=excl status=none\n\
dd of=\"$2\" bs=65536 seek=\"$3\" oflag=seek_bytes,nofollow conv=notrunc status=none\n\
dd if=\"$1\" of=\"$2\" bs=65536 skip=\"$4\" seek=\"$5\" iflag=skip_bytes,nofollow oflag=seek_bytes,nofollow conv=notrunc,fsync status=none\n\
sha256sum -- \"$2\"";

/// Below this many bytes saved, the whole file is sent (one command either way, and the
/// plain write is the simpler one).
const MIN_SAVED: usize = 4096;

/// Where `bytes` differs from `previous`: the common beginning's length, where the common
/// end starts in `previous`, and the bytes between.
pub(crate) fn differing<'a>(previous: &[u8], bytes: &'a [u8]) -> (usize, usize, &'a [u8]) {
    let prefix = previous
        .iter()
        .zip(bytes)
        .take_while(|(a, b)| a == b)
        .count();
    let room = previous.len().min(bytes.len()) - prefix;
    let suffix = (previous.iter().rev())
        .zip(bytes.iter().rev())
        .take(room)
        .take_while(|(a, b)| a == b)
        .count();
    (
        prefix,
        previous.len() - suffix,
        &bytes[prefix..bytes.len() - suffix],
    )
}

/// Writes `bytes` to `tmp`, a new file, from `src` (which holds `previous`) and the bytes
/// that differ; the whole of `bytes` when that saves little. Checked by digest there.
pub(crate) async fn splice_new<T: Transport + ?Sized>(
    t: &T,
    src: &RemotePath,
    tmp: &RemotePath,
    previous: &[u8],
    bytes: &[u8],
    privilege: Privilege,
) -> Result<(), TransportError> {
    let (prefix, skip, middle) = differing(previous, bytes);
    if bytes.len() - middle.len() < MIN_SAVED {
        return write_new(t, tmp, bytes, privilege).await;
    }
    let end = prefix + middle.len();
    let cmd = Command::new("sh")
        .args(["-c", SPLICE_SCRIPT, "sh", src.as_str(), tmp.as_str()])
        .args([prefix.to_string(), skip.to_string(), end.to_string()])
        .stdin(middle.to_vec())
        .with_privilege(privilege);
    let out = match run_checked(t, &cmd).await {
        Ok(out) => out,
        // The script failed on the host (a dd without GNU's byte flags, e.g. BusyBox, or
        // a file at the new name): its partial file goes, and the whole file is sent the
        // plain way (which refuses a file at the name as well).
        Err(TransportError::Failed { .. }) => {
            super::remove_quietly(t, tmp, privilege).await;
            return write_new(t, tmp, bytes, privilege).await;
        }
        Err(e) => return Err(e),
    };
    let got = Sha256::from_sha256sum_line(&out.stdout_text()).ok_or_else(|| {
        TransportError::Protocol {
            host: t.host().to_string(),
            command: "sh -c (splice) | sha256sum".into(),
            reason: format!("unexpected output {:?}", out.stdout_text()),
        }
    })?;
    same_sha256(t.host(), tmp, &Sha256::of_bytes(bytes), &got)
}

#[cfg(test)]
mod tests {
    use super::{differing, splice_new};
    use crate::command::Privilege;
    use crate::names::RemotePath;
    use crate::transport::{LocalTransport, TransportError};

    /// A config of `n` servers, one of them (`out`) commented out.
    fn conf(n: usize, out: Option<usize>) -> Vec<u8> {
        let mut c = String::from("http {\n    upstream app {\n");
        for i in 0..n {
            let mark = if Some(i) == out { "#" } else { "" };
            c.push_str(&format!(
                "        {mark}server 10.0.{}.{}:8080;\n",
                i / 250,
                i % 250
            ));
        }
        c.push_str("    }\n}\n");
        c.into_bytes()
    }

    fn path(dir: &tempfile::TempDir, name: &str) -> RemotePath {
        RemotePath::new(dir.path().join(name).to_str().unwrap()).unwrap()
    }

    // The real script, run by the real sh and GNU dd of this machine.
    #[tokio::test]
    async fn the_new_file_is_made_from_the_old_one_and_the_differing_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (src, tmp) = (path(&dir, "nginx.conf"), path(&dir, ".nginx.conf.new"));
        let t = LocalTransport::new("local");
        for (before, after) in [
            (conf(500, None), conf(500, Some(250))),
            (conf(500, Some(0)), conf(500, None)),
            (conf(500, Some(250)), conf(500, Some(251))),
            (conf(500, None), conf(501, None)),
            // Changes far apart: everything between them is sent.
            (conf(500, Some(499)), conf(500, Some(3))),
        ] {
            std::fs::write(src.as_str(), &before).unwrap();
            let _ = std::fs::remove_file(tmp.as_str());
            splice_new(&t, &src, &tmp, &before, &after, Privilege::User)
                .await
                .unwrap();
            assert_eq!(std::fs::read(tmp.as_str()).unwrap(), after);
            let (_, _, middle) = differing(&before, &after);
            let far_apart = before.len() == after.len() && middle.len() > 1000;
            // Otherwise only a few bytes would cross a connection.
            assert!(far_apart || middle.len() < 100, "{}", middle.len());
        }
    }

    #[tokio::test]
    async fn an_old_file_changed_since_it_was_read_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (src, tmp) = (path(&dir, "nginx.conf"), path(&dir, ".nginx.conf.new"));
        let (read, new) = (conf(500, None), conf(500, Some(7)));
        // Someone else's edit since it was read.
        std::fs::write(src.as_str(), conf(500, Some(300))).unwrap();
        let t = LocalTransport::new("local");
        let err = splice_new(&t, &src, &tmp, &read, &new, Privilege::User)
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Checksum { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_link_planted_at_the_new_name_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let (src, tmp) = (path(&dir, "nginx.conf"), path(&dir, ".nginx.conf.new"));
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        std::os::unix::fs::symlink(&victim, tmp.as_str()).unwrap();
        let (before, after) = (conf(500, None), conf(500, Some(1)));
        std::fs::write(src.as_str(), &before).unwrap();
        let t = LocalTransport::new("local");
        // The script refuses the name (dd conv=excl); the fallback removes the link itself
        // (rm never follows one) and creates the file exclusively.
        let written = splice_new(&t, &src, &tmp, &before, &after, Privilege::User).await;
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        if written.is_ok() {
            let meta = std::fs::symlink_metadata(tmp.as_str()).unwrap();
            assert!(meta.file_type().is_file());
            assert_eq!(std::fs::read(tmp.as_str()).unwrap(), after);
        }
    }

    #[test]
    fn the_differing_bytes_are_between_the_common_beginning_and_end() {
        assert_eq!(differing(b"abcXdef", b"abcYYdef"), (3, 4, &b"YY"[..]));
        assert_eq!(differing(b"same", b"same"), (4, 4, &b""[..]));
        assert_eq!(differing(b"", b"new"), (0, 0, &b"new"[..]));
        assert_eq!(differing(b"old", b""), (0, 3, &b""[..]));
        // A repeated byte at the seam is counted once, never twice.
        assert_eq!(differing(b"aa", b"aaa"), (2, 2, &b"a"[..]));
        assert_eq!(differing(b"aXa", b"aa"), (1, 2, &b""[..]));
    }
}
