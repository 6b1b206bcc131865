//! nginx's processes listed from the host with `ps`, when its master is the container's
//! main process: a plain command over SSH (about 10 ms here) where `docker top` asks the
//! daemon (35-70 ms under load). The reload's switch and the drain's old workers are
//! looked for many times per transition, so each look is that much sooner.
//!
//! `docker inspect`'s State.Pid and `docker top`'s pids are the host's, so the master's
//! pid learnt from one is the pid `ps` knows on the same host. Its workers (and old ones
//! still finishing) are its children. Whatever does not hold (no `ps`, a pid namespace
//! the login does not see, a master gone and its pid reused) makes the listing give way to
//! `docker top`, the same answer the slower way; a host where `ps` failed is not asked
//! again.
//!
//! The listing also says which user the master runs as: `nginx -t` from the host in its
//! namespaces (see `from_host.rs`) stands in for the container's own only for a master
//! running as root, which is what `docker exec` runs it as in such an image.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::command::Command;
use crate::container::Process;
use crate::transport::Transport;

/// Whether `ps` on the host has been seen not to work (then `docker top` is used).
#[derive(Debug, Default)]
pub(super) struct HostPs {
    broken: AtomicBool,
    /// The master's pid and user id as the last listing found them.
    last_master: Mutex<Option<(u32, u32)>>,
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
        let pid = master.to_string();
        // procps: `-p` selects the master, `--ppid` its children; `pid=,uid=,args=` prints
        // no header. It exits 1 when nothing is selected (the master is gone).
        let ps = Command::new("ps").args([
            "-o",
            "pid=,uid=,args=",
            "--ppid",
            pid.as_str(),
            "-p",
            pid.as_str(),
        ]);
        let out = match t.run(&ps).await {
            Ok(out) => out,
            Err(e) => {
                tracing::debug!(error = %e, "ps on the host: listing with docker top instead");
                return None;
            }
        };
        if out.status == Some(1) && out.stdout.is_empty() && out.stderr.is_empty() {
            // Nothing selected: this master is gone (nginx restarted), or ps may not see
            // it (`hidepid`): the caller's `docker top` tells which ([`HostPs::unseen`]).
            return None;
        }
        let listed = match out.success() {
            true => parse(&out.stdout_text(), master),
            false => None,
        };
        if let Some((_, Some(uid))) = &listed {
            self.set_last_master(Some((master, *uid)));
        }
        let listed = listed.map(|(processes, _)| processes);
        if listed.is_none() {
            // Not found, not allowed (hidepid), or the pid is another namespace's: the
            // daemon is asked from now on.
            tracing::debug!(
                status = ?out.status,
                stderr = %out.stderr_text(),
                "ps on the host does not list nginx's master: listing with docker top"
            );
            self.broken.store(true, Ordering::Relaxed);
        }
        listed
    }
}

impl HostPs {
    fn set_last_master(&self, master: Option<(u32, u32)>) {
        *self.last_master.lock().unwrap_or_else(|e| e.into_inner()) = master;
    }

    fn last_master(&self) -> Option<(u32, u32)> {
        *self.last_master.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the last listing found `master` as nginx's master.
    pub(super) fn saw_master(&self, master: u32) -> bool {
        self.last_master().is_some_and(|(m, _)| m == master)
    }

    /// Whether the last listing found `master` as nginx's master running as root.
    pub(super) fn runs_as_root(&self, master: u32) -> bool {
        self.last_master() == Some((master, 0))
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

/// `PID UID ARGS` lines, right-aligned numbers: the processes, and the user id `master`
/// runs as. Only an answer whose `master` line is nginx's master is taken: a pid reused by
/// another process is not nginx's.
fn parse(text: &str, master: u32) -> Option<(Vec<Process>, Option<u32>)> {
    let mut processes = Vec::new();
    let mut master_uid = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (pid, rest) = line.trim_start().split_once(' ')?;
        let (uid, args) = rest.trim_start().split_once(' ')?;
        let (pid, uid): (u32, u32) = (pid.parse().ok()?, uid.parse().ok()?);
        let command = args.trim().to_string();
        if pid == master && command.starts_with("nginx: master process") {
            master_uid = Some(uid);
        }
        processes.push(Process { pid, command });
    }
    master_uid.is_some().then_some((processes, master_uid))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn takes_the_listing_only_when_the_pid_is_still_nginx_s_master() {
        // As procps-ng 4.0 prints `ps -o pid=,uid=,args= --ppid 6360 -p 6360` on Debian 12
        // for the official nginx image (master as root, workers as nginx, uid 101).
        let text = " 6360     0 nginx: master process nginx -g daemon off;\n11135   101 nginx: worker process\n11136   101 nginx: worker process is shutting down\n";
        let (ps, uid) = parse(text, 6360).unwrap();
        assert_eq!(ps.len(), 3);
        assert_eq!(uid, Some(0));
        assert_eq!(ps[2].pid, 11136);
        assert_eq!(ps[2].command, "nginx: worker process is shutting down");
        // nginx-unprivileged: the master runs as 101.
        let text = "  812   101 nginx: master process nginx -g daemon off;\n  840   101 nginx: worker process\n";
        assert_eq!(parse(text, 812).unwrap().1, Some(101));
        // The pid reused by something else, or not in the answer: not nginx's.
        assert!(parse(" 6360     0 /usr/sbin/cron -f\n", 6360).is_none());
        assert!(parse("11135   101 nginx: worker process\n", 6360).is_none());
        // Garbage is not a listing: no uid, a name for a uid, a word for a pid.
        assert!(parse("ps: unknown option\n", 6360).is_none());
        assert!(parse(" 6360 nginx: master process nginx\n", 6360).is_none());
        assert!(parse(" 6360 root nginx: master process nginx\n", 6360).is_none());
        assert!(parse("", 6360).is_none());
    }
}
