//! `ihos canary open|close|status|deploy` and `ihos rollout --from-canary`: the input
//! errors the binary answers before contacting any host (the commands themselves run
//! against fake hosts in ihos-testkit's `canary` tests and against the real sandbox in
//! `sandbox_e2e` scenario 7). Every topology here has its hosts on loopback, SSH port 1,
//! so that even a regression that connects cannot leave this machine.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Hosts, loopback_topology};

/// The runbook's topology, its hosts on loopback where nothing answers.
fn topology(dir: &Path) -> PathBuf {
    loopback_topology(dir, Hosts::Unreachable, &dir.join("site"))
}

/// The same without its `[canary]` section (and its host).
fn without_canary(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(topology(dir)).unwrap();
    let cut = text.find("[canary]").unwrap();
    let rest = &text[cut..];
    let policy = rest.find("[policy]").unwrap();
    let path = dir.join("no-canary.toml");
    std::fs::write(&path, format!("{}{}", &text[..cut], &rest[policy..])).unwrap();
    path
}

fn ihos(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ihos"))
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_topology_without_a_canary_is_an_input_error_for_every_canary_command() {
    let dir = tempfile::tempdir().unwrap();
    let config = without_canary(dir.path());
    let war = dir.path().join("x.war");
    std::fs::write(&war, b"unused").unwrap();
    for args in [
        vec!["canary", "status"],
        vec!["canary", "close"],
        vec!["canary", "open", "--ids", "1,3"],
        // without --ids, check reads the live rule: from the topology's canary
        vec!["canary", "check", "--token", "eyJpZCI6IjEyIn0"],
    ] {
        let out = ihos(&config, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("no canary (no [canary] section)"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn from_canary_excludes_war_commit_and_simulate() {
    let dir = tempfile::tempdir().unwrap();
    let config = topology(dir.path());
    for (args, says) in [
        (
            vec!["rollout", "--from-canary", "--war", "x.war"],
            "cannot be used with",
        ),
        (vec!["rollout"], "--war <FILE>"),
        (
            vec!["rollout", "--from-canary", "--simulate"],
            "--simulate has no canary",
        ),
        (
            vec!["rollout", "--from-canary", "--commit", "abc", "--yes"],
            "takes the commit from the canary's deployment record",
        ),
    ] {
        let out = ihos(&config, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn bad_ids_are_refused_before_anything_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let config = topology(dir.path());
    for (ids, says) in [
        (
            "1,,3",
            "id prefix number 2 is empty (it would select every user)",
        ),
        (
            "1\"x",
            "id prefix \"1\\\"x\" contains '\"', which JSON writes escaped",
        ),
    ] {
        let out = ihos(&config, &["canary", "open", "--ids", ids]);
        assert_eq!(out.status.code(), Some(2), "{ids}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("invalid value"), "{ids}: {err}");
        assert!(err.contains(says), "{ids}: {err}");
        assert_eq!(out.stdout, b"", "{ids}");
    }
}
