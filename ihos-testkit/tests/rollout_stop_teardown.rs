//! The WAR replaced while docker tears a stopped container down. `docker stop` returns only
//! after docker's teardown (network, mounts), which follows the container's exit by
//! 0.2-0.5 s on a busy host (measured: `docker events`, `die` then `stop`); the fake's
//! `docker stop` here stops the container some time after it was sent (Tomcat's own stop)
//! and answers that much later ([`Fault::answer_late`]). The deployed WAR must change only
//! once Tomcat is gone (the world's checker records any change of a running app's deployed
//! release), and the container must start only once docker's stop is over.

mod rollout_support;

use std::sync::Arc;
use std::time::Duration;

use ihos_core::{Event, Outcome, Output, RolloutReport, Step};
use ihos_testkit::{CommandRecord, Fault, Matcher, VirtualTime};
use rollout_support::{Env, LB, NAMES, Recorder};

/// Tomcat's own stop after the signal, as the fake's stop runs late.
const TOMCAT_STOP: Duration = Duration::from_millis(100);
/// docker's teardown after the container's exit, as the fake's stop answers late.
const TEARDOWN: Duration = Duration::from_millis(400);

fn docker_stop() -> Matcher {
    Matcher::argv_starts_with(&["docker", "stop"])
}

/// When, on its host, the instance's container was stopped (the stop's effect), its
/// deployed WAR removed and the new one renamed in place, and the container started: the
/// virtual time and the position in the world's log (commands take no virtual time here).
struct Times {
    stopped: (VirtualTime, u64),
    removed: (VirtualTime, u64),
    installed: (VirtualTime, u64),
    started: (VirtualTime, u64),
}

fn times(env: &Env, instance: &str) -> Times {
    let b = env.backend(instance);
    let war = format!("{}/ihos.war", b.webapps);
    let next = format!("{}/.ihos.war.ihos-next", b.webapps);
    let commands = env.world.commands();
    let first = |what: &str, pred: &dyn Fn(&CommandRecord) -> bool| {
        commands
            .iter()
            .find(|c| c.result.as_ref().is_ok_and(|o| o.success()) && pred(c))
            .map(|c| (c.at, c.seq))
            .unwrap_or_else(|| panic!("{instance}: no {what}\n{}", env.world.log_text()))
    };
    Times {
        stopped: first("docker stop", &|c| {
            c.argv().starts_with(&["docker", "stop"])
                && c.argv().last() == Some(&b.container.as_str())
        }),
        removed: first("removal of the deployed WAR", &|c| {
            c.argv() == ["rm", "-f", "--", war.as_str()]
        }),
        installed: first("install", &|c| {
            c.argv() == ["mv", "-f", "-T", "--", next.as_str(), war.as_str()]
        }),
        started: first("docker start", &|c| {
            c.argv() == ["docker", "start", b.container.as_str()]
        }),
    }
}

/// Rolls `env` out with every `docker stop` stopping the container [`TOMCAT_STOP`] after it
/// was sent and answering [`TEARDOWN`] after that: the report, the events and what to show
/// when an assertion fails.
async fn roll_with_teardown(env: &Env) -> (RolloutReport, Arc<Recorder>, String) {
    roll_with_stop(
        env,
        Fault::on(docker_stop())
            .every()
            .answer_late(TOMCAT_STOP, TEARDOWN),
    )
    .await
}

/// Rolls `env` out with `stop` injected (a fault on `docker stop`): as [`roll_with_teardown`].
async fn roll_with_stop(env: &Env, stop: Fault) -> (RolloutReport, Arc<Recorder>, String) {
    env.world.inject(stop);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    let ctx = format!("{}\n{}", rec.text(), env.world.log_text());
    (report, rec, ctx)
}

#[tokio::test(start_paused = true)]
async fn the_war_is_replaced_while_docker_tears_the_stopped_container_down() {
    let env = Env::runbook();
    let (report, rec, ctx) = roll_with_teardown(&env).await;
    assert_eq!(report.outcome, Outcome::Completed, "{ctx}");
    env.assert_all_on(&env.war.sha256);
    for name in NAMES {
        let t = times(&env, name);
        // Once Tomcat was gone, before docker answered; started after it answered.
        assert!(t.stopped.1 < t.removed.1, "{name}: {ctx}");
        assert!(t.removed.1 < t.installed.1, "{name}: {ctx}");
        assert!(t.installed.0 < t.stopped.0.plus(TEARDOWN), "{name}: {ctx}");
        assert!(t.started.0 >= t.stopped.0.plus(TEARDOWN), "{name}: {ctx}");
        let (_, detail) = rec.finished(name, Step::Stop);
        assert!(
            detail.starts_with("Tomcat's process ended after")
                && detail.contains("; docker finished the stop 0.40s later"),
            "{name}: {detail}"
        );
    }
    // Its Remove step began before its Stop step ended.
    let events = rec.events();
    let at = |pred: &dyn Fn(&Event) -> bool| events.iter().position(pred).unwrap();
    let remove_began = at(&|e| rollout_support::is_step_started(e, "101-pep1", Step::Remove));
    let stop_ended = at(&|e| rollout_support::is_step_finished(e, "101-pep1", Step::Stop));
    assert!(remove_began < stop_ended, "{ctx}");
    // No deployed release changed under a running Tomcat, nothing unsupported.
    env.assert_clean();
}

/// A Tomcat slow to stop (the stop's effect comes late): the WAR waits for its end.
#[tokio::test(start_paused = true)]
async fn a_tomcat_slow_to_stop_is_waited_for() {
    let env = Env::runbook();
    let slow = Fault::on(docker_stop())
        .every()
        .delay(Duration::from_millis(1500));
    let (report, _, ctx) = roll_with_stop(&env, slow).await;
    // Above all: no deployed release changed while its Tomcat ran.
    env.assert_clean();
    assert_eq!(report.outcome, Outcome::Completed, "{ctx}");
    env.assert_all_on(&env.war.sha256);
    for name in NAMES {
        let t = times(&env, name);
        assert!(t.stopped.1 < t.removed.1, "{name}: {ctx}");
    }
}

/// Where the host cannot tell when a process ends (other users' processes hidden), the WAR
/// is replaced once docker answers, as before.
#[tokio::test(start_paused = true)]
async fn where_processes_are_hidden_the_war_is_replaced_after_the_stop() {
    let env = Env::runbook();
    for host in env.hosts.values() {
        host.set_proc_hidden(true);
    }
    let (report, rec, ctx) = roll_with_teardown(&env).await;
    assert_eq!(report.outcome, Outcome::Completed, "{ctx}");
    env.assert_all_on(&env.war.sha256);
    for name in NAMES {
        let t = times(&env, name);
        assert!(t.removed.0 >= t.stopped.0.plus(TEARDOWN), "{name}: {ctx}");
        assert_eq!(rec.finished(name, Step::Stop).1, "", "{name}");
    }
    env.assert_clean();
}

/// A main process not there at the watch's first look (it ended already, or a restart
/// policy put another Tomcat in its container's place since the drain) is not taken for
/// ended: the WAR waits for docker's answer.
#[tokio::test(start_paused = true)]
async fn a_process_gone_before_the_first_look_is_not_taken_for_ended() {
    let env = Env::runbook();
    let at_once = Fault::on(docker_stop())
        .every()
        .answer_late(Duration::ZERO, TEARDOWN);
    let (report, rec, ctx) = roll_with_stop(&env, at_once).await;
    env.assert_clean();
    assert_eq!(report.outcome, Outcome::Completed, "{ctx}");
    for name in NAMES {
        let t = times(&env, name);
        assert!(t.removed.0 >= t.stopped.0.plus(TEARDOWN), "{name}: {ctx}");
        assert_eq!(rec.finished(name, Step::Stop).1, "", "{name}");
    }
}

/// A watch that fails or never answers gives way to the stop.
#[tokio::test(start_paused = true)]
async fn a_watch_that_fails_or_hangs_gives_way_to_the_stop() {
    for hang in [false, true] {
        let env = Env::runbook();
        let watch = Fault::on(Matcher::process_exit_watch()).every();
        let watch = if hang {
            watch.hang()
        } else {
            watch.fail(127, "sh: 1: sh: not found")
        };
        let fault = env.world.inject(watch);
        let (report, _, ctx) = roll_with_teardown(&env).await;
        let ctx = format!("hang {hang}: {ctx}");
        assert_eq!(report.outcome, Outcome::Completed, "{ctx}");
        env.assert_all_on(&env.war.sha256);
        if !hang {
            assert_eq!(env.world.fault_fired(fault), NAMES.len(), "{ctx}");
        }
        for name in NAMES {
            let t = times(&env, name);
            assert!(t.removed.0 >= t.stopped.0.plus(TEARDOWN), "{name}: {ctx}");
        }
        env.assert_clean();
    }
}

/// A stop docker refuses while Tomcat runs on: the deployed WAR is not touched, the
/// instance goes back on its release.
#[tokio::test(start_paused = true)]
async fn a_stop_refused_while_tomcat_runs_leaves_the_deployed_war_alone() {
    let env = Env::runbook();
    env.world.inject(Fault::on(docker_stop()).on_host(LB).fail(
        1,
        "Error response from daemon: cannot stop container: permission denied",
    ));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    let ctx = format!("{}\n{}", rec.text(), env.world.log_text());
    assert_eq!(report.outcome, Outcome::RolledBack, "{ctx}");
    assert!(
        rec.any(|e| matches!(e, Event::InstanceFailed { instance, step: Step::Stop, .. } if instance == "101-pep1")),
        "{ctx}"
    );
    assert!(report.not_restored.is_empty(), "{ctx}");
    env.assert_all_on(&env.old);
    env.assert_clean();
}

/// A stop whose teardown fails after Tomcat's end (the WAR was replaced meanwhile): the
/// failure is the stop's, and the rollback puts the previous release back in rotation.
#[tokio::test(start_paused = true)]
async fn a_stop_that_fails_after_the_war_was_replaced_is_rolled_back() {
    let env = Env::runbook();
    env.world
        .inject(Fault::on(docker_stop()).on_host(LB).answer_late_with(
            TOMCAT_STOP,
            TEARDOWN,
            Output {
                status: Some(1),
                stdout: Vec::new(),
                stderr: b"Error response from daemon: failed to remove network endpoint\n".to_vec(),
            },
        ));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    let ctx = format!("{}\n{}", rec.text(), env.world.log_text());
    assert_eq!(report.outcome, Outcome::RolledBack, "{ctx}");
    assert!(
        rec.any(|e| matches!(e, Event::InstanceFailed { instance, step: Step::Stop, error } if instance == "101-pep1" && error.contains("failed to remove network endpoint"))),
        "{ctx}"
    );
    // The new WAR had gone in before the stop's failure came.
    let t = times(&env, "101-pep1");
    assert!(t.installed.0 < t.stopped.0.plus(TEARDOWN), "{ctx}");
    assert!(report.not_restored.is_empty(), "{ctx}");
    env.assert_all_on(&env.old);
    env.assert_all_consistent();
    env.assert_clean();
}
