//! `nsenter -t PID -m -u -i -n -p -r -w -- PROGRAM ARGS`: a program run from the host in a
//! container's namespaces, root directory and working directory. Only `nginx` in an nginx
//! container is known, answered as `docker exec NAME nginx ...` is.
//!
//! Behaviour as util-linux 2.38's nsenter shows it on this machine kind: it opens every
//! namespace file first (without root the first one it opens, `ipc`, fails: `nsenter:
//! cannot open /proc/PID/ns/ipc: Permission denied`, status 1; a pid that does not exist:
//! `... No such file or directory`, status 1), then executes the program (not found:
//! `nsenter: failed to execute PROGRAM: No such file or directory`, status 127), whose
//! status and output are the command's.

use ihos_core::Output;

use super::fs::Cred;
use super::{World, out};
use crate::clock::VirtualTime;

/// nsenter failing to open the first namespace file it opens (`ns`, e.g. `ipc`, `net`):
/// `Permission denied` without root, `No such file or directory` for a pid that is gone;
/// status 1 (util-linux 2.38).
pub(crate) fn cannot_open(pid: u32, ns: &str, root: bool) -> Output {
    let why = match root {
        false => "Permission denied",
        true => "No such file or directory",
    };
    out(
        1,
        "",
        format!("nsenter: cannot open /proc/{pid}/ns/{ns}: {why}\n"),
    )
}

impl World {
    /// `None`: not this form of nsenter.
    pub(crate) fn nsenter_exec(
        &mut self,
        host: &str,
        cred: &Cred,
        args: &[String],
        now: VirtualTime,
    ) -> Option<Output> {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let pid = match a.as_slice() {
            [
                "-t",
                pid,
                "-m",
                "-u",
                "-i",
                "-n",
                "-p",
                "-r",
                "-w",
                "--",
                _,
                ..,
            ] => pid.parse::<u32>().ok()?,
            _ => return None,
        };
        Some(self.enter(host, cred, pid, &args[10..], now))
    }

    /// `program` (its argv) run by nsenter in the namespaces of `pid`.
    pub(crate) fn enter(
        &mut self,
        host: &str,
        cred: &Cred,
        pid: u32,
        argv: &[String],
        now: VirtualTime,
    ) -> Output {
        let program = argv.first().map(String::as_str).unwrap_or_default();
        if !cred.is_root() {
            return cannot_open(pid, "ipc", false);
        }
        let found = (self.host(host).containers.iter())
            .find(|(_, c)| c.running && c.pid == pid)
            .map(|(n, c)| (n.clone(), c.nginx_spec().is_some()));
        let Some((name, is_nginx)) = found else {
            return cannot_open(pid, "ipc", true);
        };
        let not_found = || {
            out(
                127,
                "",
                format!("nsenter: failed to execute {program}: No such file or directory\n"),
            )
        };
        match program {
            "nginx" if is_nginx => self
                .nginx_exec(host, &name, &argv[1..], now)
                .unwrap_or_else(|| out(1, "", "nginx: invalid option\n")),
            _ => not_found(),
        }
    }
}
