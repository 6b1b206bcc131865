//! The log watch counts from Tomcat's startup line (issue 13 §5): the policy's `log_watch`
//! is watched after the line ihos first sees, while the health check runs, not after the
//! health check on top of it. Still every line logged within `log_watch` of the startup
//! line is judged; and health is polled often enough that a fast start is not kept
//! waiting a whole second.

mod rollout_support;

use std::time::Duration;

use ihos_core::{Event, Outcome, Step};
use rollout_support::{Env, NAMES, Recorder};

/// Seconds of each finished step of `instance`.
fn step_seconds(rec: &Recorder, instance: &str, step: Step) -> f64 {
    rec.finished(instance, step).0
}

#[tokio::test(start_paused = true)]
async fn an_exception_just_inside_the_watch_after_the_startup_line_is_caught() {
    // The runbook's policy watches 5 s; this build logs its exception 4.5 s after it
    // became ready (its startup line).
    let env = Env::runbook_with(|s, name, sha| {
        if name == NAMES[0] {
            s.exception_after_start(
                Duration::from_millis(4_500),
                "java.lang.IllegalStateException: late bean failure",
            )
            .faults_only_serving(sha)
        } else {
            s
        }
    });
    assert_eq!(env.topology.policy.log_watch.0, Duration::from_secs(5));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{}", rec.text());
    assert!(
        rec.any(|e| matches!(e, Event::InstanceFailed { instance, step: Step::ScanLog, .. } if instance == NAMES[0])),
        "{}",
        rec.text()
    );
    env.assert_all_on(&env.old);
    env.assert_clean();
}

#[tokio::test(start_paused = true)]
async fn start_health_and_watch_take_the_start_plus_the_watch() {
    // Each app answers its health probe 3 s after its startup line: the watch of 5 s
    // runs meanwhile, so only 2 s of it are left once it is healthy.
    let env = Env::runbook_with(|s, _, _| s.warm_up(Duration::from_secs(3)));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    let watch = env.topology.policy.log_watch.0.as_secs_f64();
    let idle = env.topology.policy.drain.idle.0.as_secs_f64();
    for name in NAMES {
        // The fake Tomcat is ready (and logs its startup line) 2 s after its start.
        let start = step_seconds(&rec, name, Step::Start)
            + step_seconds(&rec, name, Step::WaitHealthy)
            + step_seconds(&rec, name, Step::ScanLog);
        assert!(
            start <= 2.0 + watch + 0.3,
            "{name}: start, health and watch took {start:.2}s:\n{}",
            rec.text()
        );
        let watched = step_seconds(&rec, name, Step::ScanLog);
        assert!(
            (watched - (watch - 3.0)).abs() <= 0.3,
            "{name}: watched {watched:.2}s after the health check"
        );
        // (The fake nginx's old workers and the load's connections take their time: the
        // drain is at least the idle period, whatever else.)
        let drain = step_seconds(&rec, name, Step::Drain);
        assert!(
            drain >= idle,
            "{name}: drained in {drain:.2}s, idle {idle}s"
        );
    }
    env.assert_clean();
}

#[tokio::test(start_paused = true)]
async fn the_startup_line_is_seen_within_a_fortieth_of_a_second_between_polls() {
    // Tomcat is ready (its startup line, its probe) 2.11 s after `docker start`: between
    // the health polls of 2.0 and 2.25 s. The log alone is read every 25 ms between polls,
    // so the line is seen by 2.125 s (by 2.15 s every 50 ms) and the deciding poll made at once, not at 2.25 s.
    // Each read is one command (the check that a regular file is there and the read in
    // one `sh -c`), not a `stat` then a `dd`: a round trip less between the line's print
    // and its sight on a real host.
    let env = Env::runbook_with(|s, _, _| s.start_delay(Duration::from_millis(2_110)));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    for name in NAMES {
        let healthy =
            step_seconds(&rec, name, Step::Start) + step_seconds(&rec, name, Step::WaitHealthy);
        assert!(
            (2.11..=2.13).contains(&healthy),
            "{name}: started and healthy after {healthy:.3}s:\n{}",
            rec.text()
        );
    }
    let commands = env.world.commands();
    let log_reads = (commands.iter())
        .filter(|c| c.line().starts_with("sh -c ") && c.line().contains("catalina."))
        .count();
    assert!(log_reads >= NAMES.len(), "{log_reads}");
    let kind_checks: Vec<String> = (commands.iter())
        // The preflight's (every path of an instance at once) aside.
        .filter(|c| c.argv().starts_with(&["stat", "-c", "%f %s %n"]) && c.argv().len() == 5)
        .filter(|c| c.line().contains("catalina."))
        .map(|c| c.line())
        .collect();
    assert!(kind_checks.is_empty(), "{kind_checks:?}");
    env.assert_clean();
}

#[tokio::test(start_paused = true)]
async fn the_startup_line_printed_while_a_probe_waits_is_seen_as_it_is_printed() {
    // Tomcat takes connections on its port before its webapps are deployed and answers
    // them only once its connector starts (a real probe waited 1.2 s so on the sandbox).
    // Here the first instance's first probe is answered 3 s after it was sent, while
    // Tomcat prints its startup line at 2.1 s: the log is read meanwhile, so the watch
    // counts from 2.1 s, not from the probe's answer.
    let env = Env::runbook_with(|s, _, _| s.start_delay(Duration::from_millis(2_100)));
    let b = env.backend(NAMES[0]);
    let fault = env.world.inject(
        ihos_testkit::Fault::on(ihos_testkit::Matcher::program("curl"))
            .on_host(b.host.name())
            .nth(1)
            .delay(Duration::from_secs(3)),
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert_eq!(env.world.fault_fired(fault), 1);
    let watch = env.topology.policy.log_watch.0.as_secs_f64();
    let name = NAMES[0];
    let healthy =
        step_seconds(&rec, name, Step::Start) + step_seconds(&rec, name, Step::WaitHealthy);
    assert!(
        (3.0..=3.1).contains(&healthy),
        "{name}: healthy after {healthy:.3}s (the probe's answer)"
    );
    let ended = healthy + step_seconds(&rec, name, Step::ScanLog);
    assert!(
        (2.1 + watch..=2.1 + watch + 0.1).contains(&ended),
        "{name}: the watch ended {ended:.3}s after the start, line at 2.1s:\n{}",
        rec.text()
    );
    env.assert_clean();
}
