//! Writing a file in place, checked, as one command: the file is still what was read, the
//! new bytes are staged beside it and checked, the old ones kept as a backup, the staged
//! bytes copied onto the file (same inode: a bind mount into a container keeps seeing it)
//! and the result checked. One round trip where one after the other the steps took seven
//! (each nginx change is on the rollout's critical path, one per transition).
//!
//! The script stops at the first thing that is not as it should be and says, by its exit
//! status, whether the file was touched: [`CheckedWriteError::Changed`] and
//! [`CheckedWriteError::Untouched`] before anything was written to it,
//! [`CheckedWriteError::Written`] after (the caller puts the old bytes back). A failure of
//! the copy onto the file (status 7: the script has ended) is settled by the file's
//! digest: the old bytes, untouched (a link there refused at its open). A command whose
//! answer never came (a dropped connection, a timeout) or that ended in a way the script
//! never ends is taken as written: sshd does not stop a command whose client is gone, so
//! the script may still be writing the file, and the old bytes are put back (an orphan
//! still writing after that is not waited for: it ends within its few commands' time).
//! One that was never sent (no session, no login, sudo refusing) is untouched.

use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::sha::Sha256;
use crate::transport::{Transport, TransportError, command_failed, expect_sha256, remote_sha256};

use super::splice::{MIN_SAVED, differing};
use super::{copy_in_place, copy_new, remove_quietly, rename_over, temp_path, write_new};

/// `sh -c CHECKED_WRITE sh FILE STAGED READ WANT BACKUP BACKUP_TMP PREFIX SKIP END`.
///
/// READ: the file's digest when read (`-`: not checked); WANT: the new bytes' digest;
/// BACKUP (empty: none) and the name it is staged under; PREFIX `-`: standard input is the
/// whole new file; otherwise the new file is the old one's first PREFIX bytes, standard
/// input, then the old one from byte SKIP on, written at END (only the bytes that differ
/// cross the connection: GNU dd's `count_bytes`, `skip_bytes`, `seek_bytes`).
///
/// Files are created exclusively and opened with `nofollow` (a link planted at any of the
/// names is an error, never written through as root); the backup's digest is the file's
/// as read (a file changed meanwhile is caught again just before the in-place copy). Exit
/// status: 0 written (`unkept` printed if the backup could not be renamed in place), 3 the
/// file changed (`now DIGEST`), 4 failed before the file was touched (`failed STEP`), 5
/// the splice failed (a `dd` without GNU's byte flags: nothing touched, send it whole), 6
/// the staged file is not the new bytes (`staged DIGEST`), 7 failed after the file was
/// touched (`failed STEP`), 8 the file is not the new bytes after the copy (`landed
/// DIGEST`). `set -f`: no globbing of a digest line. POSIX sh: dash, bash, BusyBox.
pub(crate) const CHECKED_WRITE: &str = r#"set -f
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

/// A checked write of `bytes` over `path`.
pub(crate) struct CheckedWrite<'a> {
    /// The file: it must exist (its inode stays).
    pub path: &'a RemotePath,
    /// What the file must still hold (`None`: whatever it holds). Also the backup's bytes.
    pub previous: Option<&'a [u8]>,
    /// The new bytes.
    pub bytes: &'a [u8],
    /// Where the old bytes are kept (needs `previous`).
    pub backup: Option<&'a RemotePath>,
    /// Root or the login user.
    pub privilege: Privilege,
}

/// Why the new bytes are not in the file.
#[derive(Debug)]
pub(crate) enum CheckedWriteError {
    /// The file is no longer `previous` (someone else's edit): nothing was written.
    Changed {
        /// Its digest now.
        now: String,
    },
    /// Failed before anything was written to the file.
    Untouched(TransportError),
    /// The file may hold part of the new bytes, or they are not what landed.
    Written(TransportError),
}

/// What a successful write says besides.
#[derive(Debug, Default)]
pub(crate) struct WriteDone {
    /// The backup could not be put in place (the change stands without it).
    pub backup_not_kept: bool,
}

/// The status of a command that could not be found (POSIX sh, and transports that mimic
/// it): `sh` itself.
const NO_SHELL: i32 = 127;

/// The exit statuses of [`CHECKED_WRITE`].
mod status {
    pub(super) const CHANGED: i32 = 3;
    pub(super) const UNTOUCHED: i32 = 4;
    pub(super) const SPLICE: i32 = 5;
    pub(super) const STAGED: i32 = 6;
    pub(super) const WRITTEN: i32 = 7;
    pub(super) const LANDED: i32 = 8;
}

impl CheckedWrite<'_> {
    /// Runs the write (again with the whole file if the host cannot splice).
    pub(crate) async fn run<T: Transport + ?Sized>(
        &self,
        t: &T,
    ) -> Result<WriteDone, CheckedWriteError> {
        let untouched = CheckedWriteError::Untouched;
        let staged = temp_path(self.path).map_err(untouched)?;
        let backup = match (self.backup, self.previous) {
            (Some(path), Some(_)) => Some((path, temp_path(path).map_err(untouched)?)),
            _ => None,
        };
        let splice = self
            .previous
            .map(|previous| differing(previous, self.bytes))
            .filter(|(_, _, middle)| self.bytes.len() - middle.len() >= MIN_SAVED);
        let mut result = self.once(t, &staged, backup.as_ref(), splice).await;
        if matches!(result, Err(Attempt::SpliceFailed)) {
            result = self.once(t, &staged, backup.as_ref(), None).await;
        }
        if matches!(result, Err(Attempt::NoShell)) {
            result = self.step_by_step(t, &staged, backup.as_ref()).await;
        }
        match result {
            Ok(done) => Ok(done),
            Err(failure) => Err(self.settle(t, failure).await),
        }
    }

    /// One run of the script.
    async fn once<T: Transport + ?Sized>(
        &self,
        t: &T,
        staged: &RemotePath,
        backup: Option<&(&RemotePath, RemotePath)>,
        splice: Option<(usize, usize, &[u8])>,
    ) -> Result<WriteDone, Attempt> {
        let read = self
            .previous
            .map_or_else(|| "-".to_string(), |p| Sha256::of_bytes(p).to_string());
        let want = Sha256::of_bytes(self.bytes);
        let (keep, keep_tmp) = match backup {
            Some((path, tmp)) => (path.to_string(), tmp.to_string()),
            None => (String::new(), String::new()),
        };
        let (range, stdin) = match splice {
            Some((prefix, skip, middle)) => {
                let end = prefix + middle.len();
                ([prefix, skip, end].map(|n| n.to_string()), middle)
            }
            None => (["-", "0", "0"].map(String::from), self.bytes),
        };
        let cmd = Command::new("sh")
            .args([
                "-c",
                CHECKED_WRITE,
                "sh",
                self.path.as_str(),
                staged.as_str(),
            ])
            .args([read, want.to_string(), keep, keep_tmp])
            .args(range)
            .stdin(stdin.to_vec())
            .with_privilege(self.privilege);
        let out = match t.run(&cmd).await {
            Ok(out) => out,
            // Never sent: no session, no login, a host key refused, a name refused.
            Err(
                e @ (TransportError::Connect { .. }
                | TransportError::Auth { .. }
                | TransportError::HostKey { .. }
                | TransportError::InvalidName(_)),
            ) => return Err(Attempt::Untouched(e)),
            Err(e) => return Err(Attempt::Unknown(e)),
        };
        let said = out.stdout_text();
        // What the script says last (an `unkept` line may come before).
        let said = said.trim_end().lines().last().unwrap_or_default();
        let digest = |prefix: &str| said.strip_prefix(prefix).unwrap_or("?").to_string();
        let checksum = |path: &RemotePath, actual: String| TransportError::Checksum {
            host: t.host().to_string(),
            path: path.to_string(),
            expected: want.to_string(),
            actual,
        };
        let failed = || {
            let step = said.strip_prefix("failed ").unwrap_or(said);
            let mut e = command_failed(t.host(), &cmd, &out);
            if let TransportError::Failed { command, .. } = &mut e {
                *command = format!("the checked write of {} ({step})", self.path);
            }
            e
        };
        match out.status {
            Some(0) => Ok(WriteDone {
                backup_not_kept: out.stdout_text().lines().any(|l| l == "unkept"),
            }),
            Some(status::CHANGED) => Err(Attempt::Changed(digest("now "))),
            Some(status::UNTOUCHED) => Err(Attempt::Untouched(failed())),
            Some(status::SPLICE) if splice.is_some() => Err(Attempt::SpliceFailed),
            Some(status::STAGED) => Err(Attempt::Untouched(checksum(staged, digest("staged ")))),
            Some(status::WRITTEN) => Err(Attempt::CopyFailed(failed())),
            Some(status::LANDED) => Err(Attempt::Written(checksum(self.path, digest("landed ")))),
            // No shell to run it (a transport that runs programs, not scripts: an
            // appliance, an agent): nothing ran; the same steps one command each.
            Some(NO_SHELL) => Err(Attempt::NoShell),
            _ => match command_failed(t.host(), &cmd, &out) {
                // sudo refused to run the script at all.
                e @ (TransportError::SudoPassword { .. }
                | TransportError::SudoPasswordRefused { .. }) => Err(Attempt::Untouched(e)),
                e => Err(Attempt::Unknown(e)),
            },
        }
    }

    /// The script's steps one command each (status for status the same outcomes), for a
    /// transport without a shell.
    async fn step_by_step<T: Transport + ?Sized>(
        &self,
        t: &T,
        staged: &RemotePath,
        backup: Option<&(&RemotePath, RemotePath)>,
    ) -> Result<WriteDone, Attempt> {
        let p = self.privilege;
        let read = self.previous.map(Sha256::of_bytes);
        if let Some(read) = &read {
            let now = remote_sha256(t, self.path, p)
                .await
                .map_err(Attempt::Untouched)?;
            if &now != read {
                return Err(Attempt::Changed(now.to_string()));
            }
        }
        if let Err(e) = write_new(t, staged, self.bytes, p).await {
            remove_quietly(t, staged, p).await;
            return Err(Attempt::Untouched(e));
        }
        let mut done = WriteDone::default();
        if let (Some((keep, tmp)), Some(read)) = (backup, &read) {
            if let Err(e) = copy_new(t, self.path, tmp, read, p).await {
                remove_quietly(t, tmp, p).await;
                remove_quietly(t, staged, p).await;
                return Err(match e {
                    TransportError::Checksum { actual, .. } => Attempt::Changed(actual),
                    e => Attempt::Untouched(e),
                });
            }
            if rename_over(t, tmp, keep, p).await.is_err() {
                remove_quietly(t, tmp, p).await;
                done.backup_not_kept = true;
            }
        }
        let copied = copy_in_place(t, staged, self.path, p).await;
        remove_quietly(t, staged, p).await;
        copied.map_err(Attempt::CopyFailed)?;
        expect_sha256(t, self.path, &Sha256::of_bytes(self.bytes), p)
            .await
            .map_err(Attempt::Written)?;
        Ok(done)
    }

    /// An attempt's failure as the caller's error: a failed copy onto the file is settled
    /// by its digest (the script has ended: the old bytes mean untouched, the staged files
    /// already gone).
    async fn settle<T: Transport + ?Sized>(&self, t: &T, failure: Attempt) -> CheckedWriteError {
        match failure {
            Attempt::Changed(now) => CheckedWriteError::Changed { now },
            Attempt::Untouched(e) => CheckedWriteError::Untouched(e),
            Attempt::Written(e) | Attempt::Unknown(e) => CheckedWriteError::Written(e),
            Attempt::SpliceFailed | Attempt::NoShell => {
                CheckedWriteError::Untouched(TransportError::Protocol {
                    host: t.host().to_string(),
                    command: format!("the checked write of {}", self.path),
                    reason: "the step-by-step write answered as the script".into(),
                })
            }
            Attempt::CopyFailed(e) => {
                let Some(previous) = self.previous else {
                    return CheckedWriteError::Written(e);
                };
                match remote_sha256(t, self.path, self.privilege).await {
                    Ok(now) if now == Sha256::of_bytes(previous) => CheckedWriteError::Untouched(e),
                    _ => CheckedWriteError::Written(e),
                }
            }
        }
    }
}

/// One run's failure, before it is settled.
enum Attempt {
    Changed(String),
    Untouched(TransportError),
    Written(TransportError),
    /// The copy onto the file failed (status 7): it may or may not have been touched.
    CopyFailed(TransportError),
    SpliceFailed,
    /// No shell ran the script (status 127): nothing ran.
    NoShell,
    /// No answer, or one the script never gives.
    Unknown(TransportError),
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};
    use std::path::Path;

    use super::*;
    use crate::command::Output;
    use crate::transport::LocalTransport;

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

    fn rp(p: &Path) -> RemotePath {
        RemotePath::new(p.to_str().unwrap()).unwrap()
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    // The real script, run by this machine's sh (dash) and GNU coreutils.
    #[tokio::test]
    async fn the_new_bytes_go_in_place_with_the_old_ones_kept_whole_or_spliced() {
        let dir = tempfile::tempdir().unwrap();
        let (file, backup) = (dir.path().join("nginx.conf"), dir.path().join(".prev"));
        let t = LocalTransport::new("local");
        for (before, after) in [
            (b"small old\n".to_vec(), b"small new, longer\n".to_vec()),
            (conf(500, None), conf(500, Some(250))),
            (conf(500, Some(0)), conf(500, None)),
            (conf(500, None), conf(501, None)),
            (conf(500, Some(499)), conf(500, Some(3))),
            (b"x".to_vec(), Vec::new()),
        ] {
            std::fs::write(&file, &before).unwrap();
            let inode = std::fs::metadata(&file).unwrap().ino();
            let write = CheckedWrite {
                path: &rp(&file),
                previous: Some(&before),
                bytes: &after,
                backup: Some(&rp(&backup)),
                privilege: Privilege::User,
            };
            let done = write.run(&t).await.unwrap();
            assert!(!done.backup_not_kept);
            assert_eq!(std::fs::read(&file).unwrap(), after);
            assert_eq!(std::fs::metadata(&file).unwrap().ino(), inode);
            assert_eq!(std::fs::read(&backup).unwrap(), before);
            // Nothing staged is left.
            assert_eq!(names(dir.path()), [".prev", "nginx.conf"]);
        }
    }

    #[tokio::test]
    async fn a_file_changed_since_it_was_read_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nginx.conf");
        let t = LocalTransport::new("local");
        for (read, theirs, new) in [
            (
                b"read\n".to_vec(),
                b"their edit\n".to_vec(),
                b"mine\n".to_vec(),
            ),
            (conf(500, None), conf(500, Some(300)), conf(500, Some(7))),
        ] {
            std::fs::write(&file, &theirs).unwrap();
            let write = CheckedWrite {
                path: &rp(&file),
                previous: Some(&read),
                bytes: &new,
                backup: Some(&rp(&dir.path().join(".prev"))),
                privilege: Privilege::User,
            };
            match write.run(&t).await.unwrap_err() {
                CheckedWriteError::Changed { now } => {
                    assert_eq!(now, Sha256::of_bytes(&theirs).to_string());
                }
                e => panic!("{e:?}"),
            }
            assert_eq!(std::fs::read(&file).unwrap(), theirs);
            assert_eq!(names(dir.path()), ["nginx.conf"]);
        }
    }

    #[tokio::test]
    async fn links_planted_at_the_file_or_the_backup_are_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new("local");
        let victim = dir.path().join("victim");
        let old = b"old\n".to_vec();
        std::fs::write(&victim, &old).unwrap();

        // The file is a link to a file that holds what was read: nothing is written.
        let file = dir.path().join("nginx.conf");
        symlink(&victim, &file).unwrap();
        let write = CheckedWrite {
            path: &rp(&file),
            previous: Some(&old),
            bytes: b"new\n",
            backup: None,
            privilege: Privilege::User,
        };
        let e = write.run(&t).await.unwrap_err();
        // (The copy onto it refuses the link at its open; its digest says so.)
        assert!(matches!(e, CheckedWriteError::Untouched(_)), "{e:?}");
        assert_eq!(std::fs::read(&victim).unwrap(), old);

        // The backup's name is a link: it is replaced, its target untouched.
        std::fs::remove_file(&file).unwrap();
        std::fs::write(&file, &old).unwrap();
        let backup = dir.path().join(".prev");
        std::fs::write(&victim, b"keep me").unwrap();
        symlink(&victim, &backup).unwrap();
        let write = CheckedWrite {
            backup: Some(&rp(&backup)),
            ..write
        };
        write.run(&t).await.unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(std::fs::symlink_metadata(&backup).unwrap().is_file());
        assert_eq!(std::fs::read(&backup).unwrap(), old);
        assert_eq!(std::fs::read(&file).unwrap(), b"new\n");
    }

    /// Runs the script with `shell`, `PATH` starting with `path_first` if given.
    fn script(
        shell: &str,
        args: &[&str],
        stdin: &[u8],
        path_first: Option<&Path>,
    ) -> (Option<i32>, String) {
        use std::io::Write;
        let mut cmd = std::process::Command::new(shell);
        cmd.args(["-c", CHECKED_WRITE, "sh"]).args(args);
        if let Some(dir) = path_first {
            let path = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{path}", dir.display()));
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
        )
    }

    #[test]
    fn each_outcome_has_its_status_under_dash_and_bash() {
        let dir = tempfile::tempdir().unwrap();
        let d = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        let (file, staged, keep, keep_tmp) = (d("-my conf"), d(".new"), d(".prev"), d(".prev.tmp"));
        let sha = |b: &[u8]| Sha256::of_bytes(b).to_string();
        // A dd without GNU's byte flags (BusyBox's, say).
        let shim = tempfile::tempdir().unwrap();
        let fake_dd = shim.path().join("dd");
        std::fs::write(
            &fake_dd,
            "#!/bin/sh\ncase \"$*\" in *_bytes*) echo 'dd: invalid input flag' >&2; exit 1;; esac\nexec /bin/dd \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(
            &fake_dd,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        for shell in ["sh", "bash"] {
            let (old, new) = (b"old bytes\n".as_slice(), b"new bytes\n".as_slice());
            std::fs::write(&file, old).unwrap();
            let whole = |read: &str, want: &str| {
                vec![
                    file.clone(),
                    staged.clone(),
                    read.to_string(),
                    want.to_string(),
                    keep.clone(),
                    keep_tmp.clone(),
                    "-".into(),
                    "0".into(),
                    "0".into(),
                ]
            };
            let run = |args: &[String], stdin: &[u8], path: Option<&Path>| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                script(shell, &args, stdin, path)
            };
            // Written.
            assert_eq!(
                run(&whole(&sha(old), &sha(new)), new, None),
                (Some(0), String::new()),
                "{shell}"
            );
            assert_eq!(std::fs::read(&file).unwrap(), new);
            assert_eq!(std::fs::read(&keep).unwrap(), old);
            // Changed since read: status 3 and the digest now.
            assert_eq!(
                run(&whole(&sha(old), &sha(b"x")), b"x", None),
                (Some(3), format!("now {}", sha(new))),
                "{shell}"
            );
            // The new bytes are not what was meant: status 6, nothing touched.
            assert_eq!(
                run(&whole(&sha(new), &sha(b"meant")), b"sent", None),
                (Some(6), format!("staged {}", sha(b"sent"))),
                "{shell}"
            );
            assert_eq!(std::fs::read(&file).unwrap(), new);
            // No file: status 4 before anything.
            let mut gone = whole(&sha(new), &sha(old));
            gone[0] = d("missing");
            assert_eq!(
                run(&gone, old, None),
                (Some(4), "failed digest".into()),
                "{shell}"
            );
            // A splice on a host whose dd lacks the byte flags: status 5, nothing left.
            let mut spliced = whole(&sha(new), &sha(b"new Bytes\n"));
            spliced[6..].clone_from_slice(&["4".into(), "5".into(), "5".into()]);
            assert_eq!(
                run(&spliced, b"B", Some(shim.path())),
                (Some(5), "failed splice".into()),
                "{shell}"
            );
            // The real dd splices.
            assert_eq!(
                run(&spliced, b"B", None),
                (Some(0), String::new()),
                "{shell}"
            );
            assert_eq!(std::fs::read(&file).unwrap(), b"new Bytes\n");
            // Without a read digest or a backup.
            let mut plain = whole("-", &sha(b"plain"));
            plain[4] = String::new();
            assert_eq!(
                run(&plain, b"plain", None),
                (Some(0), String::new()),
                "{shell}"
            );
            assert_eq!(std::fs::read(&keep).unwrap(), new);
            // Someone's edit between the first check and the backup's copy (a sha256sum
            // that appends to the file on its second call): caught by the backup's digest.
            let edits = shim.path().join(shell);
            std::fs::create_dir(&edits).unwrap();
            let sum = edits.join("sha256sum");
            std::fs::write(
                &sum,
                format!(
                    "#!/bin/sh\nn=$(cat '{c}' 2>/dev/null || echo 0); echo $((n+1)) > '{c}'\n\
                     [ \"$n\" = 1 ] && echo edit >> '{file}'\nexec /usr/bin/sha256sum \"$@\"\n",
                    c = edits.join("count").display(),
                ),
            )
            .unwrap();
            std::fs::set_permissions(&sum, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            let now = std::fs::read(&file).unwrap();
            let mut edited = now.clone();
            edited.extend_from_slice(b"edit\n");
            assert_eq!(
                run(&whole(&sha(&now), &sha(b"z")), b"z", Some(&edits)),
                (Some(3), format!("now {}", sha(&edited))),
                "{shell}"
            );
            assert_eq!(std::fs::read(&file).unwrap(), edited, "{shell}");
            let mut left = names(dir.path());
            left.retain(|n| n.starts_with(".new") || n.starts_with(".prev."));
            assert!(left.is_empty(), "{shell}: {left:?}");
        }
    }

    /// LocalTransport, except that the write script answers `answer` after `effect` ran.
    struct Answering {
        local: LocalTransport,
        answer: Result<Output, TransportError>,
        effect: Box<dyn Fn() + Send + Sync>,
    }

    #[async_trait::async_trait]
    impl Transport for Answering {
        fn host(&self) -> &str {
            "odd"
        }
        async fn run(&self, cmd: &Command) -> Result<Output, TransportError> {
            if cmd.argv().get(2) == Some(&CHECKED_WRITE) {
                (self.effect)();
                return self.answer.clone();
            }
            self.local.run(cmd).await
        }
        async fn upload(
            &self,
            local: &Path,
            remote: &RemotePath,
        ) -> Result<crate::transport::Uploaded, TransportError> {
            self.local.upload(local, remote).await
        }
    }

    /// What `run` says when the script answers `status` with `stdout`, the file changed
    /// meanwhile or not.
    async fn answered(status: Option<i32>, stdout: &[u8], touched: bool) -> CheckedWriteError {
        let answer = Ok(Output {
            status,
            stdout: stdout.to_vec(),
            stderr: b"killed\n".to_vec(),
        });
        answered_with(answer, touched).await
    }

    /// What `run` says when the transport answers the script with `answer`.
    async fn answered_with(
        answer: Result<Output, TransportError>,
        touched: bool,
    ) -> CheckedWriteError {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nginx.conf");
        let old = b"old\n".to_vec();
        std::fs::write(&file, &old).unwrap();
        let f = file.clone();
        let t = Answering {
            local: LocalTransport::new("odd"),
            answer,
            effect: Box::new(move || {
                if touched {
                    std::fs::write(&f, b"ne").unwrap();
                }
            }),
        };
        let write = CheckedWrite {
            path: &rp(&file),
            previous: Some(&old),
            bytes: b"new\n",
            backup: None,
            // As ihos writes nginx's config (`sudo` is not run by a root test).
            privilege: Privilege::Sudo,
        };
        write.run(&t).await.unwrap_err()
    }

    #[tokio::test]
    async fn an_answer_the_script_never_gives_is_taken_as_written() {
        // sshd does not stop a command whose client is gone: whatever the file says now,
        // the script may still write it; only putting the old bytes back is safe.
        // (127, no shell at all, is the step-by-step write: see below.)
        for status in [None, Some(1), Some(2), Some(126), Some(9)] {
            for touched in [false, true] {
                let e = answered(status, b"now 0000\n", touched).await;
                assert!(
                    matches!(e, CheckedWriteError::Written(_)),
                    "{status:?} touched={touched}: {e:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_failed_copy_onto_the_file_is_settled_by_its_digest() {
        // The script has ended: the old bytes there mean it was never opened (a link
        // refused), anything else that it was cut short.
        let e = answered(Some(7), b"unkept\nfailed write\n", false).await;
        assert!(
            matches!(&e, CheckedWriteError::Untouched(TransportError::Failed { command, .. })
                if command.ends_with("(write)")),
            "{e:?}"
        );
        let e = answered(Some(7), b"failed write\n", true).await;
        assert!(matches!(e, CheckedWriteError::Written(_)), "{e:?}");
        // A digest after an `unkept` line is still read.
        let e = answered(Some(8), b"unkept\nlanded abc\n", false).await;
        assert!(
            matches!(&e, CheckedWriteError::Written(TransportError::Checksum { actual, .. })
                if actual == "abc"),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_script_never_sent_or_refused_by_sudo_is_untouched() {
        let host = || "odd".to_string();
        for never_sent in [
            TransportError::Connect {
                host: host(),
                reason: "refused".into(),
            },
            TransportError::Auth {
                host: host(),
                user: "deploy".into(),
                reason: "no key".into(),
            },
        ] {
            let e = answered_with(Err(never_sent), false).await;
            assert!(matches!(e, CheckedWriteError::Untouched(_)), "{e:?}");
        }
        // Lost on the way: it may still run.
        let lost = TransportError::Disconnected {
            host: host(),
            during: "sh".into(),
            reason: "reset".into(),
        };
        let e = answered_with(Err(lost), false).await;
        assert!(matches!(e, CheckedWriteError::Written(_)), "{e:?}");
        // sudo wanting a password never ran it (its status 1 and message, as sudo prints).
        let sudo = Ok(Output {
            status: Some(1),
            stdout: Vec::new(),
            stderr: b"sudo: a password is required\n".to_vec(),
        });
        let e = answered_with(sudo, false).await;
        assert!(
            matches!(
                e,
                CheckedWriteError::Untouched(TransportError::SudoPassword { .. })
            ),
            "{e:?}"
        );
    }

    /// LocalTransport without a shell: `sh` is a command not found (status 127).
    struct NoShell(LocalTransport);

    #[async_trait::async_trait]
    impl Transport for NoShell {
        fn host(&self) -> &str {
            "appliance"
        }
        async fn run(&self, cmd: &Command) -> Result<Output, TransportError> {
            if cmd.program() == "sh" {
                return Ok(Output {
                    status: Some(127),
                    stdout: Vec::new(),
                    stderr: b"sh: command not found\n".to_vec(),
                });
            }
            self.0.run(cmd).await
        }
        async fn upload(
            &self,
            local: &Path,
            remote: &RemotePath,
        ) -> Result<crate::transport::Uploaded, TransportError> {
            self.0.upload(local, remote).await
        }
    }

    #[tokio::test]
    async fn a_transport_without_a_shell_gets_the_same_steps_one_command_each() {
        let dir = tempfile::tempdir().unwrap();
        let (file, backup) = (dir.path().join("nginx.conf"), dir.path().join(".prev"));
        let t = NoShell(LocalTransport::new("appliance"));
        std::fs::write(&file, b"old\n").unwrap();
        let inode = std::fs::metadata(&file).unwrap().ino();
        let write = CheckedWrite {
            path: &rp(&file),
            previous: Some(b"old\n"),
            bytes: b"new\n",
            backup: Some(&rp(&backup)),
            privilege: Privilege::User,
        };
        write.run(&t).await.unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new\n");
        assert_eq!(std::fs::metadata(&file).unwrap().ino(), inode);
        assert_eq!(std::fs::read(&backup).unwrap(), b"old\n");
        assert_eq!(names(dir.path()), [".prev", "nginx.conf"]);
        // Someone's edit since: nothing written.
        let e = write.run(&t).await.unwrap_err();
        assert!(matches!(e, CheckedWriteError::Changed { .. }), "{e:?}");
        assert_eq!(std::fs::read(&file).unwrap(), b"new\n");
        // The default in-place write of a transport without a shell.
        t.write_file_in_place(&rp(&file), b"plain\n", Privilege::User)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"plain\n");
        super::super::replace_file(&t, &rp(&backup), b"whole", Privilege::User, None)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&backup).unwrap(), b"whole");
        assert_eq!(names(dir.path()), [".prev", "nginx.conf"]);
    }
}
