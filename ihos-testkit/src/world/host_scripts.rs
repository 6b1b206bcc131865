//! ihos-core's scripts run by `sh -c SCRIPT sh PID START ...` on nginx's host, each a copy
//! of ihos-core's text (a change there is an unsupported command here until this follows):
//! the listing of nginx's master and its children with the master's start time, `nginx
//! -t` entered from the host in the master's namespaces, and the reload's SIGHUP.
//!
//! What the host shows them, as on Debian 12 (dash, procps-ng 4.0, Linux 6.1, proc(5)):
//! `/proc/PID/stat` field 22 is the process's start in clock ticks since boot (here: the
//! container's start, 100 ticks a second from a boot 10000 s before the virtual epoch);
//! `/proc/PID/status` `CapBnd:` its bounding set; `/proc/PID/attr/current` its LSM label,
//! unreadable (`Invalid argument`) on a host without one, this fake host's case for the
//! shell itself. `ps` prints nothing for a pid that does not exist; `kill` (procps, exec'd)
//! as another user than the process's: `kill: (PID): Operation not permitted`, status 1.

use ihos_core::Output;

use super::container::Ctr;
use super::fs::Cred;
use super::{World, out};
use crate::clock::VirtualTime;

/// ihos-core's `same_process!()`, the start of the test and the signal.
macro_rules! same_process {
    () => {
        "set -f; p=$1 t=$2; shift 2; s=$(cat \"/proc/$p/stat\" 2>/dev/null) || exit 3; f() { [ $# -gt 19 ] && shift 19 && [ \"$1\" = \"$t\" ]; }; f ${s##*\\)} || exit 3; "
    };
}

/// ihos-core's `LIST_MASTER`.
pub(crate) const LIST_MASTER: &str = "ps -o pid=,uid=,args= --ppid \"$1\" -p \"$1\" || exit; echo; exec cat \"/proc/$1/stat\" 2>/dev/null";

/// ihos-core's `HUP_IF_MASTER`.
pub(crate) const HUP_IF_MASTER: &str = concat!(
    same_process!(),
    "case $(ps -o args= -p \"$p\") in 'nginx: master process'*) exec kill -s HUP \"$p\";; esac; exit 3"
);

/// ihos-core's `TEST_IN_MASTER`.
pub(crate) const TEST_IN_MASTER: &str = concat!(
    same_process!(),
    "b=$(sed -n 's/^CapBnd:[[:space:]]*//p' \"/proc/$p/status\" 2>/dev/null); ",
    "case $b in ''|*[!0-9a-f]*) exit 4;; esac; [ $((0x$b & 0xdb)) = $((0xdb)) ] || exit 4; ",
    "a=$(cat \"/proc/$p/attr/current\" 2>/dev/null | tr -d '\\000'); o=$(cat /proc/self/attr/current 2>/dev/null | tr -d '\\000'); ",
    "case $a in \"$o\"|'docker-default (enforce)'|unconfined) ;; *) exit 4;; esac; ",
    "exec nsenter -t \"$p\" -m -u -i -n -p -r -w -- \"$@\""
);

/// ihos-core's `EXIT_WATCH` (`transport/remote/exit_watch.rs`).
pub(crate) const EXIT_WATCH: &str = r#"set -f
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

/// A process's start in clock ticks since boot, for processes of `c` (all started with it).
pub(crate) fn start_ticks(c: &Ctr) -> u64 {
    const BOOT_TICKS: i64 = 1_000_000;
    // Containers may have started before the world's start (negative virtual times).
    let since_ms = c.started.map(|s| s.nanos() / 1_000_000).unwrap_or(0);
    (BOOT_TICKS + since_ms / 10).max(0) as u64
}

/// `/proc/PID/stat` as Linux prints it for nginx's master `pid` started at `start`.
pub(crate) fn stat_line(pid: u32, start: u64) -> String {
    format!(
        "{pid} (nginx) S 1 {pid} {pid} 0 -1 4194560 1032 0 0 0 0 0 0 0 20 0 1 0 {start} 11059200 1570 18446744073709551615 1 1 0 0 0 0 0 4096 134\n"
    )
}

impl World {
    /// One of ihos-core's scripts on nginx's host; `None`: not one of them.
    pub(crate) fn host_script(
        &mut self,
        host: &str,
        cred: &Cred,
        argv: &[String],
        now: VirtualTime,
    ) -> Option<Output> {
        let a: Vec<&str> = argv.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["sh", "-c", script, "sh", pid] if *script == LIST_MASTER => {
                self.host_ps(host, pid.parse().ok()?)
            }
            ["sh", "-c", script, "sh", pid, start] if *script == HUP_IF_MASTER => {
                let (pid, start) = (pid.parse().ok()?, start.parse().ok()?);
                Some(self.host_hup(host, cred, pid, start, now))
            }
            // Answered from the state at its end (fake_world/exit_watch.rs looked at the
            // process until it was gone, and noted that it saw it at its first look): "ended"
            // only for a process seen and gone; one never seen, or still there now (a fault
            // held the command back), is "cannot tell".
            ["sh", "-c", script, "sh", pid, looks] if *script == EXIT_WATCH => {
                let (pid, _): (u32, u64) = (pid.parse().ok()?, looks.parse().ok()?);
                let hidden = self.host(host).proc_hidden && !cred.is_root();
                let seen = self.watch_saw.remove(&(host.to_string(), pid));
                let told =
                    !hidden && seen.is_some_and(|s| self.process_start(host, pid) != Some(s));
                Some(out(if told { 0 } else { 3 }, "", ""))
            }
            ["sh", "-c", script, "sh", pid, start, ..] if *script == TEST_IN_MASTER => {
                let (pid, start): (u32, u64) = (pid.parse().ok()?, start.parse().ok()?);
                Some(self.host_test(host, cred, pid, start, &argv[6..], now))
            }
            _ => None,
        }
    }

    /// The start (clock ticks since boot) of the process `pid` of `host`, a running
    /// container's main process, if there is one.
    pub(crate) fn process_start(&self, host: &str, pid: u32) -> Option<u64> {
        (self.host(host).containers.values())
            .find(|c| c.running && c.pid == pid)
            .map(start_ticks)
    }

    /// The nginx container whose master, its main process (not behind a shell), is `pid`
    /// started at `start`.
    fn master_at(&self, host: &str, pid: u32, start: u64) -> Option<String> {
        (self.host(host).containers.iter())
            .find(|(_, c)| {
                c.running
                    && c.pid == pid
                    && start_ticks(c) == start
                    && c.nginx_spec().is_some_and(|n| !n.behind_shell)
            })
            .map(|(n, _)| n.clone())
    }

    fn host_hup(
        &mut self,
        host: &str,
        cred: &Cred,
        pid: u32,
        start: u64,
        now: VirtualTime,
    ) -> Output {
        let Some(name) = self.master_at(host, pid, start) else {
            return out(3, "", "");
        };
        if !cred.is_root() {
            return out(1, "", format!("kill: ({pid}): Operation not permitted\n"));
        }
        // The master re-reads the config; a bad one is only logged.
        let _ = self.nginx_reload(host, &name, now);
        out(0, "", "")
    }

    fn host_test(
        &mut self,
        host: &str,
        cred: &Cred,
        pid: u32,
        start: u64,
        nginx_argv: &[String],
        now: VirtualTime,
    ) -> Output {
        let Some(name) = self.master_at(host, pid, start) else {
            return out(3, "", "");
        };
        let spec = (self.ctr(host, &name))
            .and_then(|c| c.nginx_spec())
            .cloned()
            .expect("nginx container");
        const FILE_CAPS: u64 = 0xdb;
        // `tr` drops the label's NUL (SELinux), the command substitution its trailing
        // newline (AppArmor); the fake host's own label is unreadable, so empty.
        let label = (spec.lsm_label.as_deref()).map(|l| l.trim_end_matches(['\n', '\0']));
        let label_alike = matches!(
            label,
            None | Some("" | "docker-default (enforce)" | "unconfined")
        );
        if spec.cap_bnd & FILE_CAPS != FILE_CAPS || !label_alike {
            return out(4, "", "");
        }
        self.enter(host, cred, pid, nginx_argv, now)
    }
}
