//! `ihos_core::NginxLb` against the fake nginx of the runbook topology: a change reaches
//! nginx only after `nginx -t`, is applied by a graceful reload, and on every failure the
//! previous bytes are back (same inode) and nginx routes as before.

mod common;

use std::time::Duration;

use std::sync::Arc;

use common::{changed, count, lines, reloads};
use ihos_core::{
    ApplyMode, Container, LbError, LoadBalancer, NginxLb, NginxLbOptions, RemotePath, ServerState,
};
use ihos_testkit::{
    ContainerSpec, Fault, Matcher, NginxSpec, RUNBOOK_NGINX_CONF, Runbook, ViolationKind,
};

const PEP1: &str = "192.168.1.101:39091";
const BACKUP: &str = "/opt/docker/ihos/nginx_proxy/.nginx.conf.ihos-prev";

fn all() -> Vec<String> {
    [
        "192.168.1.101:39091",
        "192.168.1.101:39092",
        "192.168.1.103:39091",
        "192.168.1.103:39092",
    ]
    .map(String::from)
    .to_vec()
}

/// Asserts the config is the original one, in the same inode, and nginx routes to all.
fn assert_untouched(rb: &Runbook, inode: u64) {
    assert_eq!(
        String::from_utf8(rb.config_bytes()).unwrap(),
        RUNBOOK_NGINX_CONF,
        "config restored byte for byte"
    );
    assert_eq!(rb.lb_host.stat(&rb.config).unwrap().inode, inode);
    assert_eq!(rb.routing(), all(), "nginx routes as before");
    assert_eq!(
        rb.world
            .active_config(rb.lb_host.name(), &rb.nginx)
            .unwrap(),
        RUNBOOK_NGINX_CONF.as_bytes()
    );
}

#[tokio::test(start_paused = true)]
async fn backends_are_read_from_the_config() {
    let rb = Runbook::new();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let b = lb.backends().await.unwrap();
    assert_eq!(
        b.iter().map(|b| b.address.clone()).collect::<Vec<_>>(),
        all()
    );
    assert!(b.iter().all(|b| b.state == ServerState::Enabled));
}

/// What the `max_unavailable` check asks (`out_of_rotation`, answered from the kept config)
/// is what `backends` says, after changes and after an edit by hand that ihos did not make.
#[tokio::test(start_paused = true)]
async fn out_of_rotation_agrees_with_backends() {
    let rb = Runbook::new();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let out_by_backends = |b: Vec<ihos_core::Backend>| -> Vec<String> {
        b.into_iter()
            .filter(|b| !b.state.is_enabled())
            .map(|b| b.address)
            .collect()
    };
    assert!(lb.out_of_rotation().await.unwrap().is_empty());
    lb.disable(PEP1).await.unwrap();
    assert_eq!(lb.out_of_rotation().await.unwrap(), vec![PEP1.to_string()]);
    // By hand, behind ihos's back: the kept copy is stale, the answer is not.
    let text = String::from_utf8(rb.config_bytes()).unwrap();
    let third = &all()[2];
    let edited = text.replacen(
        &format!("server {third}"),
        &format!("server {third} down"),
        1,
    );
    assert_ne!(edited, text);
    rb.lb_host.write_file(&rb.config, edited.as_bytes());
    let out = lb.out_of_rotation().await.unwrap();
    assert_eq!(out, vec![PEP1.to_string(), third.clone()]);
    assert_eq!(out, out_by_backends(lb.backends().await.unwrap()));
}

#[tokio::test(start_paused = true)]
async fn disable_then_enable_changes_routing_gracefully() {
    let rb = Runbook::new();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;

    let change = lb.disable(PEP1).await.unwrap();
    assert!(change.changed());
    assert!(
        String::from_utf8(rb.config_bytes())
            .unwrap()
            .contains("#server 192.168.1.101:39091 max_fails=5")
    );
    assert_eq!(rb.lb_host.stat(&rb.config).unwrap().inode, inode);
    assert_eq!(
        rb.lb_host.read(BACKUP).unwrap(),
        RUNBOOK_NGINX_CONF.as_bytes()
    );
    assert_eq!(rb.routing(), all()[1..].to_vec());
    assert_eq!(rb.world.draining(rb.lb_host.name(), &rb.nginx), vec![PEP1]);
    assert_eq!(lb.old_workers().await.unwrap(), 2, "old workers drain");
    assert_eq!(count(&rb.world, "nginx -t -q"), 1);
    assert_eq!(reloads(&rb.world), 1);
    // nginx's master is the container's main process: SIGHUP to the container, as
    // `nginx -s reload` would send it, without a process started in the container.
    assert_eq!(count(&rb.world, "docker kill --signal HUP"), 1);
    assert_eq!(count(&rb.world, "nginx -s reload"), 0);

    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(rb.world.draining(rb.lb_host.name(), &rb.nginx).is_empty());
    assert_eq!(lb.old_workers().await.unwrap(), 0);

    let change = lb.enable(PEP1).await.unwrap();
    assert!(change.changed());
    assert_eq!(rb.config_bytes(), RUNBOOK_NGINX_CONF.as_bytes());
    assert_eq!(rb.routing(), all());
    // A no-op changes nothing and reloads nothing.
    let before = reloads(&rb.world);
    assert!(!lb.enable(PEP1).await.unwrap().changed());
    assert_eq!(reloads(&rb.world), before);
    rb.world.assert_invariants();
}

/// A signal to the container reaches its main process; when that is a shell that stays
/// (PID 1, no handlers: the kernel drops the signal), nginx never sees it, so the reload
/// runs `nginx -s reload` in the container instead.
#[tokio::test(start_paused = true)]
async fn behind_a_shell_that_drops_signals_the_reload_runs_in_the_container() {
    let rb = Runbook::new();
    let name = "nginx_behind_sh";
    rb.lb_host.add_container(ContainerSpec::nginx(
        name,
        NginxSpec::new(&rb.config, &rb.upstream).behind_shell(),
    ));
    let lb = NginxLb::new(
        Arc::new(rb.lb_host.clone()),
        Arc::new(rb.docker(&rb.lb_host, name)),
        RemotePath::new(&rb.config).unwrap(),
        rb.upstream.clone(),
        NginxLbOptions::default(),
    );
    // Proof that the fake's shell really drops it: a HUP sent by hand changes nothing.
    let before = rb.world.routing(rb.lb_host.name(), name);
    rb.lb_host.write_file(
        &rb.config,
        String::from_utf8(rb.config_bytes())
            .unwrap()
            .replace("server 192.168.1.101:39091", "#server 192.168.1.101:39091"),
    );
    rb.docker(&rb.lb_host, name).signal("HUP").await.unwrap();
    assert_eq!(rb.world.routing(rb.lb_host.name(), name), before);
    rb.lb_host.write_file(&rb.config, RUNBOOK_NGINX_CONF);

    let at_start = reloads(&rb.world);
    assert!(lb.disable(PEP1).await.unwrap().changed());
    assert_eq!(
        rb.world.routing(rb.lb_host.name(), name),
        all()[1..].to_vec()
    );
    assert!(lb.enable(PEP1).await.unwrap().changed());
    assert_eq!(rb.world.routing(rb.lb_host.name(), name), all());
    assert_eq!(reloads(&rb.world) - at_start, 2);
    assert_eq!(count(&rb.world, "nginx -s reload"), 2);
    assert_eq!(
        count(&rb.world, "docker kill --signal HUP"),
        1,
        "only the one by hand"
    );
    // Whether the master is the main process was looked up once, not per change.
    assert_eq!(count(&rb.world, "docker inspect"), 1);
}

#[tokio::test(start_paused = true)]
async fn nginx_t_rejecting_the_content_restores_everything() {
    let rb = Runbook::new();
    rb.world.nginx_rejects(
        rb.lb_host.name(),
        &rb.nginx,
        |conf| String::from_utf8_lossy(conf).contains("#server 192.168.1.101:39091 max_fails=5"),
        "host not found in upstream \"x\"",
    );
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
    let before = rb.lb_host.snapshot();
    let err = lb.disable(PEP1).await.unwrap_err();
    match &err {
        LbError::Validation { output, .. } => assert!(
            output.contains(
                "nginx: [emerg] host not found in upstream \"x\" in /etc/nginx/nginx.conf:1"
            ),
            "{output}"
        ),
        other => panic!("unexpected {other:?}"),
    }
    assert_untouched(&rb, inode);
    assert_eq!(reloads(&rb.world), 0, "never reloaded");
    assert_eq!(
        changed(&before, &rb.lb_host.snapshot(), &[BACKUP]),
        Vec::<String>::new()
    );
    rb.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn nginx_t_failing_on_the_first_call_restores_everything() {
    let rb = Runbook::new();
    let fault = rb.world.inject(
        Fault::on(Matcher::nginx_test())
            .nth(1)
            .fail(1, "nginx: [emerg] injected in /etc/nginx/nginx.conf:3"),
    );
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
    let err = lb.disable(PEP1).await.unwrap_err();
    assert!(matches!(err, LbError::Validation { .. }), "{err:?}");
    assert_eq!(rb.world.fault_fired(fault), 1);
    assert_untouched(&rb, inode);
    // The next attempt goes through.
    lb.disable(PEP1).await.unwrap();
    assert_eq!(rb.routing(), all()[1..].to_vec());
}

#[tokio::test(start_paused = true)]
async fn a_failed_reload_is_restored_and_reapplied() {
    let rb = Runbook::new();
    let fault = rb
        .world
        .inject(Fault::on(Matcher::nginx_reload()).nth(1).fail(
            1,
            "nginx: [alert] kill(1, SIGHUP) failed (3: No such process)",
        ));
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
    let err = lb.disable(PEP1).await.unwrap_err();
    assert!(
        matches!(&err, LbError::Apply { reason, .. } if reason.contains("kill(1, SIGHUP)")),
        "{err:?}"
    );
    assert_eq!(
        rb.world.fault_matched(fault),
        2,
        "the restored config was reloaded"
    );
    assert_untouched(&rb, inode);
    rb.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn reload_failing_again_is_a_restore_failure_but_the_bytes_are_back() {
    let rb = Runbook::new();
    rb.world.inject(
        Fault::on(Matcher::nginx_reload())
            .every()
            .fail(1, "nginx: [alert] kill failed"),
    );
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
    let err = lb.disable(PEP1).await.unwrap_err();
    assert!(matches!(err, LbError::RestoreFailed { .. }), "{err:?}");
    assert_untouched(&rb, inode);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_during_reload_is_restored() {
    let rb = Runbook::new();
    rb.world
        .inject(Fault::on(Matcher::nginx_reload()).nth(1).disconnect(true));
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
    let err = lb.disable(PEP1).await.unwrap_err();
    assert!(matches!(err, LbError::Apply { .. }), "{err:?}");
    // The reload had happened before the connection dropped; the restore re-applied the
    // previous config.
    assert_untouched(&rb, inode);
}

#[tokio::test(start_paused = true)]
async fn disk_full_while_writing_the_config_keeps_the_original() {
    let rb = Runbook::new();
    // The new config is staged in a new file next to it before anything is written to
    // it: the disk fills up there.
    let fault = rb.world.inject(
        Fault::on(Matcher::line_contains("nginx_proxy/.nginx.conf.ihos-tmp-"))
            .on_host(rb.lb_host.name())
            .disk_full_after(10),
    );
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
    let before = rb.lb_host.snapshot();
    let err = lb.disable(PEP1).await.unwrap_err();
    assert_eq!(rb.world.fault_fired(fault), 1);
    assert!(
        matches!(&err, LbError::Transport(e) if e.to_string().contains("No space left on device")),
        "{err:?}"
    );
    assert_untouched(&rb, inode);
    // Nothing changed at all: not the backup, and no staged file is left behind.
    assert_eq!(
        changed(&before, &rb.lb_host.snapshot(), &[]),
        Vec::<String>::new()
    );
    assert_eq!(count(&rb.world, "docker exec"), 0, "nginx was never asked");
}

#[tokio::test(start_paused = true)]
async fn disk_full_while_writing_the_backup_changes_nothing() {
    let rb = Runbook::new();
    // The backup is copied on the host after the new bytes are staged: its `dd` (inside
    // the one command of the write) runs out of disk.
    let fault = rb
        .world
        .inject(Fault::on(Matcher::line_contains("ihos-prev.ihos-tmp-")).disk_full_after(0));
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
    let before = rb.lb_host.snapshot();
    let err = lb.disable(PEP1).await.unwrap_err();
    assert_eq!(rb.world.fault_fired(fault), 1);
    // Both staged files went: nothing on the host changed.
    assert_eq!(
        changed(&before, &rb.lb_host.snapshot(), &[]),
        Vec::<String>::new()
    );
    assert!(
        matches!(&err, LbError::Transport(e) if e.to_string().contains("(backup)")
            && e.to_string().contains("No space left on device")),
        "{err:?}"
    );
    assert_untouched(&rb, inode);
    assert!(!rb.lb_host.exists(BACKUP));
    assert_eq!(count(&rb.world, "docker exec"), 0);
}

#[tokio::test(start_paused = true)]
async fn cp_truncating_the_config_midway_is_repaired() {
    let rb = Runbook::new();
    // The in-place copy of the new config (the backup is a new file, renamed into place):
    // it dies after 20 bytes.
    rb.world.inject(
        Fault::on(Matcher::line_contains(&format!("of={}", rb.config)))
            .nth(1)
            .disk_full_after(20),
    );
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
    let err = lb.disable(PEP1).await.unwrap_err();
    assert!(matches!(err, LbError::Apply { .. }), "{err:?}");
    assert_untouched(&rb, inode);
    rb.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn the_last_enabled_backend_is_refused() {
    let rb = Runbook::new();
    rb.world.set_max_out_of_rotation(3);
    let lb = rb.nginx_lb(NginxLbOptions::default());
    for b in &all()[..3] {
        lb.disable(b).await.unwrap();
    }
    let before = rb.config_bytes();
    let err = lb.disable(&all()[3]).await.unwrap_err();
    assert!(
        matches!(&err, LbError::Edit { error, .. } if error.to_string().contains("last enabled server")),
        "{err:?}"
    );
    assert_eq!(rb.config_bytes(), before);
    assert_eq!(rb.routing(), vec![all()[3].clone()]);
    rb.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn restart_mode_cuts_requests_and_the_checker_says_so() {
    let rb = Runbook::new();
    let lb = rb.nginx_lb(NginxLbOptions {
        apply: ApplyMode::Restart,
        ..NginxLbOptions::default()
    });
    lb.disable(PEP1).await.unwrap();
    assert_eq!(rb.routing(), all()[1..].to_vec());
    assert_eq!(count(&rb.world, "docker restart"), 1);
    let report = rb.world.check_invariants();
    let cuts = report.matching(|k| matches!(k, ViolationKind::RequestsCut { .. }));
    assert_eq!(cuts.len(), 1, "{report}");
    // Four answering backends, two requests in flight each.
    assert_eq!(report.requests_failed, 8);
    assert!(
        cuts[0]
            .caused_by
            .as_ref()
            .unwrap()
            .what
            .contains("docker restart"),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_reload_is_waited_for() {
    // nginx -s reload returns before the new workers run; NginxLb waits for them.
    let world = ihos_testkit::FakeWorld::new();
    let host = world.add_host("192.168.1.101");
    host.write_file("/srv/nginx.conf", RUNBOOK_NGINX_CONF);
    host.add_container(ihos_testkit::ContainerSpec::nginx(
        "lb",
        ihos_testkit::NginxSpec::new("/srv/nginx.conf", "service_ihos")
            .reload_delay(Duration::from_secs(2)),
    ));
    world.set_invariants_enabled(false);
    let lb = ihos_core::NginxLb::new(
        std::sync::Arc::new(host.clone()),
        std::sync::Arc::new(ihos_core::DockerCli::new(
            std::sync::Arc::new(host.clone()),
            ihos_core::ContainerName::new("lb").unwrap(),
        )),
        ihos_core::RemotePath::new("/srv/nginx.conf").unwrap(),
        "service_ihos",
        NginxLbOptions::default(),
    );
    let t0 = world.now();
    lb.disable(PEP1).await.unwrap();
    let waited = world.now().duration_since(t0);
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
        "{waited:?}\n{:#?}",
        lines(&world)
    );
    assert_eq!(world.routing("192.168.1.101", "lb"), all()[1..].to_vec());
}

#[tokio::test(start_paused = true)]
async fn nginx_container_down_changes_nothing() {
    let rb = Runbook::new();
    rb.world.set_invariants_enabled(false);
    let d = rb.docker(&rb.lb_host, &rb.nginx);
    ihos_core::Container::stop(&d, Duration::from_secs(1))
        .await
        .unwrap();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
    // (NginxLb currently reports this as LbError::Validation, with docker's "is not
    // running" as nginx's output; only the safety part is asserted here.)
    let err = lb.disable(PEP1).await.unwrap_err();
    assert!(err.to_string().contains("is not running"), "{err}");
    assert_eq!(rb.config_bytes(), RUNBOOK_NGINX_CONF.as_bytes());
    assert_eq!(rb.lb_host.stat(&rb.config).unwrap().inode, inode);
    assert!(rb.routing().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_write_whose_answer_is_lost_is_taken_as_written_and_put_back() {
    // sshd does not stop a command whose client is gone: a write whose answer never came
    // may still be writing the file, so its old bytes are put back (and nginx reloaded
    // with them) whether the connection went while the new bytes were staged or while
    // they were copied onto the file.
    for (at, lost) in [
        ("staging", "nginx_proxy/.nginx.conf.ihos-tmp-".to_string()),
        ("copying", format!("of={}", Runbook::new().config)),
    ] {
        let rb = Runbook::new();
        let fault = rb
            .world
            .inject(Fault::on(Matcher::line_contains(&lost)).disconnect(true));
        let lb = rb.nginx_lb(NginxLbOptions::default());
        let inode = rb.lb_host.stat(&rb.config).unwrap().inode;
        let err = lb.disable(PEP1).await.unwrap_err();
        assert_eq!(rb.world.fault_fired(fault), 1, "{at}");
        assert!(matches!(err, LbError::Apply { .. }), "{at}: {err:?}");
        assert_untouched(&rb, inode);
        rb.world.assert_invariants();
    }
}
