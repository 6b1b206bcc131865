//! `[[hooks]]` in a rollout over fake hosts (their commands answered by injected faults: a
//! hook on a host is a command like any other): each gate stops the run at its safe point
//! (pre-rollout before any change, pre-instance before that instance leaves rotation,
//! post-instance rolls that instance back like a failed health check), other hooks only
//! warn, every hook gets its `IHOS_*` variables, and a resume does not run a finished hook
//! again.

mod rollout_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ihos_core::{
    CancelToken, Dur, Event, HookConfig, HookOn, HookRun, Outcome, Output, RolloutError,
    RolloutOptions, Step, run_rollout,
};
use ihos_testkit::{Fault, Matcher};
use rollout_support::{Env, NAMES, Recorder};
use tokio::sync::Notify;

/// A hook on h101 running `hook-NAME`, a gate where it can be.
fn hook(on: HookOn, name: &str) -> HookConfig {
    HookConfig {
        on,
        run: HookRun::Argv(vec![format!("hook-{name}"), "--check".into()]),
        at: "h101".into(),
        name: Some(name.into()),
        gate: None,
        timeout: Dur::secs(60),
        sudo: false,
        env: vec![],
    }
}

/// `env` with `hooks`, every hook command answering `ok` unless a fault injected before
/// says otherwise.
fn with_hooks(hooks: Vec<HookConfig>, failing: &[(&str, usize)]) -> Env {
    let mut env = Env::runbook();
    env.topology.hooks = hooks;
    for (name, nth) in failing {
        env.world.inject(
            Fault::on(Matcher::line_contains(&format!("hook-{name}")))
                .nth(*nth)
                .fail(
                    3,
                    format!("{name}: smoke test failed: GET /ihos/ answered 500"),
                ),
        );
    }
    env.world.inject(
        Fault::on(Matcher::argv_starts_with(&["env"]))
            .every()
            .respond(Output {
                status: Some(0),
                stdout: b"ok\n".to_vec(),
                stderr: Vec::new(),
            }),
    );
    env
}

/// The argv of every hook command run, in order.
fn hook_commands(env: &Env) -> Vec<String> {
    env.world
        .commands()
        .iter()
        .filter(|c| c.command.program() == "env")
        .map(|c| c.command.argv().join(" "))
        .collect()
}

fn count(env: &Env, name: &str, instance: &str) -> usize {
    hook_commands(env)
        .iter()
        .filter(|c| {
            c.contains(&format!("hook-{name}")) && c.contains(&format!("IHOS_INSTANCE={instance} "))
        })
        .count()
}

#[tokio::test(start_paused = true)]
async fn hooks_run_at_their_points_with_their_variables() {
    let env = with_hooks(
        vec![
            hook(HookOn::PreRollout, "pre-rollout"),
            hook(HookOn::PreInstance, "pre-instance"),
            hook(HookOn::PostInstance, "smoke"),
            hook(HookOn::PostRollout, "post-rollout"),
            hook(HookOn::Failure, "failure"),
        ],
        &[],
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_all_on(&env.war.sha256);
    assert_eq!(env.world.requests_failed(), 0);
    for name in NAMES {
        assert_eq!(
            rec.steps_started(name),
            [
                vec![Step::PreInstanceHooks],
                Step::ALL[..9].to_vec(),
                vec![Step::PostInstanceHooks],
                Step::ALL[9..].to_vec()
            ]
            .concat(),
            "{name}"
        );
    }
    let cmds = hook_commands(&env);
    // pre-rollout, 4 × (pre-instance, smoke), post-rollout; no failure hook.
    assert_eq!(cmds.len(), 10, "{cmds:#?}");
    assert!(cmds[0].contains("hook-pre-rollout") && cmds[9].contains("hook-post-rollout"));
    assert!(!cmds.iter().any(|c| c.contains("hook-failure")));
    let smoke = cmds.iter().find(|c| c.contains("hook-smoke")).unwrap();
    for var in [
        format!("IHOS_ROLLOUT_ID={}", report.rollout_id),
        "IHOS_EVENT=post-instance".to_string(),
        "IHOS_INSTANCE=101-pep1".to_string(),
        "IHOS_HOST=h101".to_string(),
        "IHOS_BACKEND=192.168.1.101:39091".to_string(),
        format!("IHOS_SHA256={}", env.war.sha256),
    ] {
        assert!(smoke.contains(&var), "{var} missing in {smoke}");
    }
    assert!(cmds[9].contains("IHOS_OUTCOME=completed"), "{}", cmds[9]);
    let finished = rec
        .events()
        .iter()
        .filter(|e| matches!(e, Event::HookFinished { passed: true, .. }))
        .count();
    assert_eq!(finished, 10);
}

#[tokio::test(start_paused = true)]
async fn a_failing_pre_rollout_gate_changes_nothing() {
    // The first pre-rollout hook silences an alert; the second, a gate, fails: nothing is
    // changed, and the failure and post-rollout hooks run (told `error`) to undo the first.
    let env = with_hooks(
        vec![
            hook(HookOn::PreRollout, "silence"),
            hook(HookOn::PreRollout, "pre-rollout"),
            hook(HookOn::Failure, "failure"),
            hook(HookOn::PostRollout, "unsilence"),
        ],
        &[("pre-rollout", 1)],
    );
    let config_before = env.nginx_config();
    let rec = Recorder::new();
    let err = env
        .rollout(&RolloutOptions::default(), &*rec, &CancelToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RolloutError::Hook { hook, why } if hook == "pre-rollout" && why == "exit status 3"),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert!(
        !rec.any(|e| matches!(e, Event::StepStarted { .. })),
        "{}",
        rec.text()
    );
    assert!(rec.any(|e| matches!(e, Event::HookFinished { passed: false, output, .. } if output.contains("answered 500"))));
    assert_eq!(env.nginx_config(), config_before);
    for name in NAMES {
        assert_eq!(env.deployed(name).as_deref(), Some(env.old.as_str()));
    }
    assert!(!env.lock_held());
    // Nothing uploaded, no journal begun.
    assert!(!rec.any(|e| matches!(e, Event::Uploaded { .. } | Event::RolloutStarted { .. })));
    assert!(env.journal().is_none());
    let cmds = hook_commands(&env);
    assert_eq!(cmds.len(), 4, "{cmds:#?}");
    assert!(cmds[2].contains("hook-failure") && cmds[2].contains("IHOS_OUTCOME=error"));
    assert!(cmds[3].contains("hook-unsilence") && cmds[3].contains("IHOS_OUTCOME=error"));
}

#[tokio::test(start_paused = true)]
async fn a_failing_pre_instance_gate_stops_before_that_instance_leaves_rotation() {
    let env = with_hooks(vec![hook(HookOn::PreInstance, "pre")], &[("pre", 2)]);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{}", rec.text());
    assert_eq!(report.updated, vec![NAMES[0]]);
    assert_eq!(rec.steps_started(NAMES[1]), vec![Step::PreInstanceHooks]);
    assert!(rec.any(|e| matches!(e, Event::InstanceFailed { instance, step: Step::PreInstanceHooks, .. } if instance == NAMES[1])));
    // It never left rotation; nothing was rolled back because nothing changed.
    assert!(!rec.any(|e| matches!(e, Event::RollbackStarted { .. })));
    assert_eq!(env.deployed(NAMES[1]).as_deref(), Some(env.old.as_str()));
    assert_eq!(env.routing().len(), 4, "{:?}", env.routing());
    assert_eq!(env.max_out_of_rotation(), 1);
    assert_eq!(env.world.requests_failed(), 0);
    assert!(rec.steps_started(NAMES[2]).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failing_smoke_test_rolls_that_instance_back_before_users_reach_it() {
    let env = with_hooks(
        vec![
            hook(HookOn::PostInstance, "smoke"),
            hook(HookOn::Failure, "failure"),
            hook(HookOn::PostRollout, "post"),
        ],
        &[("smoke", 1)],
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{}", rec.text());
    let first = NAMES[0];
    assert!(rec.any(|e| matches!(e, Event::InstanceFailed { instance, step: Step::PostInstanceHooks, error } if instance == first && error.contains("exit status 3"))));
    assert!(rec.any(|e| matches!(e, Event::RolledBack { instance } if instance == first)));
    // The new release never went back into rotation: only the rollback's Enable ran.
    assert!(!rec.any(
        |e| matches!(e, Event::StepStarted { instance, step: Step::Enable } if instance == first)
    ));
    assert_eq!(env.deployed(first).as_deref(), Some(env.old.as_str()));
    assert_eq!(env.serving(first).as_deref(), Some(env.old.as_str()));
    assert_eq!(env.routing().len(), 4);
    assert_eq!(env.world.requests_failed(), 0);
    let inv = env.invariants();
    assert!(inv.is_clean(), "{inv}");
    let cmds = hook_commands(&env);
    assert!(
        cmds.iter()
            .any(|c| c.contains("hook-failure") && c.contains("IHOS_OUTCOME=rolled_back")),
        "{cmds:#?}"
    );
    assert!(cmds.last().unwrap().contains("hook-post"), "{cmds:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_hook_that_is_not_a_gate_only_warns() {
    let mut h = hook(HookOn::PostInstance, "notify-cmdb");
    h.gate = Some(false);
    let env = with_hooks(vec![h], &[("notify-cmdb", 1)]);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_all_on(&env.war.sha256);
    assert!(rec.any(|e| matches!(e, Event::Warning { message, .. } if message.contains("notify-cmdb") && message.contains("not a gate"))));
}

#[tokio::test(start_paused = true)]
async fn a_resume_does_not_run_a_finished_hook_again() {
    let env = with_hooks(
        vec![
            hook(HookOn::PreRollout, "pre-rollout"),
            hook(HookOn::PreInstance, "pre"),
            hook(HookOn::PostInstance, "smoke"),
        ],
        &[],
    );
    // Crash right after the second instance's smoke test finished, before its Enable.
    let (fleet, crashed) = env.crashable_fleet();
    let rec = Recorder::new();
    let killed = Arc::new(Notify::new());
    {
        let killed = Arc::clone(&killed);
        rec.once(
            |e| matches!(e, Event::HookFinished { instance: Some(i), on, .. } if i == NAMES[1] && on == "post-instance"),
            move || {
                crashed.store(true, Ordering::SeqCst);
                killed.notify_one();
            },
        );
    }
    let cancel = CancelToken::new();
    let first_run = RolloutOptions::default();
    tokio::select! {
        r = run_rollout(&fleet, &env.war, &first_run, &*rec, &cancel) => {
            panic!("ended before the crash: {r:#?}\n{}", rec.text())
        }
        () = killed.notified() => {}
    }
    drop(fleet);
    let journal = env.journal().unwrap();
    let second = journal.entry(NAMES[1]).unwrap();
    assert!(
        second
            .hooks_done
            .iter()
            .any(|h| h.starts_with("post-instance#2:")),
        "{second:?}"
    );

    let rec = Recorder::new();
    let options = RolloutOptions {
        resume: true,
        ..Default::default()
    };
    let report = env
        .rollout(&options, &*rec, &CancelToken::new())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", rec.text()));
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_all_on(&env.war.sha256);
    // Each pre-instance hook ran once per instance over both runs, pre-rollout once; the
    // smoke test of the instance redone after the crash ran again (its container was
    // started again), the others once.
    for name in NAMES {
        assert_eq!(
            count(&env, "pre", name),
            1,
            "pre-instance for {name}: {:#?}",
            hook_commands(&env)
        );
        let smoke = if name == NAMES[1] { 2 } else { 1 };
        assert_eq!(
            count(&env, "smoke", name),
            smoke,
            "smoke for {name}: {:#?}",
            hook_commands(&env)
        );
    }
    assert_eq!(
        hook_commands(&env)
            .iter()
            .filter(|c| c.contains("hook-pre-rollout"))
            .count(),
        1
    );
    assert!(rec.any(|e| matches!(e, Event::StepFinished { instance, step: Step::PreInstanceHooks, detail: Some(d), .. } if instance == NAMES[1] && d.contains("not run again"))), "{}", rec.text());
}

#[tokio::test(start_paused = true)]
async fn a_stop_request_during_a_smoke_test_rolls_that_instance_back() {
    let mut env = Env::runbook();
    env.topology.hooks = vec![hook(HookOn::PostInstance, "smoke")];
    // The smoke test never ends (within its 60 s) on the first instance.
    env.world.inject(
        Fault::on(Matcher::line_contains("hook-smoke"))
            .every()
            .hang(),
    );
    let rec = Recorder::new();
    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        rec.once(
            |e| matches!(e, Event::StepStarted { instance, step: Step::PostInstanceHooks } if instance == NAMES[0]),
            // Once the hook is under way (5 s into its 60).
            move || {
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    cancel.escalate();
                    cancel.escalate();
                });
            },
        );
    }
    let report = env
        .rollout(&RolloutOptions::default(), &*rec, &cancel)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{}", rec.text());
    assert!(rec.any(|e| matches!(e, Event::HookFinished { passed: false, error: Some(why), .. } if why.contains("stopped on request"))), "{}", rec.text());
    // Its unchecked new release never served: back on the old one, in rotation.
    assert_eq!(env.serving(NAMES[0]).as_deref(), Some(env.old.as_str()));
    assert_eq!(env.routing().len(), 4);
    assert_eq!(env.world.requests_failed(), 0);
    assert!(rec.steps_started(NAMES[1]).is_empty());
    assert!(!env.lock_held());
}

#[tokio::test(start_paused = true)]
async fn a_run_that_errs_after_its_pre_rollout_hooks_runs_its_failure_and_post_rollout_hooks() {
    // The pre-rollout hook silences an alert; the upload then fails (a full disk on h103)
    // before any instance changed: the failure and post-rollout hooks still run, told
    // `error`, so that what was silenced is turned back on.
    let env = with_hooks(
        vec![
            hook(HookOn::PreRollout, "silence"),
            hook(HookOn::Failure, "failure"),
            hook(HookOn::PostRollout, "unsilence"),
        ],
        &[],
    );
    env.world.inject(
        Fault::on(ihos_testkit::Matcher::upload())
            .on_host("192.168.1.103")
            .disk_full_after(100),
    );
    let rec = Recorder::new();
    let err = env
        .rollout(&RolloutOptions::default(), &*rec, &CancelToken::new())
        .await
        .expect_err("the upload fails");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(!rec.any(|e| matches!(e, Event::StepStarted { .. })));
    let cmds = hook_commands(&env);
    assert_eq!(cmds.len(), 3, "{cmds:#?}");
    assert!(cmds[0].contains("hook-silence") && !cmds[0].contains("IHOS_OUTCOME"));
    assert!(
        cmds[1].contains("hook-failure") && cmds[1].contains("IHOS_OUTCOME=error"),
        "{cmds:#?}"
    );
    assert!(
        cmds[2].contains("hook-unsilence") && cmds[2].contains("IHOS_OUTCOME=error"),
        "{cmds:#?}"
    );
    assert!(!env.lock_held());
    env.assert_all_on(&env.old);
}

fn ok() -> Output {
    Output {
        status: Some(0),
        stdout: b"ok\n".to_vec(),
        stderr: Vec::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_stop_request_during_a_slow_pre_instance_hook_keeps_that_instance_in_rotation() {
    let mut env = Env::runbook();
    env.topology.hooks = vec![hook(HookOn::PreInstance, "announce")];
    // Every pre-instance hook passes, after 20 s.
    env.world.inject(
        Fault::on(Matcher::line_contains("hook-announce"))
            .every()
            .respond_after(std::time::Duration::from_secs(20), ok()),
    );
    let rec = Recorder::new();
    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        // "Stop after the current instance", 5 s into the second instance's hook: it
        // passes 15 s later, and the instance must not leave rotation then.
        rec.once(
            |e| matches!(e, Event::StepStarted { instance, step: Step::PreInstanceHooks } if instance == NAMES[1]),
            move || {
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    cancel.escalate();
                });
            },
        );
    }
    let report = env
        .rollout(&RolloutOptions::default(), &*rec, &cancel)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted, "{}", rec.text());
    assert_eq!(report.updated, [NAMES[0]]);
    assert!(rec.any(|e| matches!(e, Event::HookFinished { passed: true, .. })));
    assert!(
        !rec.steps_started(NAMES[1]).contains(&Step::Disable),
        "{}",
        rec.text()
    );
    assert_eq!(env.serving(NAMES[1]).as_deref(), Some(env.old.as_str()));
    assert!(rec.steps_started(NAMES[2]).is_empty());
    assert_eq!(env.routing().len(), 4);
    assert_eq!(env.world.requests_failed(), 0);
    assert!(!env.lock_held());
    assert!(!env.journal().unwrap().finished, "resumable");
}

#[tokio::test(start_paused = true)]
async fn with_pre_instance_hooks_a_wave_of_two_still_leaves_one_at_a_time_safely() {
    let mut env = with_hooks(
        vec![
            hook(HookOn::PreInstance, "pre"),
            hook(HookOn::PostInstance, "smoke"),
        ],
        &[],
    );
    env.topology.policy.max_unavailable = 2;
    env.world.set_max_out_of_rotation(2);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
    assert!(env.max_out_of_rotation() <= 2);
    assert_eq!(env.world.requests_failed(), 0);
    for name in NAMES {
        assert_eq!(count(&env, "pre", name), 1, "{name}");
        assert_eq!(count(&env, "smoke", name), 1, "{name}");
        // Each left rotation by its own change, after its own hooks.
        let steps = rec.steps_started(name);
        assert_eq!(steps[0], Step::PreInstanceHooks, "{name}");
        assert!(!rec.any(|e| matches!(e, Event::StepFinished { instance, step: Step::Disable, detail: Some(d), .. } if instance == name && d.contains("came back"))), "{name}");
    }
}
