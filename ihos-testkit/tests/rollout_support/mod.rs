//! Shared by the `rollout_*` tests: the runbook topology (four instances on two hosts behind
//! one nginx) or a generated one, as a [`Fleet`] over fake hosts, a new WAR, an event
//! recorder that can act on events, a transport that can "crash", and the checks every test
//! makes at the end (rotation, versions, invariants, commands, lock, journal).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ihos_core::{
    CancelToken, Command, DeploymentRecord, Event, EventRecord, EventSink, Fleet, Journal, Output,
    RemotePath, RolloutError, RolloutOptions, RolloutReport, Step, Topology, Transport,
    TransportError, Uploaded, WarFile, run_rollback, run_rollout,
};
use ihos_testkit::sha256_hex;
use ihos_testkit::{
    AppPhase, AppSpec, ContainerSpec, FakeHost, FakeWorld, InvariantReport, NginxSpec,
    RUNBOOK_WAR_V1, Runbook, ViolationKind,
};

/// The runbook's instances, in rollout order (the order of `Runbook::backends`).
pub const NAMES: [&str; 4] = ["101-pep1", "101-pep2", "103-pep1", "103-pep2"];
/// The load balancer's host (also the host of the first two instances).
pub const LB: &str = "192.168.1.101";
/// The state directory on every host (the topology's default).
pub const STATE: &str = "/var/lib/ihos";

/// Writes a minimal WAR (a zip with `WEB-INF/`) whose content depends on `version`.
pub fn write_war(path: &Path, version: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.add_directory("WEB-INF/", opts).unwrap();
    z.start_file("WEB-INF/web.xml", opts).unwrap();
    z.write_all(b"<web-app/>").unwrap();
    z.start_file("version.txt", opts).unwrap();
    z.write_all(version.as_bytes()).unwrap();
    z.finish().unwrap();
}

/// SHA-256 of the WAR every runbook instance runs at the start.
pub fn old_sha() -> String {
    sha256_hex(RUNBOOK_WAR_V1)
}

// ---------------------------------------------------------------------------------------
// Events

type Hook = Box<dyn Fn(&Event) + Send + Sync>;

/// Records every event and runs hooks on each (to press "Ctrl-C" or "crash" at a step).
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
    hooks: Mutex<Vec<Hook>>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Recorder::default())
    }

    /// The first `StepFinished` of `instance`'s `step`: its seconds and detail.
    pub fn finished(&self, instance: &str, step: ihos_core::Step) -> (f64, String) {
        self.events()
            .iter()
            .find_map(|e| match e {
                Event::StepFinished {
                    instance: i,
                    step: s,
                    seconds,
                    detail,
                } if i == instance && *s == step => {
                    Some((*seconds, detail.clone().unwrap_or_default()))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no finished {step:?} for {instance}\n{}", self.text()))
    }

    /// Runs `f` on every event from now on.
    pub fn on(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.hooks.lock().unwrap().push(Box::new(f));
    }

    /// Runs `f` once, on the first event for which `pred` holds.
    pub fn once(
        &self,
        pred: impl Fn(&Event) -> bool + Send + Sync + 'static,
        f: impl Fn() + Send + Sync + 'static,
    ) {
        let done = AtomicBool::new(false);
        self.on(move |e| {
            if pred(e) && !done.swap(true, Ordering::SeqCst) {
                f();
            }
        });
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The events, one a line, for failure messages.
    pub fn text(&self) -> String {
        self.events()
            .iter()
            .map(|e| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether some event matches.
    pub fn any(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.events().iter().any(pred)
    }

    /// Steps started by `instance`, in order.
    pub fn steps_started(&self, instance: &str) -> Vec<Step> {
        self.events()
            .iter()
            .filter_map(|e| match e {
                Event::StepStarted { instance: i, step } if i == instance => Some(*step),
                _ => None,
            })
            .collect()
    }
}

impl EventSink for Recorder {
    fn emit(&self, record: &EventRecord) {
        for h in self.hooks.lock().unwrap().iter() {
            h(&record.event);
        }
        self.events.lock().unwrap().push(record.event.clone());
    }
}

/// `StepStarted { instance, step }`.
pub fn is_step_started(e: &Event, instance: &str, step: Step) -> bool {
    matches!(e, Event::StepStarted { instance: i, step: s } if i == instance && *s == step)
}

/// `StepFinished { instance, step }`.
pub fn is_step_finished(e: &Event, instance: &str, step: Step) -> bool {
    matches!(e, Event::StepFinished { instance: i, step: s, .. } if i == instance && *s == step)
}

// ---------------------------------------------------------------------------------------
// A transport that can crash

/// A fake host whose connection "dies with the process": once `crashed` is set, every
/// command and upload hangs forever, so the future running the rollout stops exactly at
/// the next remote operation, as a killed `ihos` would.
#[derive(Clone)]
pub struct Crashable {
    pub host: FakeHost,
    pub crashed: Arc<AtomicBool>,
}

#[async_trait]
impl Transport for Crashable {
    fn host(&self) -> &str {
        self.host.name()
    }

    async fn run(&self, command: &Command) -> Result<Output, TransportError> {
        if self.crashed.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.host.run(command).await
    }

    async fn upload(&self, local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError> {
        if self.crashed.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.host.upload(local, remote).await
    }
}

// ---------------------------------------------------------------------------------------
// The environment

/// A fake world, its topology, and a new WAR ("build 2").
pub struct Env {
    pub world: FakeWorld,
    /// The nginx host and container.
    pub lb_host: FakeHost,
    pub nginx: String,
    /// Backends in rollout order: (instance name, address, host, container, webapps dir).
    pub backends: Vec<Backend>,
    pub topology: Topology,
    /// Topology host key → fake host.
    pub hosts: BTreeMap<String, FakeHost>,
    pub dir: tempfile::TempDir,
    /// The WAR being rolled out.
    pub war: WarFile,
    /// SHA-256 of the WAR the instances run at the start.
    pub old: String,
    /// The digests of the WARs [`Env::other_war`] made: releases an instance may run too.
    pub others: Mutex<Vec<String>>,
}

/// One instance of an [`Env`].
#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    pub address: String,
    pub host: FakeHost,
    pub container: String,
    pub webapps: String,
}

impl Backend {
    fn war_path(&self) -> String {
        format!("{}/ihos.war", self.webapps)
    }
}

/// The runbook's `examples/ihos.toml`, without the canary and its host.
fn runbook_topology() -> Topology {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/ihos.toml"
    ))
    .unwrap();
    let mut topo = Topology::from_toml(&text, "ihos.toml").unwrap();
    topo.canary = None;
    topo.hosts.remove("h102");
    topo
}

impl Env {
    /// The runbook topology, every app container as it comes.
    pub fn runbook() -> Self {
        Self::runbook_with(|s, _, _| s)
    }

    /// The runbook topology, each app container's spec passed through `customize` with its
    /// instance's name and the new WAR's SHA-256 (to make that build faulty somewhere).
    pub fn runbook_with(customize: impl Fn(ContainerSpec, &str, &str) -> ContainerSpec) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ihos.war");
        write_war(&path, "build 2");
        let war = WarFile::open(&path).unwrap();
        let sha = war.sha256.clone();
        // Runbook::with_apps builds the containers in instance order.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let rb = Runbook::with_apps(|s| {
            let i = next.fetch_add(1, Ordering::SeqCst);
            customize(s, NAMES[i], &sha)
        });
        let backends = rb
            .backends
            .iter()
            .zip(NAMES)
            .map(|(b, name)| Backend {
                name: name.into(),
                address: b.address.clone(),
                host: b.host.clone(),
                container: b.container.clone(),
                webapps: b.webapps.clone(),
            })
            .collect();
        let mut hosts = BTreeMap::new();
        hosts.insert("h101".to_string(), rb.lb_host.clone());
        hosts.insert("h103".to_string(), rb.world.host("192.168.1.103").unwrap());
        Env {
            world: rb.world.clone(),
            lb_host: rb.lb_host.clone(),
            nginx: rb.nginx.clone(),
            backends,
            topology: runbook_topology(),
            hosts,
            dir,
            war,
            old: old_sha(),
            others: Mutex::default(),
        }
    }

    /// A generated topology: `hosts` app hosts with `per_host` instances each, one nginx on
    /// its own host, every instance on `RUNBOOK_WAR_V1`. Instance `i` of host `h` is
    /// `h{h}-app{i}`.
    pub fn cluster(
        hosts: usize,
        per_host: usize,
        nginx: NginxSpec,
        app: impl Fn(ContainerSpec) -> ContainerSpec,
    ) -> Self {
        Env::cluster_with(hosts, per_host, nginx, |s, _, _| app(s))
    }

    /// [`Env::cluster`], `app` also given each instance's name and the new WAR's sha256.
    pub fn cluster_with(
        hosts: usize,
        per_host: usize,
        nginx: NginxSpec,
        app: impl Fn(ContainerSpec, &str, &str) -> ContainerSpec,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ihos.war");
        write_war(&path, "build 2");
        let war = WarFile::open(&path).unwrap();
        let world = FakeWorld::new();
        let lb_host = world.add_host("10.0.255.1");
        let mut toml = String::from(
            "[hosts.lb]\naddress = \"10.0.255.1\"\nuser = \"deploy\"\n\n\
             [load_balancer]\nhost = \"lb\"\ncontainer = \"nginx\"\n\
             config = \"/etc/nginx/nginx.conf\"\nupstream = \"app\"\n\n",
        );
        let mut conf = String::from("events {}\nhttp {\n    upstream app {\n");
        let mut backends = Vec::new();
        let mut fake_hosts = BTreeMap::new();
        fake_hosts.insert("lb".to_string(), lb_host.clone());
        for h in 0..hosts {
            let addr = format!("10.0.{}.{}", h / 250, h % 250 + 1);
            let host = world.add_host(&addr);
            let key = format!("h{h}");
            toml.push_str(&format!(
                "[hosts.{key}]\naddress = \"{addr}\"\nuser = \"deploy\"\n\n"
            ));
            for i in 0..per_host {
                let port = 8081 + i as u16;
                let spec = AppSpec::new(&format!("/srv/app{i}/tomcat"), port);
                host.mkdir(&spec.webapps, "root", 0o755);
                host.mkdir(&spec.logs, "root", 0o755);
                host.write_file(&format!("{}/ihos.war", spec.webapps), RUNBOOK_WAR_V1);
                let container = format!("app{i}");
                let name = format!("h{h}-app{i}");
                let spec_of = ContainerSpec::app(&container, spec.clone());
                host.add_container(app(spec_of, &name, &war.sha256));
                let address = format!("{addr}:{port}");
                world.register_backend(&address, &addr, &container);
                conf.push_str(&format!("        server {address};\n"));
                toml.push_str(&format!(
                    "[[instances]]\nname = \"{name}\"\nhost = \"{key}\"\ncontainer = \"{container}\"\n\
                     backend = \"{address}\"\nwebapps = \"{}\"\nlogs = \"{}\"\n\
                     health = {{ url = \"http://127.0.0.1:{port}/ihos/\" }}\n\n",
                    spec.webapps, spec.logs
                ));
                backends.push(Backend {
                    name,
                    address,
                    host: host.clone(),
                    container,
                    webapps: spec.webapps.clone(),
                });
            }
            fake_hosts.insert(key, host);
        }
        conf.push_str(
            "    }\n    server { listen 80; location / { proxy_pass http://app; } }\n}\n",
        );
        lb_host.write_file("/etc/nginx/nginx.conf", &conf);
        lb_host.add_container(ContainerSpec::nginx("nginx", nginx));
        let topology = Topology::from_toml(&toml, "cluster.toml").unwrap();
        Env {
            world,
            lb_host,
            nginx: "nginx".into(),
            backends,
            topology,
            hosts: fake_hosts,
            dir,
            war,
            old: old_sha(),
            others: Mutex::default(),
        }
    }

    /// The fleet over the fake hosts.
    pub fn fleet(&self) -> Fleet {
        self.fleet_over(|h| Arc::new(h.clone()))
    }

    /// The fleet over transports made from the fake hosts by `wrap`.
    pub fn fleet_over(&self, wrap: impl Fn(&FakeHost) -> Arc<dyn Transport>) -> Fleet {
        let hosts = self
            .hosts
            .iter()
            .map(|(k, h)| (k.clone(), wrap(h)))
            .collect();
        Fleet::new(self.topology.clone(), hosts).unwrap()
    }

    /// The fleet over [`Crashable`] transports sharing one crash switch.
    pub fn crashable_fleet(&self) -> (Fleet, Arc<AtomicBool>) {
        let crashed = Arc::new(AtomicBool::new(false));
        let fleet = self.fleet_over(|h| {
            Arc::new(Crashable {
                host: h.clone(),
                crashed: Arc::clone(&crashed),
            })
        });
        (fleet, crashed)
    }

    /// Another valid WAR.
    pub fn other_war(&self, version: &str) -> WarFile {
        let path = self.dir.path().join(format!("{version}.war"));
        write_war(&path, version);
        let war = WarFile::open(&path).unwrap();
        self.others.lock().unwrap().push(war.sha256.to_string());
        war
    }

    /// Runs a rollout of the new WAR over a fresh fleet.
    pub async fn rollout(
        &self,
        options: &RolloutOptions,
        sink: &dyn EventSink,
        cancel: &CancelToken,
    ) -> Result<RolloutReport, RolloutError> {
        run_rollout(&self.fleet(), &self.war, options, sink, cancel).await
    }

    /// Runs a rollout of the new WAR with default options and no stop request; panics on
    /// an error (with the world's log).
    pub async fn roll(&self, rec: &Recorder) -> RolloutReport {
        self.rollout(&RolloutOptions::default(), rec, &CancelToken::new())
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}\n{}", rec.text(), self.world.log_text()))
    }

    /// Runs a rollback over a fresh fleet.
    pub async fn rollback(&self, rec: &Recorder) -> Result<RolloutReport, RolloutError> {
        run_rollback(
            &self.fleet(),
            &RolloutOptions::default(),
            rec,
            &CancelToken::new(),
        )
        .await
    }

    pub fn backend(&self, name: &str) -> &Backend {
        self.backends
            .iter()
            .find(|b| b.name == name)
            .unwrap_or_else(|| panic!("no instance {name}"))
    }

    // ----- what the world looks like -----

    /// Successful `nginx -s reload`s on fake host `host` (its address).
    pub fn reloads(&self, host: &str) -> usize {
        self.world
            .commands()
            .iter()
            .filter(|c| {
                c.host == host
                    && c.is_nginx_reload()
                    && c.result.as_ref().is_ok_and(|o| o.success())
            })
            .count()
    }

    /// Backends nginx sends new requests to.
    pub fn routing(&self) -> Vec<String> {
        self.world.routing(self.lb_host.name(), &self.nginx)
    }

    /// SHA-256 of the WAR an instance's app loaded at its last start.
    pub fn serving(&self, name: &str) -> Option<String> {
        let b = self.backend(name);
        b.host.container(&b.container).and_then(|c| c.serving)
    }

    /// SHA-256 of the WAR in an instance's webapps.
    pub fn deployed(&self, name: &str) -> Option<String> {
        let b = self.backend(name);
        b.host.read(&b.war_path()).map(|w| sha256_hex(&w))
    }

    /// How many times an instance's container was started during the test.
    pub fn starts(&self, name: &str) -> u32 {
        let b = self.backend(name);
        b.host.container(&b.container).unwrap().starts
    }

    /// Checks that `name` is in rotation, running, answering, and serves a whole release
    /// (old or new): the WAR in webapps is the one it loaded, the only `*.war` there, no
    /// temporary copy lying around. Returns the SHA-256 it serves.
    pub fn assert_consistent(&self, name: &str) -> String {
        let b = self.backend(name);
        let info = b.host.container(&b.container).unwrap();
        assert!(
            self.routing().contains(&b.address),
            "{name} ({}) is not in rotation: {:?}\n{}",
            b.address,
            self.routing(),
            self.world.log_text()
        );
        assert!(info.running, "{name}: container not running");
        assert_eq!(info.phase, Some(AppPhase::Ready), "{name}: not answering");
        let serving = info.serving.clone().expect("serves a WAR");
        assert!(
            serving == self.old
                || serving == self.war.sha256
                || self.others.lock().unwrap().contains(&serving),
            "{name} serves {serving}, neither the old release nor the new one (nor another the test made)"
        );
        assert_eq!(
            self.deployed(name).as_deref(),
            Some(serving.as_str()),
            "{name}: the WAR in webapps is not the one it runs"
        );
        let odd: Vec<String> = b
            .host
            .list(&b.webapps)
            .into_iter()
            .filter(|n| n != "ihos.war" && n != "ihos")
            .collect();
        assert!(
            odd.is_empty(),
            "{name}: unexpected files in webapps: {odd:?}"
        );
        if let Some(m) = b
            .host
            .read_text(&format!("{}/ihos/META-INF/MANIFEST.MF", b.webapps))
        {
            assert!(
                m.contains(&serving),
                "{name}: the exploded webapp is from another WAR: {m}"
            );
        }
        serving
    }

    /// Every instance consistent and in rotation; returns who serves what.
    pub fn assert_all_consistent(&self) -> BTreeMap<String, String> {
        let all: BTreeMap<String, String> = self
            .backends
            .iter()
            .map(|b| (b.name.clone(), self.assert_consistent(&b.name)))
            .collect();
        assert_eq!(self.routing().len(), self.backends.len(), "all in rotation");
        all
    }

    /// Every instance consistent, in rotation, on `sha`.
    pub fn assert_all_on(&self, sha: &str) {
        for (name, s) in self.assert_all_consistent() {
            assert_eq!(s, sha, "{name}");
        }
    }

    /// The invariant checker's report.
    pub fn invariants(&self) -> InvariantReport {
        self.world.check_invariants()
    }

    /// Commands the fake hosts did not know (a command the engine should not send).
    pub fn unsupported(&self) -> Vec<String> {
        self.world
            .commands()
            .iter()
            .filter(
                |c| matches!(&c.result, Err(e) if e.to_string().contains("unsupported command")),
            )
            .map(|c| c.command.to_string())
            .collect()
    }

    /// Clean invariants and no unsupported command.
    pub fn assert_clean(&self) {
        self.world.assert_invariants();
        let unsupported = self.unsupported();
        assert!(unsupported.is_empty(), "{unsupported:#?}");
    }

    /// Whether the rollout lock exists on the load balancer's host.
    pub fn lock_held(&self) -> bool {
        self.lb_host.exists(&format!("{STATE}/lock"))
    }

    /// The journal on the load balancer's host.
    pub fn journal(&self) -> Option<Journal> {
        self.lb_host
            .read(&format!("{STATE}/journal.ndjson"))
            .map(|b| ihos_core::Journal::parse(&b).expect("journal parses"))
    }

    /// The deployment record on an instance's host.
    pub fn record(&self, name: &str) -> Option<DeploymentRecord> {
        let b = self.backend(name);
        b.host
            .read(&format!("{STATE}/deployments/{name}.json"))
            .map(|b| serde_json::from_slice(&b).expect("record parses"))
    }

    /// The audit log's lines.
    pub fn audit(&self) -> Vec<DeploymentRecord> {
        self.lb_host
            .read_text(&format!("{STATE}/audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line parses"))
            .collect()
    }

    /// SHA-256 of the previous release kept for an instance.
    pub fn previous(&self, name: &str) -> Option<String> {
        let b = self.backend(name);
        b.host
            .read(&format!("{STATE}/releases/{name}/previous.war"))
            .map(|w| sha256_hex(&w))
    }

    /// The nginx config's bytes.
    pub fn nginx_config(&self) -> Vec<u8> {
        self.lb_host
            .read(&self.topology.load_balancers[0].config)
            .unwrap()
    }

    /// Most backends out of rotation at once, from nginx's applied configs.
    pub fn max_out_of_rotation(&self) -> usize {
        let n = self.backends.len();
        self.world
            .events()
            .iter()
            .filter_map(|e| match &e.kind {
                ihos_testkit::EventKind::NginxApplied { routing, .. } => Some(n - routing.len()),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Violations other than the ones `expected` accepts.
    pub fn unexpected_violations(&self, expected: impl Fn(&ViolationKind) -> bool) -> Vec<String> {
        self.invariants()
            .violations
            .iter()
            .filter(|v| !expected(&v.kind))
            .map(|v| v.to_string())
            .collect()
    }
}

/// The virtual time a rollout may take at most, for assertions.
pub fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}
