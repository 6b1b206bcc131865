//! `ihos nginx check FILE`: parse only, exit 0 or 2 with FILE:LINE:COL.

mod common;

use common::{BROKEN, Fixture, ihos};

#[test]
fn runbook_nginx_conf_is_ok() {
    let f = Fixture::nginx_conf();
    let r = f.nginx("check", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, format!("{}: ok\n", f.arg()));
    assert_eq!(r.stdout, "");
    assert_eq!(
        f.text(),
        common::NGINX_CONF,
        "check must not touch the file"
    );
    assert!(f.backups().is_empty());
}

#[test]
fn runbook_site_file_with_commented_canary_is_ok() {
    let f = Fixture::site();
    let r = f.nginx("check", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, format!("{}: ok\n", f.arg()));
}

#[test]
fn missing_semicolon_reports_file_line_col_and_exit_2() {
    let f = Fixture::new("broken.conf", BROKEN);
    let r = f.nginx("check", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    // The first line is FILE:LINE:COL: message (the rest draws it: tests/diagnostics.rs).
    assert_eq!(
        r.stderr.lines().next().unwrap(),
        format!(
            "{}:4:5: unexpected \"}}\", expected \";\" to end directive \"server\" (missing semicolon?)",
            f.arg()
        )
    );
    assert_eq!(r.stdout, "");
    assert_eq!(f.text(), BROKEN);
}

#[test]
fn unclosed_block_reports_position() {
    let f = Fixture::new("x.conf", "http {\n    server {\n");
    let r = f.nginx("check", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.starts_with(&format!("{}:", f.arg())), "{r:?}");
    let rest = &r.stderr[f.arg().len() + 1..];
    let mut parts = rest.splitn(3, ':');
    let line: u32 = parts.next().unwrap().parse().expect("line number");
    let col: u32 = parts.next().unwrap().parse().expect("column number");
    assert!(line >= 1 && col >= 1, "{r:?}");
    assert!(parts.next().unwrap().starts_with(' '), "{r:?}");
}

#[test]
fn missing_file_is_an_io_failure_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("does-not-exist.conf");
    let r = ihos(&["nginx", "check", path.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .starts_with(&format!("{}: reading: ", path.display())),
        "{r:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let r = ihos(&["nginx", "check"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("Usage:"), "{r:?}");
    let r = ihos(&["nginx", "frobnicate", "x"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = ihos(&[]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn help_exits_0_on_stdout() {
    let r = ihos(&["nginx", "--help"]);
    assert_eq!(r.code, 0, "{r:?}");
    for sub in [
        "check",
        "show",
        "disable",
        "enable",
        "disable-block",
        "enable-block",
        "set-regex",
    ] {
        assert!(r.stdout.contains(sub), "{sub} missing from {r:?}");
    }
}
