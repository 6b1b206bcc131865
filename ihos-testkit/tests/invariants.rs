//! The invariant checker catches deliberate violations (a checker that cannot fail is a
//! defect) and stays quiet through a careful update of one instance done by hand.

use std::time::Duration;

use ihos_core::{Command, Container, LoadBalancer, NginxLbOptions, Transport};
use ihos_testkit::{AppPhase, Runbook, ViolationKind};

const PEP1: &str = "192.168.1.101:39091";
const PEP2: &str = "192.168.1.101:39092";

#[tokio::test(start_paused = true)]
async fn stopping_a_backend_nginx_still_routes_to_is_caught() {
    let rb = Runbook::new();
    let b = rb.backend(PEP1);
    rb.docker(&b.host, &b.container)
        .stop(Duration::from_secs(10))
        .await
        .unwrap();
    let report = rb.world.check_invariants();
    assert!(!report.is_clean());
    let routed = report.matching(|k| matches!(k, ViolationKind::RoutedToUnavailable { .. }));
    assert_eq!(routed.len(), 1, "{report}");
    assert_eq!(
        routed[0].kind,
        ViolationKind::RoutedToUnavailable {
            lb: "192.168.1.101/ihos_nginx_proxy_official_1".into(),
            backend: PEP1.into(),
            phase: AppPhase::Stopped,
        }
    );
    let cause = routed[0].caused_by.as_ref().unwrap();
    assert_eq!(cause.host, "192.168.1.101");
    assert!(
        cause
            .what
            .contains("docker stop --time 10 ihos_pep1_official_1"),
        "{cause}"
    );
    assert_eq!(routed[0].ended, None, "still going on");
    // Its requests in flight were cut too.
    assert_eq!(report.requests_failed, 2, "{report}");

    // Taking it out of rotation ends the violation, at the reload.
    tokio::time::sleep(Duration::from_secs(3)).await;
    rb.nginx_lb(NginxLbOptions::default())
        .disable(PEP1)
        .await
        .unwrap();
    let report = rb.world.check_invariants();
    let routed = report.matching(|k| matches!(k, ViolationKind::RoutedToUnavailable { .. }));
    let v = routed[0];
    assert_eq!(
        v.ended.unwrap().duration_since(v.started),
        Duration::from_secs(3)
    );
    let what = &v.ended_by.as_ref().unwrap().what;
    assert!(
        what.contains("nginx -s reload") || what.contains("docker kill --signal HUP"),
        "{what}"
    );
    let text = report.to_string();
    assert!(text.contains("which is Stopped"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn stopping_before_the_drain_ends_cuts_requests() {
    let rb = Runbook::new();
    let b = rb.backend(PEP1);
    rb.nginx_lb(NginxLbOptions::default())
        .disable(PEP1)
        .await
        .unwrap();
    rb.docker(&b.host, &b.container)
        .stop(Duration::from_secs(10))
        .await
        .unwrap();
    let report = rb.world.check_invariants();
    assert_eq!(report.violations.len(), 1, "{report}");
    assert!(matches!(
        &report.violations[0].kind,
        ViolationKind::RequestsCut { count: 2, target, .. } if target.ends_with("/ihos_pep1_official_1")
    ));
}

#[tokio::test(start_paused = true)]
async fn enabling_an_instance_that_is_still_starting_is_caught() {
    let rb = Runbook::with_apps(|s| s.start_delay(Duration::from_secs(90)));
    let b = rb.backend(PEP1);
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let d = rb.docker(&b.host, &b.container);
    lb.disable(PEP1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    d.stop(Duration::from_secs(10)).await.unwrap();
    d.start().await.unwrap();
    lb.enable(PEP1).await.unwrap();
    let report = rb.world.check_invariants();
    let v = report.matching(|k| {
        matches!(
            k,
            ViolationKind::RoutedToUnavailable {
                phase: AppPhase::Starting,
                ..
            }
        )
    });
    assert_eq!(v.len(), 1, "{report}");
    assert_eq!(v[0].ended, None);
    // Time alone ends it, once Tomcat is up.
    tokio::time::sleep(Duration::from_secs(90)).await;
    let report = rb.world.check_invariants();
    let v = report.matching(|k| matches!(k, ViolationKind::RoutedToUnavailable { .. }));
    assert!(v[0].ended.is_some());
    assert_eq!(v[0].ended_by, None, "ended as time passed");
}

#[tokio::test(start_paused = true)]
async fn too_many_out_of_rotation_and_the_limit_is_configurable() {
    let rb = Runbook::new();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    lb.disable(PEP1).await.unwrap();
    assert!(rb.world.check_invariants().is_clean());
    lb.disable(PEP2).await.unwrap();
    let report = rb.world.check_invariants();
    let v = report.matching(|k| matches!(k, ViolationKind::TooManyOutOfRotation { .. }));
    assert_eq!(v.len(), 1, "{report}");
    match &v[0].kind {
        ViolationKind::TooManyOutOfRotation {
            out_of_rotation,
            max,
            ..
        } => {
            assert_eq!(out_of_rotation, &vec![PEP1.to_string(), PEP2.to_string()]);
            assert_eq!(*max, 1);
        }
        _ => unreachable!(),
    }
    lb.enable(PEP1).await.unwrap();
    let report = rb.world.check_invariants();
    assert!(report.violations[0].ended.is_some(), "{report}");

    let rb = Runbook::new();
    rb.world.set_max_out_of_rotation(2);
    let lb = rb.nginx_lb(NginxLbOptions::default());
    lb.disable(PEP1).await.unwrap();
    lb.disable(PEP2).await.unwrap();
    rb.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn nginx_down_and_no_active_backend() {
    let rb = Runbook::new();
    rb.world.set_max_out_of_rotation(4);
    for b in rb.backends.clone() {
        rb.docker(&b.host, &b.container)
            .stop(Duration::from_secs(10))
            .await
            .unwrap();
    }
    let report = rb.world.check_invariants();
    assert_eq!(
        report
            .matching(|k| matches!(k, ViolationKind::NoActiveBackend { .. }))
            .len(),
        1,
        "{report}"
    );
    let nginx = rb.docker(&rb.lb_host, &rb.nginx);
    nginx.stop(Duration::from_secs(10)).await.unwrap();
    let report = rb.world.check_invariants();
    assert_eq!(
        report
            .matching(|k| matches!(k, ViolationKind::LbDown { .. }))
            .len(),
        1,
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_instance_in_rotation_is_caught() {
    let rb = Runbook::with_apps(|s| s.never_healthy().stopped());
    rb.world.set_invariants_enabled(false);
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let b = rb.backend(PEP1).clone();
    lb.disable(PEP1).await.unwrap();
    rb.world.set_invariants_enabled(true);
    let d = rb.docker(&b.host, &b.container);
    d.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    lb.enable(PEP1).await.unwrap();
    let report = rb.world.check_invariants();
    assert!(
        report
            .matching(|k| matches!(
                k,
                ViolationKind::RoutedToUnavailable {
                    phase: AppPhase::Unhealthy,
                    ..
                }
            ))
            .len()
            == 1,
        "{report}"
    );
}

/// The runbook's steps for one instance, done carefully: no violation at all.
#[tokio::test(start_paused = true)]
async fn a_careful_update_of_one_instance_is_clean() {
    let rb = Runbook::with_apps(|s| s.start_delay(Duration::from_secs(45)));
    let b = rb.backend(PEP1).clone();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let d = rb.docker(&b.host, &b.container);
    let t = &b.host;

    lb.disable(PEP1).await.unwrap();
    // Drain: wait until no connection is left.
    let pid = d.state().await.unwrap().pid.unwrap();
    loop {
        let o = t
            .run(
                &Command::new("nsenter")
                    .args([
                        "-t",
                        &pid.to_string(),
                        "-n",
                        "ss",
                        "-Htn",
                        "state",
                        "established",
                        "sport",
                        "=",
                        ":8080",
                    ])
                    .sudo(),
            )
            .await
            .unwrap();
        if o.stdout.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    d.stop(Duration::from_secs(10)).await.unwrap();
    let war = format!("{}/ihos.war", b.webapps);
    for cmd in [
        Command::new("rm").args(["-f", "--", &war]).sudo(),
        Command::new("rm")
            .args(["-rf", "--", &format!("{}/ihos", b.webapps)])
            .sudo(),
    ] {
        assert!(t.run(&cmd).await.unwrap().success());
    }
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("ihos.war");
    std::fs::write(&local, b"PK\x03\x04 build 2").unwrap();
    t.upload(
        &local,
        &ihos_core::RemotePath::new("/home/deploy/ihos.war").unwrap(),
    )
    .await
    .unwrap();
    assert!(
        t.run(
            &Command::new("cp")
                .args(["--", "/home/deploy/ihos.war", &war])
                .sudo()
        )
        .await
        .unwrap()
        .success()
    );
    d.start().await.unwrap();
    let probe = Command::new("curl").args([
        "-fsS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "5",
        "http://127.0.0.1:39091/ihos/",
    ]);
    let t0 = rb.world.now();
    while !t.run(&probe).await.unwrap().success() {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(rb.world.now().duration_since(t0) >= Duration::from_secs(45));
    lb.enable(PEP1).await.unwrap();

    assert_eq!(
        b.host.container(&b.container).unwrap().serving,
        Some(ihos_testkit::sha256_hex(b"PK\x03\x04 build 2"))
    );
    assert_eq!(rb.routing().len(), 4);
    rb.world.assert_invariants();
    assert!(rb.world.check_invariants().checks > 10);
}

/// A benchmark's world keeps no commands in its log, yet still runs, counts and checks
/// every one of them: a violation is found and its cause named.
#[tokio::test(start_paused = true)]
async fn without_commands_in_the_log_the_invariants_are_still_checked() {
    let rb = Runbook::new();
    rb.world.set_log_commands(false);
    let lb = rb.nginx_lb(NginxLbOptions::default());
    lb.disable("192.168.1.101:39091").await.unwrap();
    lb.disable("192.168.1.101:39092").await.unwrap();
    assert!(rb.world.commands().is_empty());
    assert!(rb.world.commands_run() > 10, "{}", rb.world.commands_run());
    let report = rb.world.check_invariants();
    assert!(
        report
            .violations
            .iter()
            .any(|v| matches!(v.kind, ViolationKind::TooManyOutOfRotation { .. })),
        "{report}"
    );
    let cause = &report.violations[0].caused_by.as_ref().unwrap().what;
    // The second reload's signal, sent from the host to nginx's master.
    assert!(cause.contains("kill -s HUP"), "{cause}");
}
