//! Taking and giving back the rollout lock, each as one command on the lock's host: the
//! lock is taken at the start of every run and given back at its end, both on its path
//! (one round trip each, where they took four and three).

use crate::command::Command;
use crate::names::RemotePath;
use crate::sha::Sha256;
use crate::transport::{Transport, TransportError, command_failed};

/// `sh -c TAKE sh STATE_DIR LOCK_DIR OWNER_FILE DIGEST`, the owner file's bytes on standard
/// input: the state directory made if missing; the lock directory made (`mkdir` is atomic:
/// of two runs, one makes it); status 3 if it is there already (someone's lock). Ours: made
/// root's alone, the owner file created in it exclusively (never through a link) and
/// checked by its digest; if either fails, the lock is given back (status 5: a lock
/// without its owner file would read as held by an unknown owner). Status 4: anything else
/// before the lock was ours.
pub(crate) const TAKE: &str = r#"mkdir -p -- "$1" || exit 4
mkdir -- "$2" 2>/dev/null || { [ -d "$2" ] && exit 3; mkdir -- "$2" || exit 4; }
chmod 0700 -- "$2" && dd of="$3" bs=65536 conv=excl,fsync oflag=nofollow status=none &&
  s=$(sha256sum -- "$3") && s=${s%% *} && [ "${s#\\}" = "$4" ] || { rm -rf -- "$2"; exit 5; }
"#;

/// `sh -c GIVE_BACK sh LOCK_DIR OWNER_FILE DIGEST`: the lock removed only if its owner file
/// is exactly the one the run wrote (its digest); status 3 and nothing removed otherwise
/// (no lock, or someone else's).
pub(crate) const GIVE_BACK: &str = r#"[ -d "$1" ] || exit 3
s=$(sha256sum -- "$2" 2>/dev/null) && s=${s%% *} && [ "${s#\\}" = "$3" ] || exit 3
exec rm -rf -- "$1"
"#;

/// The status both scripts give when the lock is someone else's (or, giving back, not
/// there).
const NOT_OURS: i32 = 3;

/// Whether the lock was taken.
pub(crate) enum Taken {
    /// Ours, with its owner file.
    Ours,
    /// Someone's lock is there.
    Held,
}

/// Takes the lock at `dir` (in `state_dir`), writing `owner` (its owner file's bytes) as
/// `owner_file`.
pub(crate) async fn take(
    t: &dyn Transport,
    state_dir: &RemotePath,
    dir: &RemotePath,
    owner_file: &RemotePath,
    owner: &[u8],
) -> Result<Taken, TransportError> {
    let cmd = Command::new("sh")
        .args(["-c", TAKE, "sh", state_dir.as_str(), dir.as_str()])
        .args([owner_file.as_str(), Sha256::of_bytes(owner).as_ref()])
        .stdin(owner.to_vec())
        .sudo();
    let out = t.run(&cmd).await?;
    match out.status {
        Some(0) => Ok(Taken::Ours),
        Some(NOT_OURS) => Ok(Taken::Held),
        _ => Err(command_failed(t.host(), &cmd, &out)),
    }
}

/// Gives the lock at `dir` back if its owner file is still `owner` (the bytes the run
/// wrote): whether it was removed.
pub(crate) async fn give_back(
    t: &dyn Transport,
    dir: &RemotePath,
    owner_file: &RemotePath,
    owner: &[u8],
) -> Result<bool, TransportError> {
    let cmd = Command::new("sh")
        .args(["-c", GIVE_BACK, "sh", dir.as_str(), owner_file.as_str()])
        .arg(Sha256::of_bytes(owner).to_string())
        .sudo();
    let out = t.run(&cmd).await?;
    match out.status {
        Some(0) => Ok(true),
        Some(NOT_OURS) => Ok(false),
        _ => Err(command_failed(t.host(), &cmd, &out)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::transport::LocalTransport;

    fn rp(p: &std::path::Path) -> RemotePath {
        RemotePath::new(p.to_str().unwrap()).unwrap()
    }

    // The real scripts, run by this machine's sh (dash) and coreutils.
    #[tokio::test]
    async fn a_lock_is_taken_once_and_given_back_only_by_its_owner() {
        let root = tempfile::tempdir().unwrap();
        // A space and a backslash in a name (sha256sum's line then starts with `\`).
        let state = root.path().join("var lib\\ihos");
        let dir = state.join("lock");
        let owner = dir.join("owner.json");
        let t = LocalTransport::new("local");
        let (me, them) = (
            b"{\"rollout_id\": \"me\"}".as_slice(),
            b"{\"them\": 1}".as_slice(),
        );

        let taken = take(&t, &rp(&state), &rp(&dir), &rp(&owner), me)
            .await
            .unwrap();
        assert!(matches!(taken, Taken::Ours));
        assert_eq!(std::fs::read(&owner).unwrap(), me);
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A second taker finds it held and changes nothing.
        let again = take(&t, &rp(&state), &rp(&dir), &rp(&owner), them)
            .await
            .unwrap();
        assert!(matches!(again, Taken::Held));
        assert_eq!(std::fs::read(&owner).unwrap(), me);
        // Only the owner gives it back.
        assert!(!give_back(&t, &rp(&dir), &rp(&owner), them).await.unwrap());
        assert!(dir.exists());
        assert!(give_back(&t, &rp(&dir), &rp(&owner), me).await.unwrap());
        assert!(!dir.exists());
        // Nothing there: nothing to give back.
        assert!(!give_back(&t, &rp(&dir), &rp(&owner), me).await.unwrap());
        // A lock whose owner file is missing is someone's (a crash after its mkdir).
        std::fs::create_dir(&dir).unwrap();
        assert!(!give_back(&t, &rp(&dir), &rp(&owner), me).await.unwrap());
        assert!(dir.exists());
    }

    #[test]
    fn each_outcome_has_its_status_under_dash_and_bash() {
        let root = tempfile::tempdir().unwrap();
        for shell in ["sh", "bash"] {
            let state = root.path().join(shell);
            let dir = state.join("lock");
            let owner = dir.join("owner.json");
            let run = |script: &str, args: &[&std::path::Path], digest: &str, stdin: &[u8]| {
                use std::io::Write;
                let mut child = std::process::Command::new(shell)
                    .args(["-c", script, "sh"])
                    .args(args)
                    .arg(digest)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(stdin).unwrap();
                child.wait().unwrap().code()
            };
            let sha = |b: &[u8]| Sha256::of_bytes(b).to_string();
            let take_args = [state.as_path(), dir.as_path(), owner.as_path()];
            // The owner file is not what was sent: the lock is given back at once.
            assert_eq!(
                run(TAKE, &take_args, &sha(b"other"), b"mine"),
                Some(5),
                "{shell}"
            );
            assert!(!dir.exists(), "{shell}");
            assert_eq!(
                run(TAKE, &take_args, &sha(b"mine"), b"mine"),
                Some(0),
                "{shell}"
            );
            assert_eq!(
                run(TAKE, &take_args, &sha(b"mine"), b"mine"),
                Some(3),
                "{shell}"
            );
            let give_args = [dir.as_path(), owner.as_path()];
            assert_eq!(
                run(GIVE_BACK, &give_args, &sha(b"x"), b""),
                Some(3),
                "{shell}"
            );
            assert_eq!(
                run(GIVE_BACK, &give_args, &sha(b"mine"), b""),
                Some(0),
                "{shell}"
            );
            assert!(!dir.exists(), "{shell}");
            // Something that is not a directory at the lock's name: an error, not "held".
            std::fs::write(&dir, b"").unwrap();
            assert_eq!(
                run(TAKE, &take_args, &sha(b"mine"), b"mine"),
                Some(4),
                "{shell}"
            );
            assert_eq!(
                run(GIVE_BACK, &give_args, &sha(b"mine"), b""),
                Some(3),
                "{shell}"
            );
            assert!(dir.is_file(), "{shell}");
        }
    }
}
