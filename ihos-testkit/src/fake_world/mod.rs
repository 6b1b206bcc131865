//! [`FakeWorld`]: the public handle on a fake world (fake hosts sharing one virtual clock,
//! one event log, one set of injected faults, a registry of upstream backends and the
//! invariant checker), and [`FakeHost`], the handle on one of its hosts. Both are cheap
//! clones of one `Arc<Mutex<World>>`; the world itself is in [`crate::world`].

mod checked_write;
mod exit_watch;
mod host;
mod lock_scripts;
mod replace;
mod sh;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::VirtualTime;
use crate::container::{ContainerInfo, ContainerKind, ContainerSpec};
use crate::fault::{Fault, FaultId, FaultSlot};
use crate::invariant::{InvariantChecker, InvariantReport};
use crate::log::{CommandRecord, Event, EventKind};
use crate::world::container::Ctr;
use crate::world::{HostState, World};

pub use host::FakeHost;

/// Several fake hosts on one virtual clock. Cheap to clone (a handle).
#[derive(Clone, Debug)]
pub struct FakeWorld {
    inner: Arc<Mutex<World>>,
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
            inner: Arc::new(Mutex::new(World::new())),
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
        let mut w = self.lock();
        assert!(
            !w.hosts.contains_key(name),
            "fake world already has a host {name:?}"
        );
        w.hosts.insert(name.into(), HostState::new(name));
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

    /// The next process started anywhere takes `pid`, as the kernel hands out a freed pid
    /// again once its counter wraps at pid_max (e.g. a container restarted, then another
    /// started where its old main process was). The pid must not be running.
    pub fn reuse_pid_next(&self, pid: u32) {
        self.lock().reused_pid = Some(pid);
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
        h.containers.insert(name.clone(), Ctr::new(spec, ip));
        if is_nginx {
            w.lbs.insert((host.to_string(), name.clone()));
        }
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
        let key = (host.to_string(), container.to_string());
        if let Some(old) = w.registry.insert(address.into(), key.clone()) {
            if let Some(list) = w.backends_of.get_mut(&old) {
                list.retain(|a| a != address);
            }
        }
        let list = w.backends_of.entry(key).or_default();
        list.push(address.into());
        list.sort();
        list.dedup();
        w.dirty = true;
        w.check.whole = true;
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
        w.check.whole = true;
    }

    /// Whether the event log keeps every command's stdin and stdout (on by default). Off,
    /// commands are logged without their stdin and with an empty stdout (exit status and
    /// stderr kept): a long run (a whole-fleet benchmark) then does not hold every byte
    /// ever written or read. What the commands do is the same either way.
    pub fn set_log_io(&self, on: bool) {
        self.lock().log_io = on;
    }

    /// Whether the event log keeps the commands at all (on by default). Off, commands are
    /// run, checked against the invariants and counted ([`FakeWorld::commands_run`]) but
    /// not kept: the log then holds the containers' and nginx's events only, so a
    /// whole-fleet benchmark measures the engine's memory, not the log's. A violation's
    /// cause still names the command.
    pub fn set_log_commands(&self, on: bool) {
        self.lock().log_commands = on;
    }

    /// How many commands have run, logged or not.
    pub fn commands_run(&self) -> u64 {
        self.lock().commands_run
    }

    /// Turns invariant checking on or off (on by default).
    pub fn set_invariants_enabled(&self, on: bool) {
        let mut w = self.lock();
        w.checker.enabled = on;
        w.dirty = true;
        w.check.whole = true;
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
        self.synced(|w| {
            w.ctr(host, nginx)
                .and_then(|c| c.nginx.active.as_ref())
                .map(|a| a.doc.source().to_vec())
        })
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

    /// How many times `host` was asked to warm up (a fake host has no sessions to make:
    /// this only counts).
    pub fn warm_ups(&self, host: &str) -> usize {
        self.lock().warm_ups.get(host).copied().unwrap_or(0)
    }

    /// Requests cut so far (nginx restarts, apps stopped with requests in flight).
    pub fn requests_failed(&self) -> usize {
        self.lock().checker.requests_failed
    }
}
