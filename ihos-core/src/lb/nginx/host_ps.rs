//! nginx's processes listed from the host with `ps`, when its master is the container's
//! main process: a plain command over SSH (about 10 ms here) where `docker top` asks the
//! daemon (35-70 ms under load). The reload's switch and the drain's old workers are
//! looked for many times per transition, so each look is that much sooner.
//!
//! `docker inspect`'s State.Pid and `docker top`'s pids are the host's, so the master's
//! pid learnt from one is the pid `ps` knows on the same host. Its workers (and old ones
//! still finishing) are its children. Whatever does not hold (no `ps`, a pid namespace
//! the login does not see) makes the listing give way to `docker top`, the same answer
//! the slower way; a host where `ps` failed is not asked again.
//!
//! A pid alone does not name a process: once nginx's container restarts, its old master's
//! pid may be taken by another process, even another nginx's master (several nginx
//! containers on a host, pid_max 32768). The master is known by its pid and its start time
//! (`/proc/PID/stat` field 22, clock ticks since boot: proc(5)), read after `ps` in the same
//! command; a listing whose master started at another time than the one first seen is not
//! this master's, and `docker top` answers instead. The first listing after docker named
//! the pid (a few hundred milliseconds later) says which process that is: a pid freed and
//! taken again within that time, which needs the kernel's pid counter to wrap around
//! meanwhile, is not told apart.
//!
//! The listing also says which user the master runs as: `nginx -t` from the host in its
//! namespaces (see `from_host.rs`) stands in for the container's own only for a master
//! running as root, which is what `docker exec` runs it as in such an image.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::command::Command;
use crate::container::Process;
use crate::transport::Transport;

/// The host's listing of nginx's master `$1` and its children, then (after them, so that a
/// process taking the pid meanwhile shows as another start time) the master's
/// `/proc/PID/stat` after an empty line. procps: `-p` selects the master, `--ppid` its
/// children; `pid=,uid=,args=` prints no header; it exits 1 when nothing is selected. A
/// master gone before `cat` reads its stat: status 1, nothing on stderr.
pub(super) const LIST_MASTER: &str = "ps -o pid=,uid=,args= --ppid \"$1\" -p \"$1\" || exit; echo; exec cat \"/proc/$1/stat\" 2>/dev/null";

/// nginx's master as one process: its pid and when it started (clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MasterId {
    pub(super) pid: u32,
    pub(super) start: u64,
}

/// Whether `ps` on the host has been seen not to work (then `docker top` is used).
#[derive(Debug, Default)]
pub(super) struct HostPs {
    broken: AtomicBool,
    /// The master as the first listing of its pid found it: a later listing of that pid is
    /// taken only for the same process.
    known: Mutex<Option<MasterId>>,
    /// The master and the user id it runs as, as the last listing found them.
    last_master: Mutex<Option<(MasterId, u32)>>,
}

impl HostPs {
    /// The master `master` and its children, from the host's `ps`; `None` when that does
    /// not give them (the caller lists the container's processes instead).
    pub(super) async fn list<T: Transport + ?Sized>(
        &self,
        t: &T,
        master: u32,
    ) -> Option<Vec<Process>> {
        if self.broken.load(Ordering::Relaxed) {
            return None;
        }
        self.set_last_master(None);
        let list = Command::new("sh").args(["-c", LIST_MASTER, "sh", &master.to_string()]);
        let out = match t.run(&list).await {
            Ok(out) => out,
            Err(e) => {
                tracing::debug!(error = %e, "ps on the host: listing with docker top instead");
                return None;
            }
        };
        if out.status == Some(1) && out.stderr.is_empty() {
            // Nothing selected, or the master gone before its stat was read: this master
            // is gone (nginx restarted), or ps may not see it (`hidepid`): the caller's
            // `docker top` tells which ([`HostPs::unseen`]).
            return None;
        }
        let listed = match out.success() {
            true => parse(&out.stdout_text(), master),
            false => None,
        };
        let Some(listed) = listed else {
            // Not allowed (hidepid), the pid another namespace's, or no `ps`: the daemon is
            // asked from now on.
            tracing::debug!(
                status = ?out.status,
                stderr = %out.stderr_text(),
                "ps on the host does not list nginx's master: listing with docker top"
            );
            self.broken.store(true, Ordering::Relaxed);
            return None;
        };
        let Some(uid) = listed.master_uid else {
            // The pid is no longer nginx's master.
            return None;
        };
        let id = MasterId {
            pid: master,
            start: listed.master_start,
        };
        if !self.same_process(id) {
            tracing::debug!(
                pid = master,
                "nginx's master pid now names another process: listing with docker top"
            );
            return None;
        }
        self.set_last_master(Some((id, uid)));
        Some(listed.processes)
    }

    /// Whether `id` is the process first seen at its pid (remembered when it is the first).
    fn same_process(&self, id: MasterId) -> bool {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match *known {
            Some(k) if k.pid == id.pid => k == id,
            _ => {
                *known = Some(id);
                true
            }
        }
    }
}

impl HostPs {
    fn set_last_master(&self, master: Option<(MasterId, u32)>) {
        *self.last_master.lock().unwrap_or_else(|e| e.into_inner()) = master;
    }

    fn last_master(&self) -> Option<(MasterId, u32)> {
        *self.last_master.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The master, if the last listing found `master` as nginx's master.
    pub(super) fn saw_master(&self, master: u32) -> Option<MasterId> {
        self.last_master()
            .map(|(id, _)| id)
            .filter(|id| id.pid == master)
    }

    /// The master, if the last listing found `master` as nginx's master running as root.
    pub(super) fn root_master(&self, master: u32) -> Option<MasterId> {
        self.last_master()
            .filter(|(id, uid)| id.pid == master && *uid == 0)
            .map(|(id, _)| id)
    }

    /// `ps` found nothing for `master`, yet the container's own list has it as nginx's
    /// master: the host's `ps` does not see it (`hidepid`, another pid namespace) and is not
    /// asked again.
    pub(super) fn unseen(&self, master: u32, listed: &[Process]) {
        if listed
            .iter()
            .any(|p| p.pid == master && p.command.starts_with("nginx: master process"))
        {
            self.broken.store(true, Ordering::Relaxed);
        }
    }
}

/// What the listing script printed.
#[derive(Debug)]
struct Listed {
    processes: Vec<Process>,
    /// The user id of nginx's master at the pid asked for; `None`: no nginx master there.
    master_uid: Option<u32>,
    /// When the process at that pid started (`/proc/PID/stat` field 22).
    master_start: u64,
}

/// `PID UID ARGS` lines (right-aligned numbers), an empty line, then the asked pid's
/// `/proc/PID/stat`. `None` when it is not that (not a listing at all).
fn parse(text: &str, master: u32) -> Option<Listed> {
    let (ps, stat) = text.split_once("\n\n")?;
    let mut processes = Vec::new();
    let mut master_uid = None;
    for line in ps.lines().filter(|l| !l.trim().is_empty()) {
        let (pid, rest) = line.trim_start().split_once(' ')?;
        let (uid, args) = rest.trim_start().split_once(' ')?;
        let (pid, uid): (u32, u32) = (pid.parse().ok()?, uid.parse().ok()?);
        let command = args.trim().to_string();
        if pid == master && command.starts_with("nginx: master process") {
            master_uid = Some(uid);
        }
        processes.push(Process { pid, command });
    }
    Some(Listed {
        processes,
        master_uid,
        master_start: start_time(stat, master)?,
    })
}

/// Field 22 of `pid`'s `/proc/PID/stat` (proc(5): `pid (comm) state ppid ...`; comm may
/// hold spaces and parentheses, so fields are counted after its last `)`).
pub(super) fn start_time(stat: &str, pid: u32) -> Option<u64> {
    let (head, fields) = stat.trim_end().rsplit_once(')')?;
    if head.split_once(" (")?.0 != pid.to_string() {
        return None;
    }
    // Field 3 (state) is the first after comm: field 22 is the 20th.
    fields.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{HostPs, MasterId, parse, start_time};

    /// nginx's master's `/proc/PID/stat` as Linux 6.1 prints it (pid 6360, started at tick
    /// 8853911).
    const STAT: &str = "6360 (nginx) S 6339 6360 6360 0 -1 4194560 1032 0 0 0 0 0 0 0 20 0 1 0 8853911 11059200 1570 18446744073709551615 1 1 0 0 0 0 0 4096 134 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn takes_the_listing_only_when_the_pid_is_still_nginx_s_master() {
        // As procps-ng 4.0 prints `ps -o pid=,uid=,args= --ppid 6360 -p 6360` on Debian 12
        // for the official nginx image (master as root, workers as nginx, uid 101).
        let text = format!(
            " 6360     0 nginx: master process nginx -g daemon off;\n11135   101 nginx: worker process\n11136   101 nginx: worker process is shutting down\n\n{STAT}"
        );
        let listed = parse(&text, 6360).unwrap();
        assert_eq!(listed.processes.len(), 3);
        assert_eq!(listed.master_uid, Some(0));
        assert_eq!(listed.master_start, 8853911);
        assert_eq!(listed.processes[2].pid, 11136);
        assert_eq!(
            listed.processes[2].command,
            "nginx: worker process is shutting down"
        );
        // nginx-unprivileged: the master runs as 101.
        let text = format!(
            "  812   101 nginx: master process nginx -g daemon off;\n  840   101 nginx: worker process\n\n{}",
            STAT.replacen("6360", "812", 1)
        );
        assert_eq!(parse(&text, 812).unwrap().master_uid, Some(101));
        // The pid reused by something else, or not in the answer: no nginx master there.
        let cron = format!(" 6360     0 /usr/sbin/cron -f\n\n{STAT}");
        assert_eq!(parse(&cron, 6360).unwrap().master_uid, None);
        let worker = format!("11135   101 nginx: worker process\n\n{STAT}");
        assert_eq!(parse(&worker, 6360).unwrap().master_uid, None);
        // Garbage is not a listing: no uid, a name for a uid, a word for a pid, no stat,
        // another pid's stat, a stat cut short.
        let master = " 6360     0 nginx: master process nginx\n";
        for text in [
            "ps: unknown option\n".to_string(),
            format!(" 6360 nginx: master process nginx\n\n{STAT}"),
            format!(" 6360 root nginx: master process nginx\n\n{STAT}"),
            format!("pid 0 nginx: master process nginx\n\n{STAT}"),
            master.to_string(),
            format!("{master}\n"),
            format!("{master}\n{}", STAT.replacen("6360", "6361", 1)),
            format!("{master}\n6360 (nginx) S 6339 6360"),
            String::new(),
        ] {
            assert!(parse(&text, 6360).is_none(), "{text:?}");
        }
    }

    #[test]
    fn the_start_time_is_counted_after_the_last_parenthesis() {
        assert_eq!(start_time(STAT, 6360), Some(8853911));
        // A command name with spaces and parentheses (comm is the program's, up to 15
        // bytes, and any program may name itself so).
        let odd = STAT.replacen("(nginx)", "(a) b (c d)", 1);
        assert_eq!(start_time(&odd, 6360), Some(8853911));
        assert_eq!(start_time(STAT, 636), None);
        assert_eq!(start_time("6360 (nginx) S 1 2 3", 6360), None);
        assert_eq!(start_time("", 6360), None);
        assert_eq!(start_time(&STAT.replace("8853911", "-5"), 6360), None);
    }

    #[test]
    fn a_pid_names_the_process_first_seen_at_it() {
        let ps = HostPs::default();
        let ours = MasterId {
            pid: 6360,
            start: 100,
        };
        assert!(ps.same_process(ours));
        assert!(ps.same_process(ours));
        // Another process at the same pid (our nginx restarted, another took the pid).
        assert!(!ps.same_process(MasterId { start: 900, ..ours }));
        assert!(ps.same_process(ours));
        // A new master pid (learnt from docker): that one is remembered from now on.
        let next = MasterId {
            pid: 7000,
            start: 950,
        };
        assert!(ps.same_process(next));
        assert!(!ps.same_process(MasterId { start: 951, ..next }));
    }
}
