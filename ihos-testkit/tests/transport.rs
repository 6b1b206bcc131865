//! `FakeHost` as an `ihos_core::Transport`: the default `read_file`/`write_file_in_place`
//! built on commands, uploads, sudo and permissions, the command log, and transport-level
//! faults (disk full, hang, dropped connection, failed or falsified output).

mod common;

use std::time::Duration;

use common::{changed, lines, rp};
use ihos_core::{Command, Output, Privilege, Transport, TransportError, run_checked};
use ihos_testkit::{FakeHost, Fault, Matcher};

const CONF: &str = "/opt/docker/ihos/nginx_proxy/nginx.conf";
const OLD: &[u8] = b"old contents of the file, longer than the new ones\n";

fn host_with_conf() -> FakeHost {
    let host = FakeHost::standalone("h1");
    host.write_file(CONF, OLD);
    host
}

#[tokio::test(start_paused = true)]
async fn write_in_place_keeps_inode_owner_and_mode() {
    let host = host_with_conf();
    let before = host.stat(CONF).unwrap();
    host.write_file_in_place(&rp(CONF), b"new\n", Privilege::Sudo)
        .await
        .unwrap();
    let after = host.stat(CONF).unwrap();
    assert_eq!(host.read(CONF).unwrap(), b"new\n");
    assert_eq!(
        after.inode, before.inode,
        "same inode: the bind mount sees it"
    );
    assert_eq!((after.owner.as_str(), after.mode), ("root", 0o644));
    assert_eq!(
        host.list("/opt/docker/ihos/nginx_proxy"),
        vec!["nginx.conf"],
        "no staging file left"
    );
    assert_eq!(
        host.read_file(&rp(CONF), Privilege::Sudo).await.unwrap(),
        b"new\n"
    );
    let programs: Vec<String> = host
        .world()
        .commands()
        .iter()
        .map(|c| c.argv()[0].to_string())
        .collect();
    assert_eq!(
        programs,
        ["dd", "sha256sum", "dd", "rm", "sha256sum", "cat"],
        "{:#?}",
        lines(host.world())
    );
    let dd = &host.world().commands()[0];
    assert_eq!(dd.command.privilege(), Privilege::Sudo);
    assert!(
        dd.line()
            .starts_with("dd of=/opt/docker/ihos/nginx_proxy/.nginx.conf.ihos-tmp-"),
        "{}",
        dd.line()
    );
}

#[tokio::test(start_paused = true)]
async fn a_rename_gives_a_new_inode() {
    let host = host_with_conf();
    let ino = host.stat(CONF).unwrap().inode;
    host.write_file("/opt/docker/ihos/nginx_proxy/new", b"x");
    run_checked(
        &host,
        &Command::new("mv")
            .args(["-f", "--", "/opt/docker/ihos/nginx_proxy/new", CONF])
            .sudo(),
    )
    .await
    .unwrap();
    assert_ne!(host.stat(CONF).unwrap().inode, ino);
    assert_eq!(host.read(CONF).unwrap(), b"x");
}

#[tokio::test(start_paused = true)]
async fn the_login_user_cannot_write_root_files() {
    let host = host_with_conf();
    let before = host.snapshot();
    let err = host
        .write_file_in_place(&rp(CONF), b"new", Privilege::User)
        .await
        .unwrap_err();
    match &err {
        TransportError::Failed { stderr, .. } => {
            assert!(stderr.contains("Permission denied"), "{err}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        changed(&before, &host.snapshot(), &[]),
        Vec::<String>::new()
    );
}

#[tokio::test(start_paused = true)]
async fn sudo_needing_a_password_is_reported_as_such() {
    let host = host_with_conf();
    host.set_sudo_nopasswd(false);
    let err = host
        .read_file(&rp(CONF), Privilege::Sudo)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::SudoPassword { .. }),
        "{err:?}"
    );
    // Without sudo the world-readable file is fine.
    assert_eq!(
        host.read_file(&rp(CONF), Privilege::User).await.unwrap(),
        OLD
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_commands_are_errors_and_logged() {
    let host = host_with_conf();
    for cmd in [
        Command::new("ls").arg("-l"),
        Command::new("cat").arg(CONF),
        Command::new("dd").args([format!("of={CONF}")]),
        Command::new("docker").args(["ps"]),
        Command::new("docker").args(["exec", "nope", "ls"]),
    ] {
        let err = host.run(&cmd).await.unwrap_err();
        match &err {
            TransportError::Failed { stderr, .. } => assert!(
                stderr.starts_with("fake host: unsupported command: "),
                "{err}"
            ),
            other => panic!("{cmd}: unexpected {other:?}"),
        }
    }
    let log = host.world().commands();
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|c| c.result.is_err()));
    assert_eq!(log[0].line(), "ls -l");
}

#[tokio::test(start_paused = true)]
async fn file_commands_behave_like_coreutils() {
    let host = FakeHost::standalone("h1");
    let run = |c: Command| {
        let host = host.clone();
        async move { host.run(&c).await.unwrap() }
    };
    let ok = |o: &Output| o.success();
    assert!(ok(&run(Command::new("mkdir")
        .args(["-p", "--", "/srv/a/b"])
        .sudo())
    .await));
    assert!(ok(&run(Command::new("test").args(["-d", "/srv/a/b"])).await));
    assert!(!ok(
        &run(Command::new("test").args(["-f", "/srv/a/b"])).await
    ));
    let o = run(Command::new("cat").args(["--", "/srv/missing"])).await;
    assert_eq!(o.status, Some(1));
    assert_eq!(
        o.stderr_text(),
        "cat: /srv/missing: No such file or directory"
    );
    let o = run(Command::new("rm").args(["-f", "--", "/srv/a/b"]).sudo()).await;
    assert_eq!(
        o.stderr_text(),
        "rm: cannot remove '/srv/a/b': Is a directory"
    );
    assert!(ok(
        &run(Command::new("rm").args(["-f", "--", "/srv/none"])).await
    ));
    let o = run(Command::new("mkdir").args(["-p", "--", "/srv/x"])).await;
    assert_eq!(
        o.stderr_text(),
        "mkdir: cannot create directory '/srv/x': Permission denied"
    );
    assert!(ok(&run(Command::new("rm")
        .args(["-rf", "--", "/srv/a"])
        .sudo())
    .await));
    assert!(!host.exists("/srv/a"));
    let o = run(Command::new("sha256sum").args(["--", "/tmp"])).await;
    assert_eq!(o.stderr_text(), "sha256sum: /tmp: Is a directory");
    // The lock directory: plain mkdir fails when it exists.
    assert!(ok(&run(Command::new("mkdir")
        .args(["--", "/srv/lock"])
        .sudo())
    .await));
    let o = run(Command::new("mkdir").args(["--", "/srv/lock"]).sudo()).await;
    assert!(o.stderr_text().contains("File exists"), "{o:?}");
    // Append, stat and tail, as the rollout engine uses them.
    for part in ["one\n", "two\n"] {
        let o = run(Command::new("dd")
            .args([
                "of=/srv/audit.log",
                "oflag=append",
                "conv=notrunc,fsync",
                "status=none",
            ])
            .stdin(part)
            .sudo())
        .await;
        assert!(ok(&o), "{o:?}");
    }
    let o = run(Command::new("stat").args(["-c", "%s", "--", "/srv/audit.log"])).await;
    assert_eq!(o.stdout_text(), "8\n");
    let o = run(Command::new("tail").args(["-c", "+5", "--", "/srv/audit.log"])).await;
    assert_eq!(o.stdout_text(), "two\n");
    let o = run(Command::new("date").arg("+%Y-%m-%d")).await;
    assert_eq!(o.stdout_text(), "2026-01-05\n");
}

#[tokio::test(start_paused = true)]
async fn upload_stages_checks_and_renames() {
    let host = FakeHost::standalone("h1");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("ihos.war");
    std::fs::write(&local, b"PK\x03\x04 a war").unwrap();
    let up = host
        .upload(&local, &rp("/home/deploy/ihos.war"))
        .await
        .unwrap();
    assert_eq!(up.bytes, 10);
    assert_eq!(up.sha256, ihos_testkit::sha256_hex(b"PK\x03\x04 a war"));
    let info = host.stat("/home/deploy/ihos.war").unwrap();
    assert_eq!(info.owner, "deploy");
    assert_eq!(host.list("/home/deploy"), vec!["ihos.war"]);

    // Into a root-owned directory: refused, nothing left behind.
    host.mkdir("/opt/webapps", "root", 0o755);
    let before = host.snapshot();
    let err = host
        .upload(&local, &rp("/opt/webapps/ihos.war"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::Io { reason, .. } if reason == "Permission denied"),
        "{err:?}"
    );
    assert_eq!(before.differences(&host.snapshot()), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn disk_full_on_dd_leaves_the_original_intact() {
    let host = host_with_conf();
    let fault = host
        .world()
        .inject(Fault::on(Matcher::program("dd")).disk_full_after(10));
    let before = host.snapshot();
    let err = host
        .write_file_in_place(&rp(CONF), &[b'x'; 100], Privilege::Sudo)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::Failed { stderr, .. } if stderr.contains("No space left on device")),
        "{err:?}"
    );
    assert_eq!(host.world().fault_fired(fault), 1);
    assert_eq!(
        changed(&before, &host.snapshot(), &[]),
        Vec::<String>::new()
    );
    // dd left a partial staging file; the cleanup rm removed it.
    let log = lines(host.world());
    assert!(log[0].starts_with("dd "), "{log:?}");
    assert!(log[1].starts_with("rm -f -- "), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn a_really_full_disk_leaves_partial_files_like_a_real_one() {
    let host = host_with_conf();
    host.set_disk_free(Some(5));
    let o = host
        .run(
            &Command::new("dd")
                .args([
                    "of=/tmp/x",
                    "bs=65536",
                    "conv=excl,fsync",
                    "oflag=nofollow",
                    "status=none",
                ])
                .stdin(b"0123456789".to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(
        o.stderr_text(),
        "dd: error writing '/tmp/x': No space left on device"
    );
    assert_eq!(host.read("/tmp/x").unwrap(), b"01234");
    // The in-place write fails the same way and leaves the original.
    let before = host.read(CONF).unwrap();
    assert!(
        host.write_file_in_place(&rp(CONF), &[b'y'; 64], Privilege::Sudo)
            .await
            .is_err()
    );
    assert_eq!(host.read(CONF).unwrap(), before);
}

#[tokio::test(start_paused = true)]
async fn disk_full_on_cp_truncates_the_target_as_a_real_cp_would() {
    let host = host_with_conf();
    let ino = host.stat(CONF).unwrap().inode;
    host.world()
        .inject(Fault::on(Matcher::line_contains(&format!("of={CONF}"))).disk_full_after(3));
    let err = host
        .write_file_in_place(&rp(CONF), b"brand new content", Privilege::Sudo)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("No space left on device"), "{err}");
    // The caller (NginxLb) must put the old bytes back: the target is now partial.
    assert_eq!(host.read(CONF).unwrap(), b"bra");
    assert_eq!(host.stat(CONF).unwrap().inode, ino);
}

#[tokio::test(start_paused = true)]
async fn disk_full_on_upload_leaves_the_old_file_and_no_temp() {
    let host = FakeHost::standalone("h1");
    host.write_file_as("/home/deploy/ihos.war", b"old war", "deploy", 0o644);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("new.war");
    std::fs::write(&local, vec![7u8; 1000]).unwrap();
    host.world()
        .inject(Fault::on(Matcher::upload_to("ihos.war")).disk_full_after(100));
    let before = host.snapshot();
    let err = host
        .upload(&local, &rp("/home/deploy/ihos.war"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::Io { op: "upload", reason, .. } if reason == "No space left on device"),
        "{err:?}"
    );
    assert_eq!(before.differences(&host.snapshot()), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_hung_command_times_out_in_virtual_time() {
    let host = FakeHost::standalone("h1");
    host.world()
        .inject(Fault::on(Matcher::argv_starts_with(&["docker", "stop"])).hang());
    let wall = std::time::Instant::now();
    let t0 = host.world().now();
    let cmd = Command::new("docker")
        .args(["stop", "--time", "10", "pep1"])
        .sudo()
        .timeout(Duration::from_secs(70));
    let err = host.run(&cmd).await.unwrap_err();
    assert!(
        matches!(err, TransportError::Timeout { after, .. } if after == Duration::from_secs(70)),
        "{err:?}"
    );
    assert_eq!(
        host.world().now().duration_since(t0),
        Duration::from_secs(70)
    );
    assert!(wall.elapsed() < Duration::from_secs(5));
    assert!(host.world().commands()[0].result.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_hung_file_command_times_out_by_default_and_changes_nothing() {
    // Every command has a timeout (ihos_core::DEFAULT_COMMAND_TIMEOUT) unless it opts out:
    // a stuck connection cannot make a write wait forever.
    let host = host_with_conf();
    host.world()
        .inject(Fault::on(Matcher::program("dd")).hang());
    let path = rp(CONF);
    let write = host.write_file_in_place(&path, b"new", Privilege::Sudo);
    let r = tokio::time::timeout(Duration::from_secs(24 * 3600), write).await;
    let err = r.expect("returns well within a virtual day").unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    assert_eq!(host.read(CONF).unwrap(), OLD);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_may_or_may_not_have_run_the_command() {
    let host = FakeHost::standalone("h1");
    host.world().inject(
        Fault::on(Matcher::line_contains("/srv/happened"))
            .every()
            .disconnect(true),
    );
    host.world().inject(
        Fault::on(Matcher::line_contains("/srv/not"))
            .every()
            .disconnect(false),
    );
    for (path, exists) in [("/srv/happened", true), ("/srv/not", false)] {
        let err = host
            .run(&Command::new("mkdir").args(["-p", "--", path]).sudo())
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::Disconnected { .. }),
            "{err:?}"
        );
        assert!(err.is_connection_loss());
        assert_eq!(host.exists(path), exists, "{path}");
    }
}

#[tokio::test(start_paused = true)]
async fn nth_every_and_host_scoping() {
    let world = ihos_testkit::FakeWorld::new();
    let h1 = world.add_host("h1");
    let h2 = world.add_host("h2");
    let second = world.inject(
        Fault::on(Matcher::program("test"))
            .on_host("h1")
            .nth(2)
            .fail(2, "boom"),
    );
    let test = Command::new("test").args(["-d", "/tmp"]);
    let statuses = [
        h1.run(&test).await.unwrap().status,
        h2.run(&test).await.unwrap().status,
        h1.run(&test).await.unwrap().status,
        h1.run(&test).await.unwrap().status,
    ];
    assert_eq!(statuses, [Some(0), Some(0), Some(2), Some(0)]);
    assert_eq!(world.fault_fired(second), 1);
    assert_eq!(world.fault_matched(second), 3);
    assert_eq!(
        world.commands()[2].result.as_ref().unwrap().stderr_text(),
        "boom"
    );

    let every = world.inject(Fault::on(Matcher::program("test")).from_nth(2).fail(1, ""));
    for expect in [Some(0), Some(1), Some(1)] {
        assert_eq!(h2.run(&test).await.unwrap().status, expect);
    }
    assert_eq!(world.fault_fired(every), 2);
}

#[tokio::test(start_paused = true)]
async fn falsified_output_is_caught_by_the_checksum() {
    let host = host_with_conf();
    host.world()
        .inject(Fault::on(Matcher::program("sha256sum")).respond(Output {
            status: Some(0),
            stdout: format!("{}  /x\n", "0".repeat(64)).into_bytes(),
            stderr: Vec::new(),
        }));
    let before = host.snapshot();
    let err = host
        .write_file_in_place(&rp(CONF), b"new", Privilege::Sudo)
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Checksum { .. }), "{err:?}");
    assert_eq!(before.differences(&host.snapshot()), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_delayed_command_costs_virtual_time_or_times_out() {
    let host = FakeHost::standalone("h1");
    host.world().inject(
        Fault::on(Matcher::program("mkdir"))
            .every()
            .delay(Duration::from_secs(30)),
    );
    let t0 = host.world().now();
    let mkdir = |p: &str| Command::new("mkdir").args(["-p", "--", p]).sudo();
    host.run(&mkdir("/srv/a")).await.unwrap();
    assert_eq!(
        host.world().now().duration_since(t0),
        Duration::from_secs(30)
    );
    assert!(host.exists("/srv/a"));
    let err = host
        .run(&mkdir("/srv/b").timeout(Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }));
    assert!(!host.exists("/srv/b"));
}
