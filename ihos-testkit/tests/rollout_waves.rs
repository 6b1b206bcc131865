//! Waves (issue 17): with `max_unavailable = 3`, the instances of a wave leave rotation in
//! one change, wait for each other once healthy, and come back in one change with the next
//! wave going out: three reloads for six instances (one out, one swap, one back), where one
//! per instance (and a swap each) was needed before. The same safety: never more than three
//! out, a slow member is waited for, a failing one is not, and after a failure nobody
//! else leaves rotation.

mod rollout_support;

use std::time::Duration;

use ihos_core::{Event, Outcome, Step};
use ihos_testkit::{ContainerSpec, NginxSpec};
use rollout_support::{Env, Recorder};

const FIRST: [&str; 3] = ["h0-app0", "h0-app1", "h1-app0"];
const SECOND: [&str; 3] = ["h1-app1", "h2-app0", "h2-app1"];

/// Six instances on three hosts, three at a time; `slow` start in 60 s, the others in 20 s.
fn six(customize: impl Fn(ContainerSpec, &str, &str) -> ContainerSpec) -> Env {
    let mut env = Env::cluster_with(
        3,
        2,
        NginxSpec::new("/etc/nginx/nginx.conf", "app"),
        customize,
    );
    env.topology.policy.max_unavailable = 3;
    env.world.set_max_out_of_rotation(3);
    env
}

/// The detail of `instance`'s finished `step`.
fn detail(rec: &Recorder, instance: &str, step: Step) -> String {
    rec.finished(instance, step).1
}

#[tokio::test(start_paused = true)]
async fn six_instances_three_at_a_time_take_three_reloads_and_wait_for_the_slow_one() {
    let env = six(|s, name, _| {
        let delay = if name == "h0-app1" || name == "h2-app0" {
            60
        } else {
            20
        };
        s.start_delay(Duration::from_secs(delay))
    });
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert_eq!(report.updated.len(), 6);
    env.assert_all_on(&env.war.sha256);
    // The first wave out, the first back with the second out, the second back.
    assert_eq!(env.reloads(env.lb_host.name()), 3, "{}", rec.text());
    assert_eq!(env.max_out_of_rotation(), 3);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    // Each member of the first wave took a member of the second out with its return.
    for back in FIRST {
        let enable = detail(&rec, back, Step::Enable);
        assert!(enable.contains("back in rotation and"), "{back}: {enable}");
    }
    for out in SECOND {
        let disable = detail(&rec, out, Step::Disable);
        assert!(disable.contains("came back"), "{out}: {disable}");
        assert_eq!(rec.steps_started(out), Step::ALL.to_vec(), "{out}");
    }
    // The fast ones waited for the slow one: none of the first wave came back before it
    // was healthy (the second wave's Disable is one change with all of them).
    let healthy_slow = rec
        .events()
        .iter()
        .position(|e| matches!(e, Event::StepFinished { instance, step: Step::WaitHealthy, .. } if instance == "h0-app1"))
        .expect("the slow one got healthy");
    for back in FIRST {
        let enabled = rec
            .events()
            .iter()
            .position(|e| matches!(e, Event::StepFinished { instance, step: Step::Enable, .. } if instance == back))
            .expect("enabled");
        assert!(
            enabled > healthy_slow,
            "{back} came back before h0-app1 was healthy\n{}",
            rec.text()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_member_is_not_waited_for_and_no_other_wave_leaves() {
    let env = six(|s, name, sha| {
        let s = s.start_delay(Duration::from_secs(20));
        if name == "h0-app1" {
            s.never_healthy().faults_only_serving(sha)
        } else {
            s
        }
    });
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(
        report.outcome,
        Outcome::RolledBack,
        "{report:#?}\n{}",
        rec.text()
    );
    // The others of its wave were updated and came back; the second wave never started.
    assert_eq!(report.updated, ["h0-app0", "h1-app0"], "{report:#?}");
    for out in SECOND {
        assert!(
            rec.steps_started(out).is_empty(),
            "{out} started\n{}",
            rec.text()
        );
    }
    assert!(env.max_out_of_rotation() <= 3);
    // They did not wait for its rollback: back in rotation before it was rolled back.
    let at = |f: &dyn Fn(&Event) -> bool| {
        rec.events()
            .iter()
            .position(f)
            .unwrap_or_else(|| panic!("event not found\n{}", rec.text()))
    };
    let rolled_back = at(&|e| matches!(e, Event::RolledBack { instance } if instance == "h0-app1"));
    for back in ["h0-app0", "h1-app0"] {
        let enabled = at(
            &|e| matches!(e, Event::StepFinished { instance, step: Step::Enable, .. } if instance == back),
        );
        assert!(
            enabled < rolled_back,
            "{back} waited for the failing one's rollback\n{}",
            rec.text()
        );
    }
    // Everything is back in rotation at the end.
    let conf = env.lb_host.read_text("/etc/nginx/nginx.conf").unwrap();
    assert!(!conf.contains("#server"), "{conf}");
    env.assert_clean();
    assert!(!env.lock_held());
}

/// One backend out of rotation by hand before the run (and left out of it): the first
/// wave's members check the limit at the same moment, and each counts the others that
/// passed before it, so only two of the three leave (three out with the one by hand), never
/// four. The third is refused with the limit's error, and nobody else goes out after it.
#[tokio::test(start_paused = true)]
async fn a_wave_checked_at_once_never_takes_more_out_than_the_limit() {
    let env = six(|s, _, _| s.start_delay(Duration::from_secs(20)));
    let by_hand = env.backend("h2-app1").address.clone();
    let conf = String::from_utf8(env.nginx_config()).unwrap().replacen(
        &format!("server {by_hand}"),
        &format!("server {by_hand} down"),
        1,
    );
    env.lb_host.write_file("/etc/nginx/nginx.conf", &conf);
    let hup = ihos_core::Command::new("docker")
        .args(["kill", "--signal", "HUP", env.nginx.as_str()])
        .sudo();
    assert!(
        ihos_core::Transport::run(&env.lb_host, &hup)
            .await
            .unwrap()
            .success()
    );
    assert_eq!(env.routing().len(), 5, "the one by hand is out");

    let rec = Recorder::new();
    // The one by hand is left out of the run (the preflight refuses to update it).
    let options = ihos_core::RolloutOptions {
        only: env
            .backends
            .iter()
            .filter(|b| b.name != "h2-app1")
            .map(|b| b.name.clone())
            .collect(),
        ..Default::default()
    };
    let report = env
        .rollout(&options, &*rec, &ihos_core::CancelToken::new())
        .await
        .unwrap();
    assert_eq!(env.max_out_of_rotation(), 3, "{}", rec.text());
    assert_eq!(report.outcome, Outcome::RolledBack, "{}", rec.text());
    let refused: Vec<String> = rec
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::InstanceFailed {
                instance, error, ..
            } if error.contains("out of rotation") => Some(instance.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{}", rec.text());
    assert!(FIRST.contains(&refused[0].as_str()), "{refused:?}");
    env.assert_clean();
}
