//! Kept releases (`policy.keep_releases`) and `rollback --to` (`run_rollback_to`) on fake
//! hosts: each release a run takes out of webapps is kept (a hard link of the previous
//! release, no second copy), listed with its record, pruned to the policy's number; going
//! back to one by build number, commit or sha prefix takes the steps of a rollout, and a
//! name that is not kept everywhere, names two releases or different ones is refused before
//! any change.

mod rollout_support;

use std::sync::Arc;

use ihos_core::{
    CancelToken, Command, Event, KeptRelease, Outcome, ReleaseRef, RolloutError, RolloutOptions,
    Step, Transport, WarFile, find_kept_release, releases, run_rollback_to, run_rollout,
};
use rollout_support::{Env, NAMES, Recorder, STATE};

/// Four releases, each with a build number and a commit, "build 2" first (the runbook's
/// new WAR). Builds 102..105, commits 1111..., 2222..., each 40 hex digits.
fn wars(env: &Env) -> Vec<WarFile> {
    let mut out = vec![
        env.war
            .clone()
            .with_build(Some("102".into()))
            .with_commit(Some("2".repeat(40))),
    ];
    for n in 3..=5u8 {
        let w = env.other_war(&format!("build {n}"));
        out.push(
            w.with_build(Some(format!("10{n}")))
                .with_commit(Some(n.to_string().repeat(40))),
        );
    }
    out
}

async fn deploy(env: &Env, war: &WarFile) {
    let rec = Recorder::new();
    let report = run_rollout(
        &env.fleet(),
        war,
        &RolloutOptions::default(),
        rec.as_ref(),
        &CancelToken::new(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", rec.text()));
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_all_on(&war.sha256);
}

async fn back_to(
    env: &Env,
    to: &str,
) -> (
    Result<ihos_core::RolloutReport, RolloutError>,
    Arc<Recorder>,
) {
    let rec = Recorder::new();
    let to: ReleaseRef = to.parse().unwrap();
    let r = run_rollback_to(
        &env.fleet(),
        &to,
        &RolloutOptions::default(),
        rec.as_ref(),
        &CancelToken::new(),
    )
    .await;
    (r, rec)
}

async fn back_to_only(
    env: &Env,
    to: &str,
    only: &[&str],
) -> (
    Result<ihos_core::RolloutReport, RolloutError>,
    Arc<Recorder>,
) {
    let rec = Recorder::new();
    let options = RolloutOptions::new().only(only.iter().map(|s| s.to_string()));
    let r = run_rollback_to(
        &env.fleet(),
        &to.parse().unwrap(),
        &options,
        rec.as_ref(),
        &CancelToken::new(),
    )
    .await;
    (r, rec)
}

/// Removes a file on a fake host as root would (`rm -f`), through its transport.
async fn remove(host: &ihos_testkit::FakeHost, path: &str) {
    let out = host
        .run(&Command::new("rm").args(["-f", "--", path]).sudo())
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
}

fn kept_path(name: &str, sha: &str) -> String {
    format!("{STATE}/releases/{name}/kept/{sha}.war")
}

fn index(env: &Env, name: &str) -> serde_json::Value {
    let host = &env.backend(name).host;
    let text = host
        .read_text(&format!("{STATE}/releases/{name}/kept.json"))
        .unwrap_or_else(|| panic!("{name}: no kept.json"));
    serde_json::from_str(&text).unwrap()
}

fn kept_shas(env: &Env, name: &str) -> Vec<String> {
    index(env, name)["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sha256"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn each_release_taken_out_is_kept_as_a_link_and_pruned_to_the_policy() {
    let env = Env::runbook();
    let w = wars(&env);
    let old = env.old.clone();
    deploy(&env, &w[0]).await;
    // The release it replaced, deployed by hand before ihos: kept, without a record.
    for name in NAMES {
        assert_eq!(kept_shas(&env, name), std::slice::from_ref(&old), "{name}");
        let r = &index(&env, name)["releases"][0];
        assert!(r["deployed_at"].is_null() && r["build"].is_null(), "{r}");
    }
    deploy(&env, &w[1]).await;
    deploy(&env, &w[2]).await;
    // keep_releases = 3 counts the running release: builds 103 and 102 stay, the oldest goes.
    let (s102, s103, s104) = (&w[0].sha256, &w[1].sha256, &w[2].sha256);
    for name in NAMES {
        assert_eq!(
            kept_shas(&env, name),
            [s103.to_string(), s102.to_string()],
            "{name}"
        );
        let host = &env.backend(name).host;
        assert!(
            !host.exists(&kept_path(name, &old)),
            "{name}: pruned file gone"
        );
        // A hard link of the previous release: the same inode, no second copy.
        let kept = host.stat(&kept_path(name, s103)).unwrap();
        let previous = host
            .stat(&format!("{STATE}/releases/{name}/previous.war"))
            .unwrap();
        assert_eq!(kept.inode, previous.inode, "{name}");
        assert!(host.exists(&kept_path(name, s102)));
        // What its record said when it ran.
        let r = &index(&env, name)["releases"][1];
        assert_eq!(r["build"], "102");
        assert_eq!(r["commit"], "2".repeat(40));
        assert!(r["deployed_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(r["kept_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    // The record of the running release carries its build.
    assert_eq!(env.record(NAMES[0]).unwrap().build.as_deref(), Some("104"));

    // `ihos releases`: what runs, read by digest, and what is kept.
    let fleet = env.fleet();
    let views = releases(&fleet, None).await.unwrap();
    assert_eq!(views.len(), 4);
    for v in &views {
        let running = v.running.as_ref().unwrap();
        assert_eq!(&running.sha256, s104);
        assert_eq!(
            running.record.as_ref().unwrap().build.as_deref(),
            Some("104")
        );
        let kept: Vec<&str> = v
            .kept
            .iter()
            .map(|r: &KeptRelease| r.sha256.as_str())
            .collect();
        assert_eq!(kept, [s103.as_str(), s102.as_str()]);
        assert!(v.missing.is_empty() && v.error.is_none(), "{v:?}");
    }
    // A file removed by hand is shown as missing; one instance alone can be asked for.
    remove(&env.backend(NAMES[1]).host, &kept_path(NAMES[1], s102)).await;
    let one = releases(&fleet, Some(NAMES[1])).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].instance, NAMES[1]);
    assert_eq!(one[0].missing, std::slice::from_ref(s102));
    assert_eq!(one[0].kept.len(), 2, "still listed");
    assert!(releases(&fleet, Some("nope")).await.is_err());
    env.assert_clean();
}

#[tokio::test(start_paused = true)]
async fn rollback_to_a_kept_release_by_build_commit_or_sha_prefix() {
    let env = Env::runbook();
    let w = wars(&env);
    for war in &w[..3] {
        deploy(&env, war).await;
    }
    let fleet = env.fleet();
    // What the CLI asks about before it asks to go ahead.
    let found = find_kept_release(&fleet, &[], &"102".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(found.sha256, w[0].sha256);

    // By build number: the first release, with every step of a rollout.
    let (report, rec) = back_to(&env, "102").await;
    let report = report.unwrap_or_else(|e| panic!("{e}\n{}", rec.text()));
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_all_on(&w[0].sha256);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    assert_eq!(env.max_out_of_rotation(), 1);
    for name in NAMES {
        assert_eq!(rec.steps_started(name), Step::ALL.to_vec(), "{name}");
        let r = env.record(name).unwrap();
        assert_eq!(r.action, "rollback");
        assert_eq!(r.sha256, w[0].sha256.as_str());
        // The release keeps what it is: its build and commit go into the new record.
        assert_eq!(r.build.as_deref(), Some("102"));
        assert_eq!(r.commit, Some("2".repeat(40)));
        // 104 retired and kept; 102 runs and stays kept; 103 stays.
        assert_eq!(
            kept_shas(&env, name),
            [
                w[2].sha256.to_string(),
                w[1].sha256.to_string(),
                w[0].sha256.to_string()
            ],
            "{name}"
        );
    }
    assert!(rec.any(
        |e| matches!(e, Event::RolloutStarted { sha256, .. } if sha256 == w[0].sha256.as_str())
    ));

    // By commit prefix, then by an explicit sha prefix in capitals.
    let (report, rec) = back_to(&env, "3333").await;
    assert_eq!(
        report.unwrap().outcome,
        Outcome::Completed,
        "{}",
        rec.text()
    );
    env.assert_all_on(&w[1].sha256);
    let sha = format!("sha:{}", w[2].sha256.as_str()[..10].to_uppercase());
    let (report, rec) = back_to(&env, &sha).await;
    assert_eq!(
        report.unwrap().outcome,
        Outcome::Completed,
        "{}",
        rec.text()
    );
    env.assert_all_on(&w[2].sha256);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
}

/// A refused `rollback --to` changes nothing: no file on any host, no lock left.
async fn refused(env: &Env, to: &str) -> RolloutError {
    let before: Vec<_> = env.hosts.values().map(|h| h.snapshot()).collect();
    let (result, rec) = back_to(env, to).await;
    let e = result
        .err()
        .unwrap_or_else(|| panic!("{to}: not refused\n{}", rec.text()));
    let after: Vec<_> = env.hosts.values().map(|h| h.snapshot()).collect();
    for (b, a) in before.iter().zip(&after) {
        let changed: Vec<String> = b
            .differences(a)
            .into_iter()
            // The run's own bookkeeping on the LB host (lock taken and released, journal);
            // nothing else of ihos's state, kept releases included.
            .filter(|p| {
                !(p.starts_with(&format!("{STATE}/lock"))
                    || p == &format!("{STATE}/journal.ndjson"))
            })
            .collect();
        assert!(changed.is_empty(), "{to}: changed {changed:?}");
    }
    assert!(!env.lock_held(), "{to}");
    assert!(!rec.any(|e| matches!(e, Event::StepStarted { .. })), "{to}");
    e
}

#[tokio::test(start_paused = true)]
async fn names_not_kept_everywhere_ambiguous_or_different_are_refused_before_any_change() {
    let env = Env::runbook();
    let w = wars(&env);
    // Build 103's number is also the start of build 102's digest: "sha or build?".
    let hex6 = w[0].sha256.as_str()[..6].to_string();
    let mut w = w;
    w[1] = w[1].clone().with_build(Some(hex6.clone()));
    for war in &w[..3] {
        deploy(&env, war).await;
    }

    // Kept nowhere.
    match refused(&env, "999").await {
        RolloutError::ReleaseNotKept {
            missing, keeping, ..
        } => {
            assert_eq!(missing, NAMES);
            assert!(keeping.is_empty());
        }
        e => panic!("{e}"),
    }
    // Ambiguous on every instance: the message names both and how each matched.
    match refused(&env, &hex6).await {
        e @ RolloutError::ReleaseAmbiguous { .. } => {
            let text = e.to_string();
            assert!(
                text.contains("by its build") && text.contains("by its sha256"),
                "{text}"
            );
            assert!(text.contains("sha:"), "{text}");
        }
        e => panic!("{e}"),
    }
    // Said explicitly, it is not.
    assert_eq!(
        find_kept_release(&env.fleet(), &[], &format!("build:{hex6}").parse().unwrap())
            .await
            .unwrap()
            .sha256,
        w[1].sha256
    );

    // Kept by some only: one instance's index no longer lists build 102.
    let odd = NAMES[2];
    let host = &env.backend(odd).host;
    let path = format!("{STATE}/releases/{odd}/kept.json");
    let mut idx = index(&env, odd);
    let list = idx["releases"].as_array_mut().unwrap();
    list.retain(|r| r["build"] != "102");
    host.write_file(&path, serde_json::to_vec(&idx).unwrap());
    match refused(&env, "102").await {
        e @ RolloutError::ReleaseNotKept { .. } => {
            let RolloutError::ReleaseNotKept {
                missing, keeping, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(missing, &[odd.to_string()]);
            assert_eq!(keeping.len(), 3);
            assert!(e.to_string().contains("ihos releases"), "{e}");
        }
        e => panic!("{e}"),
    }
    // Different releases: on that instance "102" now names build 103's release.
    let mut idx = index(&env, odd);
    idx["releases"][0]["build"] = "102".into();
    host.write_file(&path, serde_json::to_vec(&idx).unwrap());
    assert!(matches!(
        refused(&env, "102").await,
        RolloutError::ReleaseDiffers { .. }
    ));
    // An index that is not one: refused, saying which file.
    host.write_file(&path, b"{ torn");
    match refused(&env, "102").await {
        e @ RolloutError::Preflight { .. } => assert!(e.to_string().contains("kept.json"), "{e}"),
        e => panic!("{e}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_kept_file_removed_or_changed_by_hand_is_refused_before_any_instance_leaves() {
    let env = Env::runbook();
    let w = wars(&env);
    for war in &w[..2] {
        deploy(&env, war).await;
    }
    let name = NAMES[3];
    let host = &env.backend(name).host;
    let file = kept_path(name, &w[0].sha256);
    host.write_file(&file, b"not the release");
    match refused(&env, "102").await {
        e @ RolloutError::Preflight { .. } => assert!(e.to_string().contains("damaged"), "{e}"),
        e => panic!("{e}"),
    }
    // Gone: listed as missing, and refused saying so.
    remove(host, &file).await;
    match refused(&env, "102").await {
        e @ RolloutError::Preflight { .. } => assert!(e.to_string().contains("is gone"), "{e}"),
        e => panic!("{e}"),
    }
    let views = releases(&env.fleet(), Some(name)).await.unwrap();
    assert_eq!(views[0].missing, [w[0].sha256.clone()]);
    // The others still go back to it when this one is left out.
    let (report, rec) = back_to_only(&env, "102", &NAMES[..3]).await;
    assert_eq!(
        report.unwrap().outcome,
        Outcome::Completed,
        "{}",
        rec.text()
    );
    assert_eq!(
        env.deployed(NAMES[0]).as_deref(),
        Some(w[0].sha256.as_str())
    );
    assert_eq!(env.deployed(name).as_deref(), Some(w[1].sha256.as_str()));
    // An instance that runs the release already and whose kept copy of it is gone while
    // its index still lists it: its deployed WAR is the copy, not a refusal.
    let first = NAMES[0];
    let first_host = &env.backend(first).host;
    let copy = kept_path(first, &w[0].sha256);
    let views = releases(&env.fleet(), Some(first)).await.unwrap();
    assert!(
        views[0].kept.iter().any(|k| k.sha256 == w[0].sha256),
        "{:?}",
        views[0]
    );
    remove(first_host, &copy).await;
    let (report, rec) = back_to_only(&env, "102", &[first]).await;
    assert_eq!(
        report.unwrap().outcome,
        Outcome::Completed,
        "{}",
        rec.text()
    );
    assert_eq!(env.deployed(first).as_deref(), Some(w[0].sha256.as_str()));
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_index_is_started_again_with_a_warning_and_keep_1_keeps_none() {
    let env = Env::runbook();
    let w = wars(&env);
    deploy(&env, &w[0]).await;
    let name = NAMES[0];
    let path = format!("{STATE}/releases/{name}/kept.json");
    env.backend(name).host.write_file(&path, b"\x00garbage");
    let rec = Recorder::new();
    let report = run_rollout(
        &env.fleet(),
        &w[1],
        &RolloutOptions::default(),
        rec.as_ref(),
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert!(
        rec.any(|e| matches!(e, Event::Warning { instance: Some(i), message } if i == name && message.contains("kept.json") && message.contains("written again"))),
        "{}",
        rec.text()
    );
    // The file the lost index listed is listed again (its age unknown: oldest), not left
    // on the disk unlisted.
    assert_eq!(
        kept_shas(&env, name),
        [w[0].sha256.to_string(), env.old.clone()]
    );
    assert_eq!(index(&env, name)["releases"][1]["kept_at"], "");
    // One entry that cannot be read (edited by hand) costs that entry only, and its file
    // is listed again at the next prune.
    let path = format!("{STATE}/releases/{name}/kept.json");
    let mut idx = index(&env, name);
    idx["releases"][1]["bytes"] = (-1).into();
    env.backend(name)
        .host
        .write_file(&path, serde_json::to_vec(&idx).unwrap());
    let listed = releases(&env.fleet(), Some(name)).await.unwrap();
    assert_eq!(listed[0].kept.len(), 1);
    deploy(&env, &w[2]).await;
    assert_eq!(
        kept_shas(&env, name),
        [w[1].sha256.to_string(), w[0].sha256.to_string()],
        "keep 3: the unknown one is the oldest and goes"
    );
    let files = env
        .backend(name)
        .host
        .list(&format!("{STATE}/releases/{name}/kept"));
    assert_eq!(files.len(), 2, "{files:?}");

    // keep_releases = 1: only the running release; `ihos rollback` still has the previous.
    let mut env1 = Env::runbook();
    env1.topology.policy.keep_releases = 1;
    let w1 = wars(&env1);
    deploy(&env1, &w1[0]).await;
    deploy(&env1, &w1[1]).await;
    for name in NAMES {
        assert!(kept_shas(&env1, name).is_empty(), "{name}");
        assert!(
            env1.backend(name)
                .host
                .list(&format!("{STATE}/releases/{name}/kept"))
                .is_empty()
        );
        assert_eq!(env1.previous(name).as_deref(), Some(w1[0].sha256.as_str()));
    }
    let report = env1.rollback(&Recorder::new()).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    env1.assert_all_on(&w1[0].sha256);
}

#[tokio::test(start_paused = true)]
async fn the_preflight_refuses_a_state_dir_without_room_for_the_release_it_replaces() {
    let env = Env::runbook();
    // The deployed WAR is large (a hand-deployed build), the new one small: room for the
    // new WAR in webapps, not for keeping the old one.
    let name = NAMES[2];
    let b = env.backend(name);
    let big = ihos_testkit::test_war("by hand", 4 << 20);
    b.host.write_file(&format!("{}/ihos.war", b.webapps), &big);
    b.host.set_disk_free(Some(2 << 20));
    let before = b.host.snapshot();
    let rec = Recorder::new();
    let e = env
        .rollout(
            &RolloutOptions::default(),
            rec.as_ref(),
            &CancelToken::new(),
        )
        .await
        .unwrap_err();
    match &e {
        RolloutError::Preflight {
            instance,
            check,
            reason,
            ..
        } => {
            assert_eq!(instance, name);
            assert!(check.contains("keep the release it replaces"), "{e}");
            assert!(reason.contains("policy.keep_releases"), "{e}");
        }
        other => panic!("{other}"),
    }
    assert!(
        before
            .differences(&b.host.snapshot())
            .iter()
            .all(|p| p.starts_with(STATE))
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_deploy_costs_no_kept_release() {
    // keep 2; the new build (env.war) never becomes healthy on the first instance.
    let mut env = Env::runbook_with(|s, name, sha| {
        if name == NAMES[0] {
            s.never_healthy().faults_only_serving(sha)
        } else {
            s
        }
    });
    env.topology.policy.keep_releases = 2;
    let w = wars(&env);
    deploy(&env, &w[1]).await;
    deploy(&env, &w[2]).await;
    let name = NAMES[0];
    assert_eq!(kept_shas(&env, name), [w[1].sha256.to_string()]);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{}", rec.text());
    // Back on 104; 104 (the release it replaced) kept, and 103 not pruned for a release
    // that never became healthy.
    assert_eq!(env.deployed(name).as_deref(), Some(w[2].sha256.as_str()));
    assert_eq!(
        kept_shas(&env, name),
        [w[2].sha256.to_string(), w[1].sha256.to_string()]
    );
    // So it can still go back to 103.
    let (back, rec) = back_to_only(&env, "103", &[name]).await;
    assert_eq!(back.unwrap().outcome, Outcome::Completed, "{}", rec.text());
    assert_eq!(env.deployed(name).as_deref(), Some(w[1].sha256.as_str()));
    // Now healthy on 103: pruned to 2 (104 stays as the one earlier release).
    assert_eq!(
        kept_shas(&env, name),
        [w[2].sha256.to_string(), w[1].sha256.to_string()]
    );
}

#[tokio::test(start_paused = true)]
async fn an_instance_running_the_release_already_needs_no_kept_copy_of_it() {
    // 102 everywhere, then 103 to the first two only: the other two run 102 and never
    // replaced it, so they do not keep it; `rollback --to 102` of all four still works.
    let env = Env::runbook();
    let w = wars(&env);
    deploy(&env, &w[0]).await;
    let rec = Recorder::new();
    let only = RolloutOptions::new().only(NAMES[..2].iter().map(|s| s.to_string()));
    let r = run_rollout(
        &env.fleet(),
        &w[1],
        &only,
        rec.as_ref(),
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.outcome, Outcome::Completed);
    let (back, rec) = back_to(&env, "102").await;
    assert_eq!(back.unwrap().outcome, Outcome::Completed, "{}", rec.text());
    env.assert_all_on(&w[0].sha256);
    env.assert_clean();
    // The variables a hook would get name the release.
    assert!(rec.any(
        |e| matches!(e, Event::RolloutStarted { sha256, .. } if sha256 == w[0].sha256.as_str())
    ));
}

#[tokio::test(start_paused = true)]
async fn where_a_hard_link_is_refused_the_kept_release_is_a_copy() {
    let env = Env::runbook();
    let w = wars(&env);
    // A file system without hard links (or fs.protected_hardlinks): ln fails everywhere.
    env.world.inject(
        ihos_testkit::Fault::on(ihos_testkit::Matcher::program("ln"))
            .every()
            .fail(1, "ln: failed to create hard link: Operation not permitted"),
    );
    deploy(&env, &w[0]).await;
    for name in NAMES {
        let host = &env.backend(name).host;
        let kept = host
            .stat(&kept_path(name, &env.old))
            .expect("kept as a copy");
        let previous = host
            .stat(&format!("{STATE}/releases/{name}/previous.war"))
            .unwrap();
        assert_ne!(kept.inode, previous.inode);
        assert_eq!(
            ihos_testkit::sha256_hex(&host.read(&kept_path(name, &env.old)).unwrap()),
            env.old
        );
    }
}

#[tokio::test(start_paused = true)]
async fn rollback_to_a_release_webapps_has_no_room_for_is_refused_by_the_preflight() {
    let env = Env::runbook();
    // Build 201 is large (4 MiB), build 202 small: 201 is kept everywhere.
    let path = env.dir.path().join("big.war");
    std::fs::write(&path, ihos_testkit::test_war("build 201", 4 << 20)).unwrap();
    let big = WarFile::open(&path).unwrap().with_build(Some("201".into()));
    env.others.lock().unwrap().push(big.sha256.to_string());
    deploy(&env, &big).await;
    let small = env.other_war("build 202").with_build(Some("202".into()));
    deploy(&env, &small).await;
    // One host has 6 MiB free: the kept WAR and its exploded webapp need about 8.
    let b = env.backend(NAMES[2]);
    b.host.set_disk_free(Some(6 << 20));
    match refused(&env, "201").await {
        RolloutError::Preflight {
            instance,
            check,
            reason,
            ..
        } => {
            assert!(instance == NAMES[2] || instance == NAMES[3], "{instance}");
            assert_eq!(check, "free disk space", "{reason}");
        }
        other => panic!("{other}"),
    }
    env.assert_all_on(&small.sha256);
}

#[tokio::test(start_paused = true)]
async fn webapps_and_the_state_dir_on_one_file_system_need_room_for_both_copies_at_once() {
    // The deployed WAR (4 MiB, hand-deployed) is copied to the state dir while the instance
    // drains, and the new one into webapps while it stops: on one file system (the fake
    // hosts have one) both are there at once. 5 MiB free is room for each alone (new WAR
    // and its exploded webapp: about 2 MiB; the kept copy: 4 MiB), not for both.
    let env = Env::runbook();
    let name = NAMES[1];
    let b = env.backend(name);
    let big = ihos_testkit::test_war("by hand", 4 << 20);
    b.host.write_file(&format!("{}/ihos.war", b.webapps), &big);
    let path = env.dir.path().join("new.war");
    std::fs::write(&path, ihos_testkit::test_war("new", 1 << 20)).unwrap();
    let new = WarFile::open(&path).unwrap();
    b.host.set_disk_free(Some(5 << 20));
    let rec = Recorder::new();
    let e = run_rollout(
        &env.fleet(),
        &new,
        &RolloutOptions::default(),
        rec.as_ref(),
        &CancelToken::new(),
    )
    .await
    .unwrap_err();
    match &e {
        RolloutError::Preflight {
            instance,
            check,
            reason,
            ..
        } => {
            assert_eq!(instance, name, "{e}");
            assert_eq!(check, "free disk space", "{e}");
            assert!(reason.contains("one file system"), "{e}");
        }
        other => panic!("{other}"),
    }
    assert!(!rec.any(|e| matches!(e, Event::StepStarted { .. })));
}
