//! What a container's process list shows: `docker top` from the host, or the `/proc`
//! listing script run inside it. nginx's master and workers (old ones "shutting down"
//! after a reload), or Tomcat's java.

use ihos_core::Output;

use super::host_scripts::{start_ticks, stat_line};
use super::{World, out};

impl World {
    /// `docker top NAME -o pid,args`: a `PID COMMAND` header, then the container's
    /// processes with their pids as the host sees them (another pid namespace than inside
    /// the container: offset here), left-aligned in a column as docker prints them.
    pub(crate) fn process_table(&mut self, host: &str, name: &str) -> String {
        let mut s = format!("{:<20}{}\n", "PID", "COMMAND");
        for (pid, _, command) in self.process_rows(host, name) {
            s.push_str(&format!("{pid:<20}{command}\n"));
        }
        s
    }

    /// ihos-core's listing script for nginx's master `pid` on the host: `ps -o
    /// pid=,uid=,args= --ppid PID -p PID` (the process PID and its children, pids and uids
    /// right-aligned, no header; procps-ng ps(1): `-p` selects by pid, `--ppid` by parent,
    /// `pid=` sets an empty header; with nothing selected it prints nothing and exits 1, as
    /// procps-ng 4.0 does on Debian 12), an empty line, and `/proc/PID/stat` (a pid that is
    /// not a process's: status 1, nothing more). Only the processes of running containers
    /// are known here.
    pub(crate) fn host_ps(&mut self, host: &str, pid: u32) -> Option<Output> {
        let names: Vec<String> = (self.host(host).containers.iter())
            .filter(|(_, c)| c.running)
            .map(|(n, _)| n.clone())
            .collect();
        let mut s = String::new();
        let mut stat = None;
        for name in names {
            let uids = self.process_uids(host, &name);
            let start = start_ticks(self.ctr(host, &name).expect("container"));
            for (p, parent, command) in self.process_rows(host, &name) {
                if p == pid || parent == Some(pid) {
                    let uid = match command.starts_with("nginx: worker") {
                        false => uids.0,
                        true => uids.1,
                    };
                    s.push_str(&format!("{p:>5} {uid:>5} {command}\n"));
                }
                if p == pid {
                    stat = Some(stat_line(pid, start));
                }
            }
        }
        if s.is_empty() {
            return Some(out(1, "", ""));
        }
        s.push('\n');
        Some(match stat {
            Some(stat) => out(0, s + &stat, ""),
            None => out(1, s, ""),
        })
    }

    /// The users a container's processes and nginx's workers run as on the host: nginx's
    /// master as root and its workers as `nginx` (101) in the official image, everything
    /// as the image's user in an unprivileged one; Tomcat's official image as root.
    fn process_uids(&self, host: &str, name: &str) -> (u32, u32) {
        match self.ctr(host, name).and_then(|c| c.nginx_spec()) {
            Some(n) if n.master_uid != 0 => (n.master_uid, n.master_uid),
            Some(_) => (0, 101),
            None => (0, 0),
        }
    }

    /// A container's processes as the host sees them: pid, parent pid (when it is in the
    /// container too), command line.
    fn process_rows(&mut self, host: &str, name: &str) -> Vec<(u32, Option<u32>, String)> {
        const HOST_PIDS: u32 = 40_000;
        let c = self.ctr_mut(host, name).expect("container");
        let mut rows: Vec<(u32, Option<u32>, String)> = Vec::new();
        if c.nginx_spec().is_some() {
            // The master is the container's main process (the official image runs
            // `nginx -g 'daemon off;'`): its host pid is the one `docker inspect` gives as
            // State.Pid, as on a real engine (checked with docker 20.10).
            let behind_shell = c.nginx_spec().is_some_and(|n| n.behind_shell);
            let master = match behind_shell {
                true => {
                    rows.push((
                        c.pid,
                        None,
                        "/bin/sh -c nginx -g 'daemon off;'; echo stopped".into(),
                    ));
                    // A pid of its own on the host (the offset alone is shared).
                    HOST_PIDS + 1 + c.pid
                }
                false => c.pid,
            };
            let parent = behind_shell.then_some(c.pid);
            rows.push((
                master,
                parent,
                "nginx: master process nginx -g daemon off;".into(),
            ));
            for w in &c.nginx.workers {
                let state = if w.retiring_until.is_some() {
                    " is shutting down"
                } else {
                    ""
                };
                rows.push((
                    HOST_PIDS + w.pid,
                    Some(master),
                    format!("nginx: worker process{state}"),
                ));
            }
        } else {
            rows.push((
                c.pid,
                None,
                "/opt/java/openjdk/bin/java -Dcatalina.base=/usr/local/tomcat org.apache.catalina.startup.Bootstrap start".into(),
            ));
        }
        rows
    }

    /// `PID CMDLINE` lines of the processes in a container (what the `/proc` listing script
    /// prints): nginx's master and workers, or Tomcat's java, then the listing shell.
    pub(crate) fn process_listing(&mut self, host: &str, name: &str, script: &str) -> String {
        let c = self.ctr_mut(host, name).expect("container");
        let mut s = String::new();
        if c.nginx_spec().is_some() {
            s.push_str("1 nginx: master process nginx -g daemon off; \n");
            for w in &c.nginx.workers {
                let state = if w.retiring_until.is_some() {
                    " is shutting down"
                } else {
                    ""
                };
                s.push_str(&format!("{} nginx: worker process{state} \n", w.pid));
            }
        } else {
            s.push_str("1 /opt/java/openjdk/bin/java -Dcatalina.base=/usr/local/tomcat org.apache.catalina.startup.Bootstrap start \n");
        }
        c.nginx.next_inner_pid += 1;
        s.push_str(&format!("{} sh -c {script} \n", c.nginx.next_inner_pid));
        s
    }
}
