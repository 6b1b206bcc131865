//! Waiting on the host for a process to end: the container's main process, while docker
//! stops the container. `docker stop` returns only once docker has torn the container
//! down after it (network, mounts: 0.2-0.5 s per stop on a busy host), but once that
//! process has ended, no process of the container is left (the kernel ends a pid
//! namespace's other processes before its first one finishes exiting): what only had to
//! wait for Tomcat to be gone (the WAR's removal and install) can run during the teardown.

use std::time::Duration;

use crate::command::Command;
use crate::transport::Transport;

/// `sh -c EXIT_WATCH sh PID LOOKS`: exit status 0 once the process, seen at the first look,
/// is gone (reaped: a zombie may be a thread group whose first thread ended while others
/// run) or its pid is another process's (its start time, field 22 of `/proc/PID/stat`
/// (proc(5)), changed); 3 when this cannot be told: the process is not there at the first
/// look (already ended, or another container's restarted Tomcat may be running in its
/// place), other users' processes are hidden (`hidepid`), the stat line is not as proc(5)
/// says, or it is still there after LOOKS looks. Looked at every 10 ms for a second, then
/// every 0.1 s; a `sleep` that takes no fraction (not GNU's, not BusyBox's) sleeps a second
/// instead of spinning. Only shell builtins between the sleeps: `read`, not `cat`. Runs as
/// the login user: `/proc/PID/stat` is world-readable where processes are not hidden.
const EXIT_WATCH: &str = r#"set -f
p=$1 n=$2 t= i=0
[ -r /proc/1/stat ] || exit 3
while :; do
  if ! { IFS= read -r s <"/proc/$p/stat"; } 2>/dev/null; then
    [ -n "$t" ] && exit 0
    exit 3
  fi
  set -- ${s##*\)}
  [ $# -ge 20 ] || exit 3
  shift 19
  [ -n "$t" ] || t=$1
  [ "$1" = "$t" ] || exit 0
  i=$((i+1))
  [ "$i" -le "$n" ] || exit 3
  if [ $i -le 100 ]; then sleep 0.01 || sleep 1; else sleep 0.1 || sleep 1; fi
done
"#;

/// How many looks [`EXIT_WATCH`] takes within `within`: 100 in its first second, then ten a
/// second.
fn looks(within: Duration) -> u64 {
    100 + within.saturating_sub(Duration::from_secs(1)).as_millis() as u64 / 100
}

/// Waits until the process `pid`, running now, has ended, at most `within`: `true` once it
/// has, `false` when the host cannot tell (not running at the first look, hidden
/// processes, no answer in time, a failed command; the caller then waits for what it would
/// have waited for anyway). `pid` must be one the caller saw running moments ago in the
/// login's pid namespace (the drain counts its connections through it until it ends).
pub(crate) async fn wait_for_exit(t: &dyn Transport, pid: u32, within: Duration) -> bool {
    let watch = Command::new("sh")
        .args(["-c", EXIT_WATCH, "sh"])
        .arg(pid.to_string())
        .arg(looks(within).to_string())
        .timeout(within);
    let why = match t.run(&watch).await {
        Ok(out) if out.status == Some(0) => return true,
        Ok(out) => format!("exit status {:?}", out.status),
        Err(e) => e.to_string(),
    };
    tracing::debug!(
        host = t.host(),
        pid,
        why,
        "cannot tell when the process ends"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script run by the shells hosts have, against real processes of this machine.
    fn watch(shell: &str, pid: u32) -> std::process::Output {
        watch_looks(shell, pid, 1000)
    }

    fn watch_looks(shell: &str, pid: u32, looks: u64) -> std::process::Output {
        std::process::Command::new(shell)
            .args(["-c", EXIT_WATCH, "sh", &pid.to_string(), &looks.to_string()])
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
    fn a_running_process_is_waited_for_until_it_is_gone() {
        for shell in shells() {
            let mut child = std::process::Command::new("sleep")
                .arg("0.4")
                .spawn()
                .unwrap();
            let pid = child.id();
            // Reaped 0.3 s after it ended: until then a zombie, which is not "gone".
            let reaper = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(700));
                child.wait().unwrap();
            });
            let began = std::time::Instant::now();
            let out = watch(shell, pid);
            let waited = began.elapsed();
            reaper.join().unwrap();
            assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
            assert!(waited >= Duration::from_millis(650), "{shell}: {waited:?}");
            assert!(out.stderr.is_empty(), "{shell}: {out:?}");
        }
    }

    #[test]
    fn a_process_not_there_at_the_first_look_cannot_be_told() {
        // Ended already, or never this one's: another process may run in its place.
        for shell in shells() {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            let out = watch(shell, pid);
            assert_eq!(out.status.code(), Some(3), "{shell}: {out:?}");
            assert!(out.stderr.is_empty(), "{shell}: {out:?}");
        }
    }

    #[test]
    fn a_process_that_outlives_its_looks_cannot_be_told() {
        for shell in shells() {
            let mut child = std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .unwrap();
            let began = std::time::Instant::now();
            let out = watch_looks(shell, child.id(), 5);
            let took = began.elapsed();
            let _ = child.kill();
            child.wait().unwrap();
            assert_eq!(out.status.code(), Some(3), "{shell}: {out:?}");
            assert!(took < Duration::from_secs(2), "{shell}: {took:?}");
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
            let pid = child.id();
            let reaper = std::thread::spawn(move || child.wait().unwrap());
            let began = std::time::Instant::now();
            let out = watch(shell, pid);
            reaper.join().unwrap();
            assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
            assert!(began.elapsed() >= Duration::from_millis(200), "{shell}");
        }
    }
}
