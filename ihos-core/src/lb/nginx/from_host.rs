//! nginx's master reached from its host, once it is known to be the container's main
//! process and the host's `ps` just saw it: `nginx -t` in its namespaces, and the reload's
//! SIGHUP. Plain commands over SSH (about 10-20 ms here) where `docker exec` starts a
//! process through the daemon (80 ms under load, 300 ms on a busy host) and `docker kill`
//! asks it (85 ms under load): both on the critical path of every transition.
//!
//! The master is named by its pid and its start time (see `host_ps.rs`): each command
//! first checks, on the host, that the process at that pid started then (status 3 when
//! not: gone, or the pid taken by another process, even another nginx's master), so that
//! neither the test nor the signal reaches another nginx than ours.
//!
//! `nginx -t` (util-linux nsenter(1): `-t MASTER -m -u -i -n -p -r -w`: the master's mount,
//! UTS, IPC, network and pid namespaces, its root and working directory, so the
//! container's own `nginx` on the container's own files, and its DNS for upstream names)
//! stands in for `docker exec` only where it says the same thing:
//! - the master runs as root (what `docker exec` runs as in such an image; an image
//!   running nginx as another user is asked through docker);
//! - nsenter's process is the host's root: every capability and the host's LSM context,
//!   where `docker exec` gets the container's. What `nginx -t` does with its files
//!   (read them, create logs and temp dirs, chown them) depends on CHOWN, DAC_OVERRIDE,
//!   FOWNER, FSETID, SETGID and SETUID: a master whose bounding set lacks one of them
//!   (`--cap-drop`) is tested in its container; so is one whose LSM label (proc(5):
//!   `/proc/PID/attr/current`) is neither the host shell's own, nor AppArmor's
//!   `docker-default` or `unconfined` (an SELinux `container_t`, a custom AppArmor profile:
//!   a file the host reads may be denied to the container). Status 4, remembered for that
//!   master. A custom seccomp profile is not seen from here (proc(5) shows only that one is
//!   in force, as docker's default is): a syscall it denies to the test also fails the
//!   reload, which the caller sees as no switch and undoes.
//! - only its "accepted" is taken, and the caller takes it only if the listing made at the
//!   same time still has that master. Anything else (a refusal, nsenter missing or
//!   refused, `nginx` not on the PATH) is asked again with `docker exec`, whose answer is
//!   the verdict: a refusal is never one that only the host's view would give.
//!
//! The SIGHUP is sent by one shell command that checks that the pid is still nginx's master
//! started at that time and signals it: between the check and the signal there is no
//! round trip. If not, the container is signalled through docker, whose word stands.
//!
//! Either command failing for its own reasons (nsenter's messages start `nsenter:`,
//! util-linux 2.38: `cannot open /proc/PID/ns/ipc: Permission denied`, `failed to execute
//! nginx: ...` with status 127; sudo's `sudo:` or `Sorry, user ... is not allowed`; procps
//! kill's `kill: (PID): Operation not permitted`) stops it being used by this value; a
//! master that is gone (`No such file or directory`, `No such process`) or a fork that
//! failed for want of resources do not: that one change is asked of docker. A host test
//! that outlives its own limit is the tool's failure too (docker is asked); the signal's
//! timeout, like a lost connection, is the caller's error, as `docker kill`'s would be.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::host_ps::MasterId;
use crate::command::{Command, Privilege};
use crate::transport::{Transport, TransportError};

/// The start of both scripts: `p` and `t` from `$1` (the pid) and `$2` (its start time),
/// shifted off; status 3 unless the process at `p` started at `t` (`/proc/PID/stat` field
/// 22, counted after comm's last `)`).
macro_rules! same_process {
    () => {
        "set -f; p=$1 t=$2; shift 2; s=$(cat \"/proc/$p/stat\" 2>/dev/null) || exit 3; f() { [ $# -gt 19 ] && shift 19 && [ \"$1\" = \"$t\" ]; }; f ${s##*\\)} || exit 3; "
    };
}

/// The SIGHUP to nginx's master `$1` started at `$2`, only if it is that process and
/// nginx's master: status 3 when not (procps `ps -o args=` prints nginx's retitled
/// command line: `nginx: master process nginx -g daemon off;`).
pub(super) const HUP_IF_MASTER: &str = concat!(
    same_process!(),
    "case $(ps -o args= -p \"$p\") in 'nginx: master process'*) exec kill -s HUP \"$p\";; esac; exit 3"
);

/// `nginx -t` (the rest of the arguments) in the namespaces of nginx's master `$1` started
/// at `$2`: status 3 when it is not that process, 4 when its capabilities or LSM label
/// could make its container's test differ from the host root's (see the module's
/// overview). proc(5): the line starting `CapBnd:` in `/proc/PID/status` is the bounding
/// set in hex; bits 0, 1, 3, 4, 6, 7 (0xdb) are CHOWN, DAC_OVERRIDE, FOWNER, FSETID,
/// SETGID, SETUID (capability.h). SELinux's label ends in a NUL, which `tr` drops (bash
/// warns of one left in a command substitution, and the warning would read as the shell's
/// own failure).
pub(super) const TEST_IN_MASTER: &str = concat!(
    same_process!(),
    "b=$(sed -n 's/^CapBnd:[[:space:]]*//p' \"/proc/$p/status\" 2>/dev/null); ",
    "case $b in ''|*[!0-9a-f]*) exit 4;; esac; [ $((0x$b & 0xdb)) = $((0xdb)) ] || exit 4; ",
    "a=$(cat \"/proc/$p/attr/current\" 2>/dev/null | tr -d '\\000'); o=$(cat /proc/self/attr/current 2>/dev/null | tr -d '\\000'); ",
    "case $a in \"$o\"|'docker-default (enforce)'|unconfined) ;; *) exit 4;; esac; ",
    "exec nsenter -t \"$p\" -m -u -i -n -p -r -w -- \"$@\""
);

/// Time allowed for either command; past it, that change asks docker.
const HOST_TIMEOUT: Duration = Duration::from_secs(30);

/// What one of the scripts said.
enum Answer {
    /// Exit 0: accepted, or signalled.
    Done,
    /// The process at the pid is not that master (status 3).
    NotThatMaster,
    /// The master's capabilities or LSM label differ from what the host test has.
    ContextDiffers,
    /// Anything else: a refusal, or a failure (the tool's own ones are remembered).
    Other,
}

/// Which of the two have been seen not to work on nginx's host.
#[derive(Debug, Default)]
pub(super) struct FromHost {
    test_broken: AtomicBool,
    signal_broken: AtomicBool,
    /// A master whose capabilities or LSM label make the host's test unlike its own.
    unlike: Mutex<Option<MasterId>>,
}

impl FromHost {
    /// Whether `nginx -t` may be run from the host for `master`.
    pub(super) fn test_usable(&self, master: MasterId) -> bool {
        !self.test_broken.load(Ordering::Relaxed)
            && *self.unlike.lock().unwrap_or_else(|e| e.into_inner()) != Some(master)
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
        master: MasterId,
        nginx_argv: &[String],
        privilege: Privilege,
    ) -> Result<bool, TransportError> {
        let cmd = script(TEST_IN_MASTER, master)
            .args(nginx_argv.iter().cloned())
            .with_privilege(privilege);
        let answer = match self
            .run(t, &cmd, &self.test_broken, "nginx -t through nsenter")
            .await
        {
            // Its own limit (a hang in the host's test, not a lost connection): the
            // container is asked, and the host no more for this run.
            Err(TransportError::Timeout { after, .. }) if after == HOST_TIMEOUT => {
                tracing::debug!("nginx -t through nsenter timed out: through docker from now on");
                self.test_broken.store(true, Ordering::Relaxed);
                Answer::Other
            }
            answer => answer?,
        };
        match answer {
            Answer::Done => Ok(true),
            Answer::ContextDiffers => {
                tracing::debug!(
                    pid = master.pid,
                    "nginx's master runs with fewer capabilities or another LSM label than the host's test would: tested in its container"
                );
                *self.unlike.lock().unwrap_or_else(|e| e.into_inner()) = Some(master);
                Ok(false)
            }
            Answer::NotThatMaster | Answer::Other => Ok(false),
        }
    }

    /// Sends SIGHUP to `master` if it is nginx's master; `false`: not sent, signal the
    /// container instead. A lost connection or a timeout is the caller's error (the signal
    /// may or may not have been sent, or be sent late), as `docker kill`'s would be.
    pub(super) async fn hup<T: Transport + ?Sized>(
        &self,
        t: &T,
        master: MasterId,
        privilege: Privilege,
    ) -> Result<bool, TransportError> {
        let cmd = script(HUP_IF_MASTER, master).with_privilege(privilege);
        let answer = self.run(t, &cmd, &self.signal_broken, "SIGHUP from the host");
        Ok(matches!(answer.await?, Answer::Done))
    }

    /// Runs `cmd` (marking `broken` when a failure is the tool's own).
    async fn run<T: Transport + ?Sized>(
        &self,
        t: &T,
        cmd: &Command,
        broken: &AtomicBool,
        what: &str,
    ) -> Result<Answer, TransportError> {
        let out = t.run(cmd).await?;
        let stderr = out.stderr_text();
        match out.status {
            Some(0) => return Ok(Answer::Done),
            Some(3) if stderr.is_empty() => return Ok(Answer::NotThatMaster),
            Some(4) if stderr.is_empty() => return Ok(Answer::ContextDiffers),
            // Killed by a signal: not a verdict.
            None => return Ok(Answer::Other),
            Some(_) => {}
        }
        let status = out.status.unwrap_or_default();
        if is_tools_own_failure(status, &stderr) {
            tracing::debug!(status, stderr = %stderr, "{what} does not work here: through docker from now on");
            broken.store(true, Ordering::Relaxed);
        }
        Ok(Answer::Other)
    }
}

/// `sh -c SCRIPT sh PID START`.
fn script(script: &str, master: MasterId) -> Command {
    Command::new("sh")
        .args(["-c", script, "sh"])
        .args([master.pid.to_string(), master.start.to_string()])
        .timeout(HOST_TIMEOUT)
}

/// Whether a failure with `status` and `stderr` is the tool's own (nsenter, sudo, the
/// shell, kill: it will fail the same way next time), not nginx's answer, a master gone
/// meanwhile (which says nothing of the tool) nor a fork that failed for want of
/// resources (the next may not).
fn is_tools_own_failure(status: i32, stderr: &str) -> bool {
    let gone = stderr.contains("No such file or directory")
        && stderr.starts_with("nsenter: cannot open")
        || stderr.starts_with("kill:") && stderr.contains("No such process");
    let transient = [
        "fork",
        "Resource temporarily unavailable",
        "Cannot allocate memory",
    ]
    .iter()
    .any(|m| stderr.contains(m));
    let own = status == 126
        || status == 127
        || ["nsenter:", "sudo:", "sh:", "kill:", "Sorry, user "]
            .iter()
            .any(|p| stderr.starts_with(p));
    own && !gone && !transient
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::ExitStatusExt;
    use std::path::Path;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    use super::{HUP_IF_MASTER, TEST_IN_MASTER, is_tools_own_failure};
    use crate::lb::nginx::host_ps::start_time;

    /// Linux's SIGHUP.
    const SIGHUP: i32 = 1;

    /// A process whose command line reads `title` (bash's `exec -a`), as nginx retitles its
    /// master; returned once the title is in place, with its start time.
    fn titled(title: &str) -> (Child, u64) {
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
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
        let start = start_time(&stat, child.id()).unwrap();
        (child, start)
    }

    /// `SHELL -c SCRIPT sh PID START ARGS...` with `path_dir` first on the PATH: status,
    /// stdout and stderr.
    fn run_in(
        shell: &str,
        script: &str,
        pid: u32,
        start: u64,
        args: &[&str],
        path_dir: &Path,
    ) -> (i32, String, String) {
        let path = format!("{}:{}", path_dir.display(), std::env::var("PATH").unwrap());
        let out = Command::new(shell)
            .args(["-c", script, "sh", &pid.to_string(), &start.to_string()])
            .args(args)
            .env("PATH", path)
            .output()
            .unwrap();
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (
            out.status.code().unwrap(),
            text(out.stdout),
            text(out.stderr),
        )
    }

    /// [`run_in`] with `sh` (dash on Debian): status and stdout.
    fn run_script(
        script: &str,
        pid: u32,
        start: u64,
        args: &[&str],
        path_dir: &Path,
    ) -> (i32, String) {
        let (status, stdout, _) = run_in("sh", script, pid, start, args, path_dir);
        (status, stdout)
    }

    /// A directory with an `nsenter` that prints its arguments, one per line.
    fn fake_nsenter() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let nsenter = dir.path().join("nsenter");
        std::fs::write(&nsenter, "#!/bin/sh\nprintf '%s\\n' \"$@\"\n").unwrap();
        std::fs::set_permissions(&nsenter, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn the_signal_reaches_only_nginx_s_master_started_when_it_was_seen() {
        let none = tempfile::tempdir().unwrap();
        let hup = |pid, start| run_script(HUP_IF_MASTER, pid, start, &[], none.path()).0;
        // Another process at the pid: not signalled, status 3.
        let (mut other, start) = titled("nginx: worker process");
        assert_eq!(hup(other.id(), start), 3);
        assert_eq!(other.try_wait().unwrap(), None, "still running");
        other.kill().unwrap();
        other.wait().unwrap();
        // A pid that does not exist (any more): status 3.
        assert_eq!(hup(other.id(), start), 3);
        // nginx's master, but not the process first seen at that pid: status 3.
        let (mut master, start) = titled("nginx: master process nginx -g daemon off;");
        assert_eq!(hup(master.id(), start + 1), 3);
        assert_eq!(hup(master.id(), start.saturating_sub(1)), 3);
        assert_eq!(master.try_wait().unwrap(), None, "still running");
        // The master seen: SIGHUP (sleep dies of it).
        assert_eq!(hup(master.id(), start), 0);
        assert_eq!(master.wait().unwrap().signal(), Some(SIGHUP));
    }

    #[test]
    fn the_test_enters_only_the_master_started_when_it_was_seen() {
        let nsenter = fake_nsenter();
        let (mut master, start) = titled("nginx: master process nginx -g daemon off;");
        let pid = master.id();
        let args = ["nginx", "-c", "/etc/nginx/a b.conf", "-t", "-q"];
        let (status, stdout) = run_script(TEST_IN_MASTER, pid, start, &args, nsenter.path());
        let want = format!(
            "-t\n{pid}\n-m\n-u\n-i\n-n\n-p\n-r\n-w\n--\n{}\n",
            args.join("\n")
        );
        assert_eq!((status, stdout.as_str()), (0, want.as_str()));
        let (status, stdout) = run_script(TEST_IN_MASTER, pid, start + 1, &args, nsenter.path());
        assert_eq!((status, stdout.as_str()), (3, ""));
        master.kill().unwrap();
        master.wait().unwrap();
        let (status, stdout) = run_script(TEST_IN_MASTER, pid, start, &args, nsenter.path());
        assert_eq!((status, stdout.as_str()), (3, ""));
    }

    /// The test script reading `proc` instead of `/proc`: a master (pid 6360, started at
    /// 8853911) with the bounding set `cap_bnd` and the LSM label `label`, run by a shell
    /// whose own label is `own`.
    fn in_fake_proc(cap_bnd: &str, label: Option<&str>, own: Option<&str>) -> i32 {
        in_fake_proc_named("nginx", cap_bnd, label, own)
    }

    /// [`in_fake_proc`] for a master whose command name (comm) is `name`.
    fn in_fake_proc_named(
        name: &str,
        cap_bnd: &str,
        label: Option<&str>,
        own: Option<&str>,
    ) -> i32 {
        let nsenter = fake_nsenter();
        let proc = tempfile::tempdir().unwrap();
        let root = proc.path();
        for dir in ["6360/attr", "self/attr"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        // As Linux 6.1 prints them (status abridged).
        std::fs::write(
            root.join("6360/stat"),
            "6360 (nginx) S 6339 6360 6360 0 -1 4194560 1032 0 0 0 0 0 0 0 20 0 1 0 8853911 11059200 1570\n",
        )
        .unwrap();
        std::fs::write(
            root.join("6360/status"),
            format!("Name:\t{name}\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t{cap_bnd}\nCapEff:\t{cap_bnd}\nCapBnd:\t{cap_bnd}\nCapAmb:\t0000000000000000\nSeccomp:\t2\n"),
        )
        .unwrap();
        for (file, text) in [("6360/attr/current", label), ("self/attr/current", own)] {
            if let Some(text) = text {
                std::fs::write(root.join(file), text).unwrap();
            }
        }
        let script = TEST_IN_MASTER.replace("/proc/", &format!("{}/", root.display()));
        // dash (Debian's sh) and bash (RHEL's): the same status, nothing on stderr (which
        // would read as the shell's own failure).
        let answers: Vec<_> = ["sh", "bash"]
            .iter()
            .map(|shell| {
                let (status, _, stderr) = run_in(
                    shell,
                    &script,
                    6360,
                    8853911,
                    &["nginx", "-t"],
                    nsenter.path(),
                );
                assert_eq!(stderr, "", "{shell}");
                status
            })
            .collect();
        assert_eq!(answers[0], answers[1], "dash and bash");
        answers[0]
    }

    #[test]
    fn the_test_is_left_to_the_container_when_its_master_may_do_less_than_host_root() {
        // docker's default set, the full set, and a default set less NET_RAW (13): alike.
        assert_eq!(in_fake_proc("00000000a80425fb", None, None), 0);
        assert_eq!(in_fake_proc("000001ffffffffff", None, None), 0);
        assert_eq!(in_fake_proc("00000000a80405fb", None, None), 0);
        // DAC_OVERRIDE (1) dropped, CHOWN (0) dropped, `--cap-drop ALL`: unlike.
        assert_eq!(in_fake_proc("00000000a80425f9", None, None), 4);
        assert_eq!(in_fake_proc("00000000a80425fa", None, None), 4);
        assert_eq!(in_fake_proc("0000000000000000", None, None), 4);
        // Not a bounding set at all.
        assert_eq!(in_fake_proc("", None, None), 4);
        assert_eq!(in_fake_proc("zz; exit 0", None, None), 4);
        assert_eq!(in_fake_proc("$(exit 0)", None, None), 4);
        // A command name that reads like the line (comm is any program's to choose): the
        // bounding set is the line's that starts so.
        let spoof = "CapBnd: 00000000000000ff";
        assert_eq!(in_fake_proc_named(spoof, "0000000000000000", None, None), 4);
        // LSM labels: docker's AppArmor profile or none, as the host's own: alike.
        let default = Some("docker-default (enforce)\n");
        assert_eq!(
            in_fake_proc("00000000a80425fb", default, Some("unconfined\n")),
            0
        );
        assert_eq!(
            in_fake_proc(
                "00000000a80425fb",
                Some("unconfined\n"),
                Some("unconfined\n")
            ),
            0
        );
        // SELinux's container_t, a custom AppArmor profile: unlike.
        let selinux = Some("system_u:system_r:container_t:s0:c112,c967\0");
        let host = Some("unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023\0");
        assert_eq!(in_fake_proc("00000000a80425fb", selinux, host), 4);
        let custom = Some("nginx-hardened (enforce)\n");
        assert_eq!(
            in_fake_proc("00000000a80425fb", custom, Some("unconfined\n")),
            4
        );
    }

    #[test]
    fn only_the_tools_own_failures_turn_the_host_path_off() {
        // As util-linux 2.38, sudo, procps kill and dash say them.
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
            (
                1,
                "Sorry, user deploy is not allowed to execute '/bin/sh -c ...' as root on lb1.\n",
            ),
            (1, "kill: (7): Operation not permitted\n"),
            (2, "sh: 1: Syntax error: end of file unexpected\n"),
            (127, ""),
            (126, ""),
        ];
        for (status, stderr) in own {
            assert!(is_tools_own_failure(status, stderr), "{status} {stderr:?}");
        }
        // nginx's refusal, a master gone, a fork that failed once, and whatever else a host
        // may print: not the tool's.
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
            (1, "kill: (7): No such process\n"),
            (
                1,
                "nsenter: fork failed: Resource temporarily unavailable\n",
            ),
            (2, "sh: 1: Cannot fork\n"),
            (1, "nsenter: cannot allocate: Cannot allocate memory\n"),
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
