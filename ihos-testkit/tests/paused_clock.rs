//! Virtual time: under `#[tokio::test(start_paused = true)]` long waits cost nothing, and
//! everything time-driven (readiness, draining, timestamps) follows the virtual clock.

use std::sync::Arc;
use std::time::Duration;

use ihos_core::{Command, Container, ContainerName, DockerCli, Transport};
use ihos_testkit::{AppPhase, AppSpec, ContainerSpec, FakeWorld, Runbook, VirtualTime};

#[tokio::test(start_paused = true)]
async fn a_90_second_start_delay_passes_instantly() {
    let world = FakeWorld::new();
    let host = world.add_host("h");
    host.write_file("/srv/pep1/webapps/ihos.war", b"PK v1");
    host.add_container(
        ContainerSpec::app("pep1", AppSpec::new("/srv/pep1", 39091))
            .start_delay(Duration::from_secs(90))
            .stopped(),
    );
    let d = DockerCli::new(Arc::new(host.clone()), ContainerName::new("pep1").unwrap());
    let wall = std::time::Instant::now();
    d.start().await.unwrap();
    assert_eq!(
        host.container("pep1").unwrap().phase,
        Some(AppPhase::Starting)
    );
    tokio::time::sleep(Duration::from_secs(90)).await;
    assert_eq!(host.container("pep1").unwrap().phase, Some(AppPhase::Ready));
    assert!(wall.elapsed() < Duration::from_secs(2));
    assert_eq!(
        world.now(),
        VirtualTime::from_start(Duration::from_secs(90))
    );
}

#[tokio::test(start_paused = true)]
async fn the_runbooks_30_minute_wait_costs_nothing() {
    let rb = Runbook::new();
    let wall = std::time::Instant::now();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    }
    assert_eq!(rb.world.now().since_start(), Duration::from_secs(2 * 3600));
    assert!(wall.elapsed() < Duration::from_secs(2));
    let o = rb
        .lb_host
        .run(&Command::new("date").arg("+%Y-%m-%d"))
        .await
        .unwrap();
    assert_eq!(o.stdout_text(), "2026-01-05\n");
    let at = rb.world.commands()[0].at;
    assert_eq!(at.rfc3339(), "2026-01-05T11:00:00.000000000Z");
}

#[tokio::test(start_paused = true)]
async fn the_log_records_virtual_times_in_order() {
    let rb = Runbook::new();
    let b = rb.backends[0].clone();
    let d = rb.docker(&b.host, &b.container);
    d.state().await.unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    d.state().await.unwrap();
    let cmds = rb.world.commands();
    assert_eq!(cmds.len(), 2);
    assert_eq!(
        cmds[1].at.duration_since(cmds[0].at),
        Duration::from_secs(7)
    );
    let text = rb.world.log_text();
    assert!(text.contains("+7.000s"), "{text}");
}
