//! `ihos nginx disable|enable FILE --upstream NAME --server HOST:PORT`: in-place edits of the
//! runbook's nginx.conf.

mod common;

use common::{Fixture, NGINX_CONF, read, replace_once};

const UP: &str = "service_ihos";
const GRAY: &str = "service_ihos_gray";
const S101_1: &str = "192.168.1.101:39091";
const LINE_101_1: &str = "        server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;\n";

fn disable(f: &Fixture, upstream: &str, server: &str, extra: &[&str]) -> common::Run {
    let mut args = vec!["--upstream", upstream, "--server", server];
    args.extend_from_slice(extra);
    f.nginx("disable", &args)
}

fn enable(f: &Fixture, upstream: &str, server: &str, extra: &[&str]) -> common::Run {
    let mut args = vec!["--upstream", upstream, "--server", server];
    args.extend_from_slice(extra);
    f.nginx("enable", &args)
}

fn commented_101_1() -> String {
    replace_once(
        NGINX_CONF,
        LINE_101_1,
        "        #server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;\n",
    )
}

#[test]
fn disable_comments_the_line_in_place_with_backup() {
    let f = Fixture::nginx_conf();
    let ino = f.ino();
    let r = disable(&f, UP, S101_1, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    // Exactly the runbook's edit, nothing else.
    assert_eq!(f.text(), commented_101_1());
    assert_eq!(
        f.ino(),
        ino,
        "the file must be written in place (same inode)"
    );
    // One backup, holding the original bytes.
    let backups = f.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(read(&backups[0]), NGINX_CONF.as_bytes());
    let name = backups[0].file_name().unwrap().to_str().unwrap();
    // .nginx.conf.ihos-YYYYMMDDTHHMMSSZ.bak: a dotfile, so `include dir/*` skips it
    let stamp = &name[".nginx.conf.ihos-".len()..name.len() - ".bak".len()];
    assert_eq!(stamp.len(), 16, "{name}");
    assert!(
        stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z'),
        "{name}"
    );
    // The diff on stdout, the message on stderr.
    assert!(
        r.stdout.starts_with(&format!(
            "--- a/{0}\n+++ b/{0}\n",
            f.arg().trim_start_matches('/')
        )),
        "{r:?}"
    );
    assert!(r.stdout.contains(&format!("\n-{LINE_101_1}")), "{r:?}");
    assert!(
        r.stdout
            .contains("\n+        #server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;\n"),
        "{r:?}"
    );
    assert!(
        r.stderr.starts_with(&format!(
            "{}: server 192.168.1.101:39091 of upstream service_ihos commented out (backup: ",
            f.arg()
        )),
        "{r:?}"
    );
}

#[test]
fn dry_run_prints_the_diff_and_changes_nothing() {
    let f = Fixture::nginx_conf();
    let ino = f.ino();
    let r = disable(&f, UP, S101_1, &["--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.bytes(), NGINX_CONF.as_bytes());
    assert_eq!(f.ino(), ino);
    assert!(f.backups().is_empty(), "a dry run keeps no backup");
    assert!(r.stdout.contains(&format!("\n-{LINE_101_1}")), "{r:?}");
    assert!(
        r.stdout
            .contains("\n+        #server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;\n"),
        "{r:?}"
    );
    assert!(r.stderr.contains("dry run"), "{r:?}");
}

#[test]
fn second_disable_is_a_no_op() {
    let f = Fixture::nginx_conf();
    assert_eq!(disable(&f, UP, S101_1, &[]).code, 0);
    let after_first = f.bytes();
    let r = disable(&f, UP, S101_1, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.bytes(), after_first);
    assert_eq!(f.backups().len(), 1, "a no-op writes no backup");
    assert_eq!(r.stdout, "", "a no-op has no diff");
    assert!(
        r.stderr
            .contains("is already disabled (commented); nothing written"),
        "{r:?}"
    );
    // The same with the `down` style: already out of rotation.
    let r = disable(&f, UP, S101_1, &["--style", "down"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.bytes(), after_first);
}

#[test]
fn enable_of_an_enabled_server_is_a_no_op() {
    let f = Fixture::nginx_conf();
    let r = enable(&f, UP, S101_1, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.bytes(), NGINX_CONF.as_bytes());
    assert!(f.backups().is_empty());
    assert!(r.stderr.contains("is already enabled"), "{r:?}");
}

#[test]
fn disable_then_enable_restores_the_original_bytes() {
    let f = Fixture::nginx_conf();
    let ino = f.ino();
    for server in [
        "192.168.1.101:39091",
        "192.168.1.101:39092",
        "192.168.1.103:39091",
        "192.168.1.103:39092",
    ] {
        let r = disable(&f, UP, server, &[]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_ne!(f.bytes(), NGINX_CONF.as_bytes());
        let r = enable(&f, UP, server, &[]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(f.text(), NGINX_CONF, "after {server}");
        assert!(
            r.stdout.contains(&format!("\n+        server {server} ")),
            "{r:?}"
        );
    }
    assert_eq!(f.ino(), ino);
    assert_eq!(f.backups().len(), 8);
}

#[test]
fn down_style_adds_and_enable_removes_down() {
    let f = Fixture::nginx_conf();
    let ino = f.ino();
    let r = disable(&f, UP, S101_1, &["--style", "down"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        f.text(),
        replace_once(
            NGINX_CONF,
            LINE_101_1,
            "        server 192.168.1.101:39091 max_fails=5 fail_timeout=10s down;\n",
        )
    );
    let r = enable(&f, UP, S101_1, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.text(), NGINX_CONF);
    assert_eq!(f.ino(), ino);
}

#[test]
fn last_enabled_server_is_refused_with_exit_2() {
    let f = Fixture::nginx_conf();
    let r = disable(&f, GRAY, "192.168.1.102:39091", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(f.bytes(), NGINX_CONF.as_bytes());
    assert!(f.backups().is_empty());
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr
            .contains("it is the last enabled server of upstream \"service_ihos_gray\""),
        "{r:?}"
    );
}

#[test]
fn disabling_every_server_one_by_one_stops_at_the_last() {
    let f = Fixture::nginx_conf();
    for server in [
        "192.168.1.101:39091",
        "192.168.1.101:39092",
        "192.168.1.103:39091",
    ] {
        assert_eq!(disable(&f, UP, server, &[]).code, 0);
    }
    let before = f.bytes();
    let r = disable(&f, UP, "192.168.1.103:39092", &["--style", "down"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(f.bytes(), before);
}

#[test]
fn force_disables_the_last_server() {
    let f = Fixture::nginx_conf();
    let ino = f.ino();
    let r = disable(&f, GRAY, "192.168.1.102:39091", &["--force"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        f.text(),
        replace_once(
            NGINX_CONF,
            "        server 192.168.1.102:39091",
            "        #server 192.168.1.102:39091",
        )
    );
    assert_eq!(f.ino(), ino);
    assert_eq!(read(&f.backups()[0]), NGINX_CONF.as_bytes());
}

#[test]
fn unknown_upstream_lists_the_existing_ones() {
    let f = Fixture::nginx_conf();
    // Exact match only: a prefix of a real name is not that upstream.
    let r = disable(&f, "service", S101_1, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "{}: no upstream named \"service\"; upstreams in this file: service_ihos, service_ihos_gray\n",
            f.arg()
        )
    );
    assert_eq!(f.bytes(), NGINX_CONF.as_bytes());
    assert!(f.backups().is_empty());
}

#[test]
fn unknown_server_lists_the_upstreams_servers() {
    let f = Fixture::nginx_conf();
    let r = enable(&f, UP, "192.168.1.102:39091", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(
            "its servers: 192.168.1.101:39091 (enabled), 192.168.1.101:39092 (enabled), \
             192.168.1.103:39091 (enabled), 192.168.1.103:39092 (enabled)"
        ),
        "{r:?}"
    );
    assert_eq!(f.bytes(), NGINX_CONF.as_bytes());
}

#[test]
fn no_backup_writes_no_backup() {
    let f = Fixture::nginx_conf();
    let r = disable(&f, UP, S101_1, &["--no-backup"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.text(), commented_101_1());
    assert!(f.backups().is_empty());
    assert!(r.stderr.contains("(no backup kept)"), "{r:?}");
}

#[test]
fn parse_error_blocks_the_edit() {
    let f = Fixture::new("nginx.conf", common::BROKEN);
    let r = disable(&f, UP, S101_1, &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.starts_with(&format!("{}:4:5: ", f.arg())), "{r:?}");
    assert_eq!(f.text(), common::BROKEN);
    assert!(f.backups().is_empty());
}

#[test]
fn missing_file_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nginx.conf");
    let r = common::ihos(&[
        "nginx",
        "disable",
        path.to_str().unwrap(),
        "--upstream",
        UP,
        "--server",
        S101_1,
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!path.exists());
}

#[test]
fn usage_errors_exit_2_and_touch_nothing() {
    let f = Fixture::nginx_conf();
    for args in [
        &["--upstream", UP][..],
        &["--server", S101_1][..],
        &["--upstream", UP, "--server", S101_1, "--style", "delete"][..],
    ] {
        let r = f.nginx("disable", args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.starts_with("error: "), "{r:?}");
    }
    // enable has no --force or --style.
    let r = enable(&f, UP, S101_1, &["--force"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(f.bytes(), NGINX_CONF.as_bytes());
    assert!(f.backups().is_empty());
}
