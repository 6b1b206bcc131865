//! Reaching hosts that a key and a direct connection do not reach: password logins and
//! jump hosts (`JumpHost`, OpenSSH's ProxyJump), against real sshd "hosts" on loopback.
//!
//! A host "behind" the jump host refuses every direct connection from this test: an
//! iptables rule rejects connections from uid 0 (the test runs as root) to its address and
//! port, while the jump host's sshd, which forwards as the logged-in user (`deploy`), gets
//! through. So a test that passes has really gone through the jump host.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ihos_core::{
    Command, JumpHost, RemotePath, SshAuth, SshOptions, SshTransport, Transport, TransportError,
    run_checked,
};

mod sshd_host;
use ihos_testkit::DirectRefused;
use sshd_host::Host;

/// The password sshd-hosts.sh gave `deploypass` (root-only file; never printed).
fn deploypass_password() -> String {
    std::fs::read_to_string("/run/ihos-sshd/deploypass.password")
        .expect("sshd-hosts.sh writes the password file")
        .trim()
        .to_string()
}

fn set_env(name: &str, value: &str) {
    // SAFETY: the names are unique to one test each, and Rust's own environment access is
    // locked; nothing in these tests reads the environment from C at the same time.
    unsafe { std::env::set_var(name, value) };
}

/// Lines of a host's sshd log that contain `needle`.
fn log_count(host: &Host, needle: &str) -> usize {
    let log = host.ssh_dir().join(format!("sshd.{}.log", host.addr));
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

fn random_file(dir: &Path, len: usize) -> std::path::PathBuf {
    let path = dir.join("payload.bin");
    let mut bytes = vec![0u8; len];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in &mut bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    path
}

#[tokio::test]
async fn logs_in_with_a_password_and_says_why_when_it_cannot() {
    let Some(host) = Host::up_with("password", "127.0.0.11", 2271, &[]) else {
        return;
    };
    let password = deploypass_password();
    set_env("IHOS_TEST_REACH_PW", &password);
    set_env("IHOS_TEST_REACH_PW_WRONG", "not-the-password");
    let with = |auth: SshAuth| SshOptions {
        auth,
        ..host.options()
    };
    let pw = |var: &str| SshAuth::Password {
        password_env: var.into(),
    };

    let t = SshTransport::connect(host.target("deploypass"), with(pw("IHOS_TEST_REACH_PW")))
        .await
        .expect("password login");
    let out = run_checked(&t, &Command::new("whoami").sudo())
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "root\n");

    // Methods in order: a key the server does not take for this user, then the password.
    let chain = SshAuth::Chain(vec![
        SshAuth::KeyFile {
            path: host.ssh_dir().join("id_ed25519"),
            passphrase_env: None,
        },
        pw("IHOS_TEST_REACH_PW"),
    ]);
    let t = SshTransport::connect(host.target("deploypass"), with(chain))
        .await
        .expect("key then password");
    run_checked(&t, &Command::new("true")).await.unwrap();

    // A wrong password: refused, saying so, without the password in the message.
    let e = SshTransport::connect(
        host.target("deploypass"),
        with(pw("IHOS_TEST_REACH_PW_WRONG")),
    )
    .await
    .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, TransportError::Auth { .. }), "{text}");
    assert!(text.contains("password"), "{text}");
    assert!(
        !text.contains("not-the-password") && !text.contains(&password),
        "{text}"
    );

    // The variable is not set: said, with its name.
    let e = SshTransport::connect(host.target("deploypass"), with(pw("IHOS_TEST_REACH_UNSET")))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("IHOS_TEST_REACH_UNSET is not set"),
        "{e}"
    );

    // A user sshd lets in by key only: the password is refused and the error says what
    // the server takes.
    let e = SshTransport::connect(host.target("deploy"), with(pw("IHOS_TEST_REACH_PW")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("publickey"), "{e}");
}

#[tokio::test]
async fn reaches_hosts_only_through_their_jump_hosts_over_one_session() {
    const PORT: u16 = 2272;
    let Some(bastion) = Host::up_with(
        "jump",
        "127.0.0.11",
        PORT,
        &[("IHOS_SSHD_LOGLEVEL", "DEBUG1")],
    ) else {
        return;
    };
    let Some(inner) = Host::up_with(
        "jump",
        "127.0.0.12",
        PORT,
        &[("IHOS_SSHD_LOGLEVEL", "DEBUG1")],
    ) else {
        return;
    };
    let Some(deepest) = Host::up_with("jump", "127.0.0.13", PORT, &[]) else {
        return;
    };
    let _no_direct_inner =
        DirectRefused::new("127.0.0.12", PORT).expect("the test's own iptables rule");
    let _no_direct_deepest =
        DirectRefused::new("127.0.0.13", PORT).expect("the test's own iptables rule");

    // Directly: refused (the firewall rule works).
    let e = SshTransport::connect(inner.target("deploy"), inner.options())
        .await
        .unwrap_err();
    assert!(matches!(e, TransportError::Connect { .. }), "{e}");

    let jump = JumpHost::new(bastion.target("deploy"), bastion.options()).unwrap();
    let t =
        SshTransport::connect_through(Arc::clone(&jump), inner.target("deploy"), inner.options())
            .await
            .expect("through the jump host");
    let out = run_checked(&t, &Command::new("id").arg("-un").sudo())
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "root\n");

    // A second host (here: a second login to the same one) behind the same jump host uses
    // the same session to it: one login on the bastion, two forwarded connections.
    let t2 =
        SshTransport::connect_through(Arc::clone(&jump), inner.target("deploypw"), inner.options())
            .await
            .expect("second host through the same jump host");
    // Two uploads at once through the one session (each can fill the socket while the
    // other sends), and a command beside them.
    let dir = tempfile::tempdir().unwrap();
    let payload = random_file(dir.path(), 16 * 1024 * 1024);
    let started = Instant::now();
    let dest = RemotePath::new("/home/deploy/ihos-reach-payload.bin").unwrap();
    let dest2 = RemotePath::new("/home/deploypw/ihos-reach-payload.bin").unwrap();
    let side = Command::new("sh").arg("-c").arg("sleep 0.3; echo side");
    let third =
        SshTransport::connect_through(Arc::clone(&jump), inner.target("deploy"), inner.options())
            .await
            .expect("a third connection");
    let (up, up2, other) = tokio::join!(
        t.upload(&payload, &dest),
        t2.upload(&payload, &dest2),
        run_checked(&third, &side)
    );
    let up = up.expect("upload through the tunnel");
    let up2 = up2.expect("second upload through the same session");
    assert_eq!(up.bytes, 16 * 1024 * 1024);
    assert_eq!(up.sha256, up2.sha256);
    assert_eq!(other.unwrap().stdout_text(), "side\n");
    eprintln!(
        "2 x 16 MiB uploads + a command through one jump host session: {:?}",
        started.elapsed()
    );
    drop(third);
    run_checked(&t2, &Command::new("rm").arg("-f").arg(dest2.as_str()))
        .await
        .unwrap();
    run_checked(&t, &Command::new("rm").arg("-f").arg(dest.as_str()))
        .await
        .unwrap();
    assert_eq!(log_count(&bastion, "Accepted publickey for deploy"), 1);
    assert!(
        log_count(&bastion, "direct-tcpip") >= 2,
        "the bastion's log shows no forwarded connection"
    );

    // The target's host key is checked under its own name: a known_hosts that lists the
    // bastion's key for it is refused, even though the bastion itself is fine.
    let wrong = dir.path().join("known_hosts");
    std::fs::write(
        &wrong,
        format!("[127.0.0.12]:{PORT} {}\n", bastion.host_key_line()),
    )
    .unwrap();
    let e = SshTransport::connect_through(
        Arc::clone(&jump),
        inner.target("deploy"),
        SshOptions {
            known_hosts: Some(wrong),
            ..inner.options()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, TransportError::HostKey { .. }), "{e}");
    assert!(e.to_string().contains("127.0.0.12"), "{e}");

    // A chain: the deepest host through `inner`, itself through the bastion.
    let via_inner =
        JumpHost::behind(Arc::clone(&jump), inner.target("deploy"), inner.options()).unwrap();
    let t3 = SshTransport::connect_through(via_inner, deepest.target("deploy"), deepest.options())
        .await
        .expect("through two jump hosts");
    let out = run_checked(&t3, &Command::new("echo").arg("deep"))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "deep\n");
    assert!(log_count(&inner, "direct-tcpip") >= 1);

    // The bastion goes away: hosts behind it see a lost connection, and reconnect through
    // it once it is back.
    bastion.kill_sshd();
    let e = t.run(&Command::new("true")).await.unwrap_err();
    assert!(
        e.is_connection_loss() || matches!(e, TransportError::Connect { .. }),
        "{e}"
    );
    let e = t.run(&Command::new("true")).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("127.0.0.12") && text.contains("jump host 127.0.0.11"),
        "{text}"
    );
    bastion.sh_up().unwrap();
    let out = run_checked(&t, &Command::new("echo").arg("back"))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "back\n");
    let out = run_checked(&t2, &Command::new("echo").arg("back too")).await;
    // t2's session died with the tunnel; its first call may report that, the next works.
    let out = match out {
        Ok(o) => o,
        Err(_) => run_checked(&t2, &Command::new("echo").arg("back too"))
            .await
            .unwrap(),
    };
    assert_eq!(out.stdout_text(), "back too\n");
    drop((t, t2, t3));
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn a_jump_host_that_refuses_forwarding_is_named_with_its_target() {
    const PORT: u16 = 2273;
    let Some(bastion) = Host::up_with(
        "no forwarding",
        "127.0.0.11",
        PORT,
        &[("IHOS_SSHD_FORWARDING", "no")],
    ) else {
        return;
    };
    let Some(inner) = Host::up_with("no forwarding", "127.0.0.12", PORT, &[]) else {
        return;
    };
    let jump = JumpHost::new(bastion.target("deploy"), bastion.options()).unwrap();
    let started = Instant::now();
    let e = SshTransport::connect_through(jump, inner.target("deploy"), inner.options())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, TransportError::Connect { .. }), "{text}");
    assert!(
        text.contains("127.0.0.11") && text.contains("127.0.0.12"),
        "{text}"
    );
    assert!(text.contains("AllowTcpForwarding"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_topology_reaches_hosts_through_its_ssh_config() {
    const PORT: u16 = 2274;
    let Some(bastion) = Host::up_with("ssh_config", "127.0.0.11", PORT, &[]) else {
        return;
    };
    let Some(inner) = Host::up_with("ssh_config", "127.0.0.12", PORT, &[]) else {
        return;
    };
    let _no_direct = DirectRefused::new("127.0.0.12", PORT).expect("the test's own iptables rule");
    let dir = tempfile::tempdir().unwrap();
    let entry = |alias: &str, h: &Host, extra: &str| {
        format!(
            "Host {alias}\n  HostName {}\n  Port {PORT}\n  User deploy\n  IdentityFile {}\n  UserKnownHostsFile {}\n{extra}",
            h.addr,
            h.ssh_dir().join("id_ed25519").display(),
            h.known_hosts().display(),
        )
    };
    let config = dir.path().join("ssh_config");
    std::fs::write(
        &config,
        entry("bastion", &bastion, "") + &entry("app", &inner, "  ProxyJump bastion\n"),
    )
    .unwrap();
    let topology = format!(
        r#"
ssh_config = "{}"
[hosts.bastion]
address = "bastion"
[hosts.app]
address = "app"
[load_balancer]
host = "bastion"
container = "nginx"
config = "/etc/nginx/nginx.conf"
upstream = "app"
[[instances]]
name = "a1"
host = "app"
container = "tomcat1"
backend = "127.0.0.12:8080"
webapps = "/opt/a1/webapps"
logs = "/opt/a1/logs"
health = {{ url = "http://127.0.0.12:8080/" }}
"#,
        config.display()
    );
    let t = ihos_core::Topology::from_toml(&topology, "ihos.toml").expect("topology");
    assert_eq!(t.hosts["app"].proxy_jump.as_deref(), Some("bastion"));
    let fleet = ihos_core::Fleet::connect(t).unwrap();
    let out = run_checked(
        fleet.hosts["app"].as_ref(),
        &Command::new("hostname").arg("-I"),
    )
    .await;
    // `hostname -I` may be absent; any command proves the way in.
    let out = match out {
        Ok(o) => o,
        Err(_) => run_checked(fleet.hosts["app"].as_ref(), &Command::new("echo").arg("in"))
            .await
            .unwrap(),
    };
    assert!(!out.stdout.is_empty());
    let out = run_checked(
        fleet.hosts["bastion"].as_ref(),
        &Command::new("id").arg("-un"),
    )
    .await
    .unwrap();
    assert_eq!(out.stdout_text(), "deploy\n");
}
