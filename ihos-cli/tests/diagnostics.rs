//! Errors that point into a file, as a person reads them: the first line stays
//! `FILE:LINE:COL: message` (editors jump from it), then the line with a caret under the
//! column, what it refers back to, and a hint (snapshots: `tests/snapshots/`). Not a
//! terminal here, so no colour; a control character in the file never reaches the terminal.

use std::path::Path;
use std::process::Command;

/// `ihos ARGS` run in `dir` (so file names in the output are the relative ones given):
/// exit code and stderr.
fn ihos_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ihos"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("IHOS_CONFIG")
        .output()
        .expect("run ihos");
    let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour off a terminal:\n{stderr}"
    );
    (out.status.code().expect("exit code"), stderr)
}

/// `ihos nginx check` of `text` saved as `nginx.conf`: exit 2 and its stderr.
fn nginx_check(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nginx.conf"), text).unwrap();
    let (code, stderr) = ihos_in(dir.path(), &["nginx", "check", "nginx.conf"]);
    assert_eq!(code, 2, "{stderr}");
    stderr
}

#[test]
fn a_missing_semicolon_points_at_the_brace() {
    let stderr = nginx_check("http {\n    upstream app {\n        server a:1\n    }\n}\n");
    assert!(
        stderr.starts_with("nginx.conf:4:5: unexpected \"}\""),
        "{stderr}"
    );
    insta::assert_snapshot!(stderr);
}

#[test]
fn a_block_left_open_points_at_its_opening() {
    let stderr = nginx_check(
        "http {\n    upstream app {\n        server a:1;\n\n    server {\n        listen 80;\n    }\n}\n",
    );
    insta::assert_snapshot!(stderr);
}

#[test]
fn a_brace_too_many_and_text_after_a_quote() {
    insta::assert_snapshot!("extra_brace", nginx_check("events {}\n}\n"));
    insta::assert_snapshot!(
        "after_quote",
        nginx_check("http {\n    add_header X-Id \"a\"b;\n}\n")
    );
}

#[test]
fn a_string_never_closed_points_at_its_quote() {
    let filler = "x".repeat(5000);
    let stderr = nginx_check(&format!(
        "http {{\n    set $a \"open;\n    # {filler}\n}}\n"
    ));
    let (first, rest) = stderr.split_once('\n').unwrap();
    assert!(first.starts_with("nginx.conf:"), "{first}");
    // The 5000-character line is shown, not snapshotted.
    assert!(rest.contains("this string is never closed"), "{rest}");
    assert!(rest.contains("close the string with \""), "{rest}");
}

#[test]
fn a_topology_that_is_not_toml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ihos.toml"),
        "[hosts.h101]\naddress = \"192.168.1.101\"\nuser = deploy\n",
    )
    .unwrap();
    let (code, stderr) = ihos_in(dir.path(), &["validate"]);
    assert_eq!(code, 2, "{stderr}");
    insta::assert_snapshot!(stderr);
}

#[test]
fn a_control_character_in_the_file_is_not_sent_to_the_terminal() {
    let stderr = nginx_check("http {\n    server_name a\u{1b}[2Jb }\n");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(stderr.contains("a\u{fffd}[2Jb"), "{stderr}");
}

/// A value that parses but cannot be right, written in `[defaults]`: the error is on the
/// defaults' line (the one to edit), named by its key, with the instance it broke.
#[test]
fn a_wrong_value_from_the_defaults_points_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/ihos.toml"
    ))
    .unwrap();
    let text = example.replace(
        "webapps = \"/opt/docker/ihos/{app}/tomcat/webapps\"",
        "webapps = \"opt/docker/ihos/{app}/tomcat/webapps\"",
    );
    std::fs::write(dir.path().join("ihos.toml"), text).unwrap();
    let (code, stderr) = ihos_in(dir.path(), &["validate"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("ihos.toml:36:1: defaults.webapps: "),
        "{stderr}"
    );
    insta::assert_snapshot!(stderr);
}
