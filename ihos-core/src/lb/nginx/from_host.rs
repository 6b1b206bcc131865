//! nginx's master reached from its host, once it is known to be the container's main
//! process and the host's `ps` just saw it: `nginx -t` in its namespaces, and the reload's
//! SIGHUP. Plain commands over SSH (about 10-20 ms here) where `docker exec` starts a
//! process through the daemon (80 ms under load, 300 ms on a busy host) and `docker kill`
//! asks it (85 ms under load): both on the critical path of every transition.
//!
//! `nginx -t` (util-linux nsenter(1): `-t MASTER -m -u -i -n -p -r -w`: the master's mount,
//! UTS, IPC, network and pid namespaces, its root and working directory, so the
//! container's own `nginx` on the container's own files, and its DNS for upstream names)
//! stands in for `docker exec` only where it says the same thing:
//! - the master runs as root (what `docker exec` runs as in such an image; an image
//!   running nginx as another user is asked through docker);
//! - only its "accepted" is taken, and the caller takes it only if the listing made at the
//!   same time still has that master. Anything else (a refusal, nsenter missing or
//!   refused, `nginx` not on the PATH) is asked again with `docker exec`, whose answer is
//!   the verdict: a refusal is never one that only the host's view would give.
//!
//! The SIGHUP is sent by one shell command that checks that the pid is still nginx's master
//! and signals it: between the check and the signal there is no round trip, so another
//! process taking the pid would have to do it within that command. If the pid is no longer
//! nginx's master the container is signalled through docker, whose word stands.
//!
//! Either command failing for its own reasons (nsenter's messages start `nsenter:`,
//! util-linux 2.38: `cannot open /proc/PID/ns/ipc: Permission denied`, `failed to execute
//! nginx: ...` with status 127; sudo's start `sudo:`) stops it being used by this value; a
//! master that is gone (`cannot open ...: No such file or directory`) does not.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::command::{Command, Privilege};
use crate::transport::{Transport, TransportError};

/// The SIGHUP to nginx's master `$1`, only if that pid is nginx's master: status 3 when it
/// is not (procps `ps -o args=` prints nginx's retitled command line: `nginx: master
/// process nginx -g daemon off;`).
pub(super) const HUP_IF_MASTER: &str = "case $(ps -o args= -p \"$1\") in 'nginx: master process'*) exec kill -s HUP \"$1\";; esac; exit 3";

/// Which of the two have been seen not to work on nginx's host.
#[derive(Debug, Default)]
pub(super) struct FromHost {
    test_broken: AtomicBool,
    signal_broken: AtomicBool,
}

impl FromHost {
    /// Whether `nginx -t` may be run from the host.
    pub(super) fn test_usable(&self) -> bool {
        !self.test_broken.load(Ordering::Relaxed)
    }

    /// Whether the reload's signal may be sent from the host.
    pub(super) fn signal_usable(&self) -> bool {
        !self.signal_broken.load(Ordering::Relaxed)
    }

    /// Whether `nginx_argv` (`nginx [-c FILE] -t -q`) run in `master`'s namespaces
    /// succeeded; `false` means "ask the container", never "refused". A lost connection
    /// is the caller's error, as the container's own test's would be.
    pub(super) async fn test_accepts<T: Transport + ?Sized>(
        &self,
        t: &T,
        master: u32,
        nginx_argv: &[String],
        privilege: Privilege,
    ) -> Result<bool, TransportError> {
        let cmd = test_command(master, nginx_argv).with_privilege(privilege);
        self.run(t, &cmd, &self.test_broken, "nginx -t through nsenter")
            .await
    }

    /// Sends SIGHUP to `master` if it is nginx's master; `false`: not sent, signal the
    /// container instead. A lost connection is the caller's error (the signal may or may
    /// not have been sent), as `docker kill`'s would be.
    pub(super) async fn hup<T: Transport + ?Sized>(
        &self,
        t: &T,
        master: u32,
        privilege: Privilege,
    ) -> Result<bool, TransportError> {
        let cmd = Command::new("sh")
            .args(["-c", HUP_IF_MASTER, "sh", &master.to_string()])
            .with_privilege(privilege);
        self.run(t, &cmd, &self.signal_broken, "SIGHUP from the host")
            .await
    }

    /// Runs `cmd`: whether it exited 0 (marked `broken` when a failure is the tool's
    /// own).
    async fn run<T: Transport + ?Sized>(
        &self,
        t: &T,
        cmd: &Command,
        broken: &AtomicBool,
        what: &str,
    ) -> Result<bool, TransportError> {
        let out = t.run(cmd).await?;
        let Some(status) = out.status else {
            // Killed by a signal: not a verdict.
            return Ok(false);
        };
        if status == 0 {
            return Ok(true);
        }
        let stderr = out.stderr_text();
        if is_tools_own_failure(status, &stderr) {
            tracing::debug!(status, stderr = %stderr, "{what} does not work here: through docker from now on");
            broken.store(true, Ordering::Relaxed);
        }
        Ok(false)
    }
}

/// Whether a failure with `status` and `stderr` is the tool's own (nsenter, sudo, the
/// shell: it will fail the same way next time), not nginx's answer nor a master gone
/// meanwhile (its pid no longer exists, which says nothing of the tool).
fn is_tools_own_failure(status: i32, stderr: &str) -> bool {
    let gone =
        stderr.starts_with("nsenter: cannot open") && stderr.contains("No such file or directory");
    let own = status == 127
        || stderr.starts_with("nsenter:")
        || stderr.starts_with("sudo:")
        || stderr.starts_with("sh:");
    own && !gone
}

/// `nsenter -t MASTER -m -u -i -n -p -r -w -- nginx ...` (`-r` and `-w` without a value
/// take the target's root and working directory).
fn test_command(master: u32, nginx_argv: &[String]) -> Command {
    Command::new("nsenter")
        .args(["-t", &master.to_string()])
        .args(["-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"])
        .args(nginx_argv.iter().cloned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    use super::{HUP_IF_MASTER, is_tools_own_failure};

    /// Linux's SIGHUP.
    const SIGHUP: i32 = 1;

    /// A process whose command line reads `title` (bash's `exec -a`), as nginx retitles its
    /// master; returned once the title is in place.
    fn titled(title: &str) -> Child {
        let child = Command::new("bash")
            .args(["-c", &format!("exec -a '{title}' sleep 30")])
            .spawn()
            .unwrap();
        let cmdline = format!("/proc/{}/cmdline", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read(&cmdline)
            .unwrap_or_default()
            .starts_with(title.as_bytes())
        {
            assert!(Instant::now() < deadline, "{title} never in place");
            std::thread::sleep(Duration::from_millis(10));
        }
        child
    }

    fn run_script(pid: u32) -> i32 {
        let out = Command::new("sh")
            .args(["-c", HUP_IF_MASTER, "sh", &pid.to_string()])
            .output()
            .unwrap();
        out.status.code().unwrap()
    }

    #[test]
    fn the_script_signals_only_a_process_titled_as_nginx_s_master() {
        // Another process at the pid: not signalled, status 3.
        let mut other = titled("nginx: worker process");
        assert_eq!(run_script(other.id()), 3);
        assert_eq!(other.try_wait().unwrap(), None, "still running");
        other.kill().unwrap();
        other.wait().unwrap();
        // A pid that does not exist (any more): status 3.
        assert_eq!(run_script(other.id()), 3);
        // nginx's master: SIGHUP (sleep dies of it).
        let mut master = titled("nginx: master process nginx -g daemon off;");
        assert_eq!(run_script(master.id()), 0);
        assert_eq!(master.wait().unwrap().signal(), Some(SIGHUP));
    }

    #[test]
    fn only_the_tools_own_failures_turn_the_host_path_off() {
        // As util-linux 2.38, sudo and dash say them.
        let own = [
            (
                1,
                "nsenter: cannot open /proc/7/ns/ipc: Permission denied\n",
            ),
            (
                127,
                "nsenter: failed to execute nginx: No such file or directory\n",
            ),
            (1, "sudo: a password is required\n"),
            (127, "sudo: nsenter: command not found\n"),
            (2, "sh: 1: Syntax error: end of file unexpected\n"),
            (127, ""),
        ];
        for (status, stderr) in own {
            assert!(is_tools_own_failure(status, stderr), "{status} {stderr:?}");
        }
        // nginx's refusal, a master gone, and whatever else a host may print: not the tool's.
        let huge = "x".repeat(1 << 20);
        let not_own = [
            (
                1,
                "nginx: [emerg] unknown directive \"servr\" in /etc/nginx/nginx.conf:12\n",
            ),
            (
                1,
                "nsenter: cannot open /proc/7/ns/ipc: No such file or directory\n",
            ),
            (3, ""),
            (1, ""),
            (1, "\nnsenter: on a second line\n"),
            (1, "\u{0}\u{fffd}nsenter:"),
            (1, huge.as_str()),
        ];
        for (status, stderr) in not_own {
            assert!(
                !is_tools_own_failure(status, stderr),
                "{status} {:?}",
                &stderr[..stderr.len().min(60)]
            );
        }
    }
}
