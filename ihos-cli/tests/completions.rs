//! `ihos completions SHELL`, `ihos man` and `ihos --version`: what a packager and an
//! operator's shell get from the binary itself.

mod common;

use common::ihos;

/// Every top-level command, as `ihos --help` lists them.
fn commands() -> Vec<String> {
    let help = ihos(&["--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    let listing = help
        .stdout
        .split("Commands:")
        .nth(1)
        .expect("a command list")
        .split("\n\n")
        .next()
        .unwrap()
        .to_string();
    let names: Vec<String> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(names.len() > 10, "{names:?}");
    names
}

#[test]
fn every_shell_gets_a_script_naming_every_command() {
    let commands = commands();
    for (shell, marker) in [
        ("bash", "complete -F _ihos"),
        ("zsh", "#compdef ihos"),
        ("fish", "complete -c ihos"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[ihos]"),
    ] {
        let run = ihos(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {run:?}");
        assert!(run.stdout.contains(marker), "{shell}: no {marker:?}");
        for c in commands.iter().filter(|c| *c != "help") {
            assert!(run.stdout.contains(c.as_str()), "{shell}: no {c}");
        }
    }
    let bad = ihos(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{bad:?}");
}

/// The bash script is valid bash (`bash -n`), as it would be sourced.
#[test]
fn the_bash_script_parses() {
    let run = ihos(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ihos.bash");
    std::fs::write(&path, &run.stdout).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_prints_the_page_or_writes_one_per_command() {
    let page = ihos(&["man"]);
    assert_eq!(page.code, 0, "{page:?}");
    assert!(page.stdout.contains(".TH ihos 1"), "{}", page.stdout);
    assert!(page.stdout.contains("rollout"));

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let run = ihos(&["man", "--dir", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    for c in commands().iter().filter(|c| *c != "help") {
        let path = out.join(format!("ihos-{c}.1"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.contains(&format!(".TH ihos-{c} 1")), "{c}");
    }
    // Nested commands too, each page's synopsis as typed, with the global options.
    let nested = std::fs::read_to_string(out.join("ihos-canary-open.1")).unwrap();
    assert!(nested.contains(".TH ihos-canary-open 1"));
    assert!(nested.contains("ihos canary open"), "{nested}");
    let rollout = std::fs::read_to_string(out.join("ihos-rollout.1")).unwrap();
    assert!(rollout.contains("\\-\\-config"), "{rollout}");
    let root = std::fs::read_to_string(out.join("ihos.1")).unwrap();
    assert!(
        !root.contains("ihos\\-help"),
        "no page for help is listed: {root}"
    );
    assert!(!out.join("ihos-help.1").exists());
}

/// `man --dir` onto something that is not a directory: the path and why, exit 1, no panic.
#[test]
fn man_into_a_file_or_a_dangling_link_is_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("man1");
    std::fs::write(&file, "not a directory").unwrap();
    let link = dir.path().join("gone");
    std::os::unix::fs::symlink(dir.path().join("nowhere/deeper"), &link).unwrap();
    for target in [&file, &link] {
        let run = ihos(&["man", "--dir", target.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains(target.to_str().unwrap()), "{run:?}");
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
}

/// `--version` names the commit the binary was built from.
#[test]
fn version_names_the_commit() {
    let run = ihos(&["--version"]);
    assert_eq!(run.code, 0, "{run:?}");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let commit = head.unwrap_or_else(|| "unknown".into());
    assert_eq!(
        run.stdout.trim(),
        format!("ihos {} (commit {commit})", env!("CARGO_PKG_VERSION"))
    );
}
