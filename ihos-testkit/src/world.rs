//! [`FakeWorld`]: fake hosts sharing one virtual clock, one event log, one set of injected
//! faults, a registry of upstream backends and the invariant checker.
//!
//! All state lives behind one mutex that is never held across an `.await`: a command is
//! interpreted in one step, at one virtual moment. Time-driven changes (an app finishing its
//! start, nginx's old workers finishing their requests) are computed lazily from the clock
//! before every command and every query.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ihos_core::{Command, Output, Privilege, TransportError};

use crate::clock::{Clock, VirtualTime};
use crate::container::{ContainerInfo, ContainerKind, ContainerSpec, Ctr};
use crate::fault::{Fault, FaultAction, FaultId, FaultSlot, Op};
use crate::fs::{Cred, Fs, ROOT};
use crate::host::FakeHost;
use crate::invariant::{Cause, InvariantChecker, InvariantReport};
use crate::log::{CommandRecord, Event, EventKind};

/// One fake host's state.
#[derive(Debug)]
pub(crate) struct HostState {
    pub name: String,
    pub fs: Fs,
    pub user: String,
    pub home: String,
    pub sudo_nopasswd: bool,
    pub docker_group: bool,
    pub aliases: Vec<String>,
    pub containers: BTreeMap<String, Ctr>,
}

impl HostState {
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
    pub faults: Vec<FaultSlot>,
    pub events: Vec<Event>,
    pub checker: InvariantChecker,
    /// Requests in flight at any moment on each backend that gets traffic.
    pub connections_per_backend: usize,
    pub next_pid: u32,
    pub next_ip: u32,
    pub next_tmp: u64,
    /// Requests cut during the operation being interpreted: (target, count, reason).
    pub cuts: Vec<(String, usize, String)>,
    /// Whether something the invariants depend on changed since they were last evaluated
    /// (a container or nginx event, a registry or checker setting).
    pub dirty: bool,
    /// Whether the log keeps each command's stdin and stdout (see
    /// [`FakeWorld::set_log_io`]).
    pub log_io: bool,
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
        if matches!(
            kind,
            EventKind::Container { .. } | EventKind::NginxApplied { .. }
        ) {
            self.dirty = true;
        }
        let seq = self.events.len() as u64;
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
            "nsenter" => self.nsenter(host, cred, &argv[1..], now),
            _ => crate::shell::run(self.host_mut(host), cred, &argv, stdin, limit, now),
        }
    }

    /// A new process id.
    pub(crate) fn pid(&mut self) -> u32 {
        self.next_pid += 1;
        self.next_pid
    }

    pub(crate) fn cut(&mut self, target: String, count: usize, reason: String) {
        if count > 0 {
            self.cuts.push((target, count, reason));
        }
    }
}

/// Several fake hosts on one virtual clock. Cheap to clone (a handle).
#[derive(Clone, Debug)]
pub struct FakeWorld {
    pub(crate) inner: Arc<Mutex<World>>,
}

impl Default for FakeWorld {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeWorld {
    /// An empty world whose clock starts now (`tokio::time::Instant::now()`: create it
    /// inside the test's runtime when the clock is paused).
    pub fn new() -> Self {
        FakeWorld {
            inner: Arc::new(Mutex::new(World {
                clock: Clock::new(),
                hosts: BTreeMap::new(),
                registry: BTreeMap::new(),
                faults: Vec::new(),
                events: Vec::new(),
                checker: InvariantChecker::new(1),
                connections_per_backend: 2,
                next_pid: 4000,
                next_ip: 1,
                next_tmp: 0,
                cuts: Vec::new(),
                dirty: true,
                log_io: true,
            })),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state brought up to date with the clock.
    pub(crate) fn synced<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut w = self.lock();
        w.sync();
        f(&mut w)
    }

    /// Adds a host named `name` (what `Transport::host` returns; also the address its
    /// backends have in the upstream). Login user `deploy` with home `/home/deploy`,
    /// password-less sudo, not in the docker group; `/tmp` exists.
    pub fn add_host(&self, name: &str) -> FakeHost {
        let mut fs = Fs::new();
        fs.put_dir("/home/deploy", Some("deploy"), 0o755);
        fs.put_dir("/tmp", Some(ROOT), 0o777);
        let mut w = self.lock();
        assert!(
            !w.hosts.contains_key(name),
            "fake world already has a host {name:?}"
        );
        w.hosts.insert(
            name.into(),
            HostState {
                name: name.into(),
                fs,
                user: "deploy".into(),
                home: "/home/deploy".into(),
                sudo_nopasswd: true,
                docker_group: false,
                aliases: Vec::new(),
                containers: BTreeMap::new(),
            },
        );
        FakeHost::new(self.clone(), name)
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<FakeHost> {
        self.lock()
            .hosts
            .contains_key(name)
            .then(|| FakeHost::new(self.clone(), name))
    }

    /// Names of the hosts.
    pub fn hosts(&self) -> Vec<String> {
        self.lock().hosts.keys().cloned().collect()
    }

    /// Creates a container on `host`. A running app loads `webapps/ihos.war` as it is now;
    /// a running nginx loads its config file, which must exist and be valid.
    ///
    /// # Panics
    /// If the host does not exist, the name is taken, or a running nginx's config is
    /// missing or invalid.
    pub fn add_container(&self, host: &str, spec: ContainerSpec) {
        let mut w = self.lock();
        let now = w.now();
        let ip = format!("172.17.0.{}", w.next_ip + 1);
        w.next_ip += 1;
        let name = spec.name.clone();
        let since = spec.running_since;
        let is_nginx = matches!(spec.kind, ContainerKind::Nginx(_));
        let h = w.host_mut(host);
        assert!(
            !h.containers.contains_key(&name),
            "{host} already has a container {name:?}"
        );
        h.containers.insert(
            name.clone(),
            Ctr {
                spec,
                running: false,
                pid: 0,
                ip,
                started: None,
                finished: None,
                exit_code: 0,
                starts: 0,
                app: Default::default(),
                nginx: Default::default(),
            },
        );
        if let Some(ago) = since {
            let at = now.minus(ago);
            if is_nginx {
                if let Err(e) = w.nginx_start(host, &name, at) {
                    panic!("nginx container {name} on {host} cannot start: {e}");
                }
                assert!(
                    w.ctr(host, &name).is_some_and(|c| c.running),
                    "nginx container {name} on {host}: its config is invalid:\n{}",
                    w.log_text()
                );
            } else {
                w.app_start(host, &name, at);
            }
            if let Some(c) = w.ctr_mut(host, &name) {
                c.starts = 0;
            }
        }
        w.sync();
    }

    /// Says that the upstream server `address` (as written in the nginx config, e.g.
    /// `192.168.1.101:39091`) is the app container `container` on `host`.
    pub fn register_backend(&self, address: &str, host: &str, container: &str) {
        let mut w = self.lock();
        assert!(
            w.ctr(host, container).is_some(),
            "no container {container} on {host}"
        );
        w.registry
            .insert(address.into(), (host.into(), container.into()));
        w.dirty = true;
    }

    /// The registered backends: address → (host, container).
    pub fn backends(&self) -> BTreeMap<String, (String, String)> {
        self.lock().registry.clone()
    }

    /// Injects a fault; returns its id.
    pub fn inject(&self, fault: Fault) -> FaultId {
        let mut w = self.lock();
        w.faults.push(FaultSlot {
            fault,
            matched: 0,
            fired: 0,
        });
        FaultId(w.faults.len() - 1)
    }

    /// How many times a fault fired.
    pub fn fault_fired(&self, id: FaultId) -> usize {
        self.lock().faults.get(id.0).map_or(0, |s| s.fired)
    }

    /// How many operations a fault matched (fired or not).
    pub fn fault_matched(&self, id: FaultId) -> usize {
        self.lock().faults.get(id.0).map_or(0, |s| s.matched)
    }

    /// Fault: the nginx container rejects every config for which `pred` holds (`nginx -t`,
    /// `nginx -s reload` and start), with `nginx: [emerg] MESSAGE in FILE:1`.
    pub fn nginx_rejects(
        &self,
        host: &str,
        container: &str,
        pred: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
        message: &str,
    ) {
        let mut w = self.lock();
        let c = w
            .ctr_mut(host, container)
            .unwrap_or_else(|| panic!("no container {container} on {host}"));
        c.nginx.rejects.push((Arc::new(pred), message.into()));
    }

    /// `count` extra connections (e.g. a background job) stay open on an app container for
    /// `duration` from now.
    pub fn hold_connections(&self, host: &str, container: &str, count: usize, duration: Duration) {
        let mut w = self.lock();
        let until = w.now().plus(duration);
        let c = w
            .ctr_mut(host, container)
            .unwrap_or_else(|| panic!("no container {container} on {host}"));
        c.app.held.push((until, count));
    }

    /// Requests in flight on each backend that gets traffic (default 2); also the number of
    /// `ss` lines per such backend.
    pub fn set_connections_per_backend(&self, n: usize) {
        self.lock().connections_per_backend = n;
    }

    /// How many backends of an upstream may be out of rotation at once (default 1).
    pub fn set_max_out_of_rotation(&self, n: usize) {
        let mut w = self.lock();
        w.checker.max_out_of_rotation = n;
        w.dirty = true;
    }

    /// Whether the event log keeps every command's stdin and stdout (on by default). Off,
    /// commands are logged without their stdin and with an empty stdout (exit status and
    /// stderr kept): a long run (a whole-fleet benchmark) then does not hold every byte
    /// ever written or read. What the commands do is the same either way.
    pub fn set_log_io(&self, on: bool) {
        self.lock().log_io = on;
    }

    /// Turns invariant checking on or off (on by default).
    pub fn set_invariants_enabled(&self, on: bool) {
        let mut w = self.lock();
        w.checker.enabled = on;
        w.dirty = true;
    }

    /// The current virtual time.
    pub fn now(&self) -> VirtualTime {
        self.lock().now()
    }

    /// Backends the nginx container sends new requests to (empty if it is stopped).
    pub fn routing(&self, host: &str, nginx: &str) -> Vec<String> {
        self.synced(|w| {
            w.ctr(host, nginx)
                .filter(|c| c.running)
                .map(|c| c.nginx.routing.iter().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// Backends whose in-flight requests old nginx workers are still serving.
    pub fn draining(&self, host: &str, nginx: &str) -> Vec<String> {
        self.synced(|w| {
            w.ctr(host, nginx)
                .map(|c| c.nginx.draining.keys().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// The config the nginx container runs.
    pub fn active_config(&self, host: &str, nginx: &str) -> Option<Vec<u8>> {
        self.synced(|w| w.ctr(host, nginx).and_then(|c| c.nginx.active.clone()))
    }

    /// A container's state now.
    pub fn container(&self, host: &str, name: &str) -> Option<ContainerInfo> {
        self.synced(|w| {
            let now = w.now();
            w.ctr(host, name).map(|c| c.info(now))
        })
    }

    /// The whole event log.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// Every command run, in order.
    pub fn commands(&self) -> Vec<CommandRecord> {
        self.lock()
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Command { command, result } => Some(CommandRecord {
                    seq: e.seq,
                    at: e.at,
                    host: e.host.clone(),
                    command: command.clone(),
                    result: result.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// The event log as text, one event a line (for failure messages).
    pub fn log_text(&self) -> String {
        self.lock().log_text()
    }

    /// Checks the invariants now and returns every violation seen so far.
    pub fn check_invariants(&self) -> InvariantReport {
        self.synced(|w| w.checker.report())
    }

    /// Panics with the report and the event log if any invariant was violated.
    pub fn assert_invariants(&self) {
        let report = self.check_invariants();
        assert!(
            report.is_clean(),
            "invariants violated:\n{report}\nevent log:\n{}",
            self.log_text()
        );
    }

    /// A copy of the invariant checker, evaluated now.
    pub fn invariant_checker(&self) -> InvariantChecker {
        self.synced(|w| w.checker.clone())
    }

    /// Requests cut so far (nginx restarts, apps stopped with requests in flight).
    pub fn requests_failed(&self) -> usize {
        self.lock().checker.requests_failed
    }
}

impl World {
    pub(crate) fn log_text(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            s.push_str(&e.to_string());
            s.push('\n');
        }
        s
    }
}
