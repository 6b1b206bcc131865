//! `sh -c SCRIPT sh PID` on a host, with ihos's script that sends SIGHUP to nginx's master
//! PID only if `ps -o args= -p PID` shows it as nginx's master (status 3 otherwise):
//! the reload's signal sent from the host. A copy of ihos-core's text: a change there is
//! an unsupported command here until this follows.
//!
//! Behaviour as on Debian 12 (dash, procps-ng 4.0): `ps` prints nothing for a pid that
//! does not exist; `kill` (procps, exec'd) as another user than the process's:
//! `kill: (PID): Operation not permitted`, status 1.

use ihos_core::Output;

use super::fs::Cred;
use super::{World, out};
use crate::clock::VirtualTime;

/// ihos-core's `HUP_IF_MASTER`.
pub(crate) const HUP_IF_MASTER: &str = "case $(ps -o args= -p \"$1\") in 'nginx: master process'*) exec kill -s HUP \"$1\";; esac; exit 3";

impl World {
    /// `None`: not this script.
    pub(crate) fn host_hup(
        &mut self,
        host: &str,
        cred: &Cred,
        argv: &[String],
        now: VirtualTime,
    ) -> Option<Output> {
        let a: Vec<&str> = argv.iter().map(String::as_str).collect();
        let ["sh", "-c", script, "sh", pid] = a.as_slice() else {
            return None;
        };
        if *script != HUP_IF_MASTER {
            return None;
        }
        let pid: u32 = pid.parse().ok()?;
        // The nginx container whose master (its main process, not behind a shell) is pid.
        let name = (self.host(host).containers.iter())
            .find(|(_, c)| {
                c.running && c.pid == pid && c.nginx_spec().is_some_and(|n| !n.behind_shell)
            })
            .map(|(n, _)| n.clone());
        let Some(name) = name else {
            return Some(out(3, "", ""));
        };
        if !cred.is_root() {
            return Some(out(
                1,
                "",
                format!("kill: ({pid}): Operation not permitted\n"),
            ));
        }
        // The master re-reads the config; a bad one is only logged.
        let _ = self.nginx_reload(host, &name, now);
        Some(out(0, "", ""))
    }
}
