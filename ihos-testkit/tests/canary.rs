//! The canary on fake hosts.
//!
//! - `run_canary_deploy`: the cohort route is closed for the deploy and reopened exactly as
//!   it was (byte for byte), or left closed if it was closed; a failed deploy rolls the
//!   canary back and still reopens the route; the fleet is never touched; a canary deploy
//!   is resumed only as one.
//! - `open_canary` / `close_canary`: opened only for a healthy canary.
//! - `canary_status`: the route and the canary's release against the fleet's.
//! - `canary_war` + `run_rollout`: the fleet gets the exact WAR the canary runs.
//! - A deploy that dies with the route closed: a new run is refused until it is resumed
//!   (route reopened) or the operator decides with `canary open` / `canary close`; the lock
//!   it leaves keeps route changes out meanwhile.

use std::sync::{Arc, Mutex};

use ihos_core::{
    CanaryError, CancelToken, Event, EventRecord, EventSink, Fleet, Outcome, RemotePath,
    RolloutError, RolloutOptions, Topology, Transport, WarFile, canary_status, canary_war,
    close_canary, open_canary, run_canary_deploy, run_rollout,
};
use ihos_testkit::{Fault, Matcher, Simulation, SimulationOptions};
use tokio::sync::Notify;

const TOPOLOGY: &str = r#"
[hosts.h101]
address = "10.9.0.101"
user = "deploy"

[hosts.h102]
address = "10.9.0.102"
user = "deploy"

[load_balancer]
host = "h101"
container = "lb"
config = "/opt/lb/nginx.conf"
upstream = "service_ihos"

[[instances]]
name = "101-pep1"
host = "h101"
container = "pep1"
backend = "10.9.0.101:39091"
webapps = "/opt/pep1/webapps"
logs = "/opt/pep1/logs"
health = { url = "http://127.0.0.1:39091/ihos/" }

[[instances]]
name = "101-pep2"
host = "h101"
container = "pep2"
backend = "10.9.0.101:39092"
webapps = "/opt/pep2/webapps"
logs = "/opt/pep2/logs"
health = { url = "http://127.0.0.1:39092/ihos/" }

[canary]
site_file = "/opt/lb/sites-enabled/ihos"

[canary.instance]
name = "102-pep1"
host = "h102"
container = "pep1"
backend = "10.9.0.102:39091"
webapps = "/opt/pep1/webapps"
logs = "/opt/pep1/logs"
health = { url = "http://127.0.0.1:39091/ihos/" }

[policy]
drain = { min = "0s", idle = "5s", max = "10m" }
start_timeout = "3m"
"#;

const CANARY: &str = "102-pep1";
const SITE: &str = "/opt/lb/sites-enabled/ihos";

#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl EventSink for Events {
    fn emit(&self, record: &EventRecord) {
        self.0.lock().unwrap().push(record.event.clone());
    }
}

impl Events {
    fn all(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }

    /// The detail of every finished step of `instance`.
    fn details(&self, instance: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                Event::StepFinished {
                    instance: i,
                    detail,
                    ..
                } if i == instance => detail,
                _ => None,
            })
            .collect()
    }

    /// Instances any step started for.
    fn touched(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .all()
            .into_iter()
            .filter_map(|e| match e {
                Event::StepStarted { instance, .. } => Some(instance),
                _ => None,
            })
            .collect();
        v.dedup();
        v
    }
}

struct Env {
    sim: Simulation,
    fleet: Fleet,
    _dir: tempfile::TempDir,
    war: WarFile,
}

fn env() -> Env {
    let topology = Topology::from_toml(TOPOLOGY, "ihos.toml").unwrap();
    let sim = Simulation::new(&topology, &SimulationOptions::default());
    let fleet = Fleet::new(topology, sim.hosts.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ihos.war");
    write_war(&path, "v2-canary");
    let war = WarFile::open(&path).unwrap();
    Env {
        sim,
        fleet,
        _dir: dir,
        war,
    }
}

fn write_war(path: &std::path::Path, version: &str) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    z.add_directory("WEB-INF/", opts).unwrap();
    z.start_file("version.txt", opts).unwrap();
    z.write_all(version.as_bytes()).unwrap();
    z.finish().unwrap();
}

impl Env {
    fn host(&self, name: &str) -> &Arc<dyn Transport> {
        &self.sim.hosts[name]
    }

    async fn read(&self, host: &str, path: &str) -> Vec<u8> {
        self.host(host)
            .read_file(&RemotePath::new(path).unwrap(), ihos_core::Privilege::Sudo)
            .await
            .unwrap()
    }

    async fn site(&self) -> Vec<u8> {
        self.read("h101", SITE).await
    }

    async fn sha_on(&self, host: &str, webapps: &str) -> String {
        let bytes = self.read(host, &format!("{webapps}/ihos.war")).await;
        sha256(&bytes)
    }

    async fn open_route(&self) {
        let route = self.fleet.canary_route.as_ref().unwrap();
        let change = route
            .open("~", "^(?:[^.]*\\.)?eyJpZCI6Ij[EFGH]")
            .await
            .unwrap();
        assert!(change.changed(), "{}", change.message);
        assert!(route.rule().await.unwrap().open);
    }

    async fn deploy(&self, events: &Events) -> Result<ihos_core::RolloutReport, RolloutError> {
        run_canary_deploy(
            &self.fleet,
            &self.war,
            &RolloutOptions::new().operator("test"),
            events,
            &CancelToken::new(),
        )
        .await
    }

    /// `canary deploy --resume` of the same WAR.
    async fn resume(&self, events: &Events) -> Result<ihos_core::RolloutReport, RolloutError> {
        run_canary_deploy(
            &self.fleet,
            &self.war,
            &RolloutOptions::new().resume(true),
            events,
            &CancelToken::new(),
        )
        .await
    }

    /// A fleet rollout of the same WAR.
    async fn roll_fleet(
        &self,
        options: &RolloutOptions,
    ) -> Result<ihos_core::RolloutReport, RolloutError> {
        run_rollout(
            &self.fleet,
            &self.war,
            options,
            &Events::default(),
            &CancelToken::new(),
        )
        .await
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[tokio::test(start_paused = true)]
async fn an_open_route_is_closed_for_the_deploy_and_reopened_byte_for_byte() {
    let env = env();
    env.open_route().await;
    let open_site = env.site().await;
    let fleet_before = env.sha_on("h101", "/opt/pep1/webapps").await;

    let events = Events::default();
    let report = env.deploy(&events).await.unwrap();

    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(report.updated, [CANARY]);
    assert_eq!(
        env.sha_on("h102", "/opt/pep1/webapps").await,
        env.war.sha256
    );
    // The route: closed first, reopened at the end, and the file is as it was.
    let details = events.details(CANARY);
    let closed = details
        .iter()
        .position(|d| d.starts_with("canary route closed"));
    let reopened = details
        .iter()
        .position(|d| d.starts_with("canary route reopened"));
    assert!(
        matches!((closed, reopened), (Some(c), Some(r)) if c < r),
        "{details:#?}"
    );
    assert_eq!(env.site().await, open_site);
    // Only the canary was touched; the fleet still serves its release.
    assert_eq!(events.touched(), [CANARY]);
    assert_eq!(env.sha_on("h101", "/opt/pep1/webapps").await, fleet_before);
    // Its deployment record says what it runs.
    let rec = env
        .read("h102", "/var/lib/ihos/deployments/102-pep1.json")
        .await;
    let rec: serde_json::Value = serde_json::from_slice(&rec).unwrap();
    assert_eq!(rec["sha256"], env.war.sha256.as_str());
    env.sim.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn a_closed_route_stays_closed() {
    let env = env();
    let closed_site = env.site().await;
    let events = Events::default();
    let report = env.deploy(&events).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(env.site().await, closed_site);
    let details = events.details(CANARY);
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("canary route already closed")),
        "{details:#?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d == "canary route left closed, as it was before"),
        "{details:#?}"
    );
    assert!(
        !env.fleet
            .canary_route
            .as_ref()
            .unwrap()
            .rule()
            .await
            .unwrap()
            .open
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_rolls_the_canary_back_and_reopens_the_route() {
    let env = env();
    env.open_route().await;
    let open_site = env.site().await;
    let before = env.sha_on("h102", "/opt/pep1/webapps").await;
    env.sim.world.inject(
        Fault::on(Matcher::argv_starts_with(&["docker", "start"]))
            .on_host("h102")
            .nth(1)
            .fail(1, "Error response from daemon: injected"),
    );
    let events = Events::default();
    let report = env.deploy(&events).await.unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{report:?}");
    assert_eq!(env.sha_on("h102", "/opt/pep1/webapps").await, before);
    assert_eq!(env.site().await, open_site, "route reopened as it was");
    assert!(
        events
            .all()
            .iter()
            .any(|e| matches!(e, Event::RolledBack { instance } if instance == CANARY))
    );
    env.sim.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_the_drain_reopens_the_route() {
    let env = env();
    env.open_route().await;
    let open_site = env.site().await;
    let cancel = CancelToken::new();
    let stopper = cancel.clone();
    let events = StopOnDrain {
        inner: Events::default(),
        cancel: stopper,
    };
    let report = run_canary_deploy(
        &env.fleet,
        &env.war,
        &RolloutOptions::new(),
        &events,
        &cancel,
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted, "{report:?}");
    assert_eq!(env.site().await, open_site);

    // The journal is a canary deploy's: a fleet rollout cannot resume it ...
    let err = env
        .roll_fleet(&RolloutOptions::new().resume(true))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ihos canary deploy --resume"),
        "{err}"
    );
    // ... the canary deploy can, and finishes with the route open again.
    let report = env.resume(&Events::default()).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(env.site().await, open_site);
    assert_eq!(
        env.sha_on("h102", "/opt/pep1/webapps").await,
        env.war.sha256
    );
}

/// Presses "Ctrl-C twice" when the canary starts draining.
struct StopOnDrain {
    inner: Events,
    cancel: CancelToken,
}

impl EventSink for StopOnDrain {
    fn emit(&self, record: &EventRecord) {
        if matches!(&record.event, Event::Draining { .. }) {
            self.cancel.escalate();
            self.cancel.escalate();
        }
        self.inner.emit(record);
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_canary_it_is_an_input_error() {
    let mut topology = Topology::from_toml(TOPOLOGY, "ihos.toml").unwrap();
    topology.canary = None;
    let sim = Simulation::new(&topology, &SimulationOptions::default());
    let fleet = Fleet::new(topology, sim.hosts.clone()).unwrap();
    let env = env();
    let err = run_canary_deploy(
        &fleet,
        &env.war,
        &RolloutOptions::new(),
        &Events::default(),
        &CancelToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RolloutError::NoCanary), "{err}");
}

const COHORT: &str = "^(?:[^.]*\\.)?eyJpZCI6Ij[EFGH]";

#[tokio::test(start_paused = true)]
async fn the_route_opens_only_to_a_healthy_canary() {
    let env = env();
    let closed = env.site().await;
    let container = &env.fleet.canary.as_ref().unwrap().container;
    container
        .stop(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let err = open_canary(&env.fleet, "~", COHORT).await.unwrap_err();
    assert!(matches!(err, CanaryError::NotHealthy { .. }), "{err}");
    assert!(err.to_string().contains("102-pep1"), "{err}");
    assert_eq!(env.site().await, closed, "nothing written");

    container.start().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(60)).await; // Tomcat starts
    let change = open_canary(&env.fleet, "~", COHORT).await.unwrap();
    assert!(change.changed());
    let rule = env
        .fleet
        .canary_route
        .as_ref()
        .unwrap()
        .rule()
        .await
        .unwrap();
    assert!(rule.open);
    assert_eq!(rule.regex.as_deref(), Some(COHORT));
    assert_eq!(
        rule.operator.as_deref(),
        Some("~"),
        "the runbook's ~* switched to ~"
    );
    assert!(!String::from_utf8_lossy(&env.site().await).contains("#  if"));

    let change = close_canary(&env.fleet).await.unwrap();
    assert!(change.changed());
    assert!(
        !env.fleet
            .canary_route
            .as_ref()
            .unwrap()
            .rule()
            .await
            .unwrap()
            .open
    );
    // Closing twice is a no-op.
    assert!(!close_canary(&env.fleet).await.unwrap().changed());
}

#[tokio::test(start_paused = true)]
async fn status_compares_the_canary_with_the_fleet_and_the_fleet_gets_its_exact_war() {
    let env = env();
    let st = canary_status(&env.fleet).await.unwrap();
    assert!(!st.rule.as_ref().unwrap().open);
    assert!(!st.ahead, "nothing deployed yet: {st:?}");

    env.open_route().await;
    let war = env.war.clone().with_commit(Some("c9dc3ef593f2".into()));
    let report = run_canary_deploy(
        &env.fleet,
        &war,
        &RolloutOptions::new(),
        &Events::default(),
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Completed);

    let st = canary_status(&env.fleet).await.unwrap();
    assert!(st.rule.as_ref().unwrap().open);
    assert!(st.ahead, "{st:?}");
    let deployed = st.canary.deployed.as_ref().unwrap();
    assert_eq!(deployed.sha256, env.war.sha256);
    assert_eq!(deployed.commit.as_deref(), Some("c9dc3ef593f2"));
    assert_eq!(st.fleet.len(), 1, "{:?}", st.fleet);
    assert_eq!(st.fleet[0].instances, ["101-pep1", "101-pep2"]);

    // Promote: the exact bytes the canary runs, with its commit.
    let dir = tempfile::tempdir().unwrap();
    let promoted = canary_war(&env.fleet, dir.path()).await.unwrap();
    assert_eq!(promoted.sha256, env.war.sha256);
    assert_eq!(promoted.commit.as_deref(), Some("c9dc3ef593f2"));
    assert_eq!(
        std::fs::read(&promoted.path).unwrap(),
        std::fs::read(&env.war.path).unwrap()
    );
    let report = run_rollout(
        &env.fleet,
        &promoted,
        &RolloutOptions::new(),
        &Events::default(),
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(
        env.sha_on("h101", "/opt/pep1/webapps").await,
        env.war.sha256
    );
    assert_eq!(
        env.sha_on("h101", "/opt/pep2/webapps").await,
        env.war.sha256
    );
    let st = canary_status(&env.fleet).await.unwrap();
    assert!(!st.ahead, "{st:?}");
    assert_eq!(st.fleet[0].commit.as_deref(), Some("c9dc3ef593f2"));
    env.sim.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn a_canary_war_changed_by_hand_is_not_promoted() {
    let env = env();
    env.deploy(&Events::default()).await.unwrap();
    env.sim
        .world
        .host("h102")
        .unwrap()
        .write_file("/opt/pep1/webapps/ihos.war", b"PK hand-copied build");
    let dir = tempfile::tempdir().unwrap();
    let err = canary_war(&env.fleet, dir.path()).await.unwrap_err();
    assert!(matches!(err, CanaryError::NotRecorded { .. }), "{err}");
    assert!(err.to_string().contains(env.war.sha256.as_str()), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Runs a canary deploy and "kills" it (drops it mid-flight, as a crash would) when the
/// canary starts draining: its route is closed, the journal and the lock are left behind.
async fn crash_while_draining(env: &Env) {
    struct Signal(Arc<Notify>);
    impl EventSink for Signal {
        fn emit(&self, record: &EventRecord) {
            if matches!(record.event, Event::Draining { .. }) {
                self.0.notify_one();
            }
        }
    }
    let draining = Arc::new(Notify::new());
    let sink = Signal(Arc::clone(&draining));
    let cancel = CancelToken::new();
    let options = RolloutOptions::new();
    tokio::select! {
        r = run_canary_deploy(&env.fleet, &env.war, &options, &sink, &cancel) => {
            panic!("the deploy finished before it drained: {r:?}")
        }
        _ = draining.notified() => {}
    }
    let rule = env
        .fleet
        .canary_route
        .as_ref()
        .unwrap()
        .rule()
        .await
        .unwrap();
    assert!(!rule.open, "closed by the deploy before it died");
}

#[tokio::test(start_paused = true)]
async fn after_a_crash_with_the_route_closed_a_new_run_is_refused_until_resumed() {
    let env = env();
    env.open_route().await;
    let open_site = env.site().await;
    crash_while_draining(&env).await;

    // The crashed deploy's lock keeps route changes out.
    let err = close_canary(&env.fleet).await.unwrap_err();
    assert!(matches!(err, CanaryError::LockHeld { .. }), "{err}");
    let err = open_canary(&env.fleet, "~", COHORT).await.unwrap_err();
    assert!(matches!(err, CanaryError::LockHeld { .. }), "{err}");

    // The operator breaks the stale lock; a fresh canary deploy or fleet rollout would
    // forget that the route was open: refused, naming the way out.
    assert!(ihos_core::lock_release(&env.fleet).await.unwrap().is_some());
    let err = env.deploy(&Events::default()).await.unwrap_err();
    assert!(
        matches!(err, RolloutError::InterruptedCanaryDeploy { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("ihos canary deploy --resume"),
        "{err}"
    );
    let err = env.roll_fleet(&RolloutOptions::new()).await.unwrap_err();
    assert!(
        matches!(err, RolloutError::InterruptedCanaryDeploy { .. }),
        "{err}"
    );

    // Resuming finishes the deploy and reopens the route as it was.
    let report = env.resume(&Events::default()).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(env.site().await, open_site);
    assert_eq!(
        env.sha_on("h102", "/opt/pep1/webapps").await,
        env.war.sha256
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_crash_the_operators_close_wins_over_the_journal() {
    let env = env();
    env.open_route().await;
    crash_while_draining(&env).await;
    ihos_core::lock_release(&env.fleet).await.unwrap();

    // The operator decides the cohort stays out: the journal takes that decision ...
    close_canary(&env.fleet).await.unwrap();
    let closed_site = env.site().await;
    // ... so a resumed deploy leaves the route closed.
    let events = Events::default();
    let report = env.resume(&events).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(env.site().await, closed_site);
    assert!(
        events
            .details(CANARY)
            .iter()
            .any(|d| d == "canary route left closed, as it was before"),
        "{:#?}",
        events.details(CANARY)
    );
}

#[tokio::test(start_paused = true)]
async fn the_route_is_not_closed_when_the_journal_cannot_record_it_was_open() {
    let env = env();
    env.open_route().await;
    let open_site = env.site().await;
    env.sim.world.inject(
        Fault::on(Matcher::command("journal append of the route state", |c| {
            c.program() == "dd"
                && c.stdin_bytes()
                    .is_some_and(|b| String::from_utf8_lossy(b).contains("canary_was_open"))
        }))
        .every()
        .fail(1, "dd: error writing: No space left on device"),
    );
    let report = env.deploy(&Events::default()).await.unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{report:?}");
    assert!(
        report.rolled_back[0]
            .to_string()
            .contains("cannot record the canary route's state"),
        "{report:?}"
    );
    assert_eq!(env.site().await, open_site, "the route was never closed");
}

#[tokio::test(start_paused = true)]
async fn a_canary_listed_in_the_fleets_upstream_is_refused() {
    let env = env();
    let lb = env.sim.world.host("h101").unwrap();
    let conf = lb.read_text("/opt/lb/nginx.conf").unwrap();
    let with_canary = conf.replacen(
        "        server 10.9.0.101:39091",
        "        server 10.9.0.102:39091 max_fails=5 fail_timeout=10s;\n        server 10.9.0.101:39091",
        1,
    );
    assert_ne!(with_canary, conf);
    lb.write_file("/opt/lb/nginx.conf", with_canary);
    let err = env.deploy(&Events::default()).await.unwrap_err();
    assert!(
        matches!(err, RolloutError::CanaryInUpstream { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("10.9.0.102:39091"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_canary_without_a_deployment_record_is_not_promoted() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let err = canary_war(&env.fleet, dir.path()).await.unwrap_err();
    assert!(matches!(err, CanaryError::NoRecord { .. }), "{err}");
    assert!(err.to_string().contains("ihos canary deploy"), "{err}");
}
