//! `SshTransport` against real sshd "hosts" on loopback addresses, started with
//! `scripts/lib/sshd-hosts.sh` (needs root; installs openssh-server and sudo on first use).
//!
//! Without root or sshd these tests print a message and skip, unless
//! `IHOS_REQUIRE_SANDBOX=1` (as `scripts/test` sets it): then they fail.
//!
//! Each test has its own sshd on 127.0.0.11 with its own port (2241..), so they can run in
//! parallel with each other and with other suites that use the script's default port.

use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::{Duration, Instant};

use ihos_core::{
    Command, HostKeyPolicy, Privilege, RemotePath, SshAuth, SshOptions, SshTarget, SshTransport,
    Transport, TransportError, run_checked,
};
use sha2::{Digest, Sha256};

mod sshd_host;
use sshd_host::{ADDR, Host, SCRIPT};

fn random_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let path = dir.join(name);
    let out = Proc::new("head")
        .arg("-c")
        .arg(len.to_string())
        .arg("/dev/urandom")
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), len);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

async fn inode(t: &SshTransport, path: &str) -> String {
    let out = run_checked(
        t,
        &Command::new("stat")
            .arg("-c")
            .arg("%i")
            .arg(path)
            .with_privilege(Privilege::Sudo),
    )
    .await
    .unwrap();
    out.stdout_text().trim().to_string()
}

#[tokio::test]
async fn runs_commands_and_moves_files() {
    let Some(host) = Host::up("runs_commands_and_moves_files", 2241) else {
        return;
    };
    let t = host.connect("deploy").await;
    assert_eq!(t.host(), "127.0.0.11:2241");

    // Awkward arguments stay one word each.
    let nasty = [
        "plain",
        "with space",
        "it's",
        "$HOME",
        "`id`",
        "a\"b",
        "*",
        "",
        "new\nline",
        "\\",
        "$(touch /tmp/ihos-pwned)",
    ];
    let out = run_checked(&t, &Command::new("printf").arg("%s\\0").args(nasty))
        .await
        .unwrap();
    let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
    let want: Vec<&[u8]> = nasty
        .iter()
        .map(|s| s.as_bytes())
        .chain(std::iter::once(&b""[..]))
        .collect();
    assert_eq!(got, want);

    // Standard input, binary and larger than the SSH window, comes back intact.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let out = t
        .run(&Command::new("cat").stdin(big.clone()))
        .await
        .unwrap();
    assert_eq!(out.status, Some(0));
    assert!(out.stdout == big, "cat returned {} bytes", out.stdout.len());
    // A command without stdin gets EOF at once.
    let out = t.run(&Command::new("cat")).await.unwrap();
    assert_eq!((out.status, out.stdout.len()), (Some(0), 0));

    // Lots of stderr before any stdout does not deadlock.
    let out = t
        .run(
            &Command::new("sh")
                .arg("-c")
                .arg("head -c 3000000 /dev/zero >&2; echo done"),
        )
        .await
        .unwrap();
    // stderr only goes into messages: its first 64 KiB are kept, the rest counted.
    assert!(out.stderr[..65536].iter().all(|&b| b == 0));
    assert_eq!(
        &out.stderr[65536..],
        format!("\n[{} more bytes of stderr not kept]", 3_000_000 - 65536).as_bytes()
    );
    assert_eq!(out.stdout, b"done\n");

    // Exit status and signals.
    let out = t
        .run(&Command::new("sh").arg("-c").arg("echo oops >&2; exit 3"))
        .await
        .unwrap();
    assert_eq!(out.status, Some(3));
    assert_eq!(out.stderr_text(), "oops");
    let err = run_checked(&t, &Command::new("false")).await.unwrap_err();
    assert!(matches!(err, TransportError::Failed { .. }), "{err}");
    let out = t
        .run(&Command::new("sh").arg("-c").arg("kill -TERM $$"))
        .await
        .unwrap();
    assert_eq!(out.status, None, "killed by a signal");

    // sudo -n.
    let out = run_checked(&t, &Command::new("id").sudo()).await.unwrap();
    assert!(out.stdout_text().starts_with("uid=0(root)"), "{out:?}");

    // Concurrent calls share the one session.
    let echo = |i: u32| {
        let t = &t;
        async move {
            run_checked(t, &Command::new("echo").arg(i.to_string()))
                .await
                .unwrap()
                .stdout_text()
        }
    };
    let outs = tokio::join!(echo(0), echo(1), echo(2), echo(3));
    assert_eq!(
        outs,
        ("0\n".into(), "1\n".into(), "2\n".into(), "3\n".into())
    );

    // Upload: a few MB of random bytes, checked on the host, no staging file left.
    let local_dir = tempfile::tempdir().unwrap();
    let src = random_file(local_dir.path(), "app.war", 5 * 1024 * 1024 + 17);
    let name = format!("ihos-test-{}.war", std::process::id());
    let dest = RemotePath::new(&format!("/home/deploy/{name}")).unwrap();
    let up = t.upload(&src, &dest).await.unwrap();
    assert_eq!(up.bytes, 5 * 1024 * 1024 + 17);
    let local_sum = format!("{:x}", Sha256::digest(std::fs::read(&src).unwrap()));
    assert_eq!(up.sha256, local_sum);
    let remote_sum = run_checked(&t, &Command::new("sha256sum").arg("--").arg(dest.as_str()))
        .await
        .unwrap()
        .stdout_text();
    assert_eq!(
        remote_sum.split_whitespace().next(),
        Some(local_sum.as_str())
    );
    let ls = run_checked(&t, &Command::new("ls").arg("-a").arg("/home/deploy"))
        .await
        .unwrap()
        .stdout_text();
    assert!(!ls.contains("ihos-tmp"), "staging file left: {ls}");
    // Uploading again over it replaces it.
    let src2 = random_file(local_dir.path(), "app2.war", 1000);
    let up2 = t.upload(&src2, &dest).await.unwrap();
    assert_eq!(
        t.read_file(&dest, Privilege::User).await.unwrap(),
        std::fs::read(&src2).unwrap()
    );
    assert_ne!(up2.sha256, up.sha256);
    // A missing local file is a local error.
    let err = t
        .upload(&local_dir.path().join("missing.war"), &dest)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Io { .. }), "{err}");
    // A directory deploy cannot write to is refused, and nothing is left there.
    let err = t
        .upload(&src2, &RemotePath::new("/root/x.war").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Io { .. }), "{err}");
    run_checked(&t, &Command::new("rm").arg("-f").arg(dest.as_str()))
        .await
        .unwrap();

    // write_file_in_place keeps the inode (as user and through sudo on a root file).
    for (privilege, owner) in [(Privilege::User, "deploy"), (Privilege::Sudo, "root")] {
        let path = format!(
            "/home/deploy/ihos-inplace-{}-{owner}.conf",
            std::process::id()
        );
        run_checked(
            &t,
            &Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "printf 'old contents, longer than the new ones' > {path}"
                ))
                .with_privilege(privilege),
        )
        .await
        .unwrap();
        let before = inode(&t, &path).await;
        let rp = RemotePath::new(&path).unwrap();
        let bytes = b"upstream x {\n  server 'a b' \"$y\";\n}\n\x00\xff end".to_vec();
        t.write_file_in_place(&rp, &bytes, privilege).await.unwrap();
        assert_eq!(inode(&t, &path).await, before, "same inode");
        assert_eq!(t.read_file(&rp, privilege).await.unwrap(), bytes);
        let stat = run_checked(
            &t,
            &Command::new("stat")
                .arg("-c")
                .arg("%U")
                .arg(&path)
                .with_privilege(Privilege::Sudo),
        )
        .await
        .unwrap();
        assert_eq!(stat.stdout_text().trim(), owner);
        run_checked(
            &t,
            &Command::new("rm")
                .arg("-f")
                .arg(&path)
                .with_privilege(Privilege::Sudo),
        )
        .await
        .unwrap();
    }
    let ls = run_checked(&t, &Command::new("ls").arg("-a").arg("/home/deploy"))
        .await
        .unwrap()
        .stdout_text();
    assert!(!ls.contains("ihos-tmp"), "staging file left: {ls}");
}

#[tokio::test]
async fn refuses_a_changed_host_key() {
    let Some(host) = Host::up("refuses_a_changed_host_key", 2242) else {
        return;
    };
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("other");
    let st = Proc::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let other_pub = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let other_key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let bad = other.path().join("known_hosts");
    let bad_text = format!("[{ADDR}]:2242 {} {}\n", other_key[0], other_key[1]);
    std::fs::write(&bad, &bad_text).unwrap();

    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let opts = SshOptions {
            known_hosts: Some(bad.clone()),
            host_key_policy: policy,
            ..host.options()
        };
        let err = SshTransport::connect(host.target("deploy"), opts)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, TransportError::HostKey { .. }), "{msg}");
        assert!(msg.contains("CHANGED"), "{msg}");
        assert!(msg.contains("ssh-ed25519"), "{msg}");
        assert!(msg.contains(&host.host_fingerprint()), "{msg}");
        // A mismatch is never recorded.
        assert_eq!(std::fs::read_to_string(&bad).unwrap(), bad_text);
    }

    // Hashed entries (ssh-keygen -H) are understood.
    let hashed = other.path().join("hashed_known_hosts");
    std::fs::copy(host.known_hosts(), &hashed).unwrap();
    let st = Proc::new("ssh-keygen")
        .arg("-q")
        .arg("-H")
        .arg("-f")
        .arg(&hashed)
        .output()
        .unwrap();
    assert!(st.status.success());
    assert!(std::fs::read_to_string(&hashed).unwrap().starts_with("|1|"));
    let opts = SshOptions {
        known_hosts: Some(hashed.clone()),
        ..host.options()
    };
    let t = SshTransport::connect(host.target("deploy"), opts)
        .await
        .unwrap();
    run_checked(&t, &Command::new("true")).await.unwrap();

    // A revoked key is refused even though it is also listed as valid.
    let revoked = other.path().join("revoked_known_hosts");
    std::fs::write(
        &revoked,
        format!(
            "[{ADDR}]:2242 {k}\n@revoked * {k}\n",
            k = host.host_key_line()
        ),
    )
    .unwrap();
    let opts = SshOptions {
        known_hosts: Some(revoked),
        ..host.options()
    };
    let err = SshTransport::connect(host.target("deploy"), opts)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("@revoked"), "{err}");
}

#[tokio::test]
async fn unknown_host_strict_refuses_accept_new_records() {
    let Some(host) = Host::up("unknown_host_strict_refuses_accept_new_records", 2243) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let kh = tmp.path().join("dot-ssh").join("known_hosts");
    // Missing file, then an empty one: refused under Strict, with advice.
    for exists in [false, true] {
        if exists {
            std::fs::create_dir_all(kh.parent().unwrap()).unwrap();
            std::fs::write(&kh, "# nothing yet\n").unwrap();
        }
        let opts = SshOptions {
            known_hosts: Some(kh.clone()),
            ..host.options()
        };
        let err = SshTransport::connect(host.target("deploy"), opts)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, TransportError::HostKey { .. }), "{msg}");
        assert!(msg.contains("is not in"), "{msg}");
        assert!(msg.contains("ssh-keyscan -p 2243"), "{msg}");
        assert!(msg.contains(&host.host_fingerprint()), "{msg}");
    }
    std::fs::remove_file(&kh).unwrap();
    std::fs::remove_dir(kh.parent().unwrap()).unwrap();

    // AcceptNew records it (creating the file) and goes on.
    let opts = SshOptions {
        known_hosts: Some(kh.clone()),
        host_key_policy: HostKeyPolicy::AcceptNew,
        ..host.options()
    };
    let t = SshTransport::connect(host.target("deploy"), opts)
        .await
        .unwrap();
    run_checked(&t, &Command::new("true")).await.unwrap();
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(text, format!("[{ADDR}]:2243 {}\n", host.host_key_line()));
    // OpenSSH agrees with what was written.
    let out = Proc::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .arg("-i")
        .arg(host.ssh_dir().join("id_ed25519"))
        .args(["-p", "2243", &format!("deploy@{ADDR}"), "true"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Now Strict accepts it too.
    let opts = SshOptions {
        known_hosts: Some(kh.clone()),
        ..host.options()
    };
    SshTransport::connect(host.target("deploy"), opts)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        text,
        "not added twice"
    );
}

#[tokio::test]
#[allow(clippy::await_holding_lock)]
async fn sudo_that_wants_a_password_fails_fast() {
    let Some(host) = Host::up("sudo_that_wants_a_password_fails_fast", 2244) else {
        return;
    };
    // Not while the password test has deploypw's credentials cached (for all its sessions).
    let _no_cache = SCRIPT.lock().unwrap_or_else(|e| e.into_inner());
    let t = host.connect("deploypw").await;
    let started = Instant::now();
    let err = run_checked(&t, &Command::new("true").sudo())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::SudoPassword { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // With a password variable configured but not set: the same error, before running.
    let opts = SshOptions {
        sudo_password_env: Some("IHOS_TEST_SUDO_PASSWORD_NOT_SET".into()),
        ..host.options()
    };
    let t = SshTransport::connect(host.target("deploypw"), opts)
        .await
        .unwrap();
    let err = run_checked(&t, &Command::new("true").sudo())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::SudoPassword { .. }), "{err}");
    // For a NOPASSWD user a configured password is never sent: sudo -n is used.
    let opts = SshOptions {
        sudo_password_env: Some("IHOS_TEST_SUDO_PASSWORD_NOT_SET".into()),
        ..host.options()
    };
    let t = SshTransport::connect(host.target("deploy"), opts)
        .await
        .unwrap();
    let out = run_checked(&t, &Command::new("cat").sudo().stdin(b"only this".to_vec()))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"only this");
}

#[tokio::test]
async fn a_timed_out_command_is_stopped_and_the_session_goes_on() {
    let Some(host) = Host::up(
        "a_timed_out_command_is_stopped_and_the_session_goes_on",
        2245,
    ) else {
        return;
    };
    let t = host.connect("deploy").await;
    let started = Instant::now();
    let err = t
        .run(&own_sleep("timed-out-own", 30).timeout(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let out = run_checked(&t, &Command::new("echo").arg("still here"))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "still here\n");
    // Stopped on the host too, not only abandoned (ihos once left it running).
    assert!(
        !own_sleep_runs(&t, "timed-out-own").await,
        "the timed-out command still runs on the host"
    );
    kill_own_sleep(&t, "timed-out-own").await;

    // A command that never stops talking is stopped at its deadline all the same (the
    // deadline was once looked at only when no output came).
    let started = Instant::now();
    let err = t
        .run(
            &Command::new("sh")
                .arg("-c")
                .arg("while :; do echo talking; done")
                .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::Timeout { .. } | TransportError::Protocol { .. }
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    // Output beyond what ihos takes is refused, not buffered without end.
    let err = t
        .run(&Command::new("head").args(["-c", "100000000", "/dev/zero"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::Protocol { reason, .. } if reason.contains("64 MiB")),
        "{err}"
    );
    let out = run_checked(&t, &Command::new("echo").arg("still here"))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "still here\n");

    // The default timeout from the options applies to commands without their own.
    let opts = SshOptions {
        command_timeout: Some(Duration::from_millis(300)),
        ..host.options()
    };
    let t = SshTransport::connect(host.target("deploy"), opts)
        .await
        .unwrap();
    let err = t
        .run(&own_sleep("timed-out-default", 30))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    run_checked(&t, &Command::new("true")).await.unwrap();
    // Leave no sleeping process behind (only this test's: the tests run in parallel).
    kill_own_sleep(&t, "timed-out-default").await;
}

/// `sleep SECS`, its pid written to `~/.ihos-test-TAG.pid` first, so the test can stop
/// exactly its own process ("hosts" here are one machine, shared by parallel tests).
fn own_sleep(tag: &str, secs: u32) -> Command {
    Command::new("sh").args([
        "-c".to_string(),
        format!("echo $$ > \"$HOME/.ihos-test-{tag}.pid\"; exec sleep {secs}"),
    ])
}

/// Whether the process [`own_sleep`] started with `tag` still runs.
async fn own_sleep_runs(t: &SshTransport, tag: &str) -> bool {
    t.run(&Command::new("sh").args([
        "-c".to_string(),
        format!("kill -0 \"$(cat \"$HOME/.ihos-test-{tag}.pid\")\" 2>/dev/null"),
    ]))
    .await
    .unwrap()
    .success()
}

/// Stops the process [`own_sleep`] started with `tag`, if it still runs.
async fn kill_own_sleep(t: &SshTransport, tag: &str) {
    let _ = t
        .run(&Command::new("sh").args([
            "-c".to_string(),
            format!(
                "f=\"$HOME/.ihos-test-{tag}.pid\"; [ -f \"$f\" ] && kill \"$(cat \"$f\")\" 2>/dev/null; rm -f \"$f\""
            ),
        ]))
        .await;
}

#[tokio::test]
async fn a_lost_connection_is_reported_and_the_next_call_reconnects() {
    let Some(host) = Host::up(
        "a_lost_connection_is_reported_and_the_next_call_reconnects",
        2246,
    ) else {
        return;
    };
    let t = host.connect("deploy").await;
    run_checked(&t, &Command::new("true")).await.unwrap();

    let sleep = own_sleep("lost-connection", 10);
    let running = t.run(&sleep);
    let kill = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        host.kill_sshd();
    };
    let (result, ()) = tokio::join!(running, kill);
    let err = result.unwrap_err();
    assert!(matches!(err, TransportError::Disconnected { .. }), "{err}");
    assert!(err.is_connection_loss());

    // While the host is down: a connection error, quickly.
    let err = t.run(&Command::new("true")).await.unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err}");

    host.sh_up().unwrap();
    let out = run_checked(&t, &Command::new("echo").arg("back"))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "back\n");
    kill_own_sleep(&t, "lost-connection").await;
}

#[tokio::test]
async fn a_session_that_died_while_idle_is_replaced_transparently() {
    let Some(host) = Host::up(
        "a_session_that_died_while_idle_is_replaced_transparently",
        2247,
    ) else {
        return;
    };
    let t = host.connect("deploy").await;
    run_checked(&t, &Command::new("true")).await.unwrap();
    host.kill_sshd();
    host.sh_up().unwrap();
    // Nothing was running: the dead session is noticed before the command starts, so it
    // is retried once on a new connection.
    let out = run_checked(&t, &Command::new("echo").arg("fresh"))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "fresh\n");
}

/// Sets an environment variable for this test process.
fn set_env(name: &str, value: &str) {
    // SAFETY: the names are unique to one test each, and Rust's own environment access is
    // locked; nothing in these tests reads the environment from C at the same time.
    unsafe { std::env::set_var(name, value) };
}

#[tokio::test]
async fn authenticates_with_the_agent_and_with_a_passphrase_key() {
    let Some(host) = Host::up(
        "authenticates_with_the_agent_and_with_a_passphrase_key",
        2248,
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // The same key, protected by a passphrase.
    let locked = tmp.path().join("id_locked");
    std::fs::copy(host.ssh_dir().join("id_ed25519"), &locked).unwrap();
    let st = Proc::new("ssh-keygen")
        .args(["-q", "-p", "-P", "", "-N", "correct horse"])
        .arg("-f")
        .arg(&locked)
        .output()
        .unwrap();
    assert!(st.status.success());
    set_env("IHOS_TEST_KEY_PASSPHRASE", "correct horse");
    set_env("IHOS_TEST_KEY_PASSPHRASE_WRONG", "battery staple");
    let with = |var: &str| SshOptions {
        auth: SshAuth::KeyFile {
            path: locked.clone(),
            passphrase_env: Some(var.into()),
        },
        ..host.options()
    };
    let t = SshTransport::connect(host.target("deploy"), with("IHOS_TEST_KEY_PASSPHRASE"))
        .await
        .unwrap();
    run_checked(&t, &Command::new("true")).await.unwrap();
    for var in [
        "IHOS_TEST_KEY_PASSPHRASE_WRONG",
        "IHOS_TEST_KEY_PASSPHRASE_UNSET",
    ] {
        let err = SshTransport::connect(host.target("deploy"), with(var))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, TransportError::Auth { .. }), "{msg}");
        assert!(!msg.contains("battery"), "no secret in errors: {msg}");
        if var.ends_with("UNSET") {
            assert!(msg.contains(var), "{msg}");
        }
    }
    // A key the server does not know.
    let stranger = tmp.path().join("id_stranger");
    let st = Proc::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(st.success());
    let opts = SshOptions {
        auth: SshAuth::KeyFile {
            path: stranger.clone(),
            passphrase_env: None,
        },
        ..host.options()
    };
    let err = SshTransport::connect(host.target("deploy"), opts)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("publickey"), "{err}");

    // An ssh-agent holding the key.
    let sock = tmp.path().join("agent.sock");
    let mut agent = Proc::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Proc::new("ssh-add")
        .arg("-q")
        .arg(host.ssh_dir().join("id_ed25519"))
        .env("SSH_AUTH_SOCK", &sock)
        .status();
    set_env("SSH_AUTH_SOCK", &sock.display().to_string());
    let mut results = Vec::new();
    for auth in [SshAuth::Agent, SshAuth::AgentThenDefaultKeys] {
        let opts = SshOptions {
            auth,
            ..host.options()
        };
        results.push(
            match SshTransport::connect(host.target("deploy"), opts).await {
                Ok(t) => run_checked(&t, &Command::new("whoami"))
                    .await
                    .map(|o| o.stdout_text()),
                Err(e) => Err(e),
            },
        );
    }
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(added.unwrap().success());
    for r in results {
        assert_eq!(r.unwrap(), "deploy\n");
    }
}

#[tokio::test]
// The guard keeps other tests' `up` (which resets the password) away; each test has its
// own runtime thread, so holding it across awaits blocks nothing else here.
#[allow(clippy::await_holding_lock)]
async fn sudo_with_a_password_from_the_environment() {
    let Some(host) = Host::up("sudo_with_a_password_from_the_environment", 2249) else {
        return;
    };
    let password = "pw with 'quotes', $x and spaces";
    set_env("IHOS_TEST_SUDO_PW", password);
    set_env("IHOS_TEST_SUDO_PW_WRONG", "not it");
    // deploypw gets a real password for this test; `up` (which resets it to `*`) must not
    // run meanwhile.
    let _no_up = SCRIPT.lock().unwrap_or_else(|e| e.into_inner());
    let hash = Proc::new("openssl")
        .args(["passwd", "-6", password])
        .output()
        .unwrap();
    assert!(hash.status.success());
    let hash = String::from_utf8(hash.stdout).unwrap();
    let st = Proc::new("usermod")
        .args(["-p", hash.trim(), "deploypw"])
        .status()
        .unwrap();
    assert!(st.success());
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = Proc::new("usermod").args(["-p", "*", "deploypw"]).status();
            // Forget the credentials cached for all of deploypw's sessions.
            let _ = Proc::new("runuser")
                .args(["-u", "deploypw", "--", "sudo", "-K"])
                .status();
        }
    }
    let _restore = Restore;

    let with = |var: &str| SshOptions {
        sudo_password_env: Some(var.into()),
        ..host.options()
    };
    let t = SshTransport::connect(host.target("deploypw"), with("IHOS_TEST_SUDO_PW"))
        .await
        .unwrap();
    // The password is the first line sudo reads; the command gets exactly its own input.
    let out = run_checked(
        &t,
        &Command::new("cat").sudo().stdin(b"line 1\nline 2".to_vec()),
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"line 1\nline 2");
    // deploypw's credentials are cached for all its sessions (timestamp_type=global, see
    // sshd-hosts.sh): sudo now lets a command through without asking. Cache them as a
    // person's own `sudo -v` would; the command must still get exactly its own input, not
    // the password line (ihos once fed it blindly: `dd oflag=append` wrote it to a file).
    let mut pw_line = password.as_bytes().to_vec();
    pw_line.push(b'\n');
    run_checked(
        &t,
        &Command::new("sudo")
            .args(["-S", "-v", "-p", ""])
            .stdin(pw_line),
    )
    .await
    .unwrap();
    for input in [&b"after the cache"[..], b""] {
        let out = run_checked(&t, &Command::new("cat").sudo().stdin(input.to_vec()))
            .await
            .unwrap();
        assert_eq!(out.stdout, input, "{out:?}");
        assert!(
            !out.stderr_text().contains("ihos sudo"),
            "prompt shown: {out:?}"
        );
    }
    // Messages ihos reads are in the C locale, under sudo too.
    let out = run_checked(
        &t,
        &Command::new("sh").arg("-c").arg("echo \"$LC_ALL\"").sudo(),
    )
    .await
    .unwrap();
    assert_eq!(out.stdout_text(), "C\n");
    let out = run_checked(&t, &Command::new("id").arg("-u").sudo())
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "0\n");
    // Not via argv: the command line the host saw has no password.
    let out = run_checked(
        &t,
        &Command::new("sh")
            .arg("-c")
            .arg("cat /proc/$PPID/cmdline | tr '\\0' ' '")
            .sudo(),
    )
    .await
    .unwrap();
    assert!(!out.stdout_text().contains("quotes"), "{out:?}");
    // In-place writes through sudo with a password.
    let path = RemotePath::new("/home/deploypw/ihos-sudo-pw.conf").unwrap();
    run_checked(&t, &Command::new("touch").arg(path.as_str()).sudo())
        .await
        .unwrap();
    t.write_file_in_place(&path, b"conf\n", Privilege::Sudo)
        .await
        .unwrap();
    assert_eq!(
        t.read_file(&path, Privilege::Sudo).await.unwrap(),
        b"conf\n"
    );
    run_checked(&t, &Command::new("rm").arg("-f").arg(path.as_str()).sudo())
        .await
        .unwrap();

    // A wrong password fails (sudo's own retry delay included), without showing it.
    let t = SshTransport::connect(host.target("deploypw"), with("IHOS_TEST_SUDO_PW_WRONG"))
        .await
        .unwrap();
    let started = Instant::now();
    let err = run_checked(
        &t,
        &Command::new("cat").sudo().stdin(b"not a password".to_vec()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, TransportError::SudoPasswordRefused { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("not it"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// `sleep 1` as a command (one word per argument).
fn sleep_one() -> Command {
    Command::new("sleep").arg("1")
}

#[tokio::test]
async fn commands_at_once_run_on_several_sessions_and_one_at_a_time_on_one() {
    let Some(host) = Host::up(
        "commands_at_once_run_on_several_sessions_and_one_at_a_time_on_one",
        2252,
    ) else {
        return;
    };
    let t = host.connect("deploy").await;
    let sleep = sleep_one();
    // One after the other: one session is enough.
    for _ in 0..3 {
        run_checked(&t, &Command::new("true")).await.unwrap();
    }
    assert_eq!(t.sessions(), 1);

    // Three at once: each on its own session, so together they take about one's time
    // (the two new sessions log in first), not three.
    let began = Instant::now();
    let (a, b, c) = tokio::join!(
        run_checked(&t, &sleep),
        run_checked(&t, &sleep),
        run_checked(&t, &sleep)
    );
    let took = began.elapsed();
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert_eq!(t.sessions(), 3);
    assert!(
        took < Duration::from_millis(2500),
        "three 1 s commands at once took {took:?}"
    );

    // Never more than the options allow: a fourth waits for a free session.
    let began = Instant::now();
    let (a, b, c, d) = tokio::join!(
        run_checked(&t, &sleep),
        run_checked(&t, &sleep),
        run_checked(&t, &sleep),
        run_checked(&t, &sleep)
    );
    let took = began.elapsed();
    for r in [a, b, c, d] {
        r.unwrap();
    }
    assert_eq!(t.sessions(), 3, "the default is 3 sessions");
    assert!(took >= Duration::from_secs(2), "{took:?}");

    // A transport limited to one session runs them one after the other, as before.
    let one = SshTransport::connect(
        host.target("deploy"),
        SshOptions {
            sessions: 1,
            ..host.options()
        },
    )
    .await
    .unwrap();
    let began = Instant::now();
    let (a, b) = tokio::join!(run_checked(&one, &sleep), run_checked(&one, &sleep));
    a.unwrap();
    b.unwrap();
    assert!(began.elapsed() >= Duration::from_secs(2));
    assert_eq!(one.sessions(), 1);
}

/// The local ports of this process's connections to `port` on [`ADDR`] (one per session).
fn sessions_to(port: u16) -> Vec<String> {
    let out = Proc::new("ss")
        .args(["-Htn", "state", "established"])
        .arg(format!("dst {ADDR}:{port}"))
        .output()
        .unwrap();
    let mut local: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect();
    local.sort();
    local
}

#[tokio::test]
async fn a_command_whose_caller_stops_waiting_runs_to_its_end_and_keeps_its_session() {
    // The engine stops waiting for commands as a matter of course (a log read in flight
    // when the health probe it watched beside answers). Such a command runs to its end and
    // the session it ran on is kept: it was once cut off at once, and sshd confirms a close
    // only once the command has exited, so the session was lost and made again (a login, a
    // key exchange: 30 to 170 ms of a loaded host's CPU, on the rollout's path). Meanwhile
    // another job goes to another session, not behind it.
    let Some(host) = Host::up(
        "a_command_whose_caller_stops_waiting_runs_to_its_end_and_keeps_its_session",
        2253,
    ) else {
        return;
    };
    let t = SshTransport::new(host.target("deploy"), host.options()).unwrap();
    run_checked(&t, &Command::new("true")).await.unwrap();
    // Every session logged in first: no login inside what is timed below.
    t.warm_up().await;
    let warm = sessions_to(2253);
    assert_eq!(warm.len(), 3, "{warm:?}");
    for round in 0..2 {
        let mark = format!("$HOME/.ihos-test-abandoned-{round}");
        // Past the first look at the caller's interest (0.5 s) and the half second a
        // close is waited for after it: cut off then, its session was lost.
        let long =
            Command::new("sh").args(["-c".to_string(), format!("sleep 1.5; touch \"{mark}\"")]);
        let cut = tokio::time::timeout(Duration::from_millis(100), t.run(&long)).await;
        assert!(cut.is_err(), "round {round}: answered within 100 ms");
        let asked = Instant::now();
        let out = run_checked(&t, &Command::new("echo").arg("still here"))
            .await
            .unwrap();
        assert_eq!(out.stdout_text(), "still here\n");
        assert!(
            asked.elapsed() < Duration::from_millis(350),
            "round {round}: waited {:?} behind it",
            asked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(
            sessions_to(2253),
            warm,
            "round {round}: a session was lost or made"
        );
        // It ran to its end.
        let ended = t
            .run(&Command::new("sh").args([
                "-c".to_string(),
                format!("test -e \"{mark}\" && rm -f \"{mark}\""),
            ]))
            .await
            .unwrap();
        assert!(
            ended.success(),
            "round {round}: the abandoned command did not end"
        );
    }
}

#[tokio::test]
async fn a_warm_up_logs_in_every_session_before_it_is_needed() {
    // A rollout warms its hosts up beside its lock and preflight: the first session logs
    // in at once (not with the host's first command, which on the second host comes only
    // after the lock), and once the host let it in, the others it uses at once (drain
    // polls, health probes, the preflight's checks): 30-170 ms each on a loaded host,
    // none of them on the run's path.
    let Some(host) = Host::up("a_warm_up_logs_in_every_session_before_it_is_needed", 2254) else {
        return;
    };
    let t = SshTransport::new(host.target("deploy"), host.options()).unwrap();
    assert!(sessions_to(2254).is_empty());
    tokio::time::timeout(Duration::from_secs(20), t.warm_up())
        .await
        .expect("the warm-up ended");
    let warm = sessions_to(2254);
    assert_eq!(warm.len(), 3, "{warm:?}");
    assert_eq!(t.sessions(), 3);
    // Three commands at once use them, making none.
    let [a, b, c] = ["a", "b", "c"].map(|w| Command::new("echo").arg(w));
    let (a, b, c) = tokio::join!(
        run_checked(&t, &a),
        run_checked(&t, &b),
        run_checked(&t, &c)
    );
    assert_eq!(
        [a, b, c].map(|o| o.unwrap().stdout_text()),
        ["a\n", "b\n", "c\n"].map(String::from)
    );
    assert_eq!(sessions_to(2254), warm);

    // A command already running on the first session (a run's lock): the others log in
    // beside it, once that session is in, not after the command's answer.
    let t2 = SshTransport::new(host.target("deploy"), host.options()).unwrap();
    let slow = Command::new("sleep").arg("2");
    let began = Instant::now();
    let (slow, warmed) = tokio::join!(t2.run(&slow), async {
        t2.warm_up().await;
        began.elapsed()
    });
    assert!(slow.unwrap().success());
    assert!(
        warmed < Duration::from_millis(1500),
        "warmed up after {warmed:?}, behind the command"
    );
    assert_eq!(t2.sessions(), 3);
    assert_eq!(sessions_to(2254).len(), 6);
}

#[tokio::test]
async fn a_host_that_never_answers_is_tried_once_by_the_warm_up_and_the_command_beside_it() {
    // A host that takes the TCP connection and never speaks SSH (a hung sshd, a firewall
    // that accepts): the warm-up's login waits its connect timeout; the run's first
    // command, asked meanwhile, waits for that login and gets its failure, instead of
    // trying again for another timeout. No other session is tried.
    let listener = std::net::TcpListener::bind((ADDR, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&accepted);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, "").unwrap();
    let options = SshOptions {
        connect_timeout: Duration::from_millis(800),
        known_hosts: Some(known_hosts),
        ..SshOptions::default()
    };
    let t = SshTransport::new(SshTarget::new(ADDR, port, "deploy"), options).unwrap();
    let began = Instant::now();
    let (_, answer) = tokio::join!(t.warm_up(), async {
        // Asked once the warm-up's login is under way.
        tokio::time::sleep(Duration::from_millis(100)).await;
        t.run(&Command::new("true")).await
    });
    let took = began.elapsed();
    let err = answer.unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err}");
    // One timeout (0.8 s), not two one after the other.
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(t.sessions(), 1);
    // The next command tries again (the host may be back).
    let again = t.run(&Command::new("true")).await.unwrap_err();
    assert!(matches!(again, TransportError::Connect { .. }), "{again}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_job_asked_while_every_session_is_busy_takes_the_first_that_frees() {
    // A job asked while every session runs something waits for the first one to be free.
    // It was handed beforehand to the least busy session, the first in the list, which in
    // a rollout ran a `docker stop` (0.3 s) or a health probe Tomcat holds for seconds,
    // while the other sessions freed at once: a journal append waited 0.3 s so.
    let Some(host) = Host::up(
        "a_job_asked_while_every_session_is_busy_takes_the_first_that_frees",
        2250,
    ) else {
        return;
    };
    let two = SshOptions {
        sessions: 2,
        ..host.options()
    };
    let t = SshTransport::new(host.target("deploy"), two).unwrap();
    tokio::time::timeout(Duration::from_secs(20), t.warm_up())
        .await
        .expect("the warm-up ended");
    assert_eq!(t.sessions(), 2);
    let long = Command::new("sleep").arg("3");
    let short = Command::new("sleep").arg("0.3");
    let began = Instant::now();
    let long_one = async {
        let r = t.run(&long).await;
        (r, began.elapsed())
    };
    let others = async {
        // The long one has the first session, the short one the second; the third is
        // asked while both run.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let short_one = t.run(&short);
        let third = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let r = t.run(&Command::new("echo").arg("third")).await;
            (r, began.elapsed())
        };
        tokio::join!(short_one, third)
    };
    let ((long, long_took), (short, (third, third_took))) = tokio::join!(long_one, others);
    assert!(long.unwrap().success() && short.unwrap().success());
    assert_eq!(third.unwrap().stdout_text(), "third\n");
    assert!(
        third_took + Duration::from_secs(1) < long_took,
        "the third answered after {third_took:?}, the long one after {long_took:?}"
    );
    // No session was made for it.
    assert_eq!(t.sessions(), 2);
}
