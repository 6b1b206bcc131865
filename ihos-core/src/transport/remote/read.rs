//! Reading part of a log on its host as root, only if a regular file is there: one
//! command, where a `stat` then a `dd` took two round trips (the startup line is watched
//! by reading Tomcat's log every few tens of milliseconds: each round trip less is seen
//! sooner).

use crate::command::Command;
use crate::names::RemotePath;
use crate::sha::Sha256;
use crate::transport::{Transport, TransportError, command_failed};

/// At most this much of a log is read at once: a log is text appended by the app, and a
/// file that never ends (a link to `/dev/zero`) must not fill ihos's memory.
pub(crate) const READ_CAP: u64 = 16 << 20;

/// The start of both scripts: nothing (status 0) when nothing is at `$1`, status 3 for
/// anything but a regular file (a link, a FIFO, a directory, a device node the container's
/// root can make in a bind-mounted directory), which is never opened as root. `test -h`
/// does not follow a link, `-e` and `-f` do (a link was refused before them). POSIX sh:
/// dash, bash, BusyBox.
macro_rules! if_regular {
    () => {
        "[ -h \"$1\" ] && exit 3; [ -e \"$1\" ] || exit 0; [ -f \"$1\" ] || exit 3; "
    };
}

/// `sh -c READ_REGULAR_FROM sh PATH SKIP COUNT`: at most COUNT bytes of PATH from byte SKIP
/// on (`if_regular!()` first); `nofollow` and `nonblock` cover a link or a FIFO put there
/// between the tests and the read.
pub(crate) const READ_REGULAR_FROM: &str = concat!(
    if_regular!(),
    "exec dd if=\"$1\" iflag=skip_bytes,count_bytes,nofollow,nonblock skip=\"$2\" count=\"$3\" status=none"
);

/// `sh -c SHA256_IF_REGULAR sh PATH`: `sha256sum`'s line for PATH (`if_regular!()` first:
/// `sha256sum` as root follows a link and blocks on a FIFO). One command where a `stat`
/// then a `sha256sum` took two.
pub(crate) const SHA256_IF_REGULAR: &str = concat!(if_regular!(), "exec sha256sum -- \"$1\"");

/// The status both scripts give for a path that is not a regular file.
const NOT_REGULAR: i32 = 3;

/// Runs `script` (one of the above) on `path` with `args` after it, as root: its stdout
/// (empty when nothing is there); anything but a regular file is an error.
async fn run_if_regular(
    t: &dyn Transport,
    script: &str,
    path: &RemotePath,
    args: &[String],
) -> Result<(Command, Vec<u8>), TransportError> {
    let cmd = Command::new("sh")
        .args(["-c", script, "sh", path.as_str()])
        .args(args.iter().cloned())
        .sudo();
    let out = t.run(&cmd).await?;
    match out.status {
        Some(0) => Ok((cmd, out.stdout)),
        Some(NOT_REGULAR) => Err(TransportError::NotRegularFile {
            host: t.host().to_string(),
            path: path.to_string(),
        }),
        _ => Err(command_failed(t.host(), &cmd, &out)),
    }
}

/// SHA-256 of a file, `None` if nothing is there; anything but a regular file is an error.
pub(crate) async fn sha256_if_exists(
    t: &dyn Transport,
    path: &RemotePath,
) -> Result<Option<Sha256>, TransportError> {
    let (cmd, stdout) = run_if_regular(t, SHA256_IF_REGULAR, path, &[]).await?;
    if stdout.is_empty() {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&stdout);
    Sha256::from_sha256sum_line(&line)
        .map(Some)
        .ok_or_else(|| TransportError::Protocol {
            host: t.host().to_string(),
            command: cmd.to_string(),
            reason: format!("unexpected output {line:?}"),
        })
}

/// At most [`READ_CAP`] bytes of `path` from `offset` on (empty if the file is shorter or
/// missing). Read as root without following a link: a symbolic link there (planted by
/// whoever can write the directory, e.g. the container) is an error, not the file it
/// points to.
pub(crate) async fn read_from(
    t: &dyn Transport,
    path: &RemotePath,
    offset: u64,
) -> Result<Vec<u8>, TransportError> {
    let args = [offset.to_string(), READ_CAP.to_string()];
    Ok(run_if_regular(t, READ_REGULAR_FROM, path, &args).await?.1)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::path::Path;

    use super::*;
    use crate::transport::LocalTransport;

    fn rp(p: &Path) -> RemotePath {
        RemotePath::new(p.to_str().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_log_is_read_only_when_a_regular_file_is_there_and_a_fifo_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new("here");
        let log = dir.path().join("catalina.log");
        std::fs::write(&log, b"one\ntwo\n").unwrap();
        assert_eq!(read_from(&t, &rp(&log), 4).await.unwrap(), b"two\n");
        // Nothing there yet: nothing read.
        let missing = dir.path().join("later.log");
        assert!(read_from(&t, &rp(&missing), 0).await.unwrap().is_empty());
        // A link (to a secret) is refused, not followed.
        let secret = dir.path().join("shadow");
        std::fs::write(&secret, b"root:secret\n").unwrap();
        let link = dir.path().join("link.log");
        symlink(&secret, &link).unwrap();
        let e = read_from(&t, &rp(&link), 0).await.unwrap_err();
        assert!(matches!(e, TransportError::NotRegularFile { .. }), "{e}");
        // A FIFO with no writer: refused at once, never opened (a blocked read would hold
        // the command until its timeout).
        let fifo = dir.path().join("fifo.log");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        let e = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            read_from(&t, &rp(&fifo), 0),
        )
        .await
        .expect("a FIFO blocked the read")
        .unwrap_err();
        assert!(matches!(e, TransportError::NotRegularFile { .. }), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_log_that_is_a_link_is_refused_at_once_and_reads_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new("here");
        let log = dir.path().join("logFile.2026-12-02.log");
        symlink("/dev/zero", &log).unwrap();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            read_from(&t, &rp(&log), 0),
        )
        .await
        .expect("reading a link to /dev/zero must not hang");
        assert!(read.is_err(), "a link was read through");

        // A FIFO would block a reader forever; a digest of a link would be of its target.
        let fifo = dir.path().join("fifo.log");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            read_from(&t, &rp(&fifo), 0),
        )
        .await
        .expect("reading a FIFO must not hang");
        assert!(
            matches!(read, Err(TransportError::NotRegularFile { .. })),
            "{read:?}"
        );
        let linked = dir.path().join("ihos.war");
        symlink(&fifo, &linked).unwrap();
        assert!(matches!(
            sha256_if_exists(&t, &rp(&linked)).await,
            Err(TransportError::NotRegularFile { .. })
        ));

        let log = dir.path().join("app.log");
        std::fs::write(&log, b"0123456789").unwrap();
        assert_eq!(read_from(&t, &rp(&log), 4).await.unwrap(), b"456789");
        assert_eq!(read_from(&t, &rp(&log), 99).await.unwrap(), b"");
        let missing = dir.path().join("none.log");
        assert_eq!(read_from(&t, &rp(&missing), 0).await.unwrap(), b"");
        let big = dir.path().join("big.log");
        std::fs::write(&big, vec![b'x'; (READ_CAP + 10) as usize]).unwrap();
        assert_eq!(
            read_from(&t, &rp(&big), 0).await.unwrap().len() as u64,
            READ_CAP
        );
    }

    #[tokio::test]
    async fn a_directory_is_refused_and_the_scripts_answer_the_same_under_dash_and_bash() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new("here");
        let e = read_from(&t, &rp(dir.path()), 0).await.unwrap_err();
        assert!(matches!(e, TransportError::NotRegularFile { .. }), "{e}");
        // A name with spaces and a leading dash after the directory is one argument.
        let log = dir.path().join("-my log.txt");
        std::fs::write(&log, b"0123456789").unwrap();
        let link = dir.path().join("to-log");
        symlink(&log, &link).unwrap();
        // `sh` is dash on Debian; bash is RHEL's sh.
        for shell in ["sh", "bash"] {
            let run = |path: &Path, skip: &str| {
                let out = std::process::Command::new(shell)
                    .args(["-c", READ_REGULAR_FROM, "sh"])
                    .arg(path)
                    .args([skip, "4"])
                    .output()
                    .unwrap();
                (out.status.code(), out.stdout, out.stderr)
            };
            assert_eq!(
                run(&log, "3"),
                (Some(0), b"3456".to_vec(), Vec::new()),
                "{shell}"
            );
            assert_eq!(
                run(&link, "0"),
                (Some(3), Vec::new(), Vec::new()),
                "{shell}"
            );
            let none = dir.path().join("none");
            assert_eq!(
                run(&none, "0"),
                (Some(0), Vec::new(), Vec::new()),
                "{shell}"
            );
            assert_eq!(run(dir.path(), "0").0, Some(3), "{shell}");
            let sum = |path: &Path| {
                let out = std::process::Command::new(shell)
                    .args(["-c", SHA256_IF_REGULAR, "sh"])
                    .arg(path)
                    .output()
                    .unwrap();
                (out.status.code(), String::from_utf8(out.stdout).unwrap())
            };
            let (status, line) = sum(&log);
            assert_eq!(status, Some(0), "{shell}");
            assert!(
                line.starts_with(
                    "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882  "
                ),
                "{shell}: {line}"
            );
            assert_eq!(sum(&link), (Some(3), String::new()), "{shell}");
            assert_eq!(
                sum(&dir.path().join("none")),
                (Some(0), String::new()),
                "{shell}"
            );
            assert_eq!(sum(dir.path()).0, Some(3), "{shell}");
        }
    }

    /// A host that answers every command with `out` (what a broken or hostile host may
    /// print), to see each read as the caller does.
    struct Answering(crate::command::Output);

    #[async_trait::async_trait]
    impl Transport for Answering {
        fn host(&self) -> &str {
            "odd"
        }
        async fn run(&self, _: &Command) -> Result<crate::command::Output, TransportError> {
            Ok(self.0.clone())
        }
        async fn upload(
            &self,
            _: &Path,
            remote: &RemotePath,
        ) -> Result<crate::transport::Uploaded, TransportError> {
            Err(TransportError::NotRegularFile {
                host: "odd".into(),
                path: remote.to_string(),
            })
        }
    }

    #[tokio::test]
    async fn odd_answers_are_errors_that_name_the_host_never_a_digest() {
        let path = RemotePath::new("/srv/ihos.war").unwrap();
        let answer = |status: Option<i32>, stdout: &[u8]| {
            Answering(crate::command::Output {
                status,
                stdout: stdout.to_vec(),
                stderr: b"sudo: something\n".to_vec(),
            })
        };
        let huge = vec![b'f'; 1 << 20];
        for stdout in [&b"not a digest\n"[..], b"\n", &[0xff, 0xfe, b'\n'], &huge] {
            let e = sha256_if_exists(&answer(Some(0), stdout), &path)
                .await
                .unwrap_err();
            assert!(
                matches!(&e, TransportError::Protocol { host, .. } if host == "odd"),
                "{e}"
            );
        }
        // Nothing printed: nothing there.
        assert_eq!(
            sha256_if_exists(&answer(Some(0), b""), &path)
                .await
                .unwrap(),
            None
        );
        for status in [Some(1), Some(2), Some(126), Some(127), None] {
            let t = answer(status, b"");
            assert!(matches!(
                sha256_if_exists(&t, &path).await,
                Err(TransportError::Failed { .. } | TransportError::SudoPassword { .. })
            ));
            assert!(read_from(&t, &path, 0).await.is_err());
        }
        let t = answer(Some(3), b"");
        assert!(matches!(
            sha256_if_exists(&t, &path).await,
            Err(TransportError::NotRegularFile { .. })
        ));
        assert!(matches!(
            read_from(&t, &path, 0).await,
            Err(TransportError::NotRegularFile { .. })
        ));
    }
}
