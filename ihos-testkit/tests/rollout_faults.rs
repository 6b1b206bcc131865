//! Faults during a rollout of the runbook topology on fake hosts: a build that never
//! becomes healthy or logs an exception, nginx refusing a config, SSH connections dropping
//! in the middle of a step, a full disk, a held lock, a corrupt WAR, a first deployment
//! with nothing to go back to. Each ends with every instance in rotation on a whole
//! release and the right exit code, or says loudly that a human is needed.

mod rollout_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ihos_core::{
    CancelToken, Command, Event, InstanceStatus, Outcome, RolloutError, RolloutOptions,
    RolloutReport, Step, TransportError, WarError, WarFile,
};
use ihos_testkit::{ContainerSpec, Fault, Matcher, ViolationKind};
use rollout_support::{Env, LB, NAMES, Recorder, STATE, minutes};

/// Expects the first instance to have failed at `step` and been rolled back, the rollout
/// stopped there, everything in rotation on the old release (exit 1), lock released,
/// journal finished.
/// A default rollout of `env` that must be refused: the error, and what it emitted.
async fn refused(env: &Env) -> (RolloutError, Arc<Recorder>) {
    let rec = Recorder::new();
    let err = env
        .rollout(&RolloutOptions::default(), &*rec, &CancelToken::new())
        .await
        .unwrap_err();
    (err, rec)
}

/// A default rollout refused by the preflight because the load balancer's nginx could not
/// be reached (saying `why`), before any step and with the lock released: the message.
async fn refused_reaching_nginx(env: &Env, why: &str) -> String {
    let (err, rec) = refused(env).await;
    let text = err.to_string();
    assert!(
        text.starts_with("preflight: the load balancer on h101: reaching nginx, its processes")
            && text.contains(why),
        "{text}"
    );
    assert!(rec.steps_started("101-pep1").is_empty(), "{}", rec.text());
    assert!(!env.lock_held(), "lock released");
    text
}

fn assert_first_rolled_back(env: &Env, report: &RolloutReport, rec: &Recorder, step: Step) {
    assert_eq!(
        report.outcome,
        Outcome::RolledBack,
        "{report:#?}\n{}\n{}",
        rec.text(),
        env.world.log_text()
    );
    assert_eq!(report.outcome.exit_code(), 1);
    assert_eq!(report.rolled_back.len(), 1, "{report:#?}");
    assert_eq!(report.rolled_back[0].instance, "101-pep1");
    assert!(report.updated.is_empty());
    assert_eq!(report.not_updated, NAMES[1..]);
    assert!(report.not_restored.is_empty());
    assert!(
        rec.any(|e| matches!(e, Event::InstanceFailed { instance, step: s, .. } if instance == "101-pep1" && *s == step)),
        "failed at {step:?}:\n{}",
        rec.text()
    );
    env.assert_all_on(&env.old);
    // The others were not touched at all.
    for name in &NAMES[1..] {
        assert_eq!(env.starts(name), 0, "{name} untouched");
        assert!(rec.steps_started(name).is_empty(), "{name} untouched");
    }
    assert!(!env.lock_held());
    let journal = env.journal().unwrap();
    assert!(journal.finished, "a rolled-back rollout is over");
    assert_eq!(journal.instances[0].status, InstanceStatus::RolledBack);
    assert!(
        journal.instances[1..]
            .iter()
            .all(|e| e.status == InstanceStatus::Pending)
    );
    assert!(env.audit().is_empty(), "nothing deployed, nothing recorded");
}

/// The new build fails on `101-pep1` only.
fn bad_build_on_first(bad: impl Fn(ContainerSpec) -> ContainerSpec) -> Env {
    Env::runbook_with(|s, name, sha| {
        if name == "101-pep1" {
            bad(s).faults_only_serving(sha)
        } else {
            s
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_build_that_never_becomes_healthy_is_rolled_back() {
    let env = bad_build_on_first(ContainerSpec::never_healthy);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_first_rolled_back(&env, &report, &rec, Step::WaitHealthy);
    env.assert_clean();
    // Started with the new build, then with the previous one.
    assert_eq!(env.starts("101-pep1"), 2);
    assert!(rec.any(|e| matches!(e, Event::RolledBack { instance } if instance == "101-pep1")));
    // Tomcat logged its startup line but the app kept answering 503: the deploy counts as
    // failed shortly after, without waiting out the 5-minute start timeout.
    let t = env.world.now().since_start();
    assert!(t < minutes(2), "{t:?}");
    assert!(
        rec.any(|e| matches!(e, Event::InstanceFailed { error, .. } if error.contains("the app failed to deploy"))),
        "the failure says why"
    );
}

#[tokio::test(start_paused = true)]
async fn a_build_logging_an_exception_is_rolled_back() {
    let env = bad_build_on_first(|s| {
        s.exception_after_start(
            Duration::from_secs(1),
            "java.lang.IllegalStateException: schema version mismatch",
        )
    });
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_first_rolled_back(&env, &report, &rec, Step::ScanLog);
    assert!(
        report.rolled_back[0]
            .to_string()
            .contains("IllegalStateException")
    );
    env.assert_clean();
    assert_eq!(env.starts("101-pep1"), 2);
}

#[tokio::test(start_paused = true)]
async fn nginx_refusing_the_disable_changes_nothing() {
    let env = Env::runbook();
    let config = env.nginx_config();
    let apps: Vec<_> = env.backends.iter().map(|b| b.host.snapshot()).collect();
    // The first `nginx -t` is the preflight's of the config as it is (in the container);
    // the second validates the disable from the host in nginx's namespaces, the third asks
    // the container again (only its refusal counts).
    let faults = [2, 3].map(|n| {
        env.world.inject(
            Fault::on(Matcher::nginx_test())
                .nth(n)
                .fail(1, "nginx: [emerg] injected in /etc/nginx/nginx.conf:1"),
        )
    });
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    for fault in faults {
        assert_eq!(env.world.fault_fired(fault), 1);
    }
    assert_first_rolled_back(&env, &report, &rec, Step::Disable);
    assert!(
        report.rolled_back[0]
            .to_string()
            .contains("nginx -t rejected"),
        "{report:#?}"
    );
    env.assert_clean();
    // Nothing changed: the config byte for byte, no container restarted, webapps as they
    // were.
    assert_eq!(env.nginx_config(), config);
    for (b, before) in env.backends.iter().zip(&apps) {
        assert_eq!(env.starts(&b.name), 0);
        let after = b.host.snapshot();
        let changed: Vec<String> = before
            .differences(&after)
            .into_iter()
            .filter(|p| p.starts_with(&b.webapps))
            .collect();
        assert!(changed.is_empty(), "{}: {changed:?}", b.name);
    }
    assert_eq!(rec.steps_started("101-pep1"), [Step::Disable]);
}

#[tokio::test(start_paused = true)]
async fn a_config_nginx_already_rejects_stops_the_run_in_the_preflight() {
    let env = Env::runbook();
    let config = env.nginx_config();
    // Someone left the files in a state nginx refuses (its reload would fail too): the
    // run's first edit would be refused with the instance already chosen. Refused up front:
    // by the host's test (in the master's namespaces), then by the container's, whose word
    // stands.
    let fault = env
        .world
        .inject(Fault::on(Matcher::nginx_test()).every().fail(
            1,
            "nginx: [emerg] unknown directive \"servr\" in /etc/nginx/nginx.conf:12",
        ));
    let (err, rec) = refused(&env).await;
    assert_eq!(env.world.fault_fired(fault), 2);
    let text = err.to_string();
    assert!(
        text.starts_with(
            "preflight: the load balancer on h101: nginx -t of its current configuration"
        ) && text.contains("as it is now (before any change)")
            && text.contains("unknown directive")
            && text.ends_with("nothing was changed"),
        "{text}"
    );
    assert!(rec.steps_started("101-pep1").is_empty(), "{}", rec.text());
    assert_eq!(env.nginx_config(), config);
    assert!(!env.lock_held(), "lock released");
    env.assert_clean();
}

#[tokio::test(start_paused = true)]
async fn a_config_nginx_rejects_is_said_so_even_when_its_processes_cannot_be_listed() {
    // The preflight learns nginx's master (docker top) before its nginx -t: that learning
    // failing too must not hide nginx's own verdict on the files.
    let env = Env::runbook();
    env.world.inject(
        Fault::on(Matcher::argv_starts_with(&["docker", "top"]))
            .every()
            .fail(1, "Error response from daemon: container is not running"),
    );
    env.world
        .inject(Fault::on(Matcher::nginx_test()).every().fail(
            1,
            "nginx: [emerg] unknown directive \"servr\" in /etc/nginx/nginx.conf:12",
        ));
    let (err, rec) = refused(&env).await;
    let text = err.to_string();
    assert!(
        text.starts_with(
            "preflight: the load balancer on h101: nginx -t of its current configuration"
        ) && text.contains("unknown directive"),
        "{text}"
    );
    assert!(rec.steps_started("101-pep1").is_empty(), "{}", rec.text());
    assert!(!env.lock_held(), "lock released");
}

#[tokio::test(start_paused = true)]
async fn a_df_that_hangs_costs_the_preflight_one_timeout_not_one_per_directory() {
    // A hung mount (stale NFS) under webapps or the state directory: the one df that asks
    // both times out, and neither is asked again alone (that is asked only when df said
    // no, as for a state directory not made yet).
    let env = Env::runbook();
    let fault = env.world.inject(
        Fault::on(Matcher::argv_starts_with(&["df"]))
            .on_host("192.168.1.103")
            .every()
            .hang(),
    );
    let began = tokio::time::Instant::now();
    let (err, rec) = refused(&env).await;
    let took = began.elapsed();
    assert!(matches!(err, RolloutError::Preflight { .. }), "{err}");
    assert!(err.to_string().contains("103"), "{err}");
    assert!(
        took < ihos_core::DEFAULT_COMMAND_TIMEOUT * 3 / 2,
        "refused after {took:?}"
    );
    assert!(env.world.fault_fired(fault) >= 1);
    assert!(rec.steps_started("101-pep1").is_empty(), "{}", rec.text());
    assert!(!env.lock_held(), "lock released");
}

#[tokio::test(start_paused = true)]
async fn an_nginx_whose_processes_cannot_be_listed_is_not_called_a_refused_config() {
    // docker's daemon refuses `docker top` (as docker 20.10 says it for a container that
    // stopped meanwhile): the preflight stops the run, naming what failed, not nginx -t.
    let env = Env::runbook();
    let fault = env.world.inject(
        Fault::on(Matcher::argv_starts_with(&["docker", "top"]))
            .every()
            .fail(1, "Error response from daemon: container is not running"),
    );
    let text = refused_reaching_nginx(&env, "is not running").await;
    assert!(env.world.fault_fired(fault) >= 1);
    assert!(!text.contains("nginx -t"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn an_nginx_binary_docker_cannot_run_is_not_called_a_refused_config() {
    // docker 20.10's answer when the container has no `nginx` on its PATH (exit 126):
    // docker's failure, not nginx's refusal of the config. The host's test (tried first)
    // meets the same: util-linux nsenter's "failed to execute nginx", status 127.
    let env = Env::runbook();
    let from_host = env
        .world
        .inject(Fault::on(Matcher::nginx_test_from_host()).every().fail(
            127,
            "nsenter: failed to execute nginx: No such file or directory",
        ));
    let fault = env.world.inject(
        Fault::on(Matcher::nginx_test_in_container()).every().fail(
            126,
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nginx\": executable file not found in $PATH: unknown",
        ),
    );
    refused_reaching_nginx(&env, "executable file not found").await;
    assert_eq!(env.world.fault_fired(from_host), 1);
    assert_eq!(env.world.fault_fired(fault), 1);
}

#[tokio::test(start_paused = true)]
async fn an_instance_out_of_rotation_is_refused_without_waiting_for_a_slow_host() {
    // Someone left 101-pep1 out of rotation: the run is refused on nginx's word alone,
    // not after the preflight of a host that answers slowly (30 s a command).
    let env = Env::runbook();
    let path = env.topology.load_balancers[0].config.clone();
    let config = String::from_utf8(env.nginx_config()).unwrap();
    let out = config.replacen(
        "server 192.168.1.101:39091",
        "#server 192.168.1.101:39091",
        1,
    );
    assert_ne!(out, config);
    env.lb_host.write_file(&path, out.as_bytes());
    // (A fault still delaying when the run is refused is not counted as fired: without
    // the early refusal this run takes 180 s, checked when the test was written.)
    env.world.inject(
        Fault::on(Matcher::any_command())
            .on_host("192.168.1.103")
            .every()
            .delay(Duration::from_secs(30)),
    );
    let began = tokio::time::Instant::now();
    let (err, rec) = refused(&env).await;
    assert!(matches!(err, RolloutError::NotInRotation { .. }), "{err}");
    assert!(err.to_string().contains("101-pep1"), "{err}");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "refused after {:?}",
        began.elapsed()
    );
    assert!(rec.steps_started("101-pep1").is_empty(), "{}", rec.text());
    assert!(!env.lock_held(), "lock released");
}

#[tokio::test(start_paused = true)]
async fn a_host_without_room_for_the_war_stops_the_run_in_the_preflight() {
    let env = Env::runbook();
    // The last instance's host: the run must stop before the first instance, not at it.
    let last = env.backends.last().unwrap();
    // Room for the WAR itself, not for its exploded webapp as well.
    let free = env.war.bytes * 3 / 2;
    last.host.set_disk_free(Some(free));
    let config = env.nginx_config();
    let (err, rec) = refused(&env).await;
    let text = err.to_string();
    // The first instance of that host is the one named (its instances share the disk).
    let named = env
        .backends
        .iter()
        .find(|b| b.host.name() == last.host.name())
        .unwrap();
    assert!(
        text.starts_with(&format!("preflight: {} on ", named.name))
            && text.contains("free disk space")
            && text.contains(&format!("{} has ", named.webapps))
            && text.ends_with("nothing was changed"),
        "{text}"
    );
    assert!(rec.steps_started("101-pep1").is_empty(), "{}", rec.text());
    assert_eq!(env.nginx_config(), config);
    assert!(!env.lock_held(), "lock released");
    env.assert_clean();
    // With room, the same run goes through, and the preflight says how much there was.
    last.host.set_disk_free(None);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
    assert!(
        rec.any(|e| matches!(e, Event::PreflightPassed { checks } if checks.iter().all(|c| c.contains("free for the WAR") || c.starts_with("load balancer")))),
        "{}",
        rec.text()
    );
}

#[tokio::test(start_paused = true)]
async fn nginx_refusing_the_enable_once_rolls_the_instance_back() {
    let env = Env::runbook();
    // The first `nginx -t` is the preflight's (in the container, which also learns
    // nginx's master), the second validates the disable (from the host in nginx's
    // namespaces), the third the enable (with the next instance's disable: one change),
    // refused, and the fourth asks the container again (a refusal is only taken from
    // it); the fifth and sixth the same for the enable alone, tried after that change was
    // refused.
    let faults = [3, 4, 5, 6].map(|n| {
        env.world.inject(
            Fault::on(Matcher::nginx_test())
                .nth(n)
                .fail(1, "nginx: [emerg] injected in /etc/nginx/nginx.conf:1"),
        )
    });
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    for fault in faults {
        assert_eq!(env.world.fault_fired(fault), 1);
    }
    assert_first_rolled_back(&env, &report, &rec, Step::Enable);
    env.assert_clean();
    // The new version had started; the previous one runs again.
    assert_eq!(env.starts("101-pep1"), 2);
    assert_eq!(env.previous("101-pep1").as_deref(), Some(env.old.as_str()));
}

/// `nginx -t` (in the nginx container, or from the host in its namespaces) while `broken`
/// is set.
fn nginx_test_while(broken: &Arc<AtomicBool>) -> Matcher {
    let broken = Arc::clone(broken);
    let nginx_test = Matcher::nginx_test();
    Matcher::command("nginx -t while broken", move |c: &Command| {
        broken.load(Ordering::SeqCst) && nginx_test.matches_command(c)
    })
}

#[tokio::test(start_paused = true)]
async fn nginx_refusing_every_enable_is_not_restored_loudly_then_resumed() {
    let env = Env::runbook();
    let broken = Arc::new(AtomicBool::new(false));
    env.world.inject(
        Fault::on(nginx_test_while(&broken))
            .every()
            .fail(1, "nginx: [emerg] injected in /etc/nginx/nginx.conf:1"),
    );
    // nginx starts refusing configs once the new version runs on 101-pep1.
    let rec = Recorder::new();
    {
        let broken = Arc::clone(&broken);
        rec.once(
            |e| rollout_support::is_step_started(e, "101-pep1", Step::Enable),
            move || broken.store(true, Ordering::SeqCst),
        );
    }
    let report = env.roll(&rec).await;
    assert_eq!(
        report.outcome,
        Outcome::NotRestored,
        "{report:#?}\n{}",
        rec.text()
    );
    assert_eq!(report.outcome.exit_code(), 3);
    assert_eq!(report.not_restored.len(), 1, "{report:#?}");
    assert_eq!(report.not_restored[0].instance, "101-pep1");
    assert!(
        report.not_restored[0]
            .to_string()
            .contains("back into rotation"),
        "{report:#?}"
    );
    // Where it is, as the rollback left it (not as the failed update had).
    assert!(
        report.not_restored[0]
            .to_string()
            .ends_with("left out of rotation, its previous release running and healthy (`ihos enable` puts it back)"),
        "{report:#?}"
    );
    assert!(
        rec.any(|e| matches!(e, Event::RollbackFailed { instance, .. } if instance == "101-pep1"))
    );
    // Out of rotation, but not silently: the report says so, the lock stays, the journal
    // is resumable. The previous release runs, healthy, ready to go back.
    let b = env.backend("101-pep1");
    assert!(!env.routing().contains(&b.address));
    assert_eq!(env.serving("101-pep1").as_deref(), Some(env.old.as_str()));
    assert!(env.lock_held(), "a human must look: the lock stays");
    let journal = env.journal().unwrap();
    assert!(!journal.finished);
    assert_eq!(journal.instances[0].status, InstanceStatus::Failed);
    for name in &NAMES[1..] {
        env.assert_consistent(name);
        assert_eq!(env.starts(name), 0);
    }
    env.assert_clean();

    // A human fixes nginx and resumes: the rollout takes over its lock and finishes.
    broken.store(false, Ordering::SeqCst);
    let rec2 = Recorder::new();
    let resumed = env
        .rollout(
            &RolloutOptions {
                resume: true,
                ..Default::default()
            },
            &*rec2,
            &CancelToken::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", env.world.log_text()));
    assert_eq!(
        resumed.outcome,
        Outcome::Completed,
        "{resumed:#?}\n{}",
        rec2.text()
    );
    assert_eq!(resumed.rollout_id, report.rollout_id);
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
    assert!(!env.lock_held());
    assert!(env.journal().unwrap().finished);
    // The release kept as previous is still the old one, not the new WAR.
    for name in NAMES {
        assert_eq!(
            env.previous(name).as_deref(),
            Some(env.old.as_str()),
            "{name}"
        );
    }
}

// ----- SSH connections dropping in the middle of a step -----

fn docker_stop() -> Matcher {
    Matcher::argv_starts_with(&["docker", "stop"])
}

fn docker_start() -> Matcher {
    Matcher::argv_starts_with(&["docker", "start"])
}

/// The copy of the new WAR into webapps (under its temporary name).
fn install_cp() -> Matcher {
    Matcher::command("install cp", |c| {
        c.program() == "dd"
            && c.argv()
                .iter()
                .any(|a| a.starts_with("of=") && a.contains("/webapps/.ihos.war.ihos-next"))
    })
}

/// The `mv` of the new WAR into place.
fn install_mv() -> Matcher {
    Matcher::command("install mv", |c| {
        c.program() == "mv"
            && c.argv()
                .last()
                .is_some_and(|a| a.ends_with("/webapps/ihos.war"))
    })
}

/// The `rm -rf` of the exploded webapp.
fn remove_exploded() -> Matcher {
    Matcher::command("rm exploded", |c| {
        c.program() == "rm"
            && c.argv()
                .last()
                .is_some_and(|a| a.ends_with("/webapps/ihos"))
    })
}

/// Runs a rollout with `fault` injected on the first instance's host (also the LB's) and
/// checks a consistent end: the first instance rolled back (or, when the fault could not
/// matter, the rollout completed), every instance in rotation on a whole release,
/// invariants clean, lock released, journal finished.
async fn drop_connection(what: &str, matcher: Matcher, happened: bool) {
    drop_connection_at(what, matcher, 1, happened).await;
}

/// [`drop_connection`] at the `nth` matching command.
async fn drop_connection_at(what: &str, matcher: Matcher, nth: usize, happened: bool) {
    let env = Env::runbook();
    let fault = env
        .world
        .inject(Fault::on(matcher).on_host(LB).nth(nth).disconnect(happened));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(env.world.fault_fired(fault), 1, "{what}: the fault fired");
    let ctx = format!(
        "{what} (happened: {happened}): {report:#?}\n{}\n{}",
        rec.text(),
        env.world.log_text()
    );
    assert!(matches!(report.outcome, Outcome::RolledBack), "{ctx}");
    assert_eq!(report.rolled_back[0].instance, "101-pep1", "{ctx}");
    assert!(report.not_restored.is_empty(), "{ctx}");
    env.assert_all_on(&env.old);
    for name in &NAMES[1..] {
        assert_eq!(env.starts(name), 0, "{ctx}");
    }
    let report_inv = env.invariants();
    assert!(report_inv.is_clean(), "{ctx}\n{report_inv}");
    assert!(env.unsupported().is_empty(), "{ctx}");
    assert!(!env.lock_held(), "{ctx}");
    assert!(env.journal().unwrap().finished, "{ctx}");
    // Whatever was cut, webapps holds the release it runs and nothing else (no copy of
    // the new WAR prepared while it stopped).
    env.assert_all_consistent();
}

#[tokio::test(start_paused = true)]
async fn a_connection_drop_on_docker_stop_rolls_back() {
    drop_connection("docker stop", docker_stop(), false).await;
    drop_connection("docker stop", docker_stop(), true).await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_drop_while_installing_rolls_back() {
    drop_connection("rm -rf exploded", remove_exploded(), false).await;
    drop_connection("rm -rf exploded", remove_exploded(), true).await;
    drop_connection("install cp", install_cp(), false).await;
    drop_connection("install cp", install_cp(), true).await;
    drop_connection("install mv", install_mv(), false).await;
    drop_connection("install mv", install_mv(), true).await;
}

/// A copy into webapps that says it succeeded but is not the new WAR (here: never made)
/// is found by its digest once the container is stopped, before it is renamed in place.
#[tokio::test(start_paused = true)]
async fn a_prepared_copy_that_is_not_the_new_war_is_never_installed() {
    let env = Env::runbook();
    let fault = env.world.inject(
        Fault::on(install_cp())
            .on_host(LB)
            .respond(ihos_core::Output {
                status: Some(0),
                stdout: Vec::new(),
                stderr: Vec::new(),
            }),
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(env.world.fault_fired(fault), 1);
    assert_first_rolled_back(&env, &report, &rec, Step::Remove);
    let installs = env
        .world
        .commands()
        .iter()
        .filter(|c| {
            install_mv().matches_command(&c.command)
                && c.command.argv().iter().any(|a| a.ends_with(".ihos-next"))
        })
        .count();
    // (The rollback renames the previous release in place, from a name of its own.)
    assert_eq!(installs, 0, "{}", env.world.log_text());
}

#[tokio::test(start_paused = true)]
async fn a_connection_drop_while_starting_rolls_back() {
    drop_connection("docker start", docker_start(), false).await;
    drop_connection("docker start", docker_start(), true).await;
    drop_connection("curl", Matcher::program("curl"), false).await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_drop_while_draining_rolls_back() {
    drop_connection("nsenter", Matcher::program("nsenter"), false).await;
    // The first `docker inspect` of 101-pep1's container is the preflight's (before any
    // change); the second is the one before its drain.
    drop_connection_at(
        "docker inspect",
        Matcher::command("docker inspect of 101-pep1", |c| {
            c.argv().starts_with(&["docker", "inspect"])
                && c.argv()
                    .last()
                    .is_some_and(|a| *a == "ihos_pep1_official_1")
        }),
        2,
        false,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_drop_on_the_nginx_reloads_rolls_back() {
    // The first reload takes 101-pep1 out, the second puts it back.
    drop_connection("reload (disable)", Matcher::nginx_reload(), true).await;
    drop_connection("reload (disable)", Matcher::nginx_reload(), false).await;
    // The second reload puts 101-pep1 back and takes 101-pep2 out (one change); when it
    // fails, the previous config is reloaded (the third) and 101-pep1 comes back alone (the
    // fourth): that one failing too rolls 101-pep1 back.
    for happened in [false, true] {
        let env = Env::runbook();
        for n in [2, 4] {
            env.world.inject(
                Fault::on(Matcher::nginx_reload())
                    .nth(n)
                    .disconnect(happened),
            );
        }
        let rec = Recorder::new();
        let report = env.roll(&rec).await;
        assert_first_rolled_back(&env, &report, &rec, Step::Enable);
        env.assert_clean();
    }
    // Only the change for both failing: 101-pep1 comes back alone, the rollout goes on.
    for happened in [false, true] {
        let env = Env::runbook();
        env.world.inject(
            Fault::on(Matcher::nginx_reload())
                .nth(2)
                .disconnect(happened),
        );
        let rec = Recorder::new();
        let report = env.roll(&rec).await;
        assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
        env.assert_all_on(&env.war.sha256);
        env.assert_clean();
    }
}

#[tokio::test(start_paused = true)]
async fn nginx_restore_failing_after_a_disable_is_not_silent() {
    // Taking 101-pep1 out: the reload goes through but the connection drops (nginx now
    // routes without it), then putting the previous config back fails to reload it: the
    // file says "in rotation", nginx does not. The engine must not call that "nothing
    // changed".
    let env = Env::runbook();
    env.world
        .inject(Fault::on(Matcher::nginx_reload()).nth(1).disconnect(true));
    env.world
        .inject(Fault::on(Matcher::nginx_reload()).nth(2).disconnect(false));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    let ctx = format!("{report:#?}\n{}\n{}", rec.text(), env.world.log_text());
    assert!(
        report.outcome == Outcome::NotRestored || env.routing().len() == 4,
        "silently out of rotation: {ctx}"
    );
    assert_first_rolled_back(&env, &report, &rec, Step::Disable);
    env.assert_clean();
    assert_eq!(env.starts("101-pep1"), 0, "never stopped");
}

#[tokio::test(start_paused = true)]
async fn nginx_restore_failing_after_an_enable_drains_before_the_rollback() {
    // Putting 101-pep1 back: the reload goes through, the connection drops, the previous
    // config is put back but writing it fails, so the instance stays in rotation on the
    // new version with requests in flight. The rollback must take it out and drain it
    // before stopping it.
    let env = Env::runbook();
    env.world
        .inject(Fault::on(Matcher::nginx_reload()).nth(2).disconnect(true));
    let restoring = Arc::new(AtomicBool::new(false));
    {
        let restoring = Arc::clone(&restoring);
        // Of the config writes once the enable began, the first is the enable's own, the
        // second the restore after the failed reload: that one fails.
        env.world.inject(
            Fault::on(Matcher::command("restore write", move |c| {
                restoring.load(Ordering::SeqCst)
                    && c.program() == "dd"
                    && c.argv().iter().any(|a| a.contains("/.nginx.conf.ihos-tmp"))
            }))
            .nth(2)
            .disconnect(false),
        );
    }
    let rec = Recorder::new();
    {
        let restoring = Arc::clone(&restoring);
        rec.once(
            |e| rollout_support::is_step_started(e, "101-pep1", Step::Enable),
            move || restoring.store(true, Ordering::SeqCst),
        );
    }
    let report = env.roll(&rec).await;
    assert_first_rolled_back(&env, &report, &rec, Step::Enable);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
}

/// Everything sent to `host` from the first command matching `trigger` on fails with a
/// dropped connection, until `down` is cleared.
fn outage(env: &Env, host: &str, trigger: Matcher, down: &Arc<AtomicBool>) {
    let flag = Arc::clone(down);
    let triggered = AtomicBool::new(false);
    env.world.inject(
        Fault::on(Matcher::command("host down", move |c| {
            if trigger.matches(&ihos_testkit::Op::Command(c))
                && !triggered.swap(true, Ordering::SeqCst)
            {
                flag.store(true, Ordering::SeqCst);
            }
            flag.load(Ordering::SeqCst)
        }))
        .on_host(host)
        .every()
        .disconnect(false),
    );
}

#[tokio::test(start_paused = true)]
async fn a_host_lost_mid_instance_is_reported_then_resumed() {
    let env = Env::runbook();
    let down = Arc::new(AtomicBool::new(false));
    // 192.168.1.103 goes away as 103-pep1 is being stopped (after the first two are done).
    outage(&env, "192.168.1.103", docker_stop(), &down);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    let ctx = format!("{report:#?}\n{}", rec.text());
    assert_eq!(report.outcome, Outcome::NotRestored, "{ctx}");
    assert_eq!(report.outcome.exit_code(), 3);
    assert_eq!(report.updated, ["101-pep1", "101-pep2"], "{ctx}");
    assert_eq!(report.not_restored.len(), 1, "{ctx}");
    assert_eq!(report.not_restored[0].instance, "103-pep1", "{ctx}");
    assert_eq!(report.not_updated, ["103-pep2"], "{ctx}");
    assert!(
        rec.any(|e| matches!(e, Event::RollbackFailed { instance, .. } if instance == "103-pep1"))
    );
    // Out of rotation and said so; the lock stays; the journal can be resumed.
    assert!(!env.routing().contains(&env.backend("103-pep1").address));
    assert_eq!(env.routing().len(), 3);
    assert!(env.lock_held());
    let journal = env.journal().unwrap();
    assert!(!journal.finished);
    assert_eq!(journal.instances[2].status, InstanceStatus::Failed);
    env.assert_clean();

    // The host is back: --resume finishes the job.
    down.store(false, Ordering::SeqCst);
    let rec2 = Recorder::new();
    let resumed = env
        .rollout(
            &RolloutOptions {
                resume: true,
                ..Default::default()
            },
            &*rec2,
            &CancelToken::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", env.world.log_text()));
    assert_eq!(
        resumed.outcome,
        Outcome::Completed,
        "{resumed:#?}\n{}",
        rec2.text()
    );
    assert_eq!(resumed.updated, ["103-pep1", "103-pep2"]);
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
    assert!(!env.lock_held());
    assert!(env.journal().unwrap().finished);
    assert_eq!(env.audit().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_load_balancer_host_lost_mid_instance_is_reported_then_resumed() {
    let env = Env::runbook();
    // 192.168.1.101 (nginx, the lock, the journal) goes away as 103-pep1 is being stopped
    // on the other host: the journal cannot be written, nginx cannot be changed, the lock
    // cannot be released.
    let down = Arc::new(AtomicBool::new(false));
    {
        let down = Arc::clone(&down);
        let triggered = AtomicBool::new(false);
        env.world.inject(
            Fault::on(Matcher::command("trigger", move |c| {
                if docker_stop().matches(&ihos_testkit::Op::Command(c))
                    && !triggered.swap(true, Ordering::SeqCst)
                {
                    down.store(true, Ordering::SeqCst);
                }
                false
            }))
            .on_host("192.168.1.103"),
        );
    }
    {
        let down = Arc::clone(&down);
        env.world.inject(
            Fault::on(Matcher::command("LB host down", move |_| {
                down.load(Ordering::SeqCst)
            }))
            .on_host(LB)
            .every()
            .disconnect(false),
        );
    }
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    let ctx = format!("{report:#?}\n{}", rec.text());
    assert_eq!(report.outcome, Outcome::NotRestored, "{ctx}");
    assert_eq!(report.updated, ["101-pep1", "101-pep2"], "{ctx}");
    assert!(
        report.not_restored.iter().any(|f| f.instance == "103-pep1"),
        "{ctx}"
    );
    assert!(rec.any(
        |e| matches!(e, Event::Warning { message, .. } if message.contains("journal not written"))
    ));
    // 103-pep1 is out of rotation (taken out before the host was lost) and said so; the
    // rest are in. Its enable failed, and with nginx unreachable the rollback cannot make
    // sure it is out and drained, so it leaves the instance as it is: the new release,
    // running and healthy, whole.
    assert_eq!(env.routing().len(), 3);
    assert!(!env.routing().contains(&env.backend("103-pep1").address));
    let b = env.backend("103-pep1");
    let info = b.host.container(&b.container).unwrap();
    assert_eq!(info.serving, env.deployed("103-pep1"), "a whole release");
    assert_eq!(info.phase, Some(ihos_testkit::AppPhase::Ready));
    assert!(env.lock_held());
    env.assert_clean();

    // The host is back: --resume, from the journal as last written, finishes.
    down.store(false, Ordering::SeqCst);
    let rec2 = Recorder::new();
    let resumed = env
        .rollout(
            &RolloutOptions {
                resume: true,
                ..Default::default()
            },
            &*rec2,
            &CancelToken::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", env.world.log_text()));
    assert_eq!(
        resumed.outcome,
        Outcome::Completed,
        "{resumed:#?}\n{}",
        rec2.text()
    );
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
    assert!(!env.lock_held());
    assert!(env.journal().unwrap().finished);
    for name in NAMES {
        assert_eq!(
            env.previous(name).as_deref(),
            Some(env.old.as_str()),
            "{name}"
        );
    }
}

// ----- before any instance -----

#[tokio::test(start_paused = true)]
async fn a_full_disk_on_upload_fails_before_any_instance() {
    let env = Env::runbook();
    let config = env.nginx_config();
    env.world.inject(
        Fault::on(Matcher::upload())
            .on_host("192.168.1.103")
            .disk_full_after(100),
    );
    let rec = Recorder::new();
    let err = env
        .rollout(&RolloutOptions::default(), &*rec, &CancelToken::new())
        .await
        .expect_err("the upload fails");
    assert!(
        matches!(&err, RolloutError::Transport(TransportError::Io { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("No space left on device"), "{err}");
    // Nothing changed: no instance touched, nginx as it was, no partial file left.
    assert!(!rec.any(|e| matches!(e, Event::StepStarted { .. })));
    assert_eq!(env.nginx_config(), config);
    env.assert_all_on(&env.old);
    for name in NAMES {
        assert_eq!(env.starts(name), 0);
    }
    let h103 = &env.backend("103-pep1").host;
    let leftovers: Vec<String> = h103
        .list("/home/deploy/.ihos")
        .into_iter()
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!env.lock_held(), "the lock is released");
    env.assert_clean();

    // The journal of the run that never started says every instance is pending.
    let journal = env.journal().expect("journal");
    assert!(!journal.finished);
    assert!(
        journal
            .instances
            .iter()
            .all(|e| e.status == InstanceStatus::Pending && !e.war_touched)
    );

    // Once there is room again (the fault hit one upload), the same rollout goes through.
    let report = env.roll(&Recorder::new()).await;
    assert_eq!(report.outcome, Outcome::Completed);
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
}

/// A host in another language: mkdir says "File exists" in German. The held lock is
/// still recognised (ihos asks whether the directory is there; it once read the English
/// message and took this for a failure of its own).
#[tokio::test(start_paused = true)]
async fn a_held_lock_is_recognised_whatever_the_hosts_language() {
    let env = Env::runbook();
    env.lb_host.write_file(
        &format!("{STATE}/lock/owner.json"),
        br#"{"rollout_id":"r-other","owner":"alice@laptop","pid":4242,"since":"s","sha256":""}"#,
    );
    env.world.inject(
        Fault::on(Matcher::argv_starts_with(&["mkdir", "--"]))
            .every()
            .fail(
                1,
                "mkdir: das Verzeichnis \u{bb}/var/lib/ihos/lock\u{ab} kann nicht angelegt werden: Die Datei existiert bereits",
            ),
    );
    let rec = Recorder::new();
    let err = env
        .rollout(&RolloutOptions::default(), &*rec, &CancelToken::new())
        .await
        .expect_err("the lock is held");
    assert!(
        matches!(&err, RolloutError::LockHeld { owner: Some(o), .. } if o.owner == "alice@laptop"),
        "{err:?}"
    );
    env.assert_all_on(&env.old);
}

#[tokio::test(start_paused = true)]
async fn a_held_lock_refuses_the_rollout_and_changes_nothing() {
    let env = Env::runbook();
    let owner = serde_json::json!({
        "rollout_id": "r-other",
        "owner": "alice@laptop",
        "pid": 4242,
        "since": "2026-01-05T08:00:00Z",
        "sha256": "ab".repeat(32),
    });
    env.lb_host.write_file(
        &format!("{STATE}/lock/owner.json"),
        serde_json::to_vec(&owner).unwrap(),
    );
    let before: Vec<_> = env.hosts.values().map(|h| h.snapshot()).collect();
    let rec = Recorder::new();
    let err = env
        .rollout(&RolloutOptions::default(), &*rec, &CancelToken::new())
        .await
        .expect_err("the lock is held");
    match &err {
        RolloutError::LockHeld { host, owner } => {
            assert_eq!(host, LB);
            let o = owner.as_ref().expect("owner known");
            assert_eq!(o.rollout_id, "r-other");
            assert_eq!(o.owner, "alice@laptop");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("ihos lock release"), "{err}");
    // Not a byte changed on any host.
    let after: Vec<_> = env.hosts.values().map(|h| h.snapshot()).collect();
    for (b, a) in before.iter().zip(&after) {
        assert!(b.differences(a).is_empty(), "{:?}", b.differences(a));
    }
    assert!(rec.events().is_empty(), "{}", rec.text());
    env.assert_all_on(&env.old);
    env.assert_clean();
}

/// The lock is taken but the answer is lost (the connection drops as its owner file is
/// written): the run fails, and the lock it may hold is given back (its owner file is this
/// run's, byte for byte), not left for `ihos lock release`.
#[tokio::test(start_paused = true)]
async fn a_lock_taken_without_an_answer_is_given_back() {
    let env = Env::runbook();
    let fault = env.world.inject(
        Fault::on(Matcher::line_contains(&format!(
            "of={STATE}/lock/owner.json"
        )))
        .on_host(LB)
        .disconnect(true),
    );
    let rec = Recorder::new();
    let err = env
        .rollout(&RolloutOptions::default(), &*rec, &CancelToken::new())
        .await
        .expect_err("the lock's answer was lost");
    assert_eq!(env.world.fault_fired(fault), 1);
    assert!(err.to_string().contains("connection"), "{err}");
    assert!(!env.lock_held(), "{}", env.world.log_text());
    env.assert_all_on(&env.old);
}

#[tokio::test(start_paused = true)]
async fn a_corrupt_war_is_refused_before_anything() {
    let env = Env::runbook();
    let bytes = std::fs::read(&env.war.path).unwrap();
    let dir = env.dir.path();
    let cut = dir.join("cut.war");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(WarFile::open(&cut), Err(WarError::NotZip { .. })));
    let mut flipped = bytes.clone();
    let at = bytes.windows(7).position(|w| w == b"build 2").unwrap();
    flipped[at] = b'X';
    let bad = dir.join("bad.war");
    std::fs::write(&bad, &flipped).unwrap();
    let err = WarFile::open(&bad).unwrap_err();
    assert!(matches!(err, WarError::NotZip { .. }), "{err:?}");
    assert!(err.to_string().contains("bad.war"), "{err}");
    let junk = dir.join("junk.war");
    std::fs::write(&junk, b"<html>404 Not Found</html>").unwrap();
    assert!(matches!(WarFile::open(&junk), Err(WarError::NotZip { .. })));
    // Nothing ran anywhere.
    assert!(env.world.commands().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failing_first_deployment_has_nothing_to_go_back_to_and_says_so() {
    // 103-pep2 is a fresh Tomcat: no WAR deployed yet (it answers 503), and the new build
    // never becomes healthy there.
    let env = Env::runbook_with(|s, name, sha| {
        if name == "103-pep2" {
            s.never_healthy().faults_only_serving(sha)
        } else {
            s
        }
    });
    let b = env.backend("103-pep2").clone();
    // Remove its WAR and restart it so that it runs without one, as a fresh install (not
    // watched: this is the setup).
    env.world.set_invariants_enabled(false);
    remove_war_and_restart(&env, &b).await;
    env.world.set_invariants_enabled(true);
    let start = env.world.now();
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    let ctx = format!("{report:#?}\n{}", rec.text());
    assert_eq!(report.outcome, Outcome::NotRestored, "{ctx}");
    assert_eq!(report.outcome.exit_code(), 3);
    assert_eq!(
        report.updated,
        ["101-pep1", "101-pep2", "103-pep1"],
        "{ctx}"
    );
    assert_eq!(report.not_restored.len(), 1, "{ctx}");
    assert_eq!(report.not_restored[0].instance, "103-pep2");
    assert!(
        report.not_restored[0]
            .to_string()
            .contains("no previous release"),
        "{ctx}"
    );
    assert!(
        report.not_restored[0]
            .to_string()
            .ends_with("left out of rotation while its WAR was being replaced (`ihos status` shows which release is in place)"),
        "{ctx}"
    );
    assert!(
        rec.any(|e| matches!(e, Event::RollbackFailed { instance, .. } if instance == "103-pep2"))
    );
    // Out of rotation (and said so), the lock kept for a human, the journal resumable.
    assert!(!env.routing().contains(&b.address));
    assert!(env.lock_held());
    assert!(!env.journal().unwrap().finished);
    for name in &NAMES[..3] {
        assert_eq!(env.assert_consistent(name), env.war.sha256);
    }
    // The only violation: the fresh instance answered 503 while in rotation before the
    // rollout began, until the rollout took it out.
    let unexpected = env.unexpected_violations(|k| {
        matches!(k, ViolationKind::RoutedToUnavailable { backend, .. } if *backend == b.address)
    });
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    for v in env.invariants().violations {
        assert_eq!(v.started, start, "{v}");
        assert!(v.ended.is_some(), "{v}");
    }
    assert!(env.unsupported().is_empty());
}

/// Deletes an instance's WAR and restarts its container: it runs with nothing deployed.
async fn remove_war_and_restart(env: &Env, b: &rollout_support::Backend) {
    use ihos_core::Transport;
    let war = format!("{}/ihos.war", b.webapps);
    let t = &b.host;
    t.run(&Command::new("rm").args(["-f", "--", &war]).sudo())
        .await
        .unwrap();
    t.run(
        &Command::new("docker")
            .args(["restart", "--time", "10", &b.container])
            .sudo(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(env.serving(&b.name), None);
}

#[tokio::test(start_paused = true)]
async fn on_failure_halt_leaves_the_instance_out_of_rotation_and_says_so() {
    let mut env = bad_build_on_first(ContainerSpec::never_healthy);
    env.topology.policy.on_failure = ihos_core::OnFailure::Halt;
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::NotRestored, "{report:#?}");
    assert_eq!(report.not_restored[0].instance, "101-pep1");
    assert!(report.not_restored[0].to_string().contains("halt"));
    assert!(!env.routing().contains(&env.backend("101-pep1").address));
    assert!(env.lock_held());
    for name in &NAMES[1..] {
        env.assert_consistent(name);
    }
    env.assert_clean();
}

/// The deployment record cannot be written (a full state disk) after the instance came
/// back on the new WAR: it is reported updated with its record missing, not rolled back
/// (the new WAR serves), and the rollout goes on.
#[tokio::test(start_paused = true)]
async fn a_record_that_cannot_be_written_is_reported_as_missing_not_as_a_rollback() {
    let env = Env::runbook();
    let fault = env.world.inject(
        Fault::on(Matcher::command("record write", |c| {
            c.program() == "dd"
                && c.argv().iter().any(|a| {
                    a.starts_with("of=") && a.contains("/deployments/.101-pep1.json.ihos-tmp-")
                })
        }))
        .fail(1, "dd: error writing: No space left on device"),
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(env.world.fault_fired(fault), 1);
    assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
    assert_eq!(report.updated, NAMES);
    assert!(report.rolled_back.is_empty() && report.not_restored.is_empty());
    assert_eq!(report.warnings.len(), 1, "{report:#?}");
    assert_eq!(report.warnings[0].instance, "101-pep1");
    assert!(
        report.warnings[0]
            .to_string()
            .contains("deployment record is missing"),
        "{}",
        report.warnings[0]
    );
    env.assert_all_on(&env.war.sha256);
    assert!(env.record("101-pep1").is_none());
    assert_eq!(env.audit().len(), 3, "the other three are recorded");
    assert!(!env.lock_held());
}

/// The last instance's container is gone on its host: the preflight finds it before the
/// first instance leaves rotation, instead of the rollout failing after three updates.
#[tokio::test(start_paused = true)]
async fn a_problem_on_the_last_host_stops_the_run_before_the_first_change() {
    let env = Env::runbook();
    env.world.inject(
        Fault::on(Matcher::command("inspect 103-pep2", |c| {
            c.program() == "docker"
                && c.argv().contains(&"inspect")
                && c.argv()
                    .last()
                    .is_some_and(|a| *a == "ihos_pep2_official_1")
        }))
        .on_host("192.168.1.103")
        .every()
        .fail(1, "Error: No such object: ihos_pep2_official_1"),
    );
    let (err, rec) = refused(&env).await;
    match &err {
        RolloutError::Preflight {
            instance, check, ..
        } => {
            assert_eq!(instance, "103-pep2", "{err}");
            assert_eq!(check, "container", "{err}");
        }
        other => panic!("expected a preflight refusal, got {other}"),
    }
    assert!(
        !rec.any(|e| matches!(e, Event::StepStarted { .. })),
        "no instance was touched:\n{}",
        rec.text()
    );
    env.assert_all_on(&env.old);
    assert!(!env.lock_held());
}

/// The previous release is copied while the instance drains, but put in place only after
/// the drain: a drain that fails leaves the kept release as it was (a second `ihos
/// rollback` must still find the one it goes back to) and no copy beside it.
#[tokio::test(start_paused = true)]
async fn a_failed_drain_leaves_the_previous_release_as_it_was() {
    let env = Env::runbook();
    let b = env.backend(NAMES[0]);
    let dir = format!("{STATE}/releases/{}", NAMES[0]);
    b.host.mkdir(&format!("{STATE}/releases"), "root", 0o700);
    b.host.mkdir(&dir, "root", 0o700);
    b.host
        .write_file(&format!("{dir}/previous.war"), b"an older release");
    let before = env.previous(NAMES[0]);
    // Counting the instance's connections fails every time: the drain fails.
    env.world.inject(
        Fault::on(Matcher::command("nsenter ... ss", |c| {
            c.program() == "nsenter" && c.argv().contains(&"ss")
        }))
        .on_host(b.host.name())
        .fail(1, "nsenter: cannot open /proc/1/ns/net: Permission denied"),
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_ne!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert!(
        rec.any(|e| matches!(e, Event::InstanceFailed { instance, step: Step::Drain, .. } if instance == NAMES[0])),
        "{}",
        rec.text()
    );
    assert_eq!(
        env.previous(NAMES[0]),
        before,
        "the kept release is untouched"
    );
    let left: Vec<String> = b
        .host
        .snapshot()
        .entries
        .into_keys()
        .filter(|p| p.starts_with(&dir) && p.contains("ihos-tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    env.assert_all_on(&env.old);
}

/// Saving the previous release failed while the instance drained: it goes back into
/// rotation as it runs, never stopped (a restart of the old release would have to pass its
/// health check again for nothing).
#[tokio::test(start_paused = true)]
async fn a_failed_save_of_the_previous_release_stops_nothing() {
    let env = Env::runbook();
    let fault = env.world.inject(
        Fault::on(Matcher::command("copy of the previous release", |c| {
            c.program() == "dd"
                && c.argv()
                    .iter()
                    .any(|a| a.starts_with("of=") && a.contains(".previous.war.ihos-tmp-"))
        }))
        .on_host(LB)
        .fail(1, "dd: error writing: Input/output error"),
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(env.world.fault_fired(fault), 1, "{}", rec.text());
    assert!(
        matches!(report.outcome, Outcome::RolledBack),
        "{report:#?}\n{}",
        rec.text()
    );
    assert_eq!(report.rolled_back[0].instance, NAMES[0]);
    assert!(
        !rec.any(|e| matches!(e, Event::StepStarted { instance, step: Step::Stop } if instance == NAMES[0])),
        "{}",
        rec.text()
    );
    assert_eq!(env.starts(NAMES[0]), 0, "never restarted");
    env.assert_all_on(&env.old);
    env.assert_all_consistent();
    env.assert_clean();
}

#[tokio::test(start_paused = true)]
async fn a_war_touched_mark_not_written_leaves_the_war_untouched() {
    // The journal's disk fills as the first instance stops: its "the WAR may be
    // touched" mark, what a resume after a crash goes by to put the previous release back,
    // cannot be written. The WAR is not touched: the instance is started again as it was
    // and back in rotation.
    let env = Env::runbook();
    let old = env.deployed(NAMES[0]).unwrap();
    let full = Arc::new(AtomicBool::new(false));
    let rec = Recorder::new();
    {
        let full = Arc::clone(&full);
        rec.once(
            move |e| rollout_support::is_step_started(e, NAMES[0], Step::KeepPrevious),
            move || full.store(true, Ordering::SeqCst),
        );
    }
    let fault = {
        let full = Arc::clone(&full);
        env.world.inject(
            Fault::on(Matcher::command("journal append", move |c| {
                full.load(Ordering::SeqCst)
                    && c.program() == "dd"
                    && c.argv()
                        .iter()
                        .any(|a| a.starts_with("of=") && a.ends_with("journal.ndjson"))
            }))
            .on_host(LB)
            .every()
            .fail(
                1,
                "dd: error writing 'journal.ndjson': No space left on device",
            ),
        )
    };
    let report = env.roll(&rec).await;
    let ctx = format!("{report:#?}\n{}", rec.text());
    assert_eq!(report.outcome, Outcome::RolledBack, "{ctx}");
    assert!(env.world.fault_fired(fault) >= 1, "{ctx}");
    assert!(rec.any(|e| matches!(e, Event::InstanceFailed { instance, step: Step::KeepPrevious, .. } if instance == NAMES[0])), "{ctx}");
    // Never removed nor replaced: the release it ran, running again, in rotation.
    assert!(!rec.any(|e| matches!(e, Event::StepStarted { instance, step: Step::Remove } if instance == NAMES[0])), "{ctx}");
    assert_eq!(env.deployed(NAMES[0]), Some(old), "{ctx}");
    assert_eq!(env.routing().len(), NAMES.len(), "{ctx}");
    assert!(env.unexpected_violations(|_| false).is_empty(), "{ctx}");
}

#[tokio::test(start_paused = true)]
async fn the_load_balancer_s_checks_do_not_wait_for_the_instances_hosts() {
    // The preflight's longest chain is nginx's (nginx -t in its container, its processes):
    // it begins with the run's first checks, not once every instance's host has answered
    // its first command (here the other app host takes 3 s to answer `date`).
    let env = Env::runbook();
    let slow = env.backend(NAMES[2]).host.name().to_string();
    assert_ne!(slow, env.lb_host.name());
    let fault = env.world.inject(
        Fault::on(Matcher::program("date"))
            .on_host(&slow)
            .nth(1)
            .delay(Duration::from_secs(3)),
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert_eq!(env.world.fault_fired(fault), 1);
    let commands = env.world.commands();
    let at = |found: &dyn Fn(&ihos_testkit::CommandRecord) -> bool| {
        commands.iter().find(|c| found(c)).map(|c| c.at).unwrap()
    };
    let dated = at(&|c| c.host == slow && c.argv()[0] == "date");
    let tested = at(&|c| c.host == env.lb_host.name() && c.line().contains("nginx -t"));
    assert!(
        tested < dated,
        "nginx -t at {tested}, the slow host's date at {dated}"
    );
    env.assert_clean();
}

#[tokio::test(start_paused = true)]
async fn a_run_warms_up_each_of_its_hosts_once() {
    // Their sessions are logged in beside the lock and the preflight (on SSH hosts: see
    // ihos-core's ssh_transport tests), once per host, whether it holds instances, nginx,
    // or both.
    let env = Env::runbook();
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    let mut hosts: Vec<String> = NAMES
        .iter()
        .map(|n| env.backend(n).host.name().to_string())
        .collect();
    hosts.push(env.lb_host.name().to_string());
    hosts.sort();
    hosts.dedup();
    assert!(hosts.len() >= 2, "{hosts:?}");
    for host in &hosts {
        assert_eq!(env.world.warm_ups(host), 1, "{host}");
    }
}
