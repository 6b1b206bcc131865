//! A whole rollout of the runbook topology (four instances on two hosts behind one nginx)
//! on fake hosts, in virtual time: the result, the records, the previous releases, the
//! time it takes, and the safety invariants throughout.

mod rollout_support;

use std::time::Duration;

use ihos_core::{Event, Outcome, Step};
use rollout_support::{Env, NAMES, Recorder, STATE, minutes};

#[tokio::test(start_paused = true)]
async fn a_four_instance_rollout_is_clean_recorded_and_quick() {
    let env = Env::runbook_with(|s, _, _| s.start_delay(Duration::from_secs(20)));
    let new = env.war.sha256.clone();
    let rec = Recorder::new();
    let report = env.roll(&rec).await;

    assert_eq!(
        report.outcome,
        Outcome::Completed,
        "{report:#?}\n{}",
        rec.text()
    );
    assert_eq!(report.outcome.exit_code(), 0);
    assert_eq!(report.updated, NAMES);
    assert!(report.not_updated.is_empty() && report.rolled_back.is_empty());
    assert!(report.not_restored.is_empty());

    // Every instance in rotation, serving the new WAR, started exactly once.
    env.assert_all_on(&new);
    for name in NAMES {
        assert_eq!(env.starts(name), 1, "{name} restarted once");
    }
    // Never a request to a stopped/starting backend, never fewer than 3 of 4 active, no
    // request cut, no command the hosts do not know.
    env.assert_clean();
    assert_eq!(env.max_out_of_rotation(), 1);
    assert_eq!(env.world.requests_failed(), 0);

    // One instance at a time, in order, every step in order.
    for name in NAMES {
        assert_eq!(rec.steps_started(name), Step::ALL.to_vec(), "{name}");
    }
    let order: Vec<String> = rec
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::InstanceUpdated { instance, .. } => Some(instance.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(order, NAMES);

    // Deployment records on each instance's host and the audit log on the LB host carry
    // the WAR's sha256.
    let audit = env.audit();
    assert_eq!(audit.len(), 4, "one audit line per instance");
    for (name, line) in NAMES.iter().zip(&audit) {
        let record = env.record(name).expect("deployment record");
        assert_eq!(record.sha256, new);
        assert_eq!(record.bytes, env.war.bytes);
        assert_eq!(record.action, "deploy");
        assert_eq!(record.rollout_id, report.rollout_id);
        assert_eq!(&record.instance, name);
        assert_eq!(line, &record, "the audit line is the record");
    }
    // The previous release is kept outside webapps, byte for byte.
    for name in NAMES {
        assert_eq!(
            env.previous(name).as_deref(),
            Some(env.old.as_str()),
            "{name}"
        );
        assert!(!env.backend(name).webapps.starts_with(STATE));
    }

    // The lock is released, the journal says it is done, each instance updated.
    assert!(!env.lock_held());
    let journal = env.journal().expect("journal");
    assert!(journal.finished);
    assert_eq!(journal.sha256, new);
    assert_eq!(journal.rollout_id, report.rollout_id);
    assert!(
        journal
            .instances
            .iter()
            .all(|e| e.status == ihos_core::InstanceStatus::Updated)
    );
    // The upload happened once per host, before the first instance left rotation.
    let uploads: Vec<String> = rec
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Uploaded { host, .. } => Some(host.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(uploads, ["h101", "h103"], "one upload per host");
    let first_disable = rec
        .events()
        .iter()
        .position(|e| {
            matches!(
                e,
                Event::StepStarted {
                    step: Step::Disable,
                    ..
                }
            )
        })
        .unwrap();
    let last_upload = rec
        .events()
        .iter()
        .rposition(|e| matches!(e, Event::Uploaded { .. }))
        .unwrap();
    assert!(last_upload < first_disable);

    // Drain until idle: seconds per instance, not the runbook's 30 minutes.
    let total = env.world.now().since_start();
    eprintln!("four instances: {total:?} virtual");
    assert!(total < minutes(4), "took {total:?}");
    assert!(report.seconds < 240.0, "{}", report.seconds);
    for e in rec.events() {
        if let Event::StepFinished {
            step: Step::Drain,
            seconds,
            instance,
            ..
        } = e
        {
            assert!(seconds < 30.0, "{instance} drained for {seconds}s");
            assert!(seconds >= 10.0, "{instance}: idle for 10 s first");
        }
    }
    // ihos's state is root's alone: the directories it made 0700, its files 0600 (the
    // state directory itself keeps the mode it was given).
    let mode = |host: &ihos_testkit::FakeHost, path: &str| {
        host.stat(path)
            .map(|i| (i.mode, i.owner))
            .unwrap_or_else(|| panic!("{}: no {path}", host.name()))
    };
    for backend in &env.backends {
        for dir in ["releases", "deployments"] {
            let path = format!("{STATE}/{dir}");
            assert_eq!(mode(&backend.host, &path), (0o700, "root".into()), "{path}");
        }
    }
    for file in ["journal.ndjson", "audit.log"] {
        let path = format!("{STATE}/{file}");
        assert_eq!(mode(&env.lb_host, &path), (0o600, "root".into()), "{path}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_background_connection_holds_the_drain_until_it_ends() {
    let env = Env::runbook();
    // A background job keeps a connection to 103-pep1 for 3 minutes.
    let b = env.backend("103-pep1").clone();
    env.world
        .hold_connections(b.host.name(), &b.container, 1, minutes(3));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
    env.assert_all_on(&env.war.sha256.clone());
    env.assert_clean();
    // Stopped only once the job's connection was gone: nothing cut.
    assert_eq!(env.world.requests_failed(), 0);
    let drained = rec
        .events()
        .iter()
        .find_map(|e| match e {
            Event::StepFinished {
                instance,
                step: Step::Drain,
                seconds,
                ..
            } if instance == "103-pep1" => Some(*seconds),
            _ => None,
        })
        .unwrap();
    assert!(drained > 60.0, "waited for the job: {drained}");
}

#[tokio::test(start_paused = true)]
async fn only_selected_instances_are_updated() {
    let env = Env::runbook();
    let rec = Recorder::new();
    let options = ihos_core::RolloutOptions {
        only: vec!["103-pep2".into()],
        ..Default::default()
    };
    let report = env
        .rollout(&options, &*rec, &ihos_core::CancelToken::new())
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.updated, ["103-pep2"]);
    let all = env.assert_all_consistent();
    for (name, sha) in all {
        let want = if name == "103-pep2" {
            env.war.sha256.as_str()
        } else {
            env.old.as_str()
        };
        assert_eq!(sha.as_str(), want, "{name}");
    }
    env.assert_clean();
}

/// A finished rollout leaves no WAR in the staging directories (one per host per rollout
/// would fill them over the months); an interrupted one keeps them for its resume.
#[tokio::test(start_paused = true)]
async fn a_finished_rollout_leaves_no_staged_war() {
    let env = Env::runbook();
    let report = env.roll(&Recorder::new()).await;
    assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
    for host in ["192.168.1.101", "192.168.1.103"] {
        let h = env.world.host(host).unwrap();
        let left: Vec<String> = h
            .list("/home/deploy/.ihos")
            .into_iter()
            .filter(|n| n.ends_with(".war"))
            .collect();
        assert!(left.is_empty(), "{host}: staged WARs left: {left:?}");
    }
}
