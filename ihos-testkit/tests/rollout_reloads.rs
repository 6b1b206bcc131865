//! One reload per transition: an instance coming back and the next one going out are one
//! edit and one nginx reload (each reload closes the old workers' idle keep-alive
//! connections, so two per instance was twice the disturbance). The same safety holds:
//! the next one leaves only when the previous one is healthy and back, never more than
//! `max_unavailable` out, and a stop or a refused change falls back to the old way.

mod rollout_support;

use std::time::Duration;

use ihos_core::{CancelToken, Event, Outcome, RolloutOptions, Step, StopLevel};
use ihos_testkit::{Fault, Matcher};
use rollout_support::{Env, NAMES, Recorder, is_step_started};

/// The detail of `instance`'s finished `step`.
fn detail(rec: &Recorder, instance: &str, step: Step) -> String {
    rec.finished(instance, step).1
}

#[tokio::test(start_paused = true)]
async fn four_instances_take_five_reloads_with_one_out_at_a_time() {
    let env = Env::runbook_with(|s, _, _| s.start_delay(Duration::from_secs(20)));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert_eq!(report.updated, NAMES);
    env.assert_all_on(&env.war.sha256);
    // Out for the first, one swap per transition, back for the last: 5, not 8.
    assert_eq!(
        env.reloads(env.lb_host.name()),
        NAMES.len() + 1,
        "{}",
        rec.text()
    );
    assert_eq!(env.max_out_of_rotation(), 1);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    for pair in NAMES.windows(2) {
        let (back, out) = (pair[0], pair[1]);
        let enable = detail(&rec, back, Step::Enable);
        assert!(
            enable.contains(&format!("{back} back in rotation and {out} out")),
            "{enable}"
        );
        let disable = detail(&rec, out, Step::Disable);
        assert!(
            disable.contains(&format!("since {back} came back")),
            "{disable}"
        );
        // Every step of each instance still runs, in order.
        assert_eq!(rec.steps_started(out), Step::ALL.to_vec(), "{out}");
    }
    // The last one comes back alone.
    let last = detail(&rec, NAMES[NAMES.len() - 1], Step::Enable);
    assert!(!last.contains("out, in one change"), "{last}");
}

#[tokio::test(start_paused = true)]
async fn a_stop_before_an_instance_comes_back_takes_no_other_out() {
    let env = Env::runbook();
    let rec = Recorder::new();
    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        rec.once(
            |e| is_step_started(e, NAMES[0], Step::ScanLog),
            move || {
                assert_eq!(cancel.escalate(), StopLevel::AfterCurrent);
            },
        );
    }
    let report = env
        .rollout(&RolloutOptions::default(), &*rec, &cancel)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted, "{}", rec.text());
    assert_eq!(report.updated, [NAMES[0]]);
    // Out and back for the first; nobody else left rotation.
    assert_eq!(env.reloads(env.lb_host.name()), 2);
    assert!(rec.steps_started(NAMES[1]).is_empty(), "{}", rec.text());
    assert_eq!(env.max_out_of_rotation(), 1);
    env.assert_clean();
    assert!(!env.lock_held());
}

#[tokio::test(start_paused = true)]
async fn a_refused_swap_brings_the_instance_back_alone_and_the_next_goes_out_itself() {
    let env = Env::runbook();
    // nginx -t: 1 the preflight (in the container), 2 the first instance out, 3 the first
    // swap (both from the host in nginx's namespaces): refused, and 4 the same asked of
    // the container (only its refusal counts): refused.
    let faults = [3, 4].map(|n| {
        env.world.inject(
            Fault::on(Matcher::nginx_test())
                .nth(n)
                .fail(1, "nginx: [emerg] host not found in upstream \"app\""),
        )
    });
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    for fault in faults {
        assert_eq!(env.world.fault_fired(fault), 1);
    }
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert_eq!(report.updated, NAMES);
    assert!(
        rec.any(|e| matches!(e, Event::Warning { message, .. }
            if message.contains("in one change failed") && message.contains("comes back on its own"))),
        "{}",
        rec.text()
    );
    // The second instance took itself out, after the first was back.
    let disable = detail(&rec, NAMES[1], Step::Disable);
    assert!(!disable.contains("came back"), "{disable}");
    // 1 out, (refused swap), 1 back, 1 out, two swaps, 1 back.
    assert_eq!(env.reloads(env.lb_host.name()), 6, "{}", rec.text());
    assert_eq!(env.max_out_of_rotation(), 1);
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
}

/// The host's listing of nginx's master: `sh -c 'ps -o pid=,uid=,args= ...; cat
/// /proc/PID/stat' sh PID`.
fn is_listing(c: &ihos_core::Command) -> bool {
    matches!(c.argv().as_slice(), ["sh", "-c", script, "sh", _] if script.starts_with("ps -o pid=,uid=,args="))
}

fn listing() -> Matcher {
    Matcher::command("the host's listing (ps)", is_listing)
}

/// How many times the host's listing ran on the load balancer's host.
fn listings(env: &Env) -> usize {
    (env.world.commands().iter())
        .filter(|c| c.host == env.lb_host.name() && is_listing(&c.command))
        .count()
}

/// The commands run on the load balancer's host whose program and first argument are
/// `program` (`docker top`).
fn ran(env: &Env, words: &[&str]) -> usize {
    env.world
        .commands()
        .iter()
        .filter(|c| {
            let argv = c.command.argv();
            c.host == env.lb_host.name()
                && argv.len() >= words.len()
                && argv.iter().zip(words).all(|(a, w)| a == w)
        })
        .count()
}

#[tokio::test(start_paused = true)]
async fn nginx_s_workers_are_listed_from_the_host_once_its_master_is_known() {
    // The reload's switch and the drain's old workers are looked for many times per
    // transition: with the master known to be the container's main process, the host's
    // `ps` lists them (a plain command) instead of asking the daemon (`docker top`).
    let env = Env::runbook();
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    let (ps, top) = (listings(&env), ran(&env, &["docker", "top"]));
    assert!(ps >= 2 * NAMES.len(), "ps {ps} times, docker top {top}");
    // Only the first look, before the master was known.
    assert_eq!(top, 1, "ps {ps} times, docker top {top}");
}

#[tokio::test(start_paused = true)]
async fn a_host_without_ps_is_listed_by_docker_top_and_asked_once() {
    let env = Env::runbook();
    let fault = env.world.inject(
        Fault::on(listing())
            .every()
            .fail(127, "bash: line 1: ps: command not found"),
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    // Tried once, then never again: every look after it asks docker.
    assert_eq!(env.world.fault_fired(fault), 1);
    assert_eq!(listings(&env), 1);
    assert!(ran(&env, &["docker", "top"]) >= 2 * NAMES.len());
    assert_eq!(env.reloads(env.lb_host.name()), NAMES.len() + 1);
}

#[tokio::test(start_paused = true)]
async fn a_pid_that_is_no_longer_nginx_s_master_is_not_taken_for_it() {
    // The host answers for the master's pid with another process (the pid reused): the
    // listing is not nginx's, and docker top answers instead.
    let env = Env::runbook();
    let master = (env.world.container(env.lb_host.name(), &env.nginx))
        .and_then(|c| c.pid)
        .unwrap();
    // cron at the master's pid, as ps and /proc say it.
    let cron = format!(
        "{master:>5}     0 /usr/sbin/cron -f\n\n{master} (cron) S 1 {master} {master} 0 -1 4194560 93 0 0 0 0 0 0 0 20 0 1 0 1907 6201344 620\n"
    );
    let fault = env
        .world
        .inject(Fault::on(listing()).every().respond(ihos_core::Output {
            status: Some(0),
            stdout: cron.into_bytes(),
            stderr: Vec::new(),
        }));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_clean();
    // Not nginx's master there, while docker's list has it there: the host's view is not
    // the daemon's, and it is not asked again.
    assert_eq!(env.world.fault_fired(fault), 1);
    assert!(ran(&env, &["docker", "top"]) >= 2 * NAMES.len());
    assert_eq!(env.reloads(env.lb_host.name()), NAMES.len() + 1);
}

#[tokio::test(start_paused = true)]
async fn a_ps_that_cannot_see_nginx_s_master_is_not_asked_again() {
    // `hidepid=2` on /proc: ps as the login user selects nothing and says nothing (exit
    // 1), while docker top still shows the master. Not "the master is gone": ps is
    // given up after the first such answer.
    let env = Env::runbook();
    let fault = env
        .world
        .inject(Fault::on(listing()).every().respond(ihos_core::Output {
            status: Some(1),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_clean();
    assert_eq!(env.world.fault_fired(fault), 1);
    assert_eq!(listings(&env), 1);
}

#[tokio::test(start_paused = true)]
async fn the_next_instance_s_state_is_read_beside_the_swap_not_after_it() {
    // Its drain needs its container's main process: read while the swap that takes it out
    // is made, so that no `docker inspect` (the slowest of the drain's commands) sits
    // between that reload and its first look at its connections.
    let env = Env::runbook();
    // Their main processes until they stop (their drains come before).
    let pids: Vec<String> = (NAMES.iter())
        .map(|n| {
            let b = env.backend(n);
            b.host
                .container(&b.container)
                .unwrap()
                .pid
                .unwrap()
                .to_string()
        })
        .collect();
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_clean();
    let commands = env.world.commands();
    for (name, pid) in NAMES.iter().zip(&pids).skip(1) {
        let b = env.backend(name);
        let on_it = |c: &ihos_testkit::CommandRecord| c.host == b.host.name();
        let inspect = |c: &ihos_testkit::CommandRecord| {
            on_it(c) && c.line().starts_with("docker inspect") && c.line().ends_with(&b.container)
        };
        let first_drain_poll = commands
            .iter()
            .position(|c| {
                on_it(c)
                    && c.line().starts_with(&format!("nsenter -t {pid} "))
                    && c.line().contains(" ss ")
            })
            .unwrap_or_else(|| panic!("{name} never drained"));
        let swap = commands[..first_drain_poll]
            .iter()
            .rposition(|c| c.host == env.lb_host.name() && c.is_nginx_reload())
            .unwrap();
        let between: Vec<String> = (commands[swap..first_drain_poll].iter())
            .filter(|c| inspect(c))
            .map(|c| c.line())
            .collect();
        assert!(between.is_empty(), "{name}: {between:?}");
        // It was read beside the swap: after the reload before it (nothing else asks for
        // it while it waits its turn), before the swap's own.
        let before = commands[..swap]
            .iter()
            .rposition(|c| c.host == env.lb_host.name() && c.is_nginx_reload())
            .unwrap();
        assert!(commands[before..swap].iter().any(inspect), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_transition_s_journal_marks_are_one_append() {
    // On a transition's path (one instance's Enable, the next one's Disable), every journal
    // append is a round trip to the load balancer's host before nginx is changed or the
    // next drain starts: the coming-back instance's Enable mark and the next one's
    // "taken out by" intent go in one append, and the next one's Disable step writes no
    // second mark (the intent says so already).
    let env = Env::runbook();
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_clean();
    let appends: Vec<Vec<serde_json::Value>> = (env.world.commands().iter())
        .filter(|c| {
            c.host == env.lb_host.name() && c.line().contains("journal.ndjson oflag=append")
        })
        .map(|c| {
            let bytes = c.command.stdin_bytes().unwrap_or_default();
            (String::from_utf8_lossy(bytes).lines())
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        })
        .collect();
    let entry = |v: &serde_json::Value, name: &str| {
        let e = &v["entry"];
        (e["instance"] == name).then(|| {
            (
                e["step"].as_str().map(String::from),
                e["taken_out_by"].clone(),
            )
        })
    };
    for pair in NAMES.windows(2) {
        let (back, out) = (pair[0], pair[1]);
        let intent = appends
            .iter()
            .position(|lines| {
                lines
                    .iter()
                    .any(|l| matches!(entry(l, out), Some((_, by)) if by == back))
            })
            .unwrap_or_else(|| panic!("{out}: no intent in {appends:?}"));
        assert!(
            appends[intent]
                .iter()
                .any(|l| matches!(entry(l, back), Some((Some(s), _)) if s == "enable")),
            "{back}'s Enable mark and {out}'s intent: {:?}",
            appends[intent]
        );
        let disable_marks = (appends.iter().flatten())
            .filter(|l| matches!(entry(l, out), Some((Some(s), _)) if s == "disable"))
            .count();
        assert_eq!(disable_marks, 1, "{out}: {appends:?}");
    }
}
