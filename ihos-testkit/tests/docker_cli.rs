//! `ihos_core::DockerCli` against the fake docker engine: `docker inspect` JSON parsed by
//! the real parser, start/stop/restart/kill/exec, missing containers, sudo and docker-group
//! permissions, health in virtual time.

use std::sync::Arc;
use std::time::Duration;

use ihos_core::{
    Command, Container, ContainerError, ContainerName, DockerCli, Health, Privilege, Transport,
    TransportError,
};
use ihos_testkit::{
    AppPhase, AppSpec, ContainerSpec, FakeHost, FakeWorld, Fault, Matcher, NginxSpec,
    RUNBOOK_NGINX_CONF, VirtualTime,
};

const BASE: &str = "/opt/docker/ihos/pep1/tomcat";

fn app_host(spec: impl FnOnce(ContainerSpec) -> ContainerSpec) -> (FakeWorld, FakeHost) {
    let world = FakeWorld::new();
    let host = world.add_host("192.168.1.101");
    host.write_file(&format!("{BASE}/webapps/ihos.war"), b"PK war v1");
    host.mkdir(&format!("{BASE}/logs"), "root", 0o755);
    host.add_container(spec(ContainerSpec::app(
        "ihos_pep1_official_1",
        AppSpec::new(BASE, 39091),
    )));
    (world, host)
}

fn docker(host: &FakeHost, name: &str) -> DockerCli<FakeHost> {
    DockerCli::new(Arc::new(host.clone()), ContainerName::new(name).unwrap())
}

fn probe() -> Command {
    Command::new("curl").args([
        "-fsS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "5",
        "http://127.0.0.1:39091/ihos/",
    ])
}

#[tokio::test(start_paused = true)]
async fn state_of_a_running_container() {
    let (_world, host) = app_host(|s| s);
    let d = docker(&host, "ihos_pep1_official_1");
    let s = d.state().await.unwrap();
    assert!(s.exists && s.running);
    assert_eq!(s.status, "running");
    assert_eq!(s.health, Health::None);
    assert!(s.pid.is_some());
    assert_eq!(s.exit_code, None);
    // Started an hour before the world's start.
    assert_eq!(
        s.started_at.as_deref(),
        Some("2026-01-05T08:00:00.000000000Z")
    );
    let cmd = &host.world().commands()[0];
    assert_eq!(
        cmd.line(),
        "docker inspect --type container --format {{json .State}} ihos_pep1_official_1"
    );
    assert_eq!(cmd.command.privilege(), Privilege::Sudo);
}

#[tokio::test(start_paused = true)]
async fn stop_then_start_gives_a_new_pid_and_time() {
    let (_world, host) = app_host(|s| s);
    let d = docker(&host, "ihos_pep1_official_1");
    let pid = d.state().await.unwrap().pid.unwrap();
    d.stop(Duration::from_secs(10)).await.unwrap();
    let s = d.state().await.unwrap();
    assert!(!s.running);
    assert_eq!(s.status, "exited");
    assert_eq!(s.exit_code, Some(143));
    assert_eq!(s.pid, None);
    // Stopping again is a no-op, like docker.
    d.stop(Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    d.start().await.unwrap();
    let s = d.state().await.unwrap();
    assert!(s.running);
    assert_ne!(s.pid, Some(pid));
    assert_eq!(
        s.started_at.as_deref(),
        Some(
            VirtualTime::from_start(Duration::from_secs(60))
                .rfc3339()
                .as_str()
        )
    );
    assert_eq!(host.container("ihos_pep1_official_1").unwrap().starts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_missing_container() {
    let (_world, host) = app_host(|s| s);
    let d = docker(&host, "nope");
    assert_eq!(
        d.state().await.unwrap(),
        ihos_core::ContainerState::missing()
    );
    assert!(matches!(
        d.start().await.unwrap_err(),
        ContainerError::NotFound { .. }
    ));
    assert!(matches!(
        d.stop(Duration::from_secs(1)).await.unwrap_err(),
        ContainerError::NotFound { .. }
    ));
    assert!(matches!(
        d.exec(&["nginx".into(), "-t".into(), "-q".into()])
            .await
            .unwrap_err(),
        ContainerError::NotFound { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn sudo_needing_a_password() {
    let (_world, host) = app_host(|s| s);
    host.set_sudo_nopasswd(false);
    let d = docker(&host, "ihos_pep1_official_1");
    for err in [
        d.state().await.unwrap_err(),
        d.start().await.unwrap_err(),
        d.exec(&["nginx".into(), "-t".into()]).await.unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                ContainerError::Transport(TransportError::SudoPassword { .. })
            ),
            "{err:?}"
        );
    }
    assert!(host.container("ihos_pep1_official_1").unwrap().running);
}

#[tokio::test(start_paused = true)]
async fn docker_without_sudo_needs_the_docker_group() {
    let (_world, host) = app_host(|s| s);
    let d = docker(&host, "ihos_pep1_official_1").with_privilege(Privilege::User);
    let err = d.state().await.unwrap_err();
    assert!(
        matches!(&err, ContainerError::Docker { reason, .. } if reason.contains("permission denied")),
        "{err:?}"
    );
    host.set_docker_group(true);
    assert!(d.state().await.unwrap().running);
}

#[tokio::test(start_paused = true)]
async fn health_check_follows_the_start_in_virtual_time() {
    let (_world, host) = app_host(|s| {
        s.with_healthcheck()
            .start_delay(Duration::from_secs(90))
            .stopped()
    });
    let d = docker(&host, "ihos_pep1_official_1");
    let s = d.state().await.unwrap();
    assert_eq!((s.running, s.status.as_str()), (false, "created"));
    assert_eq!(s.started_at, None);
    d.start().await.unwrap();
    assert_eq!(d.state().await.unwrap().health, Health::Starting);
    assert_eq!(host.run(&probe()).await.unwrap().status, Some(7));
    let wall = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(89)).await;
    assert_eq!(d.state().await.unwrap().health, Health::Starting);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(d.state().await.unwrap().health, Health::Healthy);
    let o = host.run(&probe()).await.unwrap();
    assert_eq!((o.status, o.stdout_text().as_str()), (Some(0), "200"));
    assert!(wall.elapsed() < Duration::from_secs(5), "virtual time only");
}

#[tokio::test(start_paused = true)]
async fn a_container_that_never_becomes_healthy() {
    let (_world, host) = app_host(|s| s.with_healthcheck().never_healthy().stopped());
    let d = docker(&host, "ihos_pep1_official_1");
    d.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
    let s = d.state().await.unwrap();
    assert!(s.running);
    assert_eq!(s.health, Health::Unhealthy);
    let o = host.run(&probe()).await.unwrap();
    assert_eq!((o.status, o.stdout_text().as_str()), (Some(22), "503"));
    assert_eq!(
        host.container("ihos_pep1_official_1").unwrap().phase,
        Some(AppPhase::Unhealthy)
    );
}

#[tokio::test(start_paused = true)]
async fn restart_reloads_the_war() {
    let (_world, host) = app_host(|s| s);
    let v1 = ihos_testkit::sha256_hex(b"PK war v1");
    let info = host.container("ihos_pep1_official_1").unwrap();
    assert_eq!(info.serving.as_deref(), Some(v1.as_str()));
    host.write_file(&format!("{BASE}/webapps/ihos.war"), b"PK war v2");
    assert_eq!(
        host.container("ihos_pep1_official_1").unwrap().serving,
        Some(v1),
        "a running Tomcat keeps serving what it loaded"
    );
    let d = docker(&host, "ihos_pep1_official_1");
    d.restart(Duration::from_secs(10)).await.unwrap();
    let info = host.container("ihos_pep1_official_1").unwrap();
    assert_eq!(info.serving, Some(ihos_testkit::sha256_hex(b"PK war v2")));
    assert_eq!(info.phase, Some(AppPhase::Starting));
}

#[tokio::test(start_paused = true)]
async fn signals() {
    let (_world, host) = app_host(|s| s);
    let d = docker(&host, "ihos_pep1_official_1");
    assert!(matches!(
        d.signal("hup; rm -rf /").await.unwrap_err(),
        ContainerError::InvalidSignal(_)
    ));
    assert!(host.world().commands().is_empty(), "refused before running");
    d.signal("USR1").await.unwrap();
    assert!(d.state().await.unwrap().running);
    d.signal("KILL").await.unwrap();
    let s = d.state().await.unwrap();
    assert_eq!((s.running, s.exit_code), (false, Some(137)));
    assert!(matches!(
        d.signal("TERM").await.unwrap_err(),
        ContainerError::Docker { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn exec_in_nginx_and_unknown_exec() {
    let world = FakeWorld::new();
    let host = world.add_host("lb");
    host.write_file("/srv/nginx.conf", RUNBOOK_NGINX_CONF);
    host.add_container(ContainerSpec::nginx(
        "nginx",
        NginxSpec::new("/srv/nginx.conf", "service_ihos"),
    ));
    let d = docker(&host, "nginx");
    let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let o = d.exec(&argv("nginx -t -q")).await.unwrap();
    assert!(o.success() && o.stderr.is_empty(), "{o:?}");
    let o = d.exec(&argv("nginx -t")).await.unwrap();
    assert!(o.stderr_text().contains("test is successful"), "{o:?}");
    let o = d
        .exec(&argv("nginx -c /etc/nginx/other.conf -t -q"))
        .await
        .unwrap();
    assert_eq!(o.status, Some(1));
    assert!(
        o.stderr_text()
            .contains("open() \"/etc/nginx/other.conf\" failed")
    );
    let o = d.exec(&argv("nginx -s reload")).await.unwrap();
    assert!(o.success());
    assert!(o.stderr_text().contains("signal process started"), "{o:?}");
    let err = d.exec(&argv("ls /etc")).await.unwrap_err();
    assert!(
        err.to_string().contains("fake host: unsupported command"),
        "{err}"
    );
    // A broken config: nginx -t says where.
    host.write_file("/srv/nginx.conf", "events {}\nhttp {\n  server {\n");
    let o = d.exec(&argv("nginx -t -q")).await.unwrap();
    assert_eq!(o.status, Some(1));
    assert!(
        o.stderr_text()
            .starts_with("nginx: [emerg] unexpected end of file"),
        "{o:?}"
    );
    assert!(
        o.stderr_text().contains("in /etc/nginx/nginx.conf:"),
        "{o:?}"
    );
    // Stopped: exec fails like docker's, as its own error (not a config nginx rejects).
    d.stop(Duration::from_secs(1)).await.unwrap();
    let err = d.exec(&argv("nginx -t -q")).await.unwrap_err();
    assert!(matches!(err, ContainerError::NotRunning { .. }), "{err}");
    // And it will not start again with that config.
    d.start().await.unwrap();
    let s = d.state().await.unwrap();
    assert_eq!((s.running, s.exit_code), (false, Some(1)));
}

#[tokio::test(start_paused = true)]
async fn docker_faults() {
    let (world, host) = app_host(|s| s);
    world.inject(
        Fault::on(Matcher::argv_starts_with(&["docker", "start"])).fail(
            1,
            "Error response from daemon: driver failed programming external connectivity",
        ),
    );
    world.inject(Fault::on(Matcher::argv_starts_with(&["docker", "stop"])).hang());
    let d = docker(&host, "ihos_pep1_official_1");
    let err = d.stop(Duration::from_secs(10)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ContainerError::Transport(TransportError::Timeout { after, .. }) if after == Duration::from_secs(70)
        ),
        "{err:?}"
    );
    assert!(
        d.state().await.unwrap().running,
        "the hung stop did nothing"
    );
    d.stop(Duration::from_secs(10)).await.unwrap();
    let err = d.start().await.unwrap_err();
    assert!(
        matches!(&err, ContainerError::Docker { reason, .. } if reason.contains("external connectivity")),
        "{err:?}"
    );
    assert!(!d.state().await.unwrap().running);
}
