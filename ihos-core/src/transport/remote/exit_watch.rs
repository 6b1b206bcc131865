//! Waiting on the host for a process to end: the container's main process, while docker
//! stops the container. `docker stop` returns only once docker has torn the container
//! down after it (network, mounts: 0.2-0.5 s per stop on a busy host), but once that
//! process has ended, no process of the container is left (the kernel ends a pid
//! namespace's other processes before its first one finishes exiting): what only had to
//! wait for Tomcat to be gone (the WAR's removal and install) can run during the teardown.

use std::time::Duration;

use crate::command::Command;
use crate::transport::Transport;

/// `sh -c EXIT_WATCH sh PID`: exit status 0 once the process is gone, a zombie, or its
/// pid another process's (its start time, field 22 of `/proc/PID/stat` (proc(5)), changed);
/// 3 when this cannot be told: other users' processes are hidden (`hidepid`), or the stat
/// line is not as proc(5) says. Polled every 10 ms for a second, then every 0.1 s; a
/// `sleep` that takes no fraction (not GNU's, not BusyBox's) sleeps a second instead of
/// spinning. Only shell builtins between the sleeps: `read`, not `cat`. Runs as the login
/// user: `/proc/PID/stat` is world-readable where processes are not hidden.
const EXIT_WATCH: &str = r#"set -f
p=$1 t= i=0
[ -r /proc/1/stat ] || exit 3
while :; do
  { IFS= read -r s <"/proc/$p/stat"; } 2>/dev/null || exit 0
  set -- ${s##*\)}
  [ $# -ge 20 ] || exit 3
  st=$1
  shift 19
  [ -n "$t" ] || t=$1
  [ "$1" = "$t" ] || exit 0
  case $st in Z|X|x) exit 0 ;; esac
  i=$((i+1))
  if [ $i -le 100 ]; then sleep 0.01 || sleep 1; else sleep 0.1 || sleep 1; fi
done
"#;

/// Waits until the process `pid` has ended, at most `within`: `true` once it has, `false`
/// when the host cannot tell (hidden processes, no answer in time, a failed command; the
/// caller then waits for what it would have waited for anyway).
///
/// A pid that is not there at all counts as ended, so `pid` must be one the caller saw
/// running moments ago in the login's pid namespace (the drain counts its connections
/// through it until it ends).
pub(crate) async fn wait_for_exit(t: &dyn Transport, pid: u32, within: Duration) -> bool {
    let watch = Command::new("sh")
        .args(["-c", EXIT_WATCH, "sh"])
        .arg(pid.to_string())
        .timeout(within);
    match t.run(&watch).await {
        Ok(out) if out.status == Some(0) => true,
        Ok(out) => {
            tracing::debug!(host = t.host(), pid, status = ?out.status, "cannot tell when the process ends");
            false
        }
        Err(e) => {
            tracing::debug!(host = t.host(), pid, error = %e, "cannot tell when the process ends");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script run by the shells hosts have, against real processes of this machine.
    fn watch(shell: &str, pid: u32) -> std::process::Output {
        std::process::Command::new(shell)
            .args(["-c", EXIT_WATCH, "sh", &pid.to_string()])
            .output()
            .unwrap()
    }

    fn shells() -> Vec<&'static str> {
        ["/bin/sh", "/bin/dash", "/bin/bash"]
            .into_iter()
            .filter(|s| std::path::Path::new(s).exists())
            .collect()
    }

    #[test]
    fn a_running_process_is_waited_for_until_it_ends() {
        for shell in shells() {
            let mut child = std::process::Command::new("sleep")
                .arg("0.4")
                .spawn()
                .unwrap();
            let began = std::time::Instant::now();
            let out = watch(shell, child.id());
            let waited = began.elapsed();
            child.wait().unwrap();
            assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
            // It waited for the exit (the zombie counts as ended: nothing reaps it here
            // until the watch is over).
            assert!(waited >= Duration::from_millis(300), "{shell}: {waited:?}");
            assert!(out.stderr.is_empty(), "{shell}: {out:?}");
        }
    }

    #[test]
    fn a_process_already_gone_has_ended() {
        for shell in shells() {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            let out = watch(shell, pid);
            assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
            assert!(out.stderr.is_empty(), "{shell}: {out:?}");
        }
    }

    #[test]
    fn a_process_with_spaces_and_parentheses_in_its_name_is_read_right() {
        // comm (field 2) is the program's name, in parentheses, and may hold both.
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a) b (c");
        std::fs::copy("/bin/sleep", &odd).unwrap();
        for shell in shells() {
            let mut child = std::process::Command::new(&odd).arg("0.3").spawn().unwrap();
            let began = std::time::Instant::now();
            let out = watch(shell, child.id());
            child.wait().unwrap();
            assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
            assert!(began.elapsed() >= Duration::from_millis(200), "{shell}");
        }
    }
}
