//! A crash in the middle of a rollout (the future running it dropped at a chosen point,
//! its connections dead with it), then `--resume`: the new run takes over its stale lock,
//! continues from the journal, and finishes with all four instances on the new WAR, the
//! invariants clean and the journal finished. And the ways `--resume` refuses.

mod rollout_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ihos_core::{
    CancelToken, Event, InstanceStatus, Outcome, RolloutError, RolloutOptions, RolloutReport, Step,
    lock_release, run_rollout,
};
use ihos_testkit::FsSnapshot;
use rollout_support::{Env, NAMES, Recorder, STATE, is_step_finished, is_step_started};
use tokio::sync::Notify;

fn resume() -> RolloutOptions {
    RolloutOptions {
        resume: true,
        ..Default::default()
    }
}

/// Runs the rollout until the first event matching `at`, then "kills" it: its transports
/// hang from then on and its future is dropped at its next remote operation. Returns the
/// events seen.
async fn crash_at(env: &Env, at: impl Fn(&Event) -> bool + Send + Sync + 'static) -> Arc<Recorder> {
    let (fleet, crashed) = env.crashable_fleet();
    let rec = Recorder::new();
    let killed = Arc::new(Notify::new());
    {
        let killed = Arc::clone(&killed);
        rec.once(at, move || {
            crashed.store(true, Ordering::SeqCst);
            killed.notify_one();
        });
    }
    let cancel = CancelToken::new();
    let options = RolloutOptions::default();
    tokio::select! {
        r = run_rollout(&fleet, &env.war, &options, &*rec, &cancel) => {
            panic!("the rollout ended before the crash: {r:#?}\n{}", rec.text())
        }
        () = killed.notified() => {}
    }
    rec
}

/// Resumes and checks the end: completed, everything on the new WAR, clean, lock
/// released, journal finished, each instance's last record the new WAR.
async fn resume_and_finish(env: &Env, what: &str) -> RolloutReport {
    let rec = Recorder::new();
    let report = env
        .rollout(&resume(), &*rec, &CancelToken::new())
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}\n{}", env.world.log_text()));
    let ctx = format!("{what}: {report:#?}\n{}", rec.text());
    assert_eq!(report.outcome, Outcome::Completed, "{ctx}");
    assert!(
        rec.any(|e| matches!(e, Event::RolloutStarted { resumed: true, .. })),
        "{ctx}"
    );
    env.assert_all_on(&env.war.sha256);
    let inv = env.invariants();
    assert!(inv.is_clean(), "{ctx}\n{inv}\n{}", env.world.log_text());
    assert!(env.unsupported().is_empty(), "{ctx}");
    assert!(!env.lock_held(), "{ctx}");
    let journal = env.journal().unwrap();
    assert!(journal.finished, "{ctx}");
    assert!(
        journal
            .instances
            .iter()
            .all(|e| e.status == InstanceStatus::Updated),
        "{ctx}"
    );
    for name in NAMES {
        let r = env.record(name).expect("recorded");
        assert_eq!(r.sha256, env.war.sha256, "{ctx}");
        // The previous release is the old WAR, never the new one saved over it.
        assert_eq!(
            env.previous(name).as_deref(),
            Some(env.old.as_str()),
            "{ctx}"
        );
        assert!(env.audit().iter().any(|a| a.instance == name));
    }
    report
}

#[tokio::test(start_paused = true)]
async fn the_journal_reads_back_through_the_library() {
    let env = Env::runbook();
    assert_eq!(ihos_core::journal(&env.fleet()).await.unwrap(), None);
    let report = env.roll(&Recorder::new()).await;
    assert_eq!(report.outcome, Outcome::Completed);
    let journal = ihos_core::journal(&env.fleet())
        .await
        .unwrap()
        .expect("a journal after a rollout");
    assert_eq!(Some(&journal), env.journal().as_ref());
    assert!(journal.finished);
    assert_eq!(journal.rollout_id, report.rollout_id);
    assert_eq!(journal.sha256, env.war.sha256);
    let names: Vec<&str> = journal
        .instances
        .iter()
        .map(|e| e.instance.as_str())
        .collect();
    assert_eq!(names, NAMES);
}

#[tokio::test(start_paused = true)]
async fn a_crash_after_any_step_of_the_second_instance_is_resumed() {
    let mut record_only = 0;
    for step in Step::ALL {
        for finished in [false, true] {
            let env = Env::runbook();
            let what = format!(
                "crash after {} {step:?} of 101-pep2",
                if finished { "finishing" } else { "starting" }
            );
            let rec = crash_at(&env, move |e| {
                if finished {
                    is_step_finished(e, "101-pep2", step)
                } else {
                    is_step_started(e, "101-pep2", step)
                }
            })
            .await;
            // The crashed run left its lock and an unfinished journal.
            assert!(env.lock_held(), "{what}");
            let journal = env.journal().unwrap();
            assert!(!journal.finished, "{what}");
            // An embedding tool reads the same journal through the library.
            assert_eq!(
                ihos_core::journal(&env.fleet()).await.unwrap().as_ref(),
                Some(&journal),
                "{what}"
            );
            // 101-pep1 came back into rotation before 101-pep2 started; its record is
            // written while 101-pep2 goes on, so a crash early in 101-pep2 may find it
            // still at its Record step.
            let first = &journal.instances[0];
            let first_recorded = first.status == InstanceStatus::Updated;
            assert!(
                first_recorded
                    || (first.status == InstanceStatus::InProgress
                        && first.step == Some(Step::Record)),
                "{what}: {first:?}"
            );
            // It stopped where we killed it: the journal says so (or, killed as a step
            // began, while the step's mark was on its way, the step before).
            assert_eq!(
                journal.instances[1].status,
                InstanceStatus::InProgress,
                "{what}"
            );
            let marked = journal.instances[1].step;
            let before = Step::ALL
                .iter()
                .position(|s| *s == step)
                .and_then(|i| i.checked_sub(1))
                .map(|i| Step::ALL[i]);
            // KeepPrevious runs beside Stop (begun after it): once it is done, the journal
            // names the step still under way.
            let beside = finished && step == Step::KeepPrevious && marked == Some(Step::Stop);
            assert!(
                marked == Some(step) || beside || (!finished && marked == before.or(Some(step))),
                "{what}: journal says {marked:?}"
            );
            // The next one is under way only once 101-pep2 is back (its Record step).
            if step != Step::Record {
                assert!(rec.steps_started("103-pep1").is_empty(), "{what}");
            }
            assert!(
                !rec.any(|e| matches!(e, Event::RolloutFinished { .. })),
                "{what}"
            );
            let report = resume_and_finish(&env, &what).await;
            assert_eq!(
                report.rollout_id, journal.rollout_id,
                "{what}: same rollout"
            );
            // A resume that finds 101-pep1 at its Record step only writes its record.
            let from = if first_recorded { 1 } else { 0 };
            record_only += 1 - from;
            assert_eq!(report.updated, NAMES[from..], "{what}");
            // 101-pep1 was done before the crash and not touched again.
            assert_eq!(env.starts("101-pep1"), 1, "{what}");
        }
    }
    // Some crashes came while 101-pep1's record was being written: those resumes wrote
    // only its record (it was started once in all, checked above).
    assert!(
        record_only > 0,
        "no crash found 101-pep1 at its Record step"
    );
}

#[tokio::test(start_paused = true)]
async fn a_journal_line_torn_by_a_crash_is_reported_and_the_resume_finishes() {
    let env = Env::runbook();
    crash_at(&env, |e| is_step_started(e, "101-pep2", Step::Stop)).await;
    // The crash hit in the middle of an append: half a line at the end of the file.
    let path = format!("{STATE}/journal.ndjson");
    let mut bytes = env.lb_host.read(&path).expect("journal");
    bytes.extend_from_slice(
        br#"
{"entry":{"instance":"101-pep2","status":"in_pro"#,
    );
    let torn_line = bytes.split(|&b| b == b'\n').count();
    env.lb_host.write_file(&path, &bytes);
    let rec = Recorder::new();
    let report = env
        .rollout(&resume(), &*rec, &CancelToken::new())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", rec.text()));
    assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
    let warned = format!("journal line {torn_line} could not be read");
    assert!(
        rec.any(|e| matches!(e, Event::Warning { message, .. } if message.starts_with(&warned))),
        "{warned}:\n{}",
        rec.text()
    );
    env.assert_all_on(&env.war.sha256);
    // The journal was written anew: nothing torn is left in it.
    assert_eq!(env.journal().unwrap().unreadable_lines, Vec::<usize>::new());
}

#[tokio::test(start_paused = true)]
async fn a_crash_during_upload_or_at_the_very_end_is_resumed() {
    // Before any instance: the WAR reached one host, not the other.
    let env = Env::runbook();
    crash_at(&env, |e| matches!(e, Event::Uploaded { .. })).await;
    let report = resume_and_finish(&env, "crash during the upload").await;
    assert_eq!(report.updated, NAMES);

    // After the last record, before the journal says it is over.
    let env = Env::runbook();
    crash_at(&env, |e| is_step_finished(e, "103-pep2", Step::Record)).await;
    resume_and_finish(&env, "crash after the last record").await;
}

#[tokio::test(start_paused = true)]
async fn a_crash_while_rolling_back_is_resumed_to_a_consistent_end() {
    // The new build never becomes healthy on 101-pep2; the crash comes as it is being
    // rolled back. Resuming retries it, fails again, and rolls it back cleanly.
    let env = Env::runbook_with(|s, name, sha| {
        if name == "101-pep2" {
            s.never_healthy().faults_only_serving(sha)
        } else {
            s
        }
    });
    crash_at(&env, |e| matches!(e, Event::RollbackStarted { .. })).await;
    assert!(env.lock_held());
    let rec = Recorder::new();
    let report = env
        .rollout(&resume(), &*rec, &CancelToken::new())
        .await
        .unwrap();
    assert_eq!(
        report.outcome,
        Outcome::RolledBack,
        "{report:#?}\n{}",
        rec.text()
    );
    assert_eq!(report.rolled_back[0].instance, "101-pep2");
    let all = env.assert_all_consistent();
    assert_eq!(all["101-pep1"], env.war.sha256);
    for name in &NAMES[1..] {
        assert_eq!(all[*name], env.old, "{name}");
    }
    env.assert_clean();
    assert!(!env.lock_held());
    assert_eq!(env.previous("101-pep2").as_deref(), Some(env.old.as_str()));
}

fn snapshots(env: &Env) -> Vec<FsSnapshot> {
    env.hosts.values().map(|h| h.snapshot()).collect()
}

fn assert_unchanged(env: &Env, before: &[FsSnapshot]) {
    for (b, a) in before.iter().zip(snapshots(env)) {
        let d = b.differences(&a);
        assert!(d.is_empty(), "changed: {d:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn resume_refuses_another_war_no_journal_and_a_finished_rollout() {
    // No journal at all.
    let env = Env::runbook();
    let before = snapshots(&env);
    let rec = Recorder::new();
    let err = env
        .rollout(&resume(), &*rec, &CancelToken::new())
        .await
        .expect_err("nothing to resume");
    assert!(
        matches!(&err, RolloutError::Resume(m) if m.contains("no journal")),
        "{err:?}"
    );
    assert_unchanged(&env, &before);

    // A crashed rollout, resumed with another WAR: refused, nothing changed (its lock and
    // journal stay for the right WAR).
    crash_at(&env, |e| is_step_finished(e, "101-pep2", Step::Install)).await;
    let before = snapshots(&env);
    let other = env.other_war("build 3");
    let err = run_rollout(
        &env.fleet(),
        &other,
        &resume(),
        &*Recorder::new(),
        &CancelToken::new(),
    )
    .await
    .expect_err("another WAR");
    match &err {
        RolloutError::Resume(m) => {
            assert!(
                m.contains(env.war.sha256.as_str()) && m.contains(other.sha256.as_str()),
                "{m}"
            );
        }
        e => panic!("{e:?}"),
    }
    assert_unchanged(&env, &before);
    // A new rollout (not --resume) meanwhile is refused by the crashed one's lock.
    let err = env
        .rollout(
            &RolloutOptions::default(),
            &*Recorder::new(),
            &CancelToken::new(),
        )
        .await
        .expect_err("locked");
    assert!(matches!(err, RolloutError::LockHeld { .. }), "{err:?}");
    assert_unchanged(&env, &before);

    // The right WAR finishes it; after that there is nothing left to resume.
    resume_and_finish(&env, "resume").await;
    let before = snapshots(&env);
    let err = env
        .rollout(&resume(), &*Recorder::new(), &CancelToken::new())
        .await
        .expect_err("finished");
    assert!(
        matches!(&err, RolloutError::Resume(m) if m.contains("already finished")),
        "{err:?}"
    );
    assert_unchanged(&env, &before);
}

#[tokio::test(start_paused = true)]
async fn a_crash_right_after_taking_the_lock_leaves_nothing_but_the_lock() {
    let env = Env::runbook();
    crash_at(&env, |e| matches!(e, Event::LockTaken { .. })).await;
    assert!(env.lock_held());
    assert!(env.journal().is_none());
    env.assert_all_on(&env.old);
    // --resume has no journal to go on from; a new rollout meets the stale lock; the
    // operator breaks it (`ihos lock release`) and rolls out again.
    let err = env
        .rollout(&resume(), &*Recorder::new(), &CancelToken::new())
        .await
        .expect_err("no journal");
    assert!(matches!(err, RolloutError::Resume(_)), "{err:?}");
    let err = env
        .rollout(
            &RolloutOptions::default(),
            &*Recorder::new(),
            &CancelToken::new(),
        )
        .await
        .expect_err("stale lock");
    assert!(matches!(err, RolloutError::LockHeld { .. }), "{err:?}");
    lock_release(&env.fleet()).await.unwrap();
    let report = env.roll(&Recorder::new()).await;
    assert_eq!(report.outcome, Outcome::Completed);
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
}
