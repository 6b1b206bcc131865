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

use std::sync::atomic::{AtomicBool, Ordering};

use crate::command::Command;
use crate::container::Process;
use crate::transport::Transport;

/// Whether `ps` on the host has been seen not to work (then `docker top` is used).
#[derive(Debug, Default)]
pub(super) struct HostPs {
    broken: AtomicBool,
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
        let pid = master.to_string();
        // procps: `-p` selects the master, `--ppid` its children; `pid=,args=` prints no
        // header. It exits 1 when nothing is selected (the master is gone).
        let ps = Command::new("ps").args([
            "-o",
            "pid=,args=",
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

/// `PID ARGS` lines, right-aligned pids. Only an answer whose `master` line is nginx's
/// master is taken: a pid reused by another process is not nginx's.
fn parse(text: &str, master: u32) -> Option<Vec<Process>> {
    let mut processes = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (pid, args) = line.trim_start().split_once(' ')?;
        processes.push(Process {
            pid: pid.parse().ok()?,
            command: args.trim().to_string(),
        });
    }
    let is_master = processes
        .iter()
        .any(|p| p.pid == master && p.command.starts_with("nginx: master process"));
    is_master.then_some(processes)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn takes_the_listing_only_when_the_pid_is_still_nginx_s_master() {
        // As procps-ng 4.0 prints `ps -o pid=,args= --ppid 6360 -p 6360` on Debian 12.
        let text = " 6360 nginx: master process nginx -g daemon off;\n11135 nginx: worker process\n11136 nginx: worker process is shutting down\n";
        let ps = parse(text, 6360).unwrap();
        assert_eq!(ps.len(), 3);
        assert_eq!(ps[2].pid, 11136);
        assert_eq!(ps[2].command, "nginx: worker process is shutting down");
        // The pid reused by something else, or not in the answer: not nginx's.
        assert!(parse(" 6360 /usr/sbin/cron -f\n", 6360).is_none());
        assert!(parse("11135 nginx: worker process\n", 6360).is_none());
        // Garbage is not a listing.
        assert!(parse("ps: unknown option\n", 6360).is_none());
        assert!(parse("", 6360).is_none());
    }
}
