//! The fake `docker` CLI: the subcommands `DockerCli` sends, with docker's output and error
//! messages (`docker inspect --format {{json .State}}` prints JSON shaped like the real
//! engine's, so DockerCli's parser is exercised).

use ihos_core::Output;

use super::container::Ctr;
use super::fs::Cred;
use super::nginx::parse_nginx_args;
use super::{World, out};
use crate::clock::VirtualTime;
use crate::container::AppPhase;

/// The first words of the `/proc` process listing script `NginxLb` runs in a container.
pub const PROCESS_LISTING_PREFIX: &str = "for f in /proc/[0-9]*/cmdline";

const NEVER: &str = "0001-01-01T00:00:00Z";

fn inspect_json(c: &Ctr, now: VirtualTime) -> String {
    let health = if c.spec.healthcheck {
        let status = match c.phase(now) {
            AppPhase::Starting => "starting",
            AppPhase::Ready => "healthy",
            AppPhase::Unhealthy | AppPhase::Stopped => "unhealthy",
        };
        let streak = u32::from(status == "unhealthy") * 3;
        format!(r#","Health":{{"Status":"{status}","FailingStreak":{streak},"Log":[]}}"#)
    } else {
        String::new()
    };
    format!(
        r#"{{"Status":"{}","Running":{},"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":{},"ExitCode":{},"Error":"","StartedAt":"{}","FinishedAt":"{}"{health}}}"#,
        c.status(),
        c.running,
        if c.running { c.pid } else { 0 },
        c.exit_code,
        c.started.map_or(NEVER.to_string(), |t| t.rfc3339()),
        c.finished.map_or(NEVER.to_string(), |t| t.rfc3339()),
    ) + "\n"
}

/// A signal name or number as docker accepts it, normalized (`HUP`, `TERM`, ...).
fn signal_name(s: &str) -> Option<&'static str> {
    let s = s.strip_prefix("SIG").unwrap_or(s);
    Some(match s {
        "HUP" | "1" => "HUP",
        "INT" | "2" => "INT",
        "QUIT" | "3" => "QUIT",
        "KILL" | "9" => "KILL",
        "USR1" | "10" => "USR1",
        "USR2" | "12" => "USR2",
        "TERM" | "15" => "TERM",
        "WINCH" | "28" => "WINCH",
        _ => return None,
    })
}

/// Whether `docker exec NAME ARGV` runs something the fake containers know.
fn exec_supported(argv: &[&str]) -> bool {
    match argv {
        ["nginx", rest @ ..] => parse_nginx_args(rest).is_some(),
        ["sh", "-c", script] => script.starts_with(PROCESS_LISTING_PREFIX),
        _ => false,
    }
}

enum DockerOp<'a> {
    Inspect,
    Start,
    Stop,
    Restart,
    Kill(&'a str),
    Exec(&'a [String]),
    Top,
}

impl World {
    /// `docker ARGS`, or `None` if unsupported.
    pub(crate) fn docker(
        &mut self,
        host: &str,
        cred: &Cred,
        args: &[String],
        now: VirtualTime,
    ) -> Option<Output> {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (op, name) = match a.as_slice() {
            [
                "inspect",
                "--type",
                "container",
                "--format",
                "{{json .State}}",
                name,
            ] => (DockerOp::Inspect, *name),
            ["start", name] => (DockerOp::Start, *name),
            ["stop", "--time", n, name] if n.parse::<u64>().is_ok() => (DockerOp::Stop, *name),
            ["restart", "--time", n, name] if n.parse::<u64>().is_ok() => {
                (DockerOp::Restart, *name)
            }
            ["kill", "--signal", sig, name] => (DockerOp::Kill(sig), *name),
            // Only the columns ihos asks for: `docker top` passes its options to the host's
            // `ps` and keeps the rows of the container's processes.
            ["top", name, "-o", "pid,args"] => (DockerOp::Top, *name),
            ["exec", name, rest @ ..] if exec_supported(rest) => {
                (DockerOp::Exec(&args[2..]), *name)
            }
            _ => return None,
        };
        let name = name.to_string();
        let h = self.host(host);
        if !cred.is_root() && !h.docker_group {
            return Some(out(
                1,
                "",
                "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.24/containers/json\": dial unix /var/run/docker.sock: connect: permission denied\n",
            ));
        }
        let Some(c) = h.containers.get(&name) else {
            let prefix = if matches!(op, DockerOp::Inspect) {
                "Error"
            } else {
                "Error response from daemon"
            };
            return Some(out(1, "", format!("{prefix}: No such container: {name}\n")));
        };
        let is_nginx = c.nginx_spec().is_some();
        let running = c.running;
        let named = || out(0, format!("{name}\n"), "");
        Some(match op {
            DockerOp::Inspect => out(0, inspect_json(c, now), ""),
            DockerOp::Start => {
                if !running {
                    if is_nginx {
                        if let Err(e) = self.nginx_start(host, &name, now) {
                            return Some(out(
                                1,
                                "",
                                format!("{e}\nError: failed to start containers: {name}\n"),
                            ));
                        }
                    } else {
                        self.app_start(host, &name, now);
                    }
                }
                named()
            }
            DockerOp::Stop => {
                if is_nginx {
                    self.nginx_stop(host, &name, now, false, 0);
                } else {
                    self.app_stop(host, &name, now, 143, "docker stop");
                }
                named()
            }
            DockerOp::Restart => {
                if is_nginx {
                    self.nginx_stop(host, &name, now, false, 0);
                    if let Err(e) = self.nginx_start(host, &name, now) {
                        return Some(out(
                            1,
                            "",
                            format!(
                                "Error response from daemon: Cannot restart container {name}: {e}\n"
                            ),
                        ));
                    }
                } else {
                    self.app_stop(host, &name, now, 143, "docker restart");
                    self.app_start(host, &name, now);
                }
                named()
            }
            DockerOp::Kill(sig) => {
                let Some(sig) = signal_name(sig) else {
                    return Some(out(
                        1,
                        "",
                        format!("Error response from daemon: Invalid signal: {sig}\n"),
                    ));
                };
                if !running {
                    return Some(out(
                        1,
                        "",
                        format!(
                            "Error response from daemon: cannot kill container: {name}: container {name} is not running\n"
                        ),
                    ));
                }
                let behind_shell = c.nginx_spec().is_some_and(|n| n.behind_shell);
                match (is_nginx, sig) {
                    // The shell is PID 1 without handlers: the kernel drops the signal
                    // (SIGKILL from outside its pid namespace excepted).
                    (true, "HUP" | "QUIT" | "TERM" | "INT") if behind_shell => {}
                    (true, "HUP") => {
                        // The master re-reads the config; a bad one is only logged.
                        let _ = self.nginx_reload(host, &name, now);
                    }
                    (true, "QUIT") => self.nginx_stop(host, &name, now, true, 0),
                    (true, "TERM" | "INT") => self.nginx_stop(host, &name, now, false, 0),
                    (true, "KILL") => self.nginx_stop(host, &name, now, false, 137),
                    (false, "TERM" | "INT" | "QUIT") => {
                        self.app_stop(host, &name, now, 143, "docker kill")
                    }
                    (false, "KILL") => self.app_stop(host, &name, now, 137, "docker kill"),
                    _ => {}
                }
                named()
            }
            DockerOp::Top => {
                if !running {
                    // As docker 20.10 says it (with the container's id where this has its
                    // name): `docker top` of a created or stopped container.
                    return Some(out(
                        1,
                        "",
                        format!("Error response from daemon: Container {name} is not running\n"),
                    ));
                }
                out(0, self.process_table(host, &name), "")
            }
            DockerOp::Exec(argv) => {
                if !running {
                    return Some(out(
                        1,
                        "",
                        format!("Error response from daemon: container {name} is not running\n"),
                    ));
                }
                let words: Vec<&str> = argv.iter().map(String::as_str).collect();
                match words.as_slice() {
                    ["nginx", ..] if is_nginx => self.nginx_exec(host, &name, &argv[1..], now)?,
                    ["nginx", ..] => out(
                        126,
                        "",
                        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nginx\": executable file not found in $PATH: unknown\n",
                    ),
                    ["sh", "-c", script] => out(0, self.process_listing(host, &name, script), ""),
                    _ => return None,
                }
            }
        })
    }
}
