//! The fake world's state behind [`crate::FakeWorld`]: the hosts (files, containers), the
//! upstream registry, injected faults, the event log and the invariant checker, and the
//! interpretation of every command a fake host runs.
//!
//! All state lives behind one mutex that is never held across an `.await`: a command is
//! interpreted in one step, at one virtual moment. Time-driven changes (an app finishing its
//! start, nginx's old workers finishing their requests) are computed lazily from the clock
//! before every command and every query.
//!
//! The submodules add to [`World`] and [`HostState`] what one part of the fake does: the
//! filesystem ([`fs`]), file commands ([`shell`]), uploads, the docker engine and CLI
//! ([`container`], [`docker`]), Tomcat ([`app`]), nginx (and what its config means for
//! [`routing`]), the network commands ([`net`]) and the invariants' view of the world
//! ([`check`]).

pub(crate) mod app;
pub(crate) mod check;
pub(crate) mod container;
pub(crate) mod deployed_guard;
pub(crate) mod docker;
pub(crate) mod fs;
pub(crate) mod host_scripts;
pub(crate) mod net;
pub(crate) mod nginx;
pub(crate) mod ns_exec;
pub(crate) mod procs;
pub(crate) mod read_script;
pub(crate) mod routing;
pub(crate) mod shell;
pub(crate) mod splice;
pub(crate) mod upload;

use std::collections::{BTreeMap, HashSet};

use ihos_core::{Command, Output, Privilege, TransportError};

use crate::clock::{Clock, VirtualTime};
use crate::fault::{FaultAction, FaultSlot, Op};
use crate::invariant::{Cause, InvariantChecker};
use crate::log::{Event, EventKind};
use container::Ctr;
use fs::{Cred, Fs, ROOT};

/// One fake host's state.
#[derive(Debug)]
pub(crate) struct HostState {
    pub name: String,
    pub fs: Fs,
    pub user: String,
    pub home: String,
    pub sudo_nopasswd: bool,
    pub docker_group: bool,
    /// `/proc` mounted with `hidepid`: other users' processes are not shown to the login.
    pub proc_hidden: bool,
    pub aliases: Vec<String>,
    pub containers: BTreeMap<String, Ctr>,
}

impl HostState {
    /// A host named `name`: login user `deploy` with home `/home/deploy`, password-less
    /// sudo, not in the docker group; `/tmp` exists.
    pub(crate) fn new(name: &str) -> Self {
        let mut fs = Fs::new();
        fs.put_dir("/home/deploy", Some("deploy"), 0o755);
        fs.put_dir("/tmp", Some(ROOT), 0o777);
        HostState {
            name: name.into(),
            fs,
            user: "deploy".into(),
            home: "/home/deploy".into(),
            sudo_nopasswd: true,
            docker_group: false,
            proc_hidden: false,
            aliases: Vec::new(),
            containers: BTreeMap::new(),
        }
    }

    /// The credentials a command runs with, or the output of a refused sudo.
    pub(crate) fn cred(&self, privilege: Privilege) -> Result<Cred, Output> {
        match privilege {
            Privilege::User => Ok(Cred {
                user: self.user.clone(),
            }),
            Privilege::Sudo if self.sudo_nopasswd || self.user == ROOT => Ok(Cred::root()),
            Privilege::Sudo => Err(Output {
                status: Some(1),
                stdout: Vec::new(),
                stderr: b"sudo: a password is required\n".to_vec(),
            }),
        }
    }

    /// Whether `name` (an address in a URL) reaches this host.
    pub(crate) fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.aliases.iter().any(|a| a == name)
    }
}

/// The shared state.
#[derive(Debug)]
pub(crate) struct World {
    pub clock: Clock,
    pub hosts: BTreeMap<String, HostState>,
    /// Upstream address → (host, container).
    pub registry: BTreeMap<String, (String, String)>,
    /// The nginx containers, (host, name): what the invariants and the time-driven nginx
    /// state look at, without a pass over every container before each command.
    pub lbs: std::collections::BTreeSet<(String, String)>,
    /// App containers that may have something due (Tomcat's readiness, log lines): the
    /// time-driven app state looks at these only. An app leaves it when nothing is pending.
    pub app_agenda: std::collections::BTreeSet<(String, String)>,
    /// The registry the other way round: (host, container) → its upstream addresses.
    pub backends_of: BTreeMap<(String, String), Vec<String>>,
    /// What the incremental invariant evaluation keeps.
    pub check: check::CheckState,
    pub faults: Vec<FaultSlot>,
    pub events: Vec<Event>,
    pub checker: InvariantChecker,
    /// Requests in flight at any moment on each backend that gets traffic.
    pub connections_per_backend: usize,
    pub next_pid: u32,
    /// The pid the next process takes instead of a new one (the kernel's pids wrap).
    pub reused_pid: Option<u32>,
    pub next_ip: u32,
    pub next_tmp: u64,
    /// How many times each host was asked to warm up (`Transport::warm_up`).
    pub warm_ups: BTreeMap<String, usize>,
    /// Requests cut during the operation being interpreted: (target, count, reason).
    pub cuts: Vec<(String, usize, String)>,
    /// Deployed releases a command changed under their running app (`host/container`,
    /// what), for the checker.
    pub deployed_changes: Vec<(String, String)>,
    /// Processes (host, pid) a watch for a process's end saw at its first look, with their
    /// start.
    pub watch_saw: BTreeMap<(String, u32), u64>,
    /// Whether something the invariants depend on changed since they were last evaluated
    /// (a container or nginx event, a registry or checker setting).
    pub dirty: bool,
    /// Whether the log keeps each command's stdin and stdout (see
    /// [`crate::FakeWorld::set_log_io`]).
    pub log_io: bool,
    /// Whether the log keeps the commands at all (see
    /// [`crate::FakeWorld::set_log_commands`]).
    pub log_commands: bool,
    /// Events logged or not: the next one's sequence number.
    pub next_seq: u64,
    /// Commands run so far, logged or not.
    pub commands_run: u64,
}

/// `command` without its stdin bytes (for a log that does not keep them).
fn without_io(command: &Command) -> Command {
    let c = Command::new(command.program())
        .args(command.arguments())
        .with_privilege(command.privilege());
    match command.timeout_value() {
        Some(t) => c.timeout(t),
        None => c,
    }
}

/// Output of a command that ran.
pub(crate) fn out(status: i32, stdout: impl Into<Vec<u8>>, stderr: impl Into<Vec<u8>>) -> Output {
    Output {
        status: Some(status),
        stdout: stdout.into(),
        stderr: stderr.into(),
    }
}

impl World {
    /// An empty world whose clock starts now.
    pub(crate) fn new() -> Self {
        World {
            clock: Clock::new(),
            hosts: BTreeMap::new(),
            registry: BTreeMap::new(),
            lbs: Default::default(),
            app_agenda: Default::default(),
            backends_of: BTreeMap::new(),
            check: check::CheckState {
                whole: true,
                ..Default::default()
            },
            faults: Vec::new(),
            events: Vec::new(),
            checker: InvariantChecker::new(1),
            connections_per_backend: 2,
            next_pid: 4000,
            reused_pid: None,
            next_ip: 1,
            next_tmp: 0,
            warm_ups: BTreeMap::new(),
            cuts: Vec::new(),
            deployed_changes: Vec::new(),
            watch_saw: Default::default(),
            dirty: true,
            log_io: true,
            log_commands: true,
            next_seq: 0,
            commands_run: 0,
        }
    }

    pub(crate) fn now(&self) -> VirtualTime {
        self.clock.now()
    }

    pub(crate) fn host(&self, name: &str) -> &HostState {
        self.hosts
            .get(name)
            .unwrap_or_else(|| panic!("fake world has no host {name:?}"))
    }

    pub(crate) fn host_mut(&mut self, name: &str) -> &mut HostState {
        self.hosts
            .get_mut(name)
            .unwrap_or_else(|| panic!("fake world has no host {name:?}"))
    }

    pub(crate) fn ctr(&self, host: &str, name: &str) -> Option<&Ctr> {
        self.hosts.get(host)?.containers.get(name)
    }

    pub(crate) fn ctr_mut(&mut self, host: &str, name: &str) -> Option<&mut Ctr> {
        self.hosts.get_mut(host)?.containers.get_mut(name)
    }

    pub(crate) fn push_event(&mut self, host: &str, at: VirtualTime, kind: EventKind) -> u64 {
        match &kind {
            // A reload says what it changed (`check.rerouted`); anything else about a
            // container has it looked at whole.
            EventKind::NginxApplied { how: "reload", .. } => self.dirty = true,
            EventKind::Container { container, .. } | EventKind::NginxApplied { container, .. } => {
                self.dirty = true;
                self.check
                    .touched
                    .insert((host.to_string(), container.clone()));
            }
            _ => {}
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let command = matches!(kind, EventKind::Command { .. });
        if command {
            self.commands_run += 1;
        }
        if command && !self.log_commands {
            return seq;
        }
        self.events.push(Event {
            seq,
            at,
            host: host.into(),
            kind,
        });
        seq
    }

    /// Brings time-driven state up to `now` and checks the invariants for changes that time
    /// alone made.
    pub(crate) fn sync(&mut self) {
        let now = self.now();
        self.sync_apps(now);
        self.sync_nginx(now);
        self.evaluate(None);
    }

    /// The fault hitting this operation, if any (counts every match of every fault).
    pub(crate) fn decide(&mut self, host: &str, op: &Op<'_>) -> Option<(usize, FaultAction)> {
        let mut hit = None;
        for (i, slot) in self.faults.iter_mut().enumerate() {
            if slot.fault.host.as_deref().is_some_and(|h| h != host)
                || !slot.fault.matcher.matches(op)
            {
                continue;
            }
            slot.matched += 1;
            if hit.is_none() && slot.fault.when.hits(slot.matched) {
                slot.fired += 1;
                hit = Some((i, slot.fault.action.clone()));
            }
        }
        if let Some((i, action)) = &hit {
            let now = self.now();
            self.push_event(
                host,
                now,
                EventKind::FaultFired {
                    fault: *i,
                    action: action.to_string(),
                },
            );
        }
        hit
    }

    /// Runs a command for real (in the fake): sudo, interpretation, log, invariants.
    pub(crate) fn execute(
        &mut self,
        host: &str,
        command: &Command,
        limit: Option<u64>,
    ) -> Result<Output, TransportError> {
        let result = self.perform(host, command, limit);
        self.finish(host, command, result)
    }

    /// Runs a command's effects without logging it.
    pub(crate) fn perform(
        &mut self,
        host: &str,
        command: &Command,
        limit: Option<u64>,
    ) -> Result<Output, TransportError> {
        let now = self.now();
        let deployed = self.deployed_prints(host);
        let result = match self.host(host).cred(command.privilege()) {
            Err(refused) => Ok(refused),
            Ok(cred) => match self.interpret(host, &cred, command, limit, now) {
                Some(output) => Ok(output),
                None => Err(TransportError::Failed {
                    host: host.into(),
                    command: command.to_string(),
                    status: "status 127".into(),
                    stderr: format!(
                        "fake host: unsupported command: {}",
                        command.to_shell_line(false)
                    ),
                }),
            },
        };
        self.note_deployed_changes(host, deployed);
        self.gc(host);
        result
    }

    /// Logs a command's result and checks the invariants after it.
    pub(crate) fn finish(
        &mut self,
        host: &str,
        command: &Command,
        result: Result<Output, TransportError>,
    ) -> Result<Output, TransportError> {
        let now = self.now();
        let (logged, logged_result) = if self.log_io {
            (command.clone(), result.clone())
        } else {
            let stripped = result.as_ref().map(|o| Output {
                status: o.status,
                stdout: Vec::new(),
                stderr: o.stderr.clone(),
            });
            (without_io(command), stripped.map_err(Clone::clone))
        };
        let seq = self.push_event(
            host,
            now,
            EventKind::Command {
                command: logged,
                result: logged_result,
            },
        );
        self.evaluate(Some(Cause {
            seq,
            host: host.into(),
            what: command.to_string(),
        }));
        result
    }

    /// Drops file data nothing refers to any more (bind mounts hold their inode).
    pub(crate) fn gc(&mut self, host: &str) {
        let h = self.host_mut(host);
        let held: HashSet<u64> = h
            .containers
            .values()
            .filter_map(|c| c.nginx.pinned)
            .collect();
        h.fs.gc(&held);
    }

    fn interpret(
        &mut self,
        host: &str,
        cred: &Cred,
        command: &Command,
        limit: Option<u64>,
        now: VirtualTime,
    ) -> Option<Output> {
        let argv: Vec<String> = command.argv().iter().map(|s| s.to_string()).collect();
        let stdin = command.stdin_bytes();
        match argv[0].as_str() {
            "docker" => {
                if limit.is_some() {
                    return Some(out(
                        1,
                        "",
                        "docker: write /var/lib/docker: no space left on device\n",
                    ));
                }
                self.docker(host, cred, &argv[1..], now)
            }
            "curl" => self.curl(host, &argv[1..], now),
            "nsenter" => match self.nsenter_exec(host, cred, &argv[1..], now) {
                Some(output) => Some(output),
                None => self.nsenter(host, cred, &argv[1..], now),
            },
            "sh" => {
                let a: Vec<&str> = argv.iter().map(String::as_str).collect();
                if let Some(read) = read_script::run(self.host_mut(host), cred, &a, limit, now) {
                    return Some(read);
                }
                match self.host_script(host, cred, &argv, now) {
                    Some(output) => Some(output),
                    None => shell::run(self.host_mut(host), cred, &argv, stdin, limit, now),
                }
            }
            _ => shell::run(self.host_mut(host), cred, &argv, stdin, limit, now),
        }
    }

    /// A new process id.
    pub(crate) fn pid(&mut self) -> u32 {
        if let Some(pid) = self.reused_pid.take() {
            return pid;
        }
        self.next_pid += 1;
        self.next_pid
    }

    pub(crate) fn cut(&mut self, target: String, count: usize, reason: String) {
        if count > 0 {
            self.cuts.push((target, count, reason));
        }
    }

    /// The event log as text, one event a line.
    pub(crate) fn log_text(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            s.push_str(&e.to_string());
            s.push('\n');
        }
        s
    }
}
