//! Replacing a file as a whole, in one command (ihos's own state files: the journal at the
//! start and end of every run, the kept releases' index): the new bytes written and
//! synced under a new temporary name, checked by digest, renamed over the file and, if
//! asked, made root's alone. A crash leaves the old file or the new one, never a torn
//! one; the file gets a new inode (never for a bind-mounted file: see
//! [`super::CheckedWrite`]).

use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::sha::Sha256;
use crate::transport::{Transport, TransportError, command_failed};

use super::{PrivateMode, remove_quietly, rename_over, temp_path, write_new};

/// `sh -c REPLACE sh FILE TMP DIGEST MODE`, the bytes on standard input: TMP created
/// exclusively (never written through a link), checked, renamed over FILE (`mv -T`: FILE
/// itself, never a directory or a link's target there), then `chmod MODE` unless MODE is
/// empty. TMP never outlives a failure before the rename. Status 6: the staged bytes are
/// not DIGEST (`staged DIGEST` printed); 4: a failure before the rename, nothing
/// replaced; 5: replaced, its mode not set.
pub(crate) const REPLACE: &str = r#"dd of="$2" bs=65536 conv=excl,fsync oflag=nofollow status=none || { rm -f -- "$2"; exit 4; }
s=$(sha256sum -- "$2") || { rm -f -- "$2"; exit 4; }
s=${s%% *}; s=${s#\\}
[ "$s" = "$3" ] || { rm -f -- "$2"; echo "staged $s"; exit 6; }
mv -f -T -- "$2" "$1" || { rm -f -- "$2"; exit 4; }
[ -z "$4" ] || chmod "$4" -- "$1" || exit 5
"#;

/// Replaces `path` with `bytes` as a whole (see the module's docs); `mode`: made root's
/// alone afterwards.
pub(crate) async fn replace_file<T: Transport + ?Sized>(
    t: &T,
    path: &RemotePath,
    bytes: &[u8],
    privilege: Privilege,
    mode: Option<PrivateMode>,
) -> Result<(), TransportError> {
    let tmp = temp_path(path)?;
    let want = Sha256::of_bytes(bytes);
    let mode = match mode {
        Some(PrivateMode::Dir) => "0700",
        Some(PrivateMode::File) => "0600",
        None => "",
    };
    let cmd = Command::new("sh")
        .args([
            "-c",
            REPLACE,
            "sh",
            path.as_str(),
            tmp.as_str(),
            want.as_ref(),
            mode,
        ])
        .stdin(bytes.to_vec())
        .with_privilege(privilege);
    let out = t.run(&cmd).await?;
    match out.status {
        Some(0) => Ok(()),
        // No shell (a transport that runs programs, not scripts): nothing ran; the same
        // steps one command each.
        Some(127) => {
            let replaced = async {
                write_new(t, &tmp, bytes, privilege).await?;
                rename_over(t, &tmp, path, privilege).await
            }
            .await;
            if replaced.is_err() {
                remove_quietly(t, &tmp, privilege).await;
            }
            replaced?;
            if !mode.is_empty() {
                let chmod = Command::new("chmod")
                    .args([mode, "--", path.as_str()])
                    .with_privilege(privilege);
                crate::transport::run_checked(t, &chmod).await?;
            }
            Ok(())
        }
        Some(6) => Err(TransportError::Checksum {
            host: t.host().to_string(),
            path: tmp.to_string(),
            expected: want.to_string(),
            actual: (out.stdout_text().trim_end())
                .strip_prefix("staged ")
                .unwrap_or("?")
                .to_string(),
        }),
        _ => Err(command_failed(t.host(), &cmd, &out)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;
    use crate::transport::LocalTransport;

    fn rp(p: &std::path::Path) -> RemotePath {
        RemotePath::new(p.to_str().unwrap()).unwrap()
    }

    // The real script, run by this machine's sh (dash) and coreutils.
    #[tokio::test]
    async fn a_file_is_replaced_whole_and_a_link_there_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new("local");
        let file = dir.path().join("journal.ndjson");
        std::fs::write(&file, b"old").unwrap();
        replace_file(
            &t,
            &rp(&file),
            b"new\n",
            Privilege::User,
            Some(PrivateMode::File),
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new\n");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A backslash in the name: sha256sum's line then starts with `\`.
        let odd = dir.path().join("back\\slash");
        replace_file(&t, &rp(&odd), b"odd", Privilege::User, None)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&odd).unwrap(), b"odd");
        std::fs::remove_file(&odd).unwrap();
        // Missing before: made.
        let fresh = dir.path().join("kept.json");
        replace_file(&t, &rp(&fresh), b"{}", Privilege::User, None)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"{}");
        // A link at the name is replaced by the file; its target is untouched.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let linked = dir.path().join("state.json");
        symlink(&victim, &linked).unwrap();
        replace_file(&t, &rp(&linked), b"state", Privilege::User, None)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(std::fs::symlink_metadata(&linked).unwrap().is_file());
        // No directory at the name's place: an error, and nothing left behind.
        let missing = dir.path().join("no such dir").join("f");
        assert!(
            replace_file(&t, &rp(&missing), b"x", Privilege::User, None)
                .await
                .is_err()
        );
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["journal.ndjson", "kept.json", "state.json", "victim"]
        );
    }

    #[test]
    fn each_outcome_has_its_status_under_dash_and_bash() {
        let dir = tempfile::tempdir().unwrap();
        for shell in ["sh", "bash"] {
            let file = dir.path().join(format!("{shell}.json"));
            let tmp = dir.path().join(format!(".{shell}.tmp"));
            let run = |digest: &str, mode: &str, stdin: &[u8]| {
                use std::io::Write;
                let mut child = std::process::Command::new(shell)
                    .args(["-c", REPLACE, "sh"])
                    .args([&file, &tmp])
                    .args([digest, mode])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(stdin).unwrap();
                let out = child.wait_with_output().unwrap();
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
                )
            };
            let sha = |b: &[u8]| Sha256::of_bytes(b).to_string();
            assert_eq!(
                run(&sha(b"a"), "", b"a"),
                (Some(0), String::new()),
                "{shell}"
            );
            assert_eq!(
                run(&sha(b"meant"), "", b"sent"),
                (Some(6), format!("staged {}", sha(b"sent"))),
                "{shell}"
            );
            assert_eq!(std::fs::read(&file).unwrap(), b"a", "{shell}");
            assert_eq!(run(&sha(b"b"), "0600", b"b").0, Some(0), "{shell}");
            assert_eq!(run(&sha(b"c"), "not-a-mode", b"c").0, Some(5), "{shell}");
            assert_eq!(std::fs::read(&file).unwrap(), b"c", "{shell}");
            // Something at the temporary name: refused, removed, the file as it was.
            std::fs::write(&tmp, b"planted").unwrap();
            assert_eq!(run(&sha(b"d"), "", b"d").0, Some(4), "{shell}");
            assert!(!tmp.exists(), "{shell}");
            assert_eq!(std::fs::read(&file).unwrap(), b"c", "{shell}");
        }
    }
}
