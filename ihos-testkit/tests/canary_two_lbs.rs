//! The canary behind two load balancers (issue 13 §4): its cohort route is edited on each
//! load balancer that carries it (each has its own site file), all or none; a route that
//! differs between them (an edit by hand on one) is reported, never half-followed; a
//! canary deploy closes it on both and reopens both byte for byte; `canary_route = false`
//! leaves a load balancer's files alone.

use std::sync::Arc;

use ihos_core::{
    CanaryError, CancelToken, EventRecord, EventSink, Fleet, LbError, Outcome, RemotePath,
    RolloutOptions, Topology, Transport, WarFile, canary_status, close_canary, open_canary,
    run_canary_deploy,
};
use ihos_testkit::{Fault, Matcher, Simulation, SimulationOptions};

const TOPOLOGY: &str = r#"
[hosts.h101]
address = "10.9.0.101"
user = "deploy"

[hosts.h102]
address = "10.9.0.102"
user = "deploy"

[hosts.h103]
address = "10.9.0.103"
user = "deploy"

[[load_balancers]]
host = "h101"
container = "lb"
config = "/opt/lb/nginx.conf"
upstream = "service_ihos"

[[load_balancers]]
host = "h103"
container = "lb"
config = "/opt/lb/nginx.conf"
upstream = "service_ihos"
canary_site_file = "/srv/lb2/sites-enabled/ihos"

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

const SITE1: &str = "/opt/lb/sites-enabled/ihos";
const SITE2: &str = "/srv/lb2/sites-enabled/ihos";
const COHORT: &str = "^(?:[^.]*\\.)?eyJpZCI6Ij[EFGH]";

struct Env {
    sim: Simulation,
    fleet: Fleet,
}

fn env_with(topology: &str) -> Env {
    let topology = Topology::from_toml(topology, "ihos.toml").unwrap();
    let sim = Simulation::new(&topology, &SimulationOptions::default());
    let fleet = Fleet::new(topology, sim.hosts.clone()).unwrap();
    Env { sim, fleet }
}

fn env() -> Env {
    env_with(TOPOLOGY)
}

impl Env {
    fn host(&self, name: &str) -> &Arc<dyn Transport> {
        &self.sim.hosts[name]
    }

    async fn site(&self, host: &str, path: &str) -> String {
        let bytes = self
            .host(host)
            .read_file(&RemotePath::new(path).unwrap(), ihos_core::Privilege::Sudo)
            .await
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    async fn sites(&self) -> (String, String) {
        (
            self.site("h101", SITE1).await,
            self.site("h103", SITE2).await,
        )
    }

    async fn write_site(&self, host: &str, path: &str, text: &str) {
        self.host(host)
            .write_file_in_place(
                &RemotePath::new(path).unwrap(),
                text.as_bytes(),
                ihos_core::Privilege::Sudo,
            )
            .await
            .unwrap();
    }
}

/// Whether the runbook's `if` block is active in a site file.
fn is_open(site: &str) -> bool {
    site.lines().any(|l| l.trim_start().starts_with("if ("))
}

#[tokio::test(start_paused = true)]
async fn open_and_close_reach_both_site_files() {
    let env = env();
    let (closed1, closed2) = env.sites().await;
    assert!(!is_open(&closed1) && !is_open(&closed2), "{closed1}");

    let change = open_canary(&env.fleet, "~", COHORT).await.unwrap();
    assert!(change.changed());
    let (open1, open2) = env.sites().await;
    assert!(is_open(&open1) && is_open(&open2), "{open1}\n{open2}");
    assert_eq!(open1, open2, "the same edit on both");
    let status = canary_status(&env.fleet).await.unwrap();
    let rule = status.rule.expect("one rule for both");
    assert!(rule.open);
    assert_eq!(rule.regex.as_deref(), Some(COHORT));

    assert!(close_canary(&env.fleet).await.unwrap().changed());
    let (shut1, shut2) = env.sites().await;
    assert!(!is_open(&shut1) && !is_open(&shut2), "{shut1}\n{shut2}");
    assert_eq!(shut1, shut2, "the same edit on both");
    // Reopened, both are as they were when open, byte for byte.
    assert!(
        env.fleet
            .canary_route
            .as_ref()
            .unwrap()
            .reopen()
            .await
            .unwrap()
            .changed()
    );
    assert_eq!(env.sites().await, (open1, open2));
    // Each LB applied each change: three reloads on each.
    for host in ["h101", "h103"] {
        let reloads = env
            .sim
            .world
            .commands()
            .iter()
            .filter(|c| c.host == host && c.is_nginx_reload())
            .count();
        assert_eq!(reloads, 3, "{host}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_refusal_on_the_second_restores_the_first() {
    let env = env();
    let before = env.sites().await;
    let fault = env.sim.world.inject(
        Fault::on(Matcher::nginx_test())
            .on_host("h103")
            .fail(1, "nginx: [emerg] injected on the second load balancer"),
    );
    let err = open_canary(&env.fleet, "~", COHORT).await.unwrap_err();
    assert_eq!(env.sim.world.fault_fired(fault), 1);
    assert!(
        matches!(err, CanaryError::Lb(LbError::Validation { ref host, .. }) if host.contains("h103")),
        "{err:?}"
    );
    // All or none: the first load balancer has its file back, byte for byte.
    assert_eq!(env.sites().await, before);
    let rule = env.fleet.canary_route.as_ref().unwrap().rule().await;
    assert!(!rule.unwrap().open, "closed on both");
}

#[tokio::test(start_paused = true)]
async fn a_route_edited_by_hand_on_one_is_reported_and_a_close_settles_both() {
    let env = env();
    let (_, closed2) = env.sites().await;
    open_canary(&env.fleet, "~", COHORT).await.unwrap();
    // Someone closes it by hand on the second one only.
    env.write_site("h103", SITE2, &closed2).await;

    let route = env.fleet.canary_route.as_ref().unwrap();
    let err = route.rule().await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, LbError::Inconsistent { .. })
            && text.contains(SITE1)
            && text.contains(SITE2)
            && text.contains("open")
            && text.contains("closed"),
        "{text}"
    );
    // `canary status` shows the disagreement; a canary deploy (which must know whether
    // to reopen) refuses before touching anything.
    let status = canary_status(&env.fleet).await.unwrap();
    assert!(status.rule.is_none());
    assert!(
        status.errors.iter().any(|e| e.contains("differs")),
        "{:?}",
        status.errors
    );
    let dir = tempfile::tempdir().unwrap();
    let war = dir.path().join("ihos.war");
    write_war(&war);
    let war = WarFile::open(&war).unwrap();
    let report = run_canary_deploy(
        &env.fleet,
        &war,
        &RolloutOptions::new().operator("test"),
        &NoEvents,
        &CancelToken::new(),
    )
    .await;
    let refused = match report {
        Err(e) => e.to_string(),
        Ok(r) => format!("{:?}: {:?}", r.outcome, r.updated),
    };
    assert!(
        refused.contains("preflight") && refused.contains("differs"),
        "{refused}"
    );
    assert!(
        !env.sim
            .world
            .commands()
            .iter()
            .any(|c| c.host == "h102" && c.argv().join(" ").contains("docker stop")),
        "the canary was not touched"
    );

    // The operator decides: close on both.
    close_canary(&env.fleet).await.unwrap();
    let (s1, s2) = env.sites().await;
    assert!(!is_open(&s1) && !is_open(&s2));
    assert!(!route.rule().await.unwrap().open);
    // Closed on both, but with different conditions (the hand edit put the runbook's
    // back on one): reopening is refused, nothing written; `canary open` sets both.
    let closed = env.sites().await;
    let err = route.reopen().await.unwrap_err();
    assert!(err.to_string().contains("condition differs"), "{err}");
    assert_eq!(env.sites().await, closed);
    open_canary(&env.fleet, "~", COHORT).await.unwrap();
    let (s1, s2) = env.sites().await;
    assert_eq!(s1, s2);
    assert!(is_open(&s1));
}

struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _: &EventRecord) {}
}

fn write_war(path: &std::path::Path) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    z.add_directory("WEB-INF/", opts).unwrap();
    z.start_file("version.txt", opts).unwrap();
    z.write_all(b"v2-canary").unwrap();
    z.finish().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_canary_deploy_closes_both_and_reopens_both_byte_for_byte() {
    let env = env();
    open_canary(&env.fleet, "~", COHORT).await.unwrap();
    let open = env.sites().await;
    // Only what the deploy did counts: the open above reloaded both already.
    let opened = env.sim.world.commands().len();
    let dir = tempfile::tempdir().unwrap();
    let war = dir.path().join("ihos.war");
    write_war(&war);
    let war = WarFile::open(&war).unwrap();
    let report = run_canary_deploy(
        &env.fleet,
        &war,
        &RolloutOptions::new().operator("test"),
        &NoEvents,
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(env.sites().await, open);
    // Closed on both before the canary was stopped: the deploy's first nginx -s reload on
    // each host comes before the canary's docker stop.
    let all = env.sim.world.commands();
    let commands = &all[opened..];
    let stop = commands
        .iter()
        .position(|c| c.host == "h102" && c.argv().join(" ").contains("docker stop"))
        .expect("the canary was stopped");
    for host in ["h101", "h103"] {
        let reload = commands
            .iter()
            .position(|c| c.host == host && c.is_nginx_reload())
            .unwrap_or(usize::MAX);
        assert!(reload < stop, "{host} closed the route before the stop");
    }
    env.sim.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn a_load_balancer_without_the_route_is_left_alone() {
    let text = TOPOLOGY.replacen(
        "upstream = \"service_ihos\"\n\n[[load_balancers]]",
        "upstream = \"service_ihos\"\ncanary_route = false\n\n[[load_balancers]]",
        1,
    );
    let env = env_with(&text);
    let exists = env
        .host("h101")
        .read_file(&RemotePath::new(SITE1).unwrap(), ihos_core::Privilege::Sudo)
        .await;
    assert!(exists.is_err(), "no site file was made for the first LB");
    open_canary(&env.fleet, "~", COHORT).await.unwrap();
    assert!(is_open(&env.site("h103", SITE2).await));
    assert!(
        !env.sim
            .world
            .commands()
            .iter()
            .any(|c| c.host == "h101" && c.is_nginx_reload()),
        "the first LB was not reloaded"
    );
}

#[tokio::test(start_paused = true)]
async fn a_canary_deploy_cut_off_between_the_two_closes_is_resumed() {
    let env = env();
    open_canary(&env.fleet, "~", COHORT).await.unwrap();
    let open = env.sites().await;
    let opened = env.sim.world.commands().len();
    let dir = tempfile::tempdir().unwrap();
    let war = dir.path().join("ihos.war");
    write_war(&war);
    let war = WarFile::open(&war).unwrap();

    // The close reaches the first load balancer; on the second its write (the new bytes
    // staged next to the file) never answers, and the process dies there: the journal says
    // the route was open, the first site file is closed, the second still open.
    let hang = env.sim.world.inject(
        Fault::on(Matcher::line_contains(".ihos-tmp-"))
            .on_host("h103")
            .hang(),
    );
    let options = RolloutOptions::new().operator("test");
    let cancel = CancelToken::new();
    tokio::select! {
        r = run_canary_deploy(&env.fleet, &war, &options, &NoEvents, &cancel) => {
            panic!("the canary deploy ended before the crash: {r:?}")
        }
        () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
    }
    assert_eq!(env.sim.world.fault_fired(hang), 1);
    let (s1, s2) = env.sites().await;
    assert!(!is_open(&s1) && is_open(&s2), "half closed:\n{s1}\n{s2}");
    let route = env.fleet.canary_route.as_ref().unwrap();
    assert!(
        route.rule().await.is_err(),
        "the route differs between them"
    );

    // The resume accepts the half-closed route (its journal knows it was open), closes it
    // on the second, deploys, and reopens both as they were, byte for byte.
    let resume = RolloutOptions {
        resume: true,
        ..RolloutOptions::new().operator("test")
    };
    let report = run_canary_deploy(&env.fleet, &war, &resume, &NoEvents, &CancelToken::new())
        .await
        .unwrap_or_else(|e| panic!("the resume: {e}"));
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(env.sites().await, open);

    // The cohort was shut out on both before the canary stopped: after the open, the
    // second load balancer's first reload (the resumed close) comes before the canary's
    // first docker stop.
    let commands = env.sim.world.commands();
    let after_open = &commands[opened..];
    let stop = after_open
        .iter()
        .position(|c| c.host == "h102" && c.argv().join(" ").contains("docker stop"))
        .expect("the canary was stopped");
    let close2 = after_open
        .iter()
        .position(|c| c.host == "h103" && c.is_nginx_reload())
        .expect("the second load balancer reloaded");
    assert!(
        close2 < stop,
        "closed on the second at {close2}, stopped at {stop}"
    );
    env.sim.world.assert_invariants();
}
