//! The drain's polls: the connections of the container's main process are counted by its
//! pid, without asking docker for the container's state at every poll, and a container
//! whose process changed meanwhile (restarted by someone) is counted by its new process.

mod rollout_support;

use std::time::Duration;

use ihos_core::{Command, Event, Outcome, Step, Transport};
use ihos_testkit::ViolationKind;
use rollout_support::{Env, NAMES, Recorder, is_step_started};

/// Commands run on `host` whose argv starts with `words` and ends with `last`.
fn ran(env: &Env, host: &str, words: &[&str], last: &str) -> usize {
    env.world
        .commands()
        .iter()
        .filter(|c| {
            let argv = c.command.argv();
            c.host == host
                && argv.iter().zip(words).all(|(a, w)| a == w)
                && argv.last().is_some_and(|a| *a == last)
        })
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_long_drain_counts_connections_by_pid_without_asking_docker_each_time() {
    let env = Env::runbook();
    let b = env.backend(NAMES[0]);
    // Connections held for 30 s: the drain polls about every second meanwhile.
    env.world
        .hold_connections(b.host.name(), &b.container, 1, Duration::from_secs(30));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_clean();
    let counts = env
        .world
        .commands()
        .iter()
        .filter(|c| c.host == b.host.name() && c.command.program() == "nsenter")
        .count();
    let inspects = ran(&env, b.host.name(), &["docker", "inspect"], &b.container);
    assert!(counts >= 30, "{counts} counts");
    // Its state is read for the steps around the drain, not for each poll.
    assert!(
        inspects < 20,
        "{inspects} docker inspect for {counts} counts"
    );
}

#[tokio::test(start_paused = true)]
async fn a_container_restarted_while_draining_is_counted_by_its_new_process() {
    let env = Env::runbook();
    let b = env.backend(NAMES[0]);
    env.world
        .hold_connections(b.host.name(), &b.container, 1, Duration::from_secs(30));
    let rec = Recorder::new();
    {
        // Someone restarts it two seconds into its drain (another tool, a person).
        let host = b.host.clone();
        let container = b.container.clone();
        rec.once(
            move |e| is_step_started(e, NAMES[0], Step::Drain),
            move || {
                let (host, container) = (host.clone(), container.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let restart = Command::new("docker")
                        .args(["restart", "--time", "10", container.as_str()])
                        .sudo();
                    let out = host.run(&restart).await.unwrap();
                    assert!(out.success(), "{out:?}");
                });
            },
        );
    }
    let before = env
        .world
        .container(b.host.name(), &b.container)
        .unwrap()
        .pid;
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    // Only the restart, not ihos, cut the requests it held.
    let unexpected = env.unexpected_violations(|k| {
        matches!(k, ViolationKind::RequestsCut { reason, .. } if reason.contains("docker restart"))
    });
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert!(env.unsupported().is_empty());
    // The restart ended its held connections: the drain saw none soon after, counted by
    // the new process (the old pid is gone), not at the end of the 30 s.
    let drained = rec
        .events()
        .into_iter()
        .find_map(|e| match e {
            Event::StepFinished {
                instance,
                step: Step::Drain,
                seconds,
                ..
            } if instance == NAMES[0] => Some(seconds),
            _ => None,
        })
        .unwrap();
    assert!(drained < 20.0, "drained after {drained}s\n{}", rec.text());
    let after = env
        .world
        .container(b.host.name(), &b.container)
        .unwrap()
        .pid;
    assert_ne!(before, after, "restarted");
}
