//! `DockerCli` + `NginxLb` against the real Docker engine: a real nginx container in front of
//! three real backends on a network this test creates. A disabled backend gets no requests;
//! a config nginx rejects is refused and the previous bytes restored, also where only the
//! container (with fewer capabilities than the host's root) would refuse it.
//!
//! Needs Docker and the locally built `ihos/nginx:test` image (`scripts/lib/image.sh build`,
//! which `scripts/test` runs). Skips with a message when they are missing, unless
//! `IHOS_REQUIRE_SANDBOX=1`, which makes that a failure.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ihos_core::{
    ApplyMode, Container, ContainerName, DockerCli, LbError, LoadBalancer, LocalTransport, NginxLb,
    NginxLbOptions, Privilege, RemotePath, ServerState, Transport,
};

const IMAGE: &str = "ihos/nginx:test";

fn required() -> bool {
    std::env::var("IHOS_REQUIRE_SANDBOX").as_deref() == Ok("1")
}

fn docker_ok() -> bool {
    let ok = std::process::Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !required(),
            "IHOS_REQUIRE_SANDBOX=1 but docker or image {IMAGE} is missing (scripts/lib/image.sh build)"
        );
        eprintln!("SKIPPED: docker or image {IMAGE} missing; run scripts/lib/image.sh build");
    }
    ok
}

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Containers and network of one test; removed on drop, also when the test fails.
struct Stack {
    prefix: String,
    containers: Vec<String>,
    network: String,
    dir: tempfile::TempDir,
    lb_port: u16,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", c])
                .output();
        }
        let _ = std::process::Command::new("docker")
            .args(["network", "rm", &self.network])
            .output();
    }
}

const LB_CONF: &str = "\
events {
    worker_connections 64;
}
http {
    access_log off;
    upstream pool {
        server b1:80;
        server b2:80;
        server b3:80;
        #server 127.0.0.1:9 weight=0;
    }
    server {
        listen 80;
        location / {
            proxy_pass http://pool;
        }
    }
    include /etc/nginx/extra/*.conf;
}
";

fn backend_conf(name: &str) -> String {
    format!(
        "events {{}}\nhttp {{\n    access_log off;\n    server {{\n        listen 80;\n        location / {{\n            return 200 \"{name}\\n\";\n        }}\n    }}\n}}\n"
    )
}

impl Stack {
    fn up(tag: &str) -> Stack {
        Stack::up_with(tag, &[])
    }

    /// With `lb_args` given to the LB's `docker create` (e.g. `--cap-drop`), and the
    /// directory [`Stack::extra`] mounted at `/etc/nginx/extra`, whose `*.conf` the LB's
    /// config includes.
    fn up_with(tag: &str, lb_args: &[&str]) -> Stack {
        let prefix = format!("ihos-t{}-{tag}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let network = format!("{prefix}-net");
        docker(&["network", "create", "--internal", &network]);
        let mut stack = Stack {
            prefix: prefix.clone(),
            containers: Vec::new(),
            network: network.clone(),
            dir,
            lb_port: 0,
        };
        for b in ["b1", "b2", "b3"] {
            let conf = stack.dir.path().join(format!("{b}.conf"));
            std::fs::write(&conf, backend_conf(b)).unwrap();
            let name = format!("{prefix}-{b}");
            stack.containers.push(name.clone());
            let mount = format!("{}:/etc/nginx/nginx.conf:ro", conf.display());
            docker(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                &network,
                "--network-alias",
                b,
                "-v",
                &mount,
                IMAGE,
            ]);
        }
        let conf = stack.lb_conf();
        std::fs::write(&conf, LB_CONF).unwrap();
        let name = format!("{prefix}-lb");
        stack.containers.push(name.clone());
        let mount = format!("{}:/etc/nginx/nginx.conf", conf.display());
        std::fs::create_dir(stack.extra()).unwrap();
        let extra = format!("{}:/etc/nginx/extra", stack.extra().display());
        // The LB sits on the internal network and publishes its port on loopback only, via a
        // second (default bridge) attachment.
        let mut create = vec![
            "create",
            "--name",
            &name,
            "--network",
            &network,
            "-p",
            "127.0.0.1::80",
            "-v",
            &mount,
            "-v",
            &extra,
        ];
        create.extend_from_slice(lb_args);
        create.push(IMAGE);
        docker(&create);
        docker(&["network", "connect", "bridge", &name]);
        docker(&["start", &name]);
        let port = docker(&["port", &name, "80/tcp"]);
        stack.lb_port = port.rsplit(':').next().unwrap().parse().unwrap();
        // wait until it answers
        for _ in 0..100 {
            if get(stack.lb_port).is_some() {
                return stack;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nginx LB did not answer on 127.0.0.1:{}", stack.lb_port);
    }

    fn extra(&self) -> PathBuf {
        self.dir.path().join("extra")
    }

    fn lb_conf(&self) -> PathBuf {
        self.dir.path().join("lb.conf")
    }

    fn lb(&self, apply: ApplyMode) -> NginxLb<LocalTransport, DockerCli<LocalTransport>> {
        let t = Arc::new(LocalTransport::new("local"));
        let c = Arc::new(
            DockerCli::new(
                Arc::clone(&t),
                ContainerName::new(&format!("{}-lb", self.prefix)).unwrap(),
            )
            .with_privilege(Privilege::User),
        );
        let path = RemotePath::new(&self.lb_conf().display().to_string()).unwrap();
        let options = NginxLbOptions {
            apply,
            privilege: Privilege::User,
            ..NginxLbOptions::default()
        };
        NginxLb::new(t, c, path, "pool", options)
    }
}

/// One request to the LB; the backend's name, or None on a connection problem.
fn get(port: u16) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    if !buf.starts_with("HTTP/1.1 200") {
        return None;
    }
    buf.split("\r\n\r\n").nth(1).map(|b| b.trim().to_string())
}

fn spread(port: u16, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let who = get(port).unwrap_or_else(|| "FAILED".into());
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

fn inode(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_backend_gets_no_requests_and_comes_back() {
    if !docker_ok() {
        return;
    }
    let stack = Stack::up("rotate");
    let lb = stack.lb(ApplyMode::Reload);
    let ino = inode(&stack.lb_conf());

    let before = spread(stack.lb_port, 60);
    assert_eq!(
        before.keys().filter(|k| k.starts_with('b')).count(),
        3,
        "all three serve: {before:?}"
    );

    let change = lb.disable("b2:80").await.unwrap();
    assert!(change.changed());
    assert!(
        change.diff.contains("+        #server b2:80;"),
        "{}",
        change.diff
    );
    assert_eq!(inode(&stack.lb_conf()), ino, "config rewritten in place");
    let states: Vec<_> = lb
        .backends()
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.address, b.state))
        .collect();
    assert!(states.contains(&("b2:80".into(), ServerState::Commented)));
    let during = spread(stack.lb_port, 60);
    assert_eq!(during.get("b2"), None, "b2 is out of rotation: {during:?}");
    assert_eq!(during.get("FAILED"), None, "no request failed: {during:?}");
    assert!(
        during.contains_key("b1") && during.contains_key("b3"),
        "{during:?}"
    );

    // Idempotent: nothing to do, no reload.
    assert!(!lb.disable("b2:80").await.unwrap().changed());

    let back = lb.enable("b2:80").await.unwrap();
    assert!(back.changed());
    assert_eq!(
        std::fs::read_to_string(stack.lb_conf()).unwrap(),
        LB_CONF,
        "byte for byte as before"
    );
    let after = spread(stack.lb_port, 60);
    assert!(after.contains_key("b2"), "b2 is back: {after:?}");

    // The last enabled backend is never disabled.
    lb.disable("b1:80").await.unwrap();
    lb.disable("b3:80").await.unwrap();
    let err = lb.disable("b2:80").await.unwrap_err();
    assert!(matches!(err, LbError::Edit { .. }), "{err}");
    assert!(err.to_string().contains("last enabled server"), "{err}");
    assert_eq!(spread(stack.lb_port, 10).get("b2"), Some(&10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_rejected_by_nginx_is_restored_and_traffic_continues() {
    if !docker_ok() {
        return;
    }
    let stack = Stack::up("reject");
    let lb = stack.lb(ApplyMode::Reload);
    // Enabling this server makes a config nginx -t rejects (weight=0).
    let err = lb.enable("127.0.0.1:9").await.unwrap_err();
    match &err {
        LbError::Validation { output, .. } => assert!(output.contains("weight=0"), "{output}"),
        other => panic!("expected a validation error, got {other}"),
    }
    assert_eq!(
        std::fs::read_to_string(stack.lb_conf()).unwrap(),
        LB_CONF,
        "previous bytes restored"
    );
    let seen = spread(stack.lb_port, 30);
    assert_eq!(seen.get("FAILED"), None, "{seen:?}");
    assert_eq!(seen.keys().count(), 3, "{seen:?}");

    // restore() of garbage is refused the same way.
    let err = lb.restore(b"this is not nginx;\n").await.unwrap_err();
    assert!(matches!(err, LbError::Validation { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(stack.lb_conf()).unwrap(), LB_CONF);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mode_applies_by_restarting_the_container() {
    if !docker_ok() {
        return;
    }
    let stack = Stack::up("restart");
    let lb = stack.lb(ApplyMode::Restart);
    let t = LocalTransport::new("local");
    let c = DockerCli::new(
        Arc::new(t.clone()),
        ContainerName::new(&format!("{}-lb", stack.prefix)).unwrap(),
    )
    .with_privilege(Privilege::User);
    let started = c.state().await.unwrap().started_at;
    lb.disable("b1:80").await.unwrap();
    let state = c.state().await.unwrap();
    assert!(state.running);
    assert_ne!(state.started_at, started, "the container was restarted");
    let mut seen = HashMap::new();
    for _ in 0..50 {
        if let Some(who) = get(stack.lb_port) {
            *seen.entry(who).or_insert(0) += 1;
        }
        if seen.values().sum::<usize>() >= 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.get("b1"), None, "{seen:?}");
    // The same transport sees the same file.
    let bytes = t
        .read_file(
            &RemotePath::new(&stack.lb_conf().display().to_string()).unwrap(),
            Privilege::User,
        )
        .await
        .unwrap();
    assert!(String::from_utf8(bytes).unwrap().contains("#server b1:80;"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_only_the_host_s_root_may_read_is_refused_as_the_container_refuses_it() {
    // nginx's container without DAC_OVERRIDE: its root may not read a file mode 0600 of
    // another user, the host's root (nsenter's) may. `nginx -t` is what the master will do
    // on the reload, so the container's test is the one asked: the change is refused at
    // once as invalid, not taken as valid and found not applied after the reload timeout.
    if !docker_ok() {
        return;
    }
    // nsenter and the file's owner need root (as `scripts/test` runs).
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        assert!(!required(), "IHOS_REQUIRE_SANDBOX=1 but not root");
        eprintln!("SKIPPED: needs root");
        return;
    }
    let stack = Stack::up_with("capdrop", &["--cap-drop", "DAC_OVERRIDE"]);
    let lb = stack.lb(ApplyMode::Reload);
    // The preflight's check learns nginx's master; a first change works.
    lb.check().await.unwrap();
    assert!(lb.disable("b2:80").await.unwrap().changed());
    // Someone adds a file the container's root may not read.
    let unreadable = stack.extra().join("limits.conf");
    std::fs::write(&unreadable, "client_max_body_size 10m;\n").unwrap();
    std::os::unix::fs::chown(&unreadable, Some(4321), Some(4321)).unwrap();
    std::fs::set_permissions(
        &unreadable,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let before = std::fs::read(stack.lb_conf()).unwrap();
    let started = std::time::Instant::now();
    let err = lb.enable("b2:80").await.unwrap_err();
    match &err {
        LbError::Validation { output, .. } => {
            assert!(output.contains("Permission denied"), "{output}")
        }
        other => panic!("expected the container's refusal, got {other}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused after {:?}",
        started.elapsed()
    );
    assert_eq!(std::fs::read(stack.lb_conf()).unwrap(), before, "restored");
    let seen = spread(stack.lb_port, 30);
    assert_eq!(seen.get("FAILED"), None, "{seen:?}");
    assert_eq!(seen.get("b2"), None, "still out of rotation: {seen:?}");
}
