//! `ihos rollback` (`run_rollback`) after a completed rollout: every instance goes back to
//! the release kept as previous, through the same safe steps, recorded as "rollback"; the
//! release it replaces becomes the previous one, so a second rollback swaps back.

mod rollout_support;

use ihos_core::{CancelToken, Event, Outcome, RolloutError, RolloutOptions, Step, run_rollback};
use rollout_support::{Env, NAMES, Recorder};

#[tokio::test(start_paused = true)]
async fn rollback_after_a_rollout_swaps_releases_each_time() {
    let env = Env::runbook();
    let (old, new) = (env.old.clone(), env.war.sha256.clone());
    let first = env.roll(&Recorder::new()).await;
    assert_eq!(first.outcome, Outcome::Completed);
    env.assert_all_on(&new);

    // Back to the previous release.
    let rec = Recorder::new();
    let report = env.rollback(&rec).await.unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Completed,
        "{report:#?}\n{}",
        rec.text()
    );
    assert_eq!(report.outcome.exit_code(), 0);
    assert_eq!(report.updated, NAMES);
    env.assert_all_on(&old);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    assert_eq!(env.max_out_of_rotation(), 1);
    for name in NAMES {
        assert_eq!(
            rec.steps_started(name),
            Step::ALL.to_vec(),
            "{name}: same steps"
        );
        let r = env.record(name).unwrap();
        assert_eq!(r.action, "rollback", "{name}");
        assert_eq!(r.sha256, old, "{name}");
        assert_eq!(r.rollout_id, report.rollout_id);
        // What it replaced is now the previous release.
        assert_eq!(env.previous(name).as_deref(), Some(new.as_str()), "{name}");
        assert_eq!(env.starts(name), 2);
    }
    let audit = env.audit();
    assert_eq!(audit.len(), 8);
    assert!(
        audit[..4]
            .iter()
            .all(|r| r.action == "deploy" && r.sha256 == new)
    );
    assert!(
        audit[4..]
            .iter()
            .all(|r| r.action == "rollback" && r.sha256 == old)
    );
    assert!(!env.lock_held());
    assert!(env.journal().unwrap().finished);

    // A second rollback returns to the new release.
    let rec = Recorder::new();
    let again = env.rollback(&rec).await.unwrap();
    assert_eq!(
        again.outcome,
        Outcome::Completed,
        "{again:#?}\n{}",
        rec.text()
    );
    env.assert_all_on(&new);
    env.assert_clean();
    for name in NAMES {
        let r = env.record(name).unwrap();
        assert_eq!(
            (r.action.as_str(), r.sha256.as_str()),
            ("rollback", new.as_str())
        );
        assert_eq!(env.previous(name).as_deref(), Some(old.as_str()), "{name}");
    }
    assert_eq!(env.audit().len(), 12);
    assert!(!env.lock_held());
}

#[tokio::test(start_paused = true)]
async fn rollback_of_one_instance() {
    let env = Env::runbook();
    env.roll(&Recorder::new()).await;
    let report = run_rollback(
        &env.fleet(),
        &RolloutOptions {
            only: vec!["103-pep1".into()],
            ..Default::default()
        },
        &*Recorder::new(),
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.updated, ["103-pep1"]);
    let all = env.assert_all_consistent();
    for name in NAMES {
        let want = if name == "103-pep1" {
            env.old.as_str()
        } else {
            env.war.sha256.as_str()
        };
        assert_eq!(&all[name], want, "{name}");
    }
    env.assert_clean();
}

#[tokio::test(start_paused = true)]
async fn rollback_without_a_previous_release_changes_nothing() {
    let env = Env::runbook();
    let config = env.nginx_config();
    let rec = Recorder::new();
    let err = env.rollback(&rec).await.expect_err("nothing to go back to");
    match &err {
        RolloutError::NoPreviousRelease { instances } => assert_eq!(instances, &NAMES),
        e => panic!("{e:?}"),
    }
    assert!(!rec.any(|e| matches!(e, Event::StepStarted { .. })));
    assert_eq!(env.nginx_config(), config);
    env.assert_all_on(&env.old);
    for name in NAMES {
        assert_eq!(env.starts(name), 0);
    }
    assert!(!env.lock_held());
    env.assert_clean();

    // And a rollback is never "resumed".
    let err = run_rollback(
        &env.fleet(),
        &RolloutOptions {
            resume: true,
            ..Default::default()
        },
        &*Recorder::new(),
        &CancelToken::new(),
    )
    .await
    .expect_err("not resumable");
    assert!(matches!(err, RolloutError::Resume(_)), "{err:?}");
}
