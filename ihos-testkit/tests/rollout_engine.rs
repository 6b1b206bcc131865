//! The rollout engine (`ihos_core::run_rollout`) on the runbook topology in fake
//! hosts, in virtual time: every command it sends must be one the fake hosts know, and the
//! safety invariants must hold throughout.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ihos_core::{
    CancelToken, EventRecord, Fleet, Outcome, RolloutOptions, Topology, Transport, WarFile,
    run_rollout,
};
use ihos_testkit::{AppPhase, Runbook};

fn write_war(path: &Path, version: &str) {
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

fn fleet(rb: &Runbook) -> Fleet {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/ihos.toml"
    ))
    .unwrap();
    let mut topo = Topology::from_toml(&text, "ihos.toml").unwrap();
    topo.canary = None;
    topo.hosts.remove("h102");
    let mut hosts: BTreeMap<String, Arc<dyn Transport>> = BTreeMap::new();
    hosts.insert("h101".into(), Arc::new(rb.lb_host.clone()));
    hosts.insert(
        "h103".into(),
        Arc::new(rb.world.host("192.168.1.103").unwrap()),
    );
    Fleet::new(topo, hosts).unwrap()
}

/// Runs a rollout of a new WAR ("build 2") and returns the report, the WAR's sha256 and
/// the event log (as text) for failure messages.
async fn roll(rb: &Runbook) -> (ihos_core::RolloutReport, String, String) {
    let fleet = fleet(rb);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ihos.war");
    write_war(&path, "build 2");
    let war = WarFile::open(&path).unwrap();
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = {
        let events = Arc::clone(&events);
        move |r: &EventRecord| events.lock().unwrap().push(format!("{:?}", r.event))
    };
    let report = run_rollout(
        &fleet,
        &war,
        &RolloutOptions::default(),
        &sink,
        &CancelToken::new(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", rb.world.log_text()));
    let events = events.lock().unwrap().join("\n");
    (report, war.sha256.to_string(), events)
}

#[tokio::test(start_paused = true)]
async fn a_rollout_over_the_runbook_topology_is_clean() {
    let rb = Runbook::with_apps(|s| s.start_delay(Duration::from_secs(20)));
    let (report, sha, events) = roll(&rb).await;
    assert_eq!(report.outcome, Outcome::Completed, "{report:#?}\n{events}");
    for b in &rb.backends {
        let info = b.host.container(&b.container).unwrap();
        assert_eq!(info.serving.as_deref(), Some(sha.as_str()), "{}", b.address);
        assert_eq!(info.phase, Some(AppPhase::Ready));
        // Tomcat deploys every *.war in webapps: only the new one is there.
        let wars: Vec<String> = b
            .host
            .list(&b.webapps)
            .into_iter()
            .filter(|n| n.ends_with(".war") || n.contains("ihos-tmp"))
            .collect();
        assert_eq!(wars, vec!["ihos.war"], "{}", b.address);
    }
    assert_eq!(rb.routing().len(), 4);
    rb.world.assert_invariants();
    // Drain until idle instead of the runbook's fixed 30 minutes per instance.
    assert!(
        rb.world.now().since_start() < Duration::from_secs(10 * 60),
        "took {}",
        rb.world.now()
    );
    // Every command the engine sent was one the fake hosts know.
    let unsupported: Vec<String> = rb
        .world
        .commands()
        .iter()
        .filter(|c| matches!(&c.result, Err(e) if e.to_string().contains("unsupported command")))
        .map(|c| c.command.to_string())
        .collect();
    assert!(unsupported.is_empty(), "{unsupported:#?}");
}

#[tokio::test(start_paused = true)]
async fn an_instance_logging_an_exception_is_rolled_back_cleanly() {
    let rb = Runbook::with_apps(|s| {
        if s.name() == "ihos_pep2_official_1" {
            // Logged as Tomcat finishes starting: the engine reads the log once, right
            // after the health check passes.
            s.exception_after_start(
                Duration::ZERO,
                "java.lang.IllegalStateException: schema version mismatch",
            )
        } else {
            s
        }
    });
    let old = ihos_testkit::sha256_hex(ihos_testkit::RUNBOOK_WAR_V1);
    let (report, sha, events) = roll(&rb).await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{report:#?}\n{events}");
    assert_eq!(report.updated, vec!["101-pep1"]);
    let serving = |addr: &str| {
        let b = rb.backend(addr);
        b.host.container(&b.container).unwrap().serving.unwrap()
    };
    assert_eq!(serving("192.168.1.101:39091"), sha);
    assert_eq!(serving("192.168.1.101:39092"), old, "rolled back");
    assert_eq!(rb.routing().len(), 4, "everything back in rotation");
    rb.world.assert_invariants();
}
