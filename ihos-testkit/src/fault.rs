//! Fault injection: a [`Fault`] says which commands or uploads it hits (a [`Matcher`], an
//! optional host, which occurrence) and what happens instead ([`FaultAction`]). Inject with
//! [`crate::FakeWorld::inject`].
//!
//! ```
//! use ihos_testkit::{Fault, Matcher};
//! // The second `nginx -t` anywhere exits 1 with nginx's message.
//! let f = Fault::on(Matcher::nginx_test())
//!     .nth(2)
//!     .fail(1, "nginx: [emerg] injected in /etc/nginx/nginx.conf:1");
//! // Every dd on host "h1" runs out of disk after 100 bytes.
//! let g = Fault::on(Matcher::program("dd")).on_host("h1").every().disk_full_after(100);
//! # let _ = (f, g);
//! ```
//!
//! Other container and nginx faults are part of their specs:
//! [`crate::ContainerSpec::never_healthy`], [`crate::ContainerSpec::exception_after_start`],
//! [`crate::FakeWorld::nginx_rejects`], and the disk size with
//! [`crate::FakeHost::set_disk_free`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ihos_core::{Command, Output};

/// What a fault is matched against.
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// A command given to `Transport::run`.
    Command(&'a Command),
    /// A `Transport::upload`.
    Upload {
        /// The local file.
        local: &'a Path,
        /// The destination.
        remote: &'a str,
    },
}

type Pred = Arc<dyn Fn(&Op<'_>) -> bool + Send + Sync>;

/// Which commands or uploads a fault applies to.
#[derive(Clone)]
pub struct Matcher {
    pred: Pred,
    description: String,
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({})", self.description)
    }
}

fn is_nginx_exec(argv: &[&str], tail: &[&str]) -> bool {
    // docker exec NAME nginx [-c P] TAIL...
    argv.len() >= 4
        && argv[0] == "docker"
        && argv[1] == "exec"
        && argv[3] == "nginx"
        && argv[4..].ends_with(tail)
}

/// `sh -c TEST sh PID START nginx [-c P] TAIL...`: ihos-core's script running nginx from
/// the host in its container's namespaces.
fn is_nginx_from_host(argv: &[&str], tail: &[&str]) -> bool {
    matches!(argv, ["sh", "-c", script, "sh", _, _, "nginx", rest @ ..]
        if *script == crate::world::host_scripts::TEST_IN_MASTER && rest.ends_with(tail))
}

/// `docker exec NAME nginx [-c P] -s reload`, `docker kill --signal HUP NAME`, or the
/// host's SIGHUP to nginx's master (`sh -c SCRIPT sh PID START`, the script sending it).
pub(crate) fn is_reload_request(argv: &[&str]) -> bool {
    is_nginx_exec(argv, &["-s", "reload"])
        || matches!(
            argv,
            ["docker", "kill", "--signal", "HUP" | "SIGHUP" | "1", _]
        )
        || matches!(argv, ["sh", "-c", script, "sh", _, _] if *script == crate::world::host_scripts::HUP_IF_MASTER)
}

impl Matcher {
    /// Matches commands for which `pred` is true.
    pub fn command(
        description: impl Into<String>,
        pred: impl Fn(&Command) -> bool + Send + Sync + 'static,
    ) -> Self {
        Matcher {
            pred: Arc::new(move |op| matches!(op, Op::Command(c) if pred(c))),
            description: description.into(),
        }
    }

    /// Every command (not uploads).
    pub fn any_command() -> Self {
        Self::command("any command", |_| true)
    }

    /// Commands running `program`.
    pub fn program(program: &str) -> Self {
        let p = program.to_string();
        Self::command(format!("program {program}"), move |c| c.program() == p)
    }

    /// Commands whose argv starts with `prefix` (e.g. `["docker", "stop"]`).
    pub fn argv_starts_with(prefix: &[&str]) -> Self {
        let prefix: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        Self::command(format!("argv starts with {prefix:?}"), move |c| {
            let argv = c.argv();
            argv.len() >= prefix.len() && argv.iter().zip(&prefix).all(|(a, p)| a == p)
        })
    }

    /// Commands whose argv, joined by spaces without quoting, contains `text`.
    pub fn line_contains(text: &str) -> Self {
        let t = text.to_string();
        Self::command(format!("line contains {text:?}"), move |c| {
            c.argv().join(" ").contains(&t)
        })
    }

    /// `nginx [-c P] -t [-q]`, in the container (`docker exec NAME nginx ...`) or from the
    /// host in its namespaces (`sh -c TEST sh PID START nginx ...`, nsenter in the script).
    pub fn nginx_test() -> Self {
        Self::command("nginx -t", |c| {
            let argv = c.argv();
            [&["-t", "-q"][..], &["-t"][..]]
                .iter()
                .any(|tail| is_nginx_exec(&argv, tail) || is_nginx_from_host(&argv, tail))
        })
    }

    /// ihos-core's watch on the host for a process's end (`sh -c EXIT_WATCH sh PID LOOKS`).
    pub fn process_exit_watch() -> Self {
        Self::command("watch for a process's end", |c| {
            matches!(c.argv().as_slice(), ["sh", "-c", script, "sh", _, _]
                if *script == crate::world::host_scripts::EXIT_WATCH)
        })
    }

    /// `nginx [-c P] -t [-q]` in the container only (`docker exec NAME nginx ...`).
    pub fn nginx_test_in_container() -> Self {
        Self::command("nginx -t in the container", |c| {
            let argv = c.argv();
            is_nginx_exec(&argv, &["-t", "-q"]) || is_nginx_exec(&argv, &["-t"])
        })
    }

    /// `nginx [-c P] -t [-q]` from the host, in its master's namespaces (the nsenter
    /// script).
    pub fn nginx_test_from_host() -> Self {
        Self::command("nginx -t from the host", |c| {
            let argv = c.argv();
            is_nginx_from_host(&argv, &["-t", "-q"]) || is_nginx_from_host(&argv, &["-t"])
        })
    }

    /// A reload request: `docker exec NAME nginx [-c P] -s reload`, or SIGHUP to nginx's
    /// master (`docker kill --signal HUP NAME`, which reaches it when it is the main
    /// process, or the host's signal to its pid).
    pub fn nginx_reload() -> Self {
        Self::command("nginx -s reload or a SIGHUP", |c| {
            is_reload_request(&c.argv())
        })
    }

    /// Every upload.
    pub fn upload() -> Self {
        Matcher {
            pred: Arc::new(|op| matches!(op, Op::Upload { .. })),
            description: "any upload".into(),
        }
    }

    /// Uploads whose destination contains `text`.
    pub fn upload_to(text: &str) -> Self {
        let t = text.to_string();
        Matcher {
            pred: Arc::new(
                move |op| matches!(op, Op::Upload { remote, .. } if remote.contains(&t)),
            ),
            description: format!("upload to *{text}*"),
        }
    }

    /// Whether it matches.
    pub fn matches(&self, op: &Op<'_>) -> bool {
        (self.pred)(op)
    }

    /// Whether it matches `command` (to build a matcher on top of this one).
    pub fn matches_command(&self, command: &Command) -> bool {
        (self.pred)(&Op::Command(command))
    }

    /// What it matches, for messages.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// Which of the matching operations a fault hits (counted per fault, from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Only the n-th.
    Nth(usize),
    /// The n-th and every one after it.
    FromNth(usize),
}

impl When {
    pub(crate) fn hits(self, count: usize) -> bool {
        match self {
            When::Nth(n) => count == n,
            When::FromNth(n) => count >= n,
        }
    }
}

/// What happens to a hit command or upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// It does not run; it exits with `status` and `stderr` (an upload fails with an I/O
    /// error carrying `stderr`).
    Fail {
        /// Exit status.
        status: i32,
        /// Standard error.
        stderr: String,
    },
    /// It does not run; this is its output.
    Respond(Output),
    /// It never finishes: after the command's timeout, `TransportError::Timeout`; a
    /// command without a timeout (and an upload) never returns. It did not happen.
    Hang,
    /// The connection drops: `TransportError::Disconnected`. With `happened`, the command
    /// ran (its effects are there) before the connection dropped.
    Disconnect {
        /// Whether the command's effects happened.
        happened: bool,
    },
    /// The disk fills up after `after_bytes` more bytes: `dd`, `cp` and uploads write that
    /// much, then fail with "No space left on device", leaving the partial file as a real
    /// disk would (an upload removes its partial temporary file, as the real transports
    /// should). Other commands fail with that message.
    DiskFull {
        /// Bytes written before the disk is full.
        after_bytes: u64,
    },
    /// It takes this long (virtual time) before running normally; past the command's
    /// timeout it times out instead, without effect.
    Delay(Duration),
    /// It does not run; after this long (virtual time), this is its output (a slow
    /// command that passes). Past the command's timeout, `TransportError::Timeout`.
    RespondAfter(Duration, Output),
    /// It runs after `run_after` (virtual time; its effects are there from then), and its
    /// answer comes `answer_after` later: `docker stop`, whose container's process ends
    /// some time after the signal (Tomcat's own stop) and which returns only after
    /// docker's teardown of the container (network, mounts) that follows. Past the
    /// command's timeout, `TransportError::Timeout` (effects that happened stay). With an
    /// output, that is the answer instead of the command's own (a stop whose teardown
    /// failed). An upload happens, late.
    AnswerLate {
        /// Until it runs.
        run_after: Duration,
        /// From then until the answer.
        answer_after: Duration,
        /// The answer instead of its own.
        output: Option<Output>,
    },
}

impl fmt::Display for FaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultAction::Fail { status, stderr } => write!(f, "fail with {status}: {stderr:?}"),
            FaultAction::Respond(o) => write!(f, "respond with exit {:?}", o.status),
            FaultAction::Hang => f.write_str("hang"),
            FaultAction::Disconnect { happened } => {
                write!(f, "drop the connection (command happened: {happened})")
            }
            FaultAction::DiskFull { after_bytes } => {
                write!(f, "disk full after {after_bytes} bytes")
            }
            FaultAction::Delay(d) => write!(f, "delay {d:?}"),
            FaultAction::RespondAfter(d, _) => write!(f, "respond after {d:?}"),
            FaultAction::AnswerLate {
                run_after,
                answer_after,
                output,
            } => {
                write!(f, "run after {run_after:?}, then answer")?;
                if let Some(o) = output {
                    write!(f, " exit {:?}", o.status)?;
                }
                write!(f, " after {answer_after:?}")
            }
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    pub(crate) matcher: Matcher,
    pub(crate) host: Option<String>,
    pub(crate) when: When,
    pub(crate) action: FaultAction,
}

impl Fault {
    /// A fault on operations matching `matcher`: by default the first one, on any host,
    /// fails with status 1 and `injected failure`.
    pub fn on(matcher: Matcher) -> Self {
        Fault {
            matcher,
            host: None,
            when: When::Nth(1),
            action: FaultAction::Fail {
                status: 1,
                stderr: "injected failure".into(),
            },
        }
    }

    /// Only on this host.
    pub fn on_host(mut self, host: &str) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Only the n-th matching operation (from 1).
    pub fn nth(mut self, n: usize) -> Self {
        self.when = When::Nth(n);
        self
    }

    /// The n-th matching operation and every later one.
    pub fn from_nth(mut self, n: usize) -> Self {
        self.when = When::FromNth(n);
        self
    }

    /// Every matching operation.
    pub fn every(self) -> Self {
        self.from_nth(1)
    }

    /// Exits with `status` and `stderr` instead of running.
    pub fn fail(mut self, status: i32, stderr: impl Into<String>) -> Self {
        self.action = FaultAction::Fail {
            status,
            stderr: stderr.into(),
        };
        self
    }

    /// Returns `output` instead of running.
    pub fn respond(mut self, output: Output) -> Self {
        self.action = FaultAction::Respond(output);
        self
    }

    /// Never finishes (until the command's timeout).
    pub fn hang(mut self) -> Self {
        self.action = FaultAction::Hang;
        self
    }

    /// Drops the connection; `happened`: whether the command ran first.
    pub fn disconnect(mut self, happened: bool) -> Self {
        self.action = FaultAction::Disconnect { happened };
        self
    }

    /// The disk is full after `bytes` more bytes.
    pub fn disk_full_after(mut self, bytes: u64) -> Self {
        self.action = FaultAction::DiskFull { after_bytes: bytes };
        self
    }

    /// Answers `output` after `d` of virtual time, without running.
    pub fn respond_after(mut self, d: Duration, output: Output) -> Self {
        self.action = FaultAction::RespondAfter(d, output);
        self
    }

    /// Takes `d` of virtual time before running.
    pub fn delay(mut self, d: Duration) -> Self {
        self.action = FaultAction::Delay(d);
        self
    }

    /// Runs after `run_after` of virtual time and answers `answer_after` later.
    pub fn answer_late(mut self, run_after: Duration, answer_after: Duration) -> Self {
        self.action = FaultAction::AnswerLate {
            run_after,
            answer_after,
            output: None,
        };
        self
    }

    /// Runs after `run_after` of virtual time and answers `output` `answer_after` later.
    pub fn answer_late_with(
        mut self,
        run_after: Duration,
        answer_after: Duration,
        output: Output,
    ) -> Self {
        self.action = FaultAction::AnswerLate {
            run_after,
            answer_after,
            output: Some(output),
        };
        self
    }

    /// The action.
    pub fn action(&self) -> &FaultAction {
        &self.action
    }
}

/// Identifies an injected fault: [`crate::FakeWorld::fault_fired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultId(pub usize);

/// A fault with its counters.
#[derive(Debug)]
pub(crate) struct FaultSlot {
    pub fault: Fault,
    pub matched: usize,
    pub fired: usize,
}
