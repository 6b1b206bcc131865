//! `ihos fetch`, the real binary against the fake TeamCity server on 127.0.0.1 (token in
//! the environment): the WAR, its sidecar, `--json`, resume, the exit codes and messages of
//! the errors, and the commit reaching `ihos rollout --simulate`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ihos_testkit::{FakeBuild, FakeTeamCity, test_war};

const TOKEN: &str = "cli-test-token-abcdef";
const COMMIT: &str = "6feff116ab9ad0d3af686526a6ff96272620e70f";

fn example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ihos.toml"))
        .unwrap()
}

/// The example topology with a `[teamcity]` section for `tc` (plus `extra` lines in it).
fn topology(dir: &Path, tc: &FakeTeamCity, extra: &str) -> PathBuf {
    let path = dir.join("ihos.toml");
    std::fs::write(
        &path,
        format!(
            "{}\n[teamcity]\nurl = \"{}\"\nbuild_type = \"IHos_App\"\n{extra}\n",
            example(),
            tc.url()
        ),
    )
    .unwrap();
    path
}

fn server() -> FakeTeamCity {
    let tc = FakeTeamCity::start(TOKEN).unwrap();
    tc.add_build(
        FakeBuild::new(100, "1.0.100")
            .revision(COMMIT)
            .artifact("ihos.war", test_war("v100", 200_000)),
    );
    tc.add_build(FakeBuild::new(101, "1.0.101").status("FAILURE"));
    tc
}

fn ihos(config: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ihos"));
    cmd.arg("-c")
        .arg(config)
        .args(args)
        .env_remove("IHOS_CONFIG");
    match token {
        Some(t) => cmd.env("IHOS_TEAMCITY_TOKEN", t),
        None => cmd.env_remove("IHOS_TEAMCITY_TOKEN"),
    };
    cmd.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fetch_saves_the_war_and_prints_the_sidecar() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let config = topology(dir.path(), &tc, "");
    let war = dir.path().join("ihos.war");
    let out = ihos(
        &config,
        Some(TOKEN),
        &["fetch", "--json", "--output", war.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(std::fs::read(&war).unwrap(), test_war("v100", 200_000));

    let printed: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("ihos.war.json")).unwrap()).unwrap();
    assert_eq!(printed, on_disk);
    assert_eq!(printed["build_id"], 100);
    assert_eq!(printed["build_number"], "1.0.100");
    assert_eq!(printed["commit"], COMMIT);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");

    assert!(
        stderr.contains(&format!(
            "build #1.0.100 (id 100) of IHos_App on master, server-release: {COMMIT}: ihos.war (200"
        )),
        "{stderr}"
    );
    // Not a terminal: plain progress lines.
    assert!(stderr.contains("downloaded 100% ("), "{stderr}");
    let summary = stderr.lines().last().unwrap();
    assert!(
        summary.starts_with(&format!(
            "fetched {}: build #1.0.100 (id 100) of IHos_App, server-release: {COMMIT}, sha256 {}, ",
            war.display(),
            printed["sha256"].as_str().unwrap()
        )),
        "{summary}"
    );
    assert!(!stderr.contains(TOKEN) && !stdout.contains(TOKEN));
    let content: Vec<_> = tc
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/content/"))
        .collect();
    assert_eq!(content.len(), 1);
    assert_eq!(
        content[0].path,
        "/app/rest/builds/id:100/artifacts/content/ihos.war"
    );
}

#[test]
fn a_cut_download_is_resumed_by_running_it_again() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let config = topology(dir.path(), &tc, "");
    let war = dir.path().join("ihos.war");
    let args = ["fetch", "-o", war.to_str().unwrap()];
    tc.cut_next_download_after(70_000);
    let out = ihos(&config, Some(TOKEN), &args);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the download broke after 70000 of")
            && stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    assert!(!war.exists());

    let out = ihos(&config, Some(TOKEN), &args);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("resuming the partial download at byte 70000 of"),
        "{stderr}"
    );
    assert!(stderr.contains("(resumed after 70000 bytes)"), "{stderr}");
    assert_eq!(std::fs::read(&war).unwrap(), test_war("v100", 200_000));
}

#[test]
fn refused_or_missing_tokens_exit_2_and_never_show_the_token() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let config = topology(dir.path(), &tc, "");
    let war = dir.path().join("ihos.war");
    let args = ["fetch", "-o", war.to_str().unwrap()];

    let out = ihos(&config, Some("a-wrong-token-value"), &args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "TeamCity refused the access token from IHOS_TEAMCITY_TOKEN (HTTP 401): check that it is valid"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("a-wrong-token-value") && stdout.is_empty());

    let out = ihos(&config, None, &args);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "no TeamCity access token: environment variable IHOS_TEAMCITY_TOKEN is unset or empty (teamcity.token_env names it)"
    );

    // token_env names another variable: that one is read.
    let config = topology(dir.path(), &tc, "token_env = \"CI_TOKEN_FOR_IHOS\"");
    let out = Command::new(env!("CARGO_BIN_EXE_ihos"))
        .arg("-c")
        .arg(&config)
        .args(args)
        .env_remove("IHOS_TEAMCITY_TOKEN")
        .env("CI_TOKEN_FOR_IHOS", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(war.exists());
}

#[test]
fn not_found_is_exit_2_and_no_successful_build_exit_1() {
    let tc = server();
    tc.add_build(
        FakeBuild::new(200, "9")
            .build_type("Broken_App")
            .status("FAILURE"),
    );
    let dir = tempfile::tempdir().unwrap();
    let war = dir.path().join("ihos.war");
    let w = war.to_str().unwrap();

    let config = topology(dir.path(), &tc, "");
    let out = ihos(&config, Some(TOKEN), &["fetch", "-o", w, "--build", "999"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim(), format!("{}: no build with id 999", tc.url()));
    let out = ihos(&config, Some(TOKEN), &["fetch", "-o", w, "--build", "101"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("build 101 (#1.0.101) is not a successful finished build"),
        "{stderr}"
    );

    let config = topology(dir.path(), &tc, "artifact = \"dist/ihos.war\"");
    let out = ihos(&config, Some(TOKEN), &["fetch", "-o", w]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "build 100 has no artifact \"dist/ihos.war\" (artifacts there: none)"
    );

    let text_of = |build_type: &str| {
        let toml = std::fs::read_to_string(topology(dir.path(), &tc, ""))
            .unwrap()
            .replace(
                "build_type = \"IHos_App\"",
                &format!("build_type = \"{build_type}\""),
            );
        std::fs::write(dir.path().join("ihos.toml"), toml).unwrap();
        let out = ihos(
            &dir.path().join("ihos.toml"),
            Some(TOKEN),
            &["fetch", "-o", w],
        );
        (out.status.code(), text(&out).1)
    };
    let (code, stderr) = text_of("IHos_Typo");
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "{}: no build configuration with id \"IHos_Typo\" (teamcity.build_type)",
            tc.url()
        )
    );
    let (code, stderr) = text_of("Broken_App");
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "{}: build configuration Broken_App has no successful finished build",
            tc.url()
        )
    );
    assert!(!war.exists());
}

#[test]
fn server_errors_exit_1_and_a_topology_without_teamcity_exits_2() {
    let tc = server();
    tc.fail_requests("/app/rest/builds", 500);
    let dir = tempfile::tempdir().unwrap();
    let config = topology(dir.path(), &tc, "");
    let out = ihos(
        &config,
        Some(TOKEN),
        &["fetch", "-o", "/nonexistent/ihos.war"],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(": HTTP 500: injected failure"), "{stderr}");

    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, example()).unwrap();
    let out = ihos(&bare, Some(TOKEN), &["fetch"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bare.toml: no [teamcity] section: add one with url and build_type"),
        "{stderr}"
    );
}

#[test]
fn the_fetched_commit_goes_into_the_rollout_unless_commit_is_given() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let config = topology(dir.path(), &tc, "");
    let war = dir.path().join("ihos.war");
    let w = war.to_str().unwrap();
    let out = ihos(&config, Some(TOKEN), &["fetch", "-o", w]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    drop(tc);

    let rollout = |extra: &[&str]| {
        let mut args = vec!["rollout", "--simulate", "--only", "101-pep1", "--war", w];
        args.extend_from_slice(extra);
        let out = ihos(&config, None, &args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        stderr
    };
    let stderr = rollout(&[]);
    assert!(
        stderr.contains(&format!(
            "{w}: TeamCity build #1.0.100 (id 100) of IHos_App, server-release: {COMMIT}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains(&format!(", commit {COMMIT})")), "{stderr}");

    let stderr = rollout(&["--commit", "abc1234"]);
    assert!(
        stderr.contains(&format!(
            "server-release {COMMIT}; --commit abc1234 is recorded instead"
        )),
        "{stderr}"
    );
    assert!(stderr.contains(", commit abc1234)"), "{stderr}");

    // Another WAR over the fetched one: the sidecar is stale and its commit unused.
    std::fs::write(&war, test_war("hand-built", 10)).unwrap();
    let stderr = rollout(&[]);
    assert!(
        stderr.contains("ihos.war.json describes another file"),
        "{stderr}"
    );
    assert!(!stderr.contains(COMMIT), "{stderr}");
}
