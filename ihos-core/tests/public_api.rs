//! The library as another tool uses it: every ihos-core item from the crate root (no
//! module path, so this stops compiling if one moves), each main entry point called and
//! its result checked. The hosts are `ihos-testkit`'s fake ones, on a paused clock.
//!
//! The `fn` pointer bindings pin the synchronous entry points' signatures; the async
//! operations are pinned by the calls below.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use ihos_core::{
    CancelToken, ConfigError, ContainerName, DEFAULT_COMMAND_TIMEOUT, DeploymentRecord,
    DrainPolicy, Dur, EVENT_SCHEMA, Event, EventRecord, EventSink, Fleet, FleetError, HealthConfig,
    HostConfig, InstanceHandle, InstanceStatus, InstanceView, InvalidName, Journal, LbChange,
    LbConfig, LockOwner, OnFailure, OpError, Outcome, Policy, RemotePath, RolloutError,
    RolloutOptions, RolloutReport, ServerState, Step, Topology, WarError, WarFile, drain_instance,
    enable_instance, history, journal, lock_release, lock_status, run_rollback, run_rollout,
    shell_quote, status,
};
use ihos_testkit::{Simulation, SimulationOptions};

const TOPOLOGY: &str = r#"
[hosts.h1]
address = "10.0.0.1"
user = "deploy"

[load_balancer]
host = "h1"
container = "lb"
config = "/etc/lb/nginx.conf"
upstream = "app"

[[instances]]
name = "a"
host = "h1"
container = "app_a"
backend = "10.0.0.1:8081"
webapps = "/srv/a/webapps"
logs = "/srv/a/logs"
health = { url = "http://127.0.0.1:8081/" }

[[instances]]
name = "b"
host = "h1"
container = "app_b"
backend = "10.0.0.1:8082"
webapps = "/srv/b/webapps"
logs = "/srv/b/logs"
health = { url = "http://127.0.0.1:8082/" }

[policy]
on_failure = "halt"
"#;

#[test]
fn configuration_and_values_from_the_root() {
    let from_toml: fn(&str, &str) -> Result<Topology, ConfigError> = Topology::from_toml;
    let _load: fn(&Path) -> Result<Topology, ConfigError> = Topology::load;
    let _connect: fn(Topology) -> Result<Fleet, FleetError> = Fleet::connect;
    let _open: fn(&Path) -> Result<WarFile, WarError> = WarFile::open;
    let _parse: fn(&[u8]) -> Option<Journal> = Journal::parse;
    let quote: fn(&str) -> String = shell_quote;
    let container_name: fn(&str) -> Result<ContainerName, InvalidName> = ContainerName::new;
    let remote_path: fn(&str) -> Result<RemotePath, InvalidName> = RemotePath::new;

    let topology = from_toml(TOPOLOGY, "ihos.toml").unwrap();
    let host: &HostConfig = &topology.hosts["h1"];
    assert_eq!((host.address.as_str(), host.port), ("10.0.0.1", 22));
    let lb: &LbConfig = &topology.load_balancers[0];
    assert_eq!(lb.upstream, "app");
    let health: &HealthConfig = &topology.instances[1].health;
    assert_eq!(health.expect_status, 200);
    let policy: &Policy = &topology.policy;
    assert_eq!(policy.on_failure, OnFailure::Halt);
    assert_eq!(policy.max_unavailable, 1);
    let drain: &DrainPolicy = &policy.drain;
    assert_eq!(drain.max, Dur(Duration::from_secs(30 * 60)));
    assert!(topology.canary.is_none());
    assert!(matches!(
        from_toml("[hosts]\nx = 1\n", "bad.toml"),
        Err(ConfigError::Syntax { .. })
    ));

    assert_eq!(quote("it's"), r"'it'\''s'");
    assert!(container_name("app_a").is_ok());
    assert!(container_name("a b").is_err());
    assert!(remote_path("relative/path").is_err());
    assert!(DEFAULT_COMMAND_TIMEOUT > Duration::ZERO);
    assert_eq!(Outcome::RolledBack.exit_code(), 1);
}

fn write_war(path: &Path) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    z.add_directory("WEB-INF/", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.start_file("index.jsp", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut z, b"<p>v2</p>").unwrap();
    z.finish().unwrap();
}

/// Collects the records, as an embedding tool's progress display would.
#[derive(Default)]
struct Progress(Mutex<Vec<EventRecord>>);

impl EventSink for Progress {
    fn emit(&self, record: &EventRecord) {
        self.0.lock().unwrap().push(record.clone());
    }
}

#[tokio::test(start_paused = true)]
async fn an_embedding_tool_drives_every_operation_from_the_root() {
    let topology = Topology::from_toml(TOPOLOGY, "ihos.toml").unwrap();
    let sim = Simulation::new(&topology, &SimulationOptions::default());
    let fleet = Fleet::new(topology, sim.hosts).unwrap();
    let a: &InstanceHandle = fleet.instance("a").unwrap();
    assert_eq!(a.config.backend, "10.0.0.1:8081");

    // Before any rollout: no journal, no lock, no history.
    assert_eq!(journal(&fleet).await.unwrap(), None);
    let owner: Option<LockOwner> = lock_status(&fleet).await.unwrap();
    assert_eq!(owner, None);
    assert!(history(&fleet).await.unwrap().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let war_path = dir.path().join("app.war");
    write_war(&war_path);
    let war = WarFile::open(&war_path).unwrap();

    let progress = Progress::default();
    let report: RolloutReport = run_rollout(
        &fleet,
        &war,
        &RolloutOptions::new().operator("public-api-test"),
        &progress,
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(report.updated, ["a", "b"]);
    let records = progress.0.lock().unwrap().clone();
    assert!(records.iter().all(|r| r.schema == EVENT_SCHEMA));
    assert!(records.iter().any(|r| matches!(
        &r.event,
        Event::StepFinished { instance, step: Step::WaitHealthy, .. } if instance == "b"
    )));

    let (views, lb_error): (Vec<InstanceView>, Option<String>) = status(&fleet).await;
    assert_eq!(lb_error, None);
    for v in &views {
        assert_eq!(v.rotation, Some(ServerState::Enabled), "{v:?}");
        assert_eq!(v.deployed.as_ref().unwrap().sha256, war.sha256, "{v:?}");
    }
    let records: Vec<DeploymentRecord> = history(&fleet).await.unwrap();
    assert_eq!(records.len(), 2);
    let j = journal(&fleet).await.unwrap().unwrap();
    assert!(j.finished);
    assert!(
        j.instances
            .iter()
            .all(|e| e.status == InstanceStatus::Updated)
    );

    // Manual drain and enable of one instance.
    let drained: Result<String, OpError> =
        drain_instance(&fleet, "a", &progress, &CancelToken::new()).await;
    drained.unwrap();
    let (views, _) = status(&fleet).await;
    assert_ne!(views[0].rotation, Some(ServerState::Enabled));
    let change: LbChange = enable_instance(&fleet, "a").await.unwrap();
    assert!(change.changed());
    assert!(matches!(
        enable_instance(&fleet, "nope").await,
        Err(OpError::UnknownInstance { .. })
    ));
    // Only one may be out at a time (max_unavailable 1): the second drain is refused.
    drain_instance(&fleet, "a", &progress, &CancelToken::new())
        .await
        .unwrap();
    let refused = drain_instance(&fleet, "b", &progress, &CancelToken::new()).await;
    assert!(
        matches!(&refused, Err(OpError::Unavailable { instance, .. }) if instance == "b"),
        "{refused:?}"
    );
    enable_instance(&fleet, "a").await.unwrap();

    // A rollback puts the previous release back; a resumed rollback is refused.
    let back = run_rollback(
        &fleet,
        &RolloutOptions::new(),
        &progress,
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(back.outcome, Outcome::Completed, "{back:?}");
    let (views, _) = status(&fleet).await;
    assert!(
        views
            .iter()
            .all(|v| v.deployed.as_ref().unwrap().sha256 != war.sha256)
    );
    let refused = run_rollback(
        &fleet,
        &RolloutOptions::new().resume(true),
        &progress,
        &CancelToken::new(),
    )
    .await;
    assert!(matches!(refused, Err(RolloutError::Resume(_))));

    // Breaking the lock (none is left) leaves none.
    assert_eq!(lock_release(&fleet).await.unwrap(), None);
    assert_eq!(lock_status(&fleet).await.unwrap(), None);
}
