//! Ctrl-C during a rollout, through the cancel token: the first press (AfterCurrent)
//! finishes the instance being updated and starts no other; the second (Now) makes the
//! current instance consistent at once. Either way the rollout ends Interrupted (130) with
//! every instance in rotation on a whole release, and `--resume` finishes it.

mod rollout_support;

use std::time::Duration;

use ihos_core::{CancelToken, Event, InstanceStatus, Outcome, RolloutOptions, Step, StopLevel};
use rollout_support::{Env, NAMES, Recorder, is_step_started};

/// How many instances are being updated when `101-pep1` starts `step`: while its record
/// is written (back in rotation on the new WAR), the next one, which its return took out
/// of rotation, is already under way.
fn under_way(step: Step) -> usize {
    if step == Step::Record { 2 } else { 1 }
}

/// Presses Ctrl-C `presses` times when `101-pep1` starts `step`; returns the env and the
/// report after checking what every interrupted rollout must leave.
async fn interrupt_at(step: Step, presses: usize) -> (Env, ihos_core::RolloutReport) {
    let env = Env::runbook();
    let rec = Recorder::new();
    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        rec.once(
            move |e| is_step_started(e, "101-pep1", step),
            move || {
                for _ in 0..presses {
                    cancel.escalate();
                }
            },
        );
    }
    let report = env
        .rollout(&RolloutOptions::default(), &*rec, &cancel)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ctx = format!("Ctrl-C x{presses} at {step:?}: {report:#?}\n{}", rec.text());
    assert_eq!(report.outcome, Outcome::Interrupted, "{ctx}");
    assert_eq!(report.outcome.exit_code(), 130);
    assert!(
        report.rolled_back.is_empty() && report.not_restored.is_empty(),
        "{ctx}"
    );
    // The others were never started.
    for name in &NAMES[under_way(step)..] {
        assert!(rec.steps_started(name).is_empty(), "{ctx}");
        assert_eq!(env.starts(name), 0, "{ctx}");
    }
    // Everything in rotation on a whole release; nothing unsafe happened.
    env.assert_all_consistent();
    let inv = env.invariants();
    assert!(inv.is_clean(), "{ctx}\n{inv}");
    assert!(env.unsupported().is_empty());
    // The lock is released; the journal is not finished, so --resume can go on.
    assert!(!env.lock_held(), "{ctx}");
    let journal = env.journal().unwrap();
    assert!(!journal.finished, "{ctx}");
    (env, report)
}

/// `--resume` with the same WAR finishes an interrupted rollout.
async fn resume_finishes(env: &Env) {
    let rec = Recorder::new();
    let report = env
        .rollout(
            &RolloutOptions {
                resume: true,
                ..Default::default()
            },
            &*rec,
            &CancelToken::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.outcome,
        Outcome::Completed,
        "{report:#?}\n{}",
        rec.text()
    );
    assert!(rec.any(|e| matches!(e, Event::RolloutStarted { resumed: true, .. })));
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
    assert!(!env.lock_held());
    assert!(env.journal().unwrap().finished);
}

#[tokio::test(start_paused = true)]
async fn a_first_ctrl_c_at_any_step_finishes_the_current_instance_only() {
    for step in Step::ALL {
        let (env, report) = interrupt_at(step, 1).await;
        let n = under_way(step);
        assert_eq!(report.updated, NAMES[..n], "{step:?}");
        assert_eq!(report.not_updated, NAMES[n..], "{step:?}");
        for name in &NAMES[..n] {
            assert_eq!(env.serving(name).as_deref(), Some(env.war.sha256.as_str()));
        }
        for name in &NAMES[n..] {
            assert_eq!(env.serving(name).as_deref(), Some(env.old.as_str()));
        }
        let journal = env.journal().unwrap();
        assert!(
            journal.instances[..n]
                .iter()
                .all(|e| e.status == InstanceStatus::Updated)
        );
        assert!(
            journal.instances[n..]
                .iter()
                .all(|e| e.status == InstanceStatus::Pending)
        );
        assert_eq!(
            env.audit().len(),
            n,
            "{step:?}: the finished instances are recorded"
        );
        resume_finishes(&env).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_ctrl_c_at_any_step_makes_the_current_instance_consistent() {
    for step in Step::ALL {
        let (env, report) = interrupt_at(step, 2).await;
        // Before the container is stopped, the quickest consistent state is the old
        // version back in rotation; after, it is the new one.
        if step <= Step::Drain {
            assert!(report.updated.is_empty(), "{step:?}: {report:#?}");
            assert_eq!(report.not_updated, NAMES, "{step:?}");
            assert_eq!(env.serving("101-pep1").as_deref(), Some(env.old.as_str()));
            assert_eq!(env.starts("101-pep1"), 0, "{step:?}: never stopped");
            assert_eq!(
                env.journal().unwrap().instances[0].status,
                InstanceStatus::Pending
            );
        } else {
            assert_eq!(report.updated, ["101-pep1"], "{step:?}: {report:#?}");
            assert_eq!(
                env.serving("101-pep1").as_deref(),
                Some(env.war.sha256.as_str())
            );
        }
        resume_finishes(&env).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_ctrl_c_while_draining_returns_the_old_version_to_rotation_at_once() {
    let env = Env::runbook();
    // Long drain: a background connection holds the instance for 10 minutes.
    let b = env.backend("101-pep1").clone();
    env.world
        .hold_connections(b.host.name(), &b.container, 1, Duration::from_secs(600));
    let rec = Recorder::new();
    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        // First press as the drain begins, second 30 s into it.
        rec.once(
            |e| is_step_started(e, "101-pep1", Step::Drain),
            move || {
                assert_eq!(cancel.escalate(), StopLevel::AfterCurrent);
            },
        );
    }
    let second = {
        let cancel = cancel.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            assert_eq!(cancel.escalate(), StopLevel::Now);
        }
    };
    let options = RolloutOptions::default();
    let (report, ()) = tokio::join!(env.rollout(&options, &*rec, &cancel), second);
    let report = report.unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Interrupted,
        "{report:#?}\n{}",
        rec.text()
    );
    assert!(report.updated.is_empty());
    // Back in rotation on its old version, at once (not after the 10-minute drain), and
    // its container was never stopped: the background job was not cut.
    env.assert_all_on(&env.old);
    assert_eq!(env.starts("101-pep1"), 0);
    assert_eq!(env.world.requests_failed(), 0);
    let t = env.world.now().since_start();
    assert!(t < Duration::from_secs(60), "{t:?}");
    assert_eq!(rec.steps_started("101-pep1"), [Step::Disable, Step::Drain]);
    env.assert_clean();
    assert!(!env.lock_held());
}

#[tokio::test(start_paused = true)]
async fn a_second_ctrl_c_while_a_bad_build_starts_still_ends_rolled_back_and_consistent() {
    // The new build never becomes healthy on 101-pep1; both presses come while waiting
    // for it. Health waiting does not watch the token: the engine waits out the start
    // timeout, then rolls back as for any failure. The end is consistent either way.
    let env = Env::runbook_with(|s, name, sha| {
        if name == "101-pep1" {
            s.never_healthy().faults_only_serving(sha)
        } else {
            s
        }
    });
    let rec = Recorder::new();
    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        rec.once(
            |e| is_step_started(e, "101-pep1", Step::WaitHealthy),
            move || {
                cancel.escalate();
                cancel.escalate();
            },
        );
    }
    let report = env
        .rollout(&RolloutOptions::default(), &*rec, &cancel)
        .await
        .unwrap();
    assert_eq!(
        report.outcome,
        Outcome::RolledBack,
        "{report:#?}\n{}",
        rec.text()
    );
    assert_eq!(report.outcome.exit_code(), 1);
    assert_eq!(report.not_updated, NAMES[1..]);
    env.assert_all_on(&env.old);
    env.assert_clean();
    assert!(!env.lock_held());
    // The failed deploy is known once Tomcat has started, well before the 5-minute start
    // timeout; the stop request does not cut that wait short (it cannot leave the instance
    // half-updated).
    assert!(env.world.now().since_start() < Duration::from_secs(120));
}
