//! `max_unavailable = 2` over six instances on three hosts: never more than two out of
//! rotation (the invariant checker is told the limit), two at a time in practice, and
//! faster than one at a time.

mod rollout_support;

use std::time::Duration;

use ihos_core::{CancelToken, Outcome, RolloutOptions, RolloutReport};
use ihos_testkit::{ContainerSpec, NginxSpec};
use rollout_support::{Env, Recorder, is_step_started};

fn six(max_unavailable: usize) -> Env {
    let mut env = Env::cluster(
        3,
        2,
        NginxSpec::new("/etc/nginx/nginx.conf", "app"),
        |s: ContainerSpec| s.start_delay(Duration::from_secs(20)),
    );
    env.topology.policy.max_unavailable = max_unavailable;
    env.world.set_max_out_of_rotation(max_unavailable);
    env
}

async fn roll(env: &Env) -> (RolloutReport, Duration) {
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(
        report.outcome,
        Outcome::Completed,
        "{report:#?}\n{}",
        rec.text()
    );
    assert_eq!(report.updated.len(), 6);
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    assert!(!env.lock_held());
    assert!(env.journal().unwrap().finished);
    (report, env.world.now().since_start())
}

#[tokio::test(start_paused = true)]
async fn two_at_a_time_never_more_and_faster_than_serial() {
    let serial = six(1);
    let (_, t1) = roll(&serial).await;
    assert_eq!(serial.max_out_of_rotation(), 1);

    let parallel = six(2);
    let (_, t2) = roll(&parallel).await;
    // The checker (limit 2) saw no more than two out; nginx did run with two out.
    assert_eq!(parallel.max_out_of_rotation(), 2);
    eprintln!("six instances: serial {t1:?}, two at a time {t2:?} (virtual)");
    assert!(
        t2.as_secs_f64() < t1.as_secs_f64() * 0.7,
        "parallel {t2:?} vs serial {t1:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_ctrl_c_with_two_in_flight_finishes_both_and_starts_no_other() {
    let env = six(2);
    let rec = Recorder::new();
    let cancel = CancelToken::new();
    {
        let cancel = cancel.clone();
        rec.once(
            |e| is_step_started(e, "h0-app1", ihos_core::Step::Drain),
            move || {
                cancel.escalate();
            },
        );
    }
    let report = env
        .rollout(&RolloutOptions::default(), &*rec, &cancel)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted, "{report:#?}");
    assert_eq!(report.updated, ["h0-app0", "h0-app1"]);
    assert_eq!(report.not_updated.len(), 4);
    let all = env.assert_all_consistent();
    assert_eq!(
        all.values().filter(|s| **s == env.war.sha256).count(),
        2,
        "{all:?}"
    );
    env.assert_clean();
    assert!(!env.lock_held());
}
