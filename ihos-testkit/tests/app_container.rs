//! The fake Tomcat app: its log, its WAR, its health probe, its connections (nginx routing
//! and draining, held background connections) as `ss` shows them inside its namespace.
//!
//! Everything here is in memory: the runbook's 192.168.x addresses are names of fake hosts,
//! and the `curl` below is interpreted by the fake host; nothing touches the network.

mod common;

use std::time::Duration;

use ihos_core::{Command, Container, LoadBalancer, NginxLbOptions, Transport};
use ihos_testkit::{ContainerSpec, RUNBOOK_WAR_V1, Runbook, VirtualTime, log_file_name};

const PEP1: &str = "192.168.1.101:39091";

fn ss(pid: u32) -> Command {
    Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ss",
            "-Htn",
            "state",
            "established",
        ])
        .sudo()
}

async fn connections(rb: &Runbook, addr: &str) -> usize {
    let b = rb.backend(addr);
    let pid = b.host.container(&b.container).unwrap().pid.unwrap();
    let out = b.host.run(&ss(pid)).await.unwrap();
    assert!(out.success(), "{out:?}");
    out.stdout_text().lines().count()
}

#[tokio::test(start_paused = true)]
async fn startup_is_logged_and_the_war_exploded() {
    let rb = Runbook::with_apps(|s: ContainerSpec| s.start_delay(Duration::from_millis(2034)));
    let b = rb.backend(PEP1);
    let log_dir = b.logs.clone();
    // The run that started an hour before the world did logged at 08:00 the same day.
    let log = b
        .host
        .read_text(&format!("{log_dir}/logFile.2026-01-05.log"))
        .unwrap();
    assert!(
        log.contains(
            "05-Jan-2026 08:00:02.034 INFO [main] org.apache.catalina.startup.Catalina.start Server startup in [2034] milliseconds"
        ),
        "{log}"
    );
    assert!(
        b.host
            .exists(&format!("{}/ihos/META-INF/MANIFEST.MF", b.webapps))
    );

    let d = rb.docker(&b.host, &b.container);
    d.stop(Duration::from_secs(10)).await.unwrap();
    d.start().await.unwrap();
    let log = b
        .host
        .read_text(&format!("{log_dir}/logFile.2026-01-05.log"))
        .unwrap();
    assert_eq!(log.matches("Server startup in").count(), 1, "not ready yet");
    assert!(log.contains("Stopping the Server instance"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = b
        .host
        .read_text(&format!("{log_dir}/logFile.2026-01-05.log"))
        .unwrap();
    assert_eq!(log.matches("Server startup in").count(), 2, "{log}");
    assert!(log.ends_with("09:00:02.034 INFO [main] org.apache.catalina.startup.Catalina.start Server startup in [2034] milliseconds\n"), "{log}");
}

#[tokio::test(start_paused = true)]
async fn an_exception_after_start_lands_in_the_days_log() {
    let rb = Runbook::with_apps(|s| {
        s.stopped().exception_after_start(
            Duration::from_secs(30),
            "java.lang.IllegalStateException: datasource not configured",
        )
    });
    let b = rb.backend(PEP1);
    // Start it the next day: the log file follows the virtual date.
    tokio::time::sleep(Duration::from_secs(16 * 3600)).await;
    rb.docker(&b.host, &b.container).start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let name = log_file_name(VirtualTime::from_start(Duration::from_secs(16 * 3600)));
    assert_eq!(name, "logFile.2026-01-06.log");
    let log = b.host.read_text(&format!("{}/{name}", b.logs)).unwrap();
    assert!(
        log.contains("ERROR [http-nio-8080-exec-1] com.ihos.web.Application - java.lang.IllegalStateException: datasource not configured"),
        "{log}"
    );
    assert!(log.contains("\tat com.ihos.web.Application.handle"));
}

#[tokio::test(start_paused = true)]
async fn the_app_serves_the_war_present_at_its_start() {
    let rb = Runbook::new();
    let b = rb.backend(PEP1);
    let d = rb.docker(&b.host, &b.container);
    d.stop(Duration::from_secs(10)).await.unwrap();
    // Remove the WAR and start: Tomcat runs, the app does not answer.
    b.host
        .run(
            &Command::new("rm")
                .args(["-f", "--", &format!("{}/ihos.war", b.webapps)])
                .sudo(),
        )
        .await
        .unwrap();
    d.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let probe = Command::new("curl").args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "5",
        "--",
        "http://127.0.0.1:39091/ihos/health",
    ]);
    let o = b.host.run(&probe).await.unwrap();
    assert_eq!((o.status, o.stdout_text().as_str()), (Some(0), "503"));
    // With the WAR back and a restart it answers, serving that WAR.
    b.host
        .write_file(&format!("{}/ihos.war", b.webapps), RUNBOOK_WAR_V1);
    d.restart(Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let o = b.host.run(&probe).await.unwrap();
    assert_eq!(o.stdout_text(), "200");
    // From the other host, by the host's name.
    let other = &rb.backends[2].host;
    let o = other
        .run(&Command::new("curl").args([
            "-fsS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            "http://192.168.1.101:39091/",
        ]))
        .await
        .unwrap();
    assert_eq!(o.stdout_text(), "200");
}

#[tokio::test(start_paused = true)]
async fn connections_drain_after_a_reload() {
    let rb = Runbook::new();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    assert_eq!(connections(&rb, PEP1).await, 2);
    lb.disable(PEP1).await.unwrap();
    assert_eq!(
        connections(&rb, PEP1).await,
        2,
        "old workers still serve them"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(connections(&rb, PEP1).await, 0, "idle");
    assert_eq!(connections(&rb, "192.168.1.103:39091").await, 2);
    rb.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn held_connections_keep_an_instance_busy() {
    let rb = Runbook::new();
    let b = rb.backend(PEP1);
    rb.world.set_connections_per_backend(3);
    rb.world
        .hold_connections(b.host.name(), &b.container, 1, Duration::from_secs(600));
    let lb = rb.nginx_lb(NginxLbOptions::default());
    lb.disable(PEP1).await.unwrap();
    assert_eq!(connections(&rb, PEP1).await, 4);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(connections(&rb, PEP1).await, 1, "the background job");
    tokio::time::sleep(Duration::from_secs(540)).await;
    assert_eq!(connections(&rb, PEP1).await, 0);
    // ss filtered on another port sees nothing; nsenter needs root.
    let pid = b.host.container(&b.container).unwrap().pid.unwrap();
    let o = b
        .host
        .run(&Command::new("nsenter").args([
            "-t",
            &pid.to_string(),
            "-n",
            "ss",
            "-Htn",
            "state",
            "established",
        ]))
        .await
        .unwrap();
    assert!(o.stderr_text().contains("Permission denied"), "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn the_process_listing_shows_draining_workers() {
    let rb = Runbook::new();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let before = lb.workers().await.unwrap();
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|w| !w.shutting_down));
    lb.disable(PEP1).await.unwrap();
    let after = lb.workers().await.unwrap();
    assert_eq!(after.len(), 4);
    assert_eq!(after.iter().filter(|w| w.shutting_down).count(), 2);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = lb.workers().await.unwrap();
    assert_eq!(later.len(), 2);
    assert!(later.iter().all(|w| !before.iter().any(|b| b.pid == w.pid)));
    let d = rb.docker(&rb.lb_host, &rb.nginx);
    assert!(d.state().await.unwrap().running);
}
