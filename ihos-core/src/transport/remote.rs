//! Small remote operations the engine composes, each one typed command through a
//! [`Transport`]. Paths are [`RemotePath`]s, always absolute, so no argument can be read as
//! an option.

use std::time::Duration;

use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::sha::Sha256;
use crate::transport::{
    Transport, TransportError, check_output, command_failed, remote_sha256, run_checked,
};

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
        if out.stderr_text().contains("No such file") {
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

/// The bytes of `path` from `offset` on (empty if the file is shorter or missing).
pub(crate) async fn read_from(
    t: &dyn Transport,
    path: &RemotePath,
    offset: u64,
) -> Result<Vec<u8>, TransportError> {
    // One round trip: a missing file (no log written yet) reads as empty.
    let cmd = Command::new("tail")
        .args(["-c", &format!("+{}", offset + 1), "--", path.as_str()])
        .sudo();
    let out = t.run(&cmd).await?;
    if !out.success() && out.stderr_text().contains("No such file") {
        return Ok(Vec::new());
    }
    Ok(check_output(t.host(), &cmd, out)?.stdout)
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

/// Copies `src` to `dst` through a temporary name in `dst`'s directory, then renames it, so
/// `dst` is never seen half-written. The temporary name does not end in `.war` (Tomcat
/// deploys every `*.war` it finds).
pub(crate) async fn copy_atomic(
    t: &dyn Transport,
    src: &RemotePath,
    dst: &RemotePath,
) -> Result<(), TransportError> {
    let tmp = temp_path(dst)?;
    let copied = run_checked(
        t,
        &Command::new("cp")
            .args(["--", src.as_str(), tmp.as_str()])
            .sudo(),
    )
    .await;
    let moved = match copied {
        Ok(_) => {
            run_checked(
                t,
                &Command::new("mv")
                    .args(["-f", "--", tmp.as_str(), dst.as_str()])
                    .sudo(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    if moved.is_err() {
        // A copy cut short (full disk, lost connection) leaves no stray file next to the
        // target, when the host can still be reached.
        let _ = t
            .run(&Command::new("rm").args(["-f", "--", tmp.as_str()]).sudo())
            .await;
    }
    moved.map(|_| ())
}

/// SHA-256 of a file, `None` if it does not exist.
pub(crate) async fn sha256_if_exists(
    t: &dyn Transport,
    path: &RemotePath,
) -> Result<Option<Sha256>, TransportError> {
    if !exists(t, path).await? {
        return Ok(None);
    }
    remote_sha256(t, path, Privilege::Sudo).await.map(Some)
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
        .timeout(timeout + Duration::from_secs(10));
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
    #[test]
    fn log_names() {
        assert_eq!(
            super::log_name("logFile.%Y-%m-%d.log", "2017-07-24"),
            "logFile.2017-07-24.log"
        );
        assert_eq!(super::log_name("app.log", "2017-07-24"), "app.log");
    }
}
