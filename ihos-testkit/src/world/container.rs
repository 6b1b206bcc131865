//! The runtime state the fake docker engine keeps for each container: [`Ctr`], with its
//! app's and nginx's parts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::clock::VirtualTime;
use crate::container::{AppPhase, AppSpec, ContainerInfo, ContainerKind, ContainerSpec, NginxSpec};

/// Decides whether nginx rejects a config: [`crate::FakeWorld::nginx_rejects`].
pub(crate) type RejectRule = (Arc<dyn Fn(&[u8]) -> bool + Send + Sync>, String);

/// A config nginx accepted: the document, and the servers of the upstream it routes to.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub doc: ihos_nginx::Document,
    /// Every server of the upstream, in file order: its address and whether it is enabled.
    pub servers: Vec<(String, bool)>,
}

/// A config nginx accepted, shared: `-t` and the reload after it read the same one.
pub(crate) type Loaded = Arc<Parsed>;

/// An nginx worker process.
#[derive(Debug, Clone)]
pub(crate) struct Worker {
    pub pid: u32,
    /// Set when an old worker is finishing in-flight requests after a reload.
    pub retiring_until: Option<VirtualTime>,
}

/// Runtime state of an app container.
#[derive(Debug, Default, Clone)]
pub(crate) struct AppRt {
    pub serving: Option<String>,
    /// `*.war` files in webapps at start (Tomcat deploys every one).
    pub deployed: Vec<String>,
    pub ready_logged: bool,
    /// Log lines not written yet: (when, line, whether it is Tomcat's).
    pub pending_log: Vec<(VirtualTime, String, bool)>,
    /// Extra connections (background jobs): (until, count).
    pub held: Vec<(VirtualTime, usize)>,
}

/// Runtime state of an nginx container.
#[derive(Default, Clone)]
pub(crate) struct NginxRt {
    /// The config inode the bind mount holds (resolved at container start).
    pub pinned: Option<u64>,
    /// The config nginx runs.
    pub active: Option<Loaded>,
    /// Backends receiving new requests.
    pub routing: BTreeSet<String>,
    /// Every server of the upstream in the active config (any state).
    pub servers: BTreeSet<String>,
    /// Per address in the active config: its server lines, and how many are enabled (an
    /// address may be written twice).
    pub counts: HashMap<String, (u32, u32)>,
    /// Backends taken out by a reload whose in-flight requests old workers still serve.
    pub draining: BTreeMap<String, VirtualTime>,
    /// A reload signalled but not yet in effect: (when, config).
    pub pending: Option<(VirtualTime, Loaded)>,
    pub workers: Vec<Worker>,
    pub rejects: Vec<RejectRule>,
    pub next_inner_pid: u32,
    /// The config last parsed (by `-t`, a reload or a start): the next is parsed from it.
    pub parsed: Option<Loaded>,
}

impl std::fmt::Debug for NginxRt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NginxRt")
            .field("pinned", &self.pinned)
            .field("routing", &self.routing)
            .field("draining", &self.draining)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// A container in the engine.
#[derive(Debug, Clone)]
pub(crate) struct Ctr {
    pub spec: ContainerSpec,
    pub running: bool,
    pub pid: u32,
    pub ip: String,
    pub started: Option<VirtualTime>,
    pub finished: Option<VirtualTime>,
    pub exit_code: i64,
    pub starts: u32,
    pub app: AppRt,
    pub nginx: NginxRt,
}

impl Ctr {
    /// A container created from `spec` with address `ip`, never started.
    pub(crate) fn new(spec: ContainerSpec, ip: String) -> Self {
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
        }
    }

    pub(crate) fn app_spec(&self) -> Option<&AppSpec> {
        match &self.spec.kind {
            ContainerKind::App(a) => Some(a),
            ContainerKind::Nginx(_) => None,
        }
    }

    pub(crate) fn nginx_spec(&self) -> Option<&NginxSpec> {
        match &self.spec.kind {
            ContainerKind::Nginx(n) => Some(n),
            ContainerKind::App(_) => None,
        }
    }

    /// When Tomcat has finished starting, if running.
    pub(crate) fn ready_at(&self) -> Option<VirtualTime> {
        self.started
            .filter(|_| self.running)
            .map(|s| s.plus(self.spec.start_delay))
    }

    /// The app's phase at `now` (nginx containers: `Ready` when running).
    pub(crate) fn phase(&self, now: VirtualTime) -> AppPhase {
        if !self.running {
            return AppPhase::Stopped;
        }
        if self.nginx_spec().is_some() {
            return AppPhase::Ready;
        }
        match self.ready_at() {
            Some(r) if now < r => AppPhase::Starting,
            Some(r) if now < r.plus(self.spec.warm_up) => AppPhase::Unhealthy,
            _ if (self.spec.never_healthy && self.faults_apply()) || self.app.serving.is_none() => {
                AppPhase::Unhealthy
            }
            _ => AppPhase::Ready,
        }
    }

    /// Whether the spec's faults hit the release it serves now.
    pub(crate) fn faults_apply(&self) -> bool {
        self.spec
            .faulty_build
            .as_ref()
            .is_none_or(|sha| self.app.serving.as_ref() == Some(sha))
    }

    pub(crate) fn status(&self) -> &'static str {
        if self.running {
            "running"
        } else if self.started.is_none() {
            "created"
        } else {
            "exited"
        }
    }

    pub(crate) fn info(&self, now: VirtualTime) -> ContainerInfo {
        ContainerInfo {
            name: self.spec.name.clone(),
            running: self.running,
            status: self.status().into(),
            pid: self.running.then_some(self.pid),
            started_at: self.started,
            phase: self.app_spec().map(|_| self.phase(now)),
            serving: self.app.serving.clone(),
            exit_code: self.exit_code,
            starts: self.starts,
        }
    }
}
