//! Small remote operations the engine composes, each one typed command through a
//! [`Transport`]. Paths are [`RemotePath`]s, always absolute, so no argument can be read as
//! an option.

use std::time::Duration;

use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::transport::{Transport, TransportError, command_failed, run_checked};

mod checked_write;
mod exit_watch;
mod files;
mod kinds;
mod read;
mod replace;
mod splice;

pub(crate) use checked_write::{CheckedWrite, CheckedWriteError};
pub(crate) use exit_watch::wait_for_exit;
pub(crate) use files::{
    copy_atomic, copy_in_place, copy_new, copy_to_new, remove_quietly, rename_over, write_new,
};
pub(crate) use kinds::{PathKind, path_stats};
pub(crate) use read::{READ_CAP, read_from, sha256_if_exists};
pub(crate) use replace::replace_file;

/// A temporary name next to `path`, unique to this process and moment: the one scheme of
/// every temporary file ihos makes on a host. It starts with a dot and does not end in
/// `.war`, so neither nginx's `include dir/*` nor Tomcat's deployer picks it up.
pub(crate) fn temp_path(path: &RemotePath) -> Result<RemotePath, TransportError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!(
        ".{}.ihos-tmp-{}-{}",
        path.file_name(),
        std::process::id(),
        nanos
    );
    Ok(path.parent().join(&name)?)
}

/// Whether `path` exists.
pub(crate) async fn exists(t: &dyn Transport, path: &RemotePath) -> Result<bool, TransportError> {
    Ok(
        t.run(&Command::new("test").arg("-e").arg(path.as_str()).sudo())
            .await?
            .success(),
    )
}

/// `mkdir -p`.
pub(crate) async fn mkdir_p(
    t: &dyn Transport,
    path: &RemotePath,
    privilege: Privilege,
) -> Result<(), TransportError> {
    run_checked(
        t,
        &Command::new("mkdir")
            .args(["-p", "--", path.as_str()])
            .with_privilege(privilege),
    )
    .await
    .map(|_| ())
}

/// `mkdir -p` of `dir`, then `top` (a directory ihos made for itself inside its state
/// directory, holding `dir`) made root's alone: 0700. Only directories ihos made are
/// changed, never the state directory itself (a misconfigured `state_dir = "/var/lib"` must
/// not close a system directory).
pub(crate) async fn mkdir_private(
    t: &dyn Transport,
    top: &RemotePath,
    dir: &RemotePath,
) -> Result<(), TransportError> {
    mkdir_p(t, dir, Privilege::Sudo).await?;
    make_private(t, top, PrivateMode::Dir).await
}

/// The modes of ihos's own state: directories 0700, files 0600.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PrivateMode {
    Dir,
    File,
}

/// `chmod 0700|0600 -- path` as root.
pub(crate) async fn make_private(
    t: &dyn Transport,
    path: &RemotePath,
    mode: PrivateMode,
) -> Result<(), TransportError> {
    let mode = match mode {
        PrivateMode::Dir => "0700",
        PrivateMode::File => "0600",
    };
    run_checked(
        t,
        &Command::new("chmod")
            .args([mode, "--", path.as_str()])
            .sudo(),
    )
    .await
    .map(|_| ())
}

/// Free space where `dir` is, and which file system that is.
pub(crate) struct FreeSpace {
    /// Bytes available (`df`'s `Available`).
    pub bytes: u64,
    /// The file system's name and mount point as `df -P` prints them: two directories
    /// with the same one share their free space.
    pub filesystem: String,
}

/// Free space where `dir` is (`df -P -k`: POSIX output, its second line: the 4th field in
/// 1024-byte blocks; the 1st and 6th on, the file system and its mount point).
pub(crate) async fn free_space(
    t: &dyn Transport,
    dir: &RemotePath,
) -> Result<FreeSpace, TransportError> {
    let mut spaces = free_spaces(t, &[dir]).await?;
    Ok(spaces.remove(0))
}

/// [`free_space`] of each of `dirs` (at least one), in their order, in one command: `df`
/// prints one line per argument, in order (POSIX `-P`: one line each, whatever the
/// names' lengths). Any of them missing fails the whole (df names it on stderr).
pub(crate) async fn free_spaces(
    t: &dyn Transport,
    dirs: &[&RemotePath],
) -> Result<Vec<FreeSpace>, TransportError> {
    let cmd = Command::new("df")
        .args(["-P", "-k", "--"])
        .args(dirs.iter().map(|d| d.as_str()))
        .sudo();
    let out = run_checked(t, &cmd).await?;
    let text = out.stdout_text();
    parse_df(&text, dirs.len()).ok_or_else(|| TransportError::Protocol {
        host: t.host().to_string(),
        command: cmd.to_string(),
        reason: format!("unexpected df output {:?}", text.trim()),
    })
}

/// `df -P -k`'s answer for `count` arguments: `None` unless it is a header and then
/// exactly `count` lines, each with a number of blocks available and a mount point.
fn parse_df(text: &str, count: usize) -> Option<Vec<FreeSpace>> {
    let lines: Vec<&str> = text.lines().skip(1).collect();
    if count == 0 || lines.len() != count {
        return None;
    }
    lines
        .into_iter()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let k = fields.get(3)?.parse::<u64>().ok()?;
            (fields.len() >= 6).then(|| FreeSpace {
                bytes: k.saturating_mul(1024),
                filesystem: format!("{} {}", fields[0], fields[5..].join(" ")),
            })
        })
        .collect()
}

/// Size of a file, `None` if it does not exist.
pub(crate) async fn file_size(
    t: &dyn Transport,
    path: &RemotePath,
) -> Result<Option<u64>, TransportError> {
    let cmd = Command::new("stat")
        .args(["-c", "%s", "--", path.as_str()])
        .sudo();
    let out = t.run(&cmd).await?;
    if !out.success() {
        // Asked, not read from stat's message (whatever the host's language).
        if !exists(t, path).await? && !is_link(t, path).await? {
            return Ok(None);
        }
        return Err(command_failed(t.host(), &cmd, &out));
    }
    out.stdout_text()
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| TransportError::Protocol {
            host: t.host().to_string(),
            command: cmd.to_string(),
            reason: format!("unexpected size {:?}", out.stdout_text()),
        })
}

/// Whether `path` is a directory (following links: check [`is_link`] too).
pub(crate) async fn is_dir(t: &dyn Transport, path: &RemotePath) -> Result<bool, TransportError> {
    Ok(
        t.run(&Command::new("test").arg("-d").arg(path.as_str()).sudo())
            .await?
            .success(),
    )
}

/// Whether `path` is a symbolic link (not followed).
pub(crate) async fn is_link(t: &dyn Transport, path: &RemotePath) -> Result<bool, TransportError> {
    Ok(
        t.run(&Command::new("test").arg("-L").arg(path.as_str()).sudo())
            .await?
            .success(),
    )
}

/// Appends bytes to a file (created if missing).
pub(crate) async fn append(
    t: &dyn Transport,
    path: &RemotePath,
    bytes: &[u8],
) -> Result<(), TransportError> {
    let cmd = Command::new("dd")
        .args([
            format!("of={path}"),
            "oflag=append".into(),
            "conv=notrunc,fsync".into(),
            "status=none".into(),
        ])
        .stdin(bytes.to_vec())
        .sudo();
    run_checked(t, &cmd).await.map(|_| ())
}

/// The host's local date as `YYYY-MM-DD` (Tomcat names its logs by it).
pub(crate) async fn host_date(t: &dyn Transport) -> Result<String, TransportError> {
    let out = run_checked(t, &Command::new("date").arg("+%Y-%m-%d")).await?;
    Ok(out.stdout_text().trim().to_string())
}

/// HTTP status of `url` as seen from the host, `None` if it did not answer.
pub(crate) async fn probe(
    t: &dyn Transport,
    url: &str,
    timeout: Duration,
) -> Result<Option<u16>, TransportError> {
    let secs = timeout.as_secs().max(1).to_string();
    let cmd = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            &secs,
            "--",
            url,
        ])
        .timeout(timeout.saturating_add(Duration::from_secs(10)));
    let out = t.run(&cmd).await?;
    if !out.success() {
        return Ok(None);
    }
    Ok(out.stdout_text().trim().parse().ok().filter(|&c| c > 0))
}

/// Established TCP connections to `port` inside the network namespace of process `pid`
/// (with Docker's bridge, a container's sockets are not in the host's namespace).
pub(crate) async fn established_connections(
    t: &dyn Transport,
    pid: u32,
    port: u16,
) -> Result<usize, TransportError> {
    let cmd = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ss",
            "-Htn",
            "state",
            "established",
            "sport",
            "=",
            &format!(":{port}"),
        ])
        .sudo();
    let out = run_checked(t, &cmd).await?;
    Ok(out
        .stdout_text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count())
}

/// The log file name for `date` (`YYYY-MM-DD`) from a pattern with `%Y`, `%m`, `%d`.
pub(crate) fn log_name(pattern: &str, date: &str) -> String {
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    pattern
        .replace("%Y", y)
        .replace("%m", m)
        .replace("%d", d)
        .replace("%%", "%")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::path::Path;

    use async_trait::async_trait;

    use super::*;
    use crate::command::Output;
    use crate::transport::{LocalTransport, Uploaded};

    #[test]
    fn df_answers_that_are_not_posix_output_are_refused_not_guessed() {
        let header = "Filesystem 1024-blocks Used Available Capacity Mounted on\n";
        let one = |text: &str| parse_df(text, 1).map(|mut v| v.remove(0));
        let ok = one(&format!("{header}/dev/sda1 100 40 60 40% /srv/my data\n")).unwrap();
        assert_eq!(ok.bytes, 60 * 1024);
        // A mount point with a space is one file system, named whole.
        assert_eq!(ok.filesystem, "/dev/sda1 /srv/my data");
        // Huge counts saturate instead of overflowing.
        let huge = one(&format!("{header}fs 1 1 18446744073709551615 1% /\n")).unwrap();
        assert_eq!(huge.bytes, u64::MAX);
        for bad in [
            String::new(),
            header.to_string(),
            format!("{header}fs 1 1 -5 1% /\n"),
            format!("{header}fs 1 1 lots 1% /\n"),
            format!("{header}fs 1 1 60 1%\n"),
            format!("{header}\n"),
        ] {
            assert!(one(&bad).is_none(), "{bad:?}");
        }
        // Two arguments: two lines, in their order; one line short (or one too many) is
        // not an answer.
        let two = format!("{header}/dev/sda1 100 40 60 40% /srv\ntmpfs 10 1 9 10% /run\n");
        let both = parse_df(&two, 2).unwrap();
        assert_eq!(both[0].filesystem, "/dev/sda1 /srv");
        assert_eq!(both[1].bytes, 9 * 1024);
        assert!(parse_df(&two, 3).is_none());
        assert!(parse_df(&two, 1).is_none());
        assert!(parse_df(&two, 0).is_none());
    }

    #[test]
    fn log_names() {
        assert_eq!(
            super::log_name("logFile.%Y-%m-%d.log", "2017-07-24"),
            "logFile.2017-07-24.log"
        );
        assert_eq!(super::log_name("app.log", "2017-07-24"), "app.log");
    }

    fn rp(p: &Path) -> RemotePath {
        RemotePath::new(p.to_str().unwrap()).unwrap()
    }

    /// This machine, where a container that can write the target directory plants a link
    /// at the temporary name the moment before ihos writes it: the worst moment.
    struct Racing {
        inner: LocalTransport,
        victim: std::path::PathBuf,
    }

    #[async_trait]
    impl Transport for Racing {
        fn host(&self) -> &str {
            self.inner.host()
        }
        async fn run(&self, command: &Command) -> Result<Output, TransportError> {
            for a in command.arguments() {
                if let Some(out) = a.strip_prefix("of=").filter(|o| o.contains(".ihos-tmp-")) {
                    symlink(&self.victim, out).unwrap();
                }
            }
            self.inner.run(command).await
        }
        async fn upload(
            &self,
            local: &Path,
            remote: &RemotePath,
        ) -> Result<Uploaded, TransportError> {
            self.inner.upload(local, remote).await
        }
    }

    #[tokio::test]
    async fn a_link_planted_at_the_temporary_name_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("shadow");
        std::fs::write(&victim, b"root:secret").unwrap();
        let src = dir.path().join("staged.war");
        std::fs::write(&src, b"PK new war").unwrap();
        let webapps = dir.path().join("webapps");
        std::fs::create_dir(&webapps).unwrap();
        let t = Racing {
            inner: LocalTransport::new("here"),
            victim: victim.clone(),
        };
        let err = copy_atomic(&t, &rp(&src), &rp(&webapps.join("ihos.war")))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("File exists"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"root:secret");
        assert!(!webapps.join("ihos.war").exists());
        // The planted link is gone, its target is not.
        assert_eq!(std::fs::read_dir(&webapps).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_link_or_a_directory_at_the_target_is_replaced_or_refused_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new("here");
        let victim = dir.path().join("shadow");
        std::fs::write(&victim, b"root:secret").unwrap();
        let src = dir.path().join("staged.war");
        std::fs::write(&src, b"PK new war").unwrap();
        let war = dir.path().join("ihos.war");
        symlink(&victim, &war).unwrap();
        copy_atomic(&t, &rp(&src), &rp(&war)).await.unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"root:secret");
        assert!(!std::fs::symlink_metadata(&war).unwrap().is_symlink());
        assert_eq!(std::fs::read(&war).unwrap(), b"PK new war");

        // A source that is a link is not read through.
        let linked = dir.path().join("linked.war");
        symlink(&victim, &linked).unwrap();
        let copy = dir.path().join("copy.war");
        assert!(copy_atomic(&t, &rp(&linked), &rp(&copy)).await.is_err());
        assert!(!copy.exists());

        // A directory at the target's name is not moved into.
        let as_dir = dir.path().join("dir.war");
        std::fs::create_dir(&as_dir).unwrap();
        assert!(copy_atomic(&t, &rp(&src), &rp(&as_dir)).await.is_err());
        assert_eq!(std::fs::read_dir(&as_dir).unwrap().count(), 0);
    }
}
