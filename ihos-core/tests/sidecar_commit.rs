//! The commit from TeamCity reaches the deployment records: `fetch` from the fake TeamCity
//! server, `WarFile::open_with_sidecar`, a rollout on fake hosts, then every instance's
//! record (what `ihos status` shows) and the audit log (`ihos history`) carry the commit.

use ihos_core::{
    CancelToken, EventRecord, FetchOptions, Fleet, Outcome, RolloutOptions, SidecarCheck,
    TeamCityClient, TeamCityConfig, Topology, WarFile,
};
use ihos_testkit::{FakeBuild, FakeTeamCity, Simulation, SimulationOptions, test_war};

const COMMIT: &str = "4f1c2e9d0b7a6c5e8f9a0b1c2d3e4f5a6b7c8d9e";

const TOPOLOGY: &str = r#"
[hosts.h1]
address = "10.0.0.1"
user = "deploy"

[hosts.h2]
address = "10.0.0.2"
user = "deploy"

[load_balancer]
host = "h1"
container = "lb"
config = "/srv/lb/nginx.conf"
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
host = "h2"
container = "app_b"
backend = "10.0.0.2:8081"
webapps = "/srv/b/webapps"
logs = "/srv/b/logs"
health = { url = "http://127.0.0.1:8081/" }

[policy]
drain = { min = "0s", idle = "5s", max = "2m" }
"#;

#[test]
fn the_sidecar_commit_is_in_every_record_status_and_history() {
    let tc = FakeTeamCity::start("token").unwrap();
    tc.add_build(
        FakeBuild::new(42, "3.1.42")
            .revision(COMMIT)
            .artifact("ihos.war", test_war("v42", 20_000)),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ihos.war");
    let client =
        TeamCityClient::with_token(&TeamCityConfig::new(tc.url(), "IHos_App"), "token".into())
            .unwrap();
    client
        .fetch(&FetchOptions::new(&path), &mut |_| {})
        .unwrap();
    drop(tc);

    // The WAR as the CLI opens it: with its sidecar.
    let (war, check) = WarFile::open_with_sidecar(&path).unwrap();
    assert!(matches!(check, SidecarCheck::Matched(_)), "{check:?}");
    assert_eq!(war.commit.as_deref(), Some(COMMIT));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let topology = Topology::from_toml(TOPOLOGY, "ihos.toml").unwrap();
        let sim = Simulation::new(&topology, &SimulationOptions::default());
        let fleet = Fleet::new(topology, sim.hosts.clone()).unwrap();
        let sink = |_: &EventRecord| {};
        let report = ihos_core::run_rollout(
            &fleet,
            &war,
            &RolloutOptions::new().operator("test"),
            &sink,
            &CancelToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(report.outcome, Outcome::Completed, "{report:?}");

        let (views, lb_error) = ihos_core::status(&fleet).await;
        assert_eq!(lb_error, None);
        assert_eq!(views.len(), 2);
        for v in &views {
            let record = v.deployed.as_ref().expect("a deployment record");
            assert_eq!(record.commit.as_deref(), Some(COMMIT), "{v:?}");
            assert_eq!(record.sha256, war.sha256);
            assert_eq!(record.action, "deploy");
        }

        let history = ihos_core::history(&fleet).await.unwrap();
        let deployed: Vec<(&str, Option<&str>)> = history
            .iter()
            .map(|r| (r.instance.as_str(), r.commit.as_deref()))
            .collect();
        assert_eq!(deployed, [("a", Some(COMMIT)), ("b", Some(COMMIT))]);
        assert!(sim.world.check_invariants().is_clean());
    });
}
