//! `TeamCityClient::fetch` against the fake TeamCity server of ihos-testkit (HTTP on
//! 127.0.0.1, the real client code): which build is chosen, the commit, the sidecar, the
//! artifact requested by build id, resuming a cut download, and every error's message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ihos_core::{
    FetchError, FetchOptions, FetchProgress, SidecarCheck, TeamCityClient, TeamCityConfig, WarFile,
    WarSidecar,
};
use ihos_testkit::{BadRange, FakeBuild, FakeTeamCity, TeamCityRequest, test_war};
use sha2::Digest;

const TOKEN: &str = "tc-test-token-0123456789";

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds of `IHos_App`: 99 and 100 succeeded; the newer 101 failed and 102 is still
/// running; 103 succeeded on a feature branch; 120 is another configuration's.
fn server() -> FakeTeamCity {
    let tc = FakeTeamCity::start(TOKEN).unwrap();
    tc.add_build(
        FakeBuild::new(99, "1.0.99")
            .revision("9999999999999999999999999999999999999999")
            .artifact("ihos.war", test_war("v99", 5_000)),
    );
    tc.add_build(
        FakeBuild::new(100, "1.0.100")
            .revision("6feff116ab9ad0d3af686526a6ff96272620e70f")
            .artifact("ihos.war", test_war("v100", 300_000))
            .artifact("reports/tests.html", b"<html/>".to_vec()),
    );
    tc.add_build(
        FakeBuild::new(101, "1.0.101")
            .status("FAILURE")
            .revision("1010101010101010101010101010101010101010")
            .artifact("ihos.war", test_war("v101", 5_000)),
    );
    tc.add_build(
        FakeBuild::new(102, "1.0.102")
            .state("running")
            .revision("1020102010201020102010201020102010201020"),
    );
    tc.add_build(
        FakeBuild::new(103, "1.0.103-feature")
            .branch("feature/login")
            .revision("1030103010301030103010301030103010301030")
            .artifact("ihos.war", test_war("v103", 5_000)),
    );
    tc.add_build(
        FakeBuild::new(120, "7")
            .build_type("Other_App")
            .artifact("other.war", test_war("other", 100)),
    );
    tc
}

fn config(tc: &FakeTeamCity) -> TeamCityConfig {
    TeamCityConfig::new(tc.url(), "IHos_App")
}

fn client(config: &TeamCityConfig) -> TeamCityClient {
    TeamCityClient::with_token(config, TOKEN.into()).unwrap()
}

fn fetch(
    config: &TeamCityConfig,
    options: &FetchOptions,
) -> Result<ihos_core::FetchedWar, FetchError> {
    client(config).fetch(options, &mut |_| {})
}

fn served(tc: &FakeTeamCity, id: u64) -> Vec<u8> {
    let _ = tc;
    match id {
        99 => test_war("v99", 5_000),
        100 => test_war("v100", 300_000),
        103 => test_war("v103", 5_000),
        other => panic!("no bytes for build {other}"),
    }
}

fn content_requests(tc: &FakeTeamCity) -> Vec<TeamCityRequest> {
    tc.requests()
        .into_iter()
        .filter(|r| r.path.contains("/artifacts/content/"))
        .collect()
}

fn out(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("ihos.war")
}

fn part_files(out: &Path) -> (PathBuf, PathBuf) {
    (
        PathBuf::from(format!("{}.part", out.display())),
        PathBuf::from(format!("{}.part.json", out.display())),
    )
}

#[test]
fn latest_successful_build_is_fetched_with_its_commit_and_sidecar() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let out = out(&dir);
    let mut events = Vec::new();
    let fetched = client(&config(&tc))
        .fetch(&FetchOptions::new(&out), &mut |e| events.push(e.clone()))
        .unwrap();

    let bytes = served(&tc, 100);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    assert_eq!(fetched.war.path, out);
    assert_eq!(fetched.war.sha256, sha256(&bytes));
    assert_eq!(fetched.war.bytes, bytes.len() as u64);
    assert_eq!(
        fetched.war.commit.as_deref(),
        Some("6feff116ab9ad0d3af686526a6ff96272620e70f")
    );
    assert_eq!(fetched.resumed_from, 0);

    // The sidecar on disk is what fetch returned, and describes these bytes.
    let on_disk: WarSidecar =
        serde_json::from_slice(&std::fs::read(dir.path().join("ihos.war.json")).unwrap()).unwrap();
    assert_eq!(on_disk, fetched.sidecar);
    assert_eq!(on_disk.build_id, 100);
    assert_eq!(on_disk.build_number, "1.0.100");
    assert_eq!(on_disk.build_type, "IHos_App");
    assert_eq!(on_disk.branch.as_deref(), Some("master"));
    assert_eq!(
        on_disk.commit.as_deref(),
        Some("6feff116ab9ad0d3af686526a6ff96272620e70f")
    );
    assert_eq!(on_disk.artifact, "ihos.war");
    assert_eq!(on_disk.sha256, sha256(&bytes));
    assert_eq!(on_disk.bytes, bytes.len() as u64);
    assert_eq!(on_disk.server_url, tc.url());
    let t = &on_disk.fetched_at;
    assert!(
        t.len() == 20 && t.ends_with('Z') && &t[4..5] == "-" && &t[10..11] == "T",
        "RFC 3339 UTC: {t}"
    );
    // No partial download is left behind.
    let (part, meta) = part_files(&out);
    assert!(!part.exists() && !meta.exists());

    // One query by locator; everything else by build id 100; bearer token and JSON.
    let requests = tc.requests();
    let by_locator: Vec<_> = requests
        .iter()
        .filter(|r| r.param("locator").is_some())
        .collect();
    assert_eq!(by_locator.len(), 1, "{requests:#?}");
    assert_eq!(
        by_locator[0].param("locator"),
        Some(
            "buildType:(id:IHos_App),state:finished,status:SUCCESS,personal:false,canceled:false,failedToStart:false,branch:(default:true),defaultFilter:false,count:1"
        )
    );
    assert_eq!(by_locator[0].path, "/app/rest/builds");
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
        assert!(
            r.param("locator").is_some() || r.path.starts_with("/app/rest/builds/id:100"),
            "{r:?}"
        );
        if !r.path.contains("/content/") {
            assert_eq!(r.accept.as_deref(), Some("application/json"), "{r:?}");
        }
    }
    let content = content_requests(&tc);
    assert_eq!(content.len(), 1);
    assert_eq!(
        content[0].path,
        "/app/rest/builds/id:100/artifacts/content/ihos.war"
    );
    assert_eq!(content[0].range, None);

    // Progress: the build first, then bytes up to the total, then the check.
    match &events[0] {
        FetchProgress::BuildChosen { build, artifact } => {
            assert_eq!((build.id, artifact.size), (100, bytes.len() as u64));
            assert_eq!(artifact.path, "ihos.war");
        }
        other => panic!("{other:?}"),
    }
    let done: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            FetchProgress::Downloading { done, total } => {
                assert_eq!(*total, bytes.len() as u64);
                Some(*done)
            }
            _ => None,
        })
        .collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    assert_eq!(done.last(), Some(&(bytes.len() as u64)));
    assert_eq!(events.last(), Some(&FetchProgress::Verifying));
}

#[test]
fn a_configured_branch_and_artifact_path_are_used() {
    let tc = server();
    tc.add_build(
        FakeBuild::new(130, "2.0.130")
            .revision("1300130013001300130013001300130013001300")
            .artifact("dist/ihos.war", test_war("v130", 1_000))
            .artifact("dist/ihos-sources.war", test_war("src", 1_000)),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&tc);
    c.branch = Some("feature/login".into());
    let fetched = fetch(&c, &FetchOptions::new(out(&dir))).unwrap();
    assert_eq!(fetched.sidecar.build_id, 103);
    assert_eq!(fetched.sidecar.branch.as_deref(), Some("feature/login"));
    assert_eq!(std::fs::read(out(&dir)).unwrap(), served(&tc, 103));
    let locator = tc
        .requests()
        .iter()
        .find_map(|r| r.param("locator").map(str::to_string))
        .unwrap();
    assert!(
        locator.contains(",branch:(name:feature/login),"),
        "{locator}"
    );

    let mut c = config(&tc);
    c.artifact = Some("dist/ihos.war".into());
    let fetched = fetch(&c, &FetchOptions::new(out(&dir))).unwrap();
    assert_eq!(fetched.sidecar.build_id, 130);
    assert_eq!(fetched.sidecar.artifact, "dist/ihos.war");
    assert_eq!(std::fs::read(out(&dir)).unwrap(), test_war("v130", 1_000));
    assert_eq!(
        content_requests(&tc).last().unwrap().path,
        "/app/rest/builds/id:130/artifacts/content/dist/ihos.war"
    );
}

#[test]
fn a_pinned_build_must_be_a_finished_success_of_the_configuration() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let c = config(&tc);
    let fetched = fetch(&c, &FetchOptions::new(out(&dir)).build(99)).unwrap();
    assert_eq!(fetched.sidecar.build_id, 99);
    assert_eq!(
        fetched.war.commit.as_deref(),
        Some("9999999999999999999999999999999999999999")
    );
    assert_eq!(std::fs::read(out(&dir)).unwrap(), served(&tc, 99));
    assert!(
        tc.requests().iter().all(|r| r.param("locator").is_none()),
        "a pinned build is not looked up by locator"
    );

    let e = fetch(&c, &FetchOptions::new(out(&dir)).build(101)).unwrap_err();
    assert!(
        matches!(e, FetchError::BuildNotUsable { id: 101, .. }),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "build 101 (#1.0.101) is not a successful finished build (state finished, status FAILURE): pick another with --build, or leave it out for the latest successful one"
    );
    let e = fetch(&c, &FetchOptions::new(out(&dir)).build(102)).unwrap_err();
    assert!(
        e.to_string().contains("(state running, status SUCCESS)"),
        "{e}"
    );
    let e = fetch(&c, &FetchOptions::new(out(&dir)).build(555)).unwrap_err();
    assert_eq!(
        e,
        FetchError::BuildNotFound {
            server: tc.url(),
            id: 555
        }
    );
    assert_eq!(e.to_string(), format!("{}: no build with id 555", tc.url()));
    let e = fetch(&c, &FetchOptions::new(out(&dir)).build(120)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "build 120 belongs to build configuration Other_App, not IHos_App (teamcity.build_type)"
    );
    // The WAR of build 99 is still there, untouched by the refused ones.
    assert_eq!(std::fs::read(out(&dir)).unwrap(), served(&tc, 99));
}

#[test]
fn a_cut_download_resumes_with_a_range_request() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let out = out(&dir);
    std::fs::write(&out, b"the previous WAR").unwrap();
    let c = config(&tc);
    tc.cut_next_download_after(120_000);

    let e = fetch(&c, &FetchOptions::new(&out)).unwrap_err();
    assert!(matches!(e, FetchError::Connection { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("/app/rest/builds/id:100/artifacts/content/ihos.war"),
        "{msg}"
    );
    assert!(msg.contains("after 120000 of"), "{msg}");
    assert!(
        msg.contains("run the same command again to resume"),
        "{msg}"
    );
    let (part, meta) = part_files(&out);
    let bytes = served(&tc, 100);
    assert_eq!(std::fs::read(&part).unwrap(), bytes[..120_000]);
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(meta["build_id"], 100);
    assert_eq!(meta["artifact"], "ihos.war");
    assert_eq!(meta["size"], bytes.len());
    assert_eq!(
        std::fs::read(&out).unwrap(),
        b"the previous WAR",
        "not replaced"
    );

    let mut resumed = None;
    let fetched = client(&c)
        .fetch(&FetchOptions::new(&out), &mut |e| {
            if let FetchProgress::Resuming { from, .. } = e {
                resumed = Some(*from);
            }
        })
        .unwrap();
    assert_eq!(resumed, Some(120_000));
    assert_eq!(fetched.resumed_from, 120_000);
    assert_eq!(std::fs::read(&out).unwrap(), bytes, "byte-identical");
    assert_eq!(fetched.war.sha256, sha256(&bytes));
    let content = content_requests(&tc);
    assert_eq!(content.len(), 2);
    assert_eq!(content[0].range, None);
    assert_eq!(content[1].range.as_deref(), Some("bytes=120000-"));
    assert_eq!(content[1].status, 206);
    assert!(!part.exists());
}

#[test]
fn a_server_without_ranges_or_a_new_build_starts_over() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let out = out(&dir);
    let c = config(&tc);
    let bytes = served(&tc, 100);

    // 200 to a Range request: the whole file again, not appended.
    tc.cut_next_download_after(50_000);
    fetch(&c, &FetchOptions::new(&out)).unwrap_err();
    tc.ignore_ranges();
    let fetched = fetch(&c, &FetchOptions::new(&out)).unwrap();
    assert_eq!(fetched.resumed_from, 0);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let content = content_requests(&tc);
    assert_eq!(content[1].range.as_deref(), Some("bytes=50000-"));
    assert_eq!(content[1].status, 200);

    // A part of build 100, then build 104 appears: no Range, build 104's bytes.
    tc.cut_next_download_after(50_000);
    fetch(&c, &FetchOptions::new(&out)).unwrap_err();
    tc.add_build(
        FakeBuild::new(104, "1.0.104")
            .revision("1040104010401040104010401040104010401040")
            .artifact("ihos.war", test_war("v104", 300_000)),
    );
    let fetched = fetch(&c, &FetchOptions::new(&out)).unwrap();
    assert_eq!(fetched.sidecar.build_id, 104);
    assert_eq!(std::fs::read(&out).unwrap(), test_war("v104", 300_000));
    let last = content_requests(&tc).pop().unwrap();
    assert_eq!(
        last.path,
        "/app/rest/builds/id:104/artifacts/content/ihos.war"
    );
    assert_eq!(last.range, None);
}

#[test]
fn a_part_with_a_missing_or_wrong_content_range_is_dropped_and_fetched_whole() {
    let size = test_war("v100", 300_000).len();
    for (how, why) in [
        (
            BadRange::MissingContentRange,
            "without Content-Range".to_string(),
        ),
        (BadRange::WrongStart, "got a part starting at 60000".into()),
        (
            BadRange::WrongTotal,
            format!(
                "the server says the artifact has {} bytes, its listing says {size}",
                size + 1
            ),
        ),
    ] {
        let tc = server();
        let dir = tempfile::tempdir().unwrap();
        let out = out(&dir);
        let c = config(&tc);
        let bytes = served(&tc, 100);
        tc.cut_next_download_after(120_000);
        fetch(&c, &FetchOptions::new(&out)).unwrap_err();
        let (part, meta) = part_files(&out);
        assert_eq!(std::fs::read(&part).unwrap(), bytes[..120_000], "{how:?}");

        // From now on every Range request gets a bad 206: the rerun must not append it.
        tc.answer_ranges_badly(how);
        let mut events = Vec::new();
        let fetched = client(&c)
            .fetch(&FetchOptions::new(&out), &mut |e| events.push(e.clone()))
            .unwrap_or_else(|e| panic!("{how:?}: {e}"));
        assert_eq!(fetched.resumed_from, 0, "{how:?}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            bytes,
            "{how:?}: byte-identical"
        );
        assert_eq!(fetched.war.sha256, sha256(&bytes), "{how:?}");
        let reasons: Vec<&String> = events
            .iter()
            .filter_map(|e| match e {
                FetchProgress::StartingOver { reason } => Some(reason),
                _ => None,
            })
            .collect();
        assert_eq!(reasons.len(), 1, "{how:?}: {events:?}");
        assert!(reasons[0].contains(&why), "{how:?}: {}", reasons[0]);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, FetchProgress::Resuming { .. })),
            "{how:?}: {events:?}"
        );
        let content = content_requests(&tc);
        let asked: Vec<(Option<&str>, u16)> = content
            .iter()
            .map(|r| (r.range.as_deref(), r.status))
            .collect();
        assert_eq!(
            asked,
            [(None, 200), (Some("bytes=120000-"), 206), (None, 200)],
            "{how:?}"
        );
        assert!(!part.exists() && !meta.exists(), "{how:?}");
    }
}

#[test]
fn a_download_started_over_that_breaks_leaves_a_clean_part() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let out = out(&dir);
    let c = config(&tc);
    let bytes = served(&tc, 100);
    tc.cut_next_download_after(120_000);
    fetch(&c, &FetchOptions::new(&out)).unwrap_err();

    // The bad 206 is dropped; the whole-file download that replaces it breaks too.
    tc.answer_ranges_badly(BadRange::WrongStart);
    tc.cut_next_download_after(1_000_000);
    tc.cut_next_download_after(80_000);
    let e = fetch(&c, &FetchOptions::new(&out)).unwrap_err();
    assert!(matches!(e, FetchError::Connection { .. }), "{e:?}");
    let (part, _) = part_files(&out);
    assert_eq!(std::fs::read(&part).unwrap(), bytes[..80_000]);

    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(part_files(&out).1).unwrap()).unwrap();
    assert_eq!(meta["build_id"], 100);
    assert_eq!(meta["size"], bytes.len());

    // The next run asks for the rest of that part, gets a bad 206 again and recovers.
    let fetched = fetch(&c, &FetchOptions::new(&out)).unwrap();
    assert_eq!(fetched.resumed_from, 0);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let ranges: Vec<Option<String>> = content_requests(&tc).into_iter().map(|r| r.range).collect();
    assert_eq!(
        ranges,
        [
            None,
            Some("bytes=120000-".into()),
            None,
            Some("bytes=80000-".into()),
            None
        ]
    );
}

#[test]
fn token_errors_name_the_variable_never_the_token() {
    let tc = server();
    let mut c = config(&tc);
    c.token_env = "IHOS_TEST_TOKEN_THAT_IS_NEVER_SET_7F3A".into();
    let e = TeamCityClient::new(&c).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no TeamCity access token: environment variable IHOS_TEST_TOKEN_THAT_IS_NEVER_SET_7F3A is unset or empty (teamcity.token_env names it)"
    );
    let e = TeamCityClient::with_token(&c, String::new()).unwrap_err();
    assert!(matches!(e, FetchError::TokenMissing { .. }));

    let dir = tempfile::tempdir().unwrap();
    let wrong = TeamCityClient::with_token(&c, "not-the-token".into()).unwrap();
    let e = wrong
        .fetch(&FetchOptions::new(out(&dir)), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(e, FetchError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("TeamCity refused the access token from IHOS_TEST_TOKEN_THAT_IS_NEVER_SET_7F3A (HTTP 401)"), "{msg}");
    assert!(
        msg.starts_with(&format!("{}/app/rest/builds?locator=", tc.url())),
        "{msg}"
    );
    assert!(!msg.contains("not-the-token"), "{msg}");
    assert!(!format!("{wrong:?}").contains("not-the-token"));

    tc.fail_requests("/app/rest/builds", 403);
    let e = fetch(&config(&tc), &FetchOptions::new(out(&dir))).unwrap_err();
    assert!(
        matches!(e, FetchError::Unauthorized { status: 403, .. }),
        "{e:?}"
    );
    assert!(!e.to_string().contains(TOKEN));
}

#[test]
fn not_found_errors_say_what_was_not_found() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let o = FetchOptions::new(out(&dir));

    let mut c = config(&tc);
    c.build_type = "IHos_Typo".into();
    let e = fetch(&c, &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: no build configuration with id \"IHos_Typo\" (teamcity.build_type)",
            tc.url()
        )
    );

    let mut c = config(&tc);
    c.artifact = Some("target/ihos.war".into());
    let e = fetch(&c, &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "build 100 has no artifact \"target/ihos.war\" (artifacts there: none)"
    );
    c.artifact = Some("reports/ihos.war".into());
    let e = fetch(&c, &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "build 100 has no artifact \"reports/ihos.war\" (artifacts there: reports/tests.html)"
    );
    c.artifact = Some("app.war".into());
    let e = fetch(&c, &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "build 100 has no artifact \"app.war\" (artifacts there: ihos.war, reports/)"
    );
    assert!(!out(&dir).exists());
}

#[test]
fn no_successful_build_and_ambiguous_artifacts() {
    let tc = FakeTeamCity::start(TOKEN).unwrap();
    tc.add_build(FakeBuild::new(1, "1").status("FAILURE"));
    tc.add_build(FakeBuild::new(2, "2").state("running"));
    tc.add_build(
        FakeBuild::new(3, "3")
            .build_type("Two_Wars")
            .artifact("a.war", test_war("a", 10))
            .artifact("b.WAR", test_war("b", 10)),
    );
    tc.add_build(
        FakeBuild::new(4, "4")
            .build_type("No_War")
            .artifact("app.jar", b"PK".to_vec())
            .artifact("docs/index.html", b"<html/>".to_vec()),
    );
    let dir = tempfile::tempdir().unwrap();
    let o = FetchOptions::new(out(&dir));
    let e = fetch(&config(&tc), &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: build configuration IHos_App has no successful finished build",
            tc.url()
        )
    );
    let mut c = config(&tc);
    c.branch = Some("release".into());
    let e = fetch(&c, &o).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("has no successful finished build on branch \"release\""),
        "{e}"
    );

    let e = fetch(&TeamCityConfig::new(tc.url(), "Two_Wars"), &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "build 3 has several WAR artifacts (a.war, b.WAR); set teamcity.artifact to the one to deploy"
    );
    let e = fetch(&TeamCityConfig::new(tc.url(), "No_War"), &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "build 4 has no *.war artifact (artifacts: app.jar, docs/); set teamcity.artifact to its path"
    );
}

#[test]
fn server_and_transport_failures() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let o = FetchOptions::new(out(&dir));
    let c = config(&tc);

    tc.fail_requests("/app/rest/builds/id:100/artifacts/children", 500);
    let e = fetch(&c, &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}/app/rest/builds/id:100/artifacts/children/: HTTP 500: injected failure",
            tc.url()
        )
    );

    let tc = server();
    let c = config(&tc);
    tc.override_response(
        "/app/rest/builds/id:100",
        200,
        "<html><body>Log in</body></html>",
    );
    let e = fetch(&c, &o).unwrap_err();
    assert!(matches!(e, FetchError::BadResponse { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}/app/rest/builds/id:100: unexpected answer: ",
            tc.url()
        )),
        "{msg}"
    );
    assert!(msg.contains("<html><body>Log in"), "{msg}");

    // The listing says 300 kB; the content is 12 bytes.
    let tc = server();
    let c = config(&tc);
    tc.override_response("/artifacts/content/", 200, "short answer");
    let e = fetch(&c, &o).unwrap_err();
    assert!(
        matches!(e, FetchError::SizeMismatch { expected, actual: 12, .. } if expected == served(&tc, 100).len() as u64),
        "{e:?}"
    );
    let (part, meta) = part_files(&out(&dir));
    assert!(!part.exists() && !meta.exists(), "nothing to resume from");

    // Nobody listens on this port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = TeamCityConfig::new(format!("http://127.0.0.1:{port}"), "IHos_App");
    let e = fetch(&c, &o).unwrap_err();
    assert!(matches!(e, FetchError::Connection { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("http://127.0.0.1:{port}/app/rest/builds?locator=")),
        "{e}"
    );
}

#[test]
fn an_artifact_that_is_not_a_war_is_refused_and_nothing_is_replaced() {
    let tc = FakeTeamCity::start(TOKEN).unwrap();
    tc.add_build(FakeBuild::new(5, "5").artifact("ihos.war", b"<html>not a zip</html>".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(out(&dir), b"the previous WAR").unwrap();
    let e = fetch(&config(&tc), &FetchOptions::new(out(&dir))).unwrap_err();
    assert!(
        matches!(e, FetchError::NotAWar { build_id: 5, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("artifact \"ihos.war\" of build 5 is not a valid WAR: "),
        "{e}"
    );
    assert_eq!(std::fs::read(out(&dir)).unwrap(), b"the previous WAR");
    let (part, meta) = part_files(&out(&dir));
    assert!(!part.exists() && !meta.exists());
    assert!(!dir.path().join("ihos.war.json").exists());
}

#[test]
fn the_sidecar_gives_the_commit_only_for_its_own_war() {
    let tc = server();
    let dir = tempfile::tempdir().unwrap();
    let out = out(&dir);
    fetch(&config(&tc), &FetchOptions::new(&out)).unwrap();

    let (war, check) = WarFile::open_with_sidecar(&out).unwrap();
    assert_eq!(
        war.commit.as_deref(),
        Some("6feff116ab9ad0d3af686526a6ff96272620e70f")
    );
    assert!(matches!(&check, SidecarCheck::Matched(s) if s.build_id == 100));
    assert_eq!(check.warning(), None);
    assert_eq!(
        WarFile::open(&out).unwrap().commit,
        None,
        "open alone reads no sidecar"
    );

    // Another WAR copied over ihos.war after the fetch: the sidecar is stale.
    std::fs::write(&out, test_war("hand-built", 10)).unwrap();
    let (war, check) = WarFile::open_with_sidecar(&out).unwrap();
    assert_eq!(war.commit, None);
    assert!(matches!(check, SidecarCheck::Stale { .. }), "{check:?}");
    let w = check.warning().unwrap();
    assert!(w.contains("ihos.war.json describes another file"), "{w}");
    assert!(w.contains(&sha256(&served(&tc, 100))[..12]), "{w}");

    std::fs::write(WarSidecar::path_for(&out), b"{not json").unwrap();
    let (war, check) = WarFile::open_with_sidecar(&out).unwrap();
    assert_eq!(war.commit, None);
    assert!(
        matches!(check, SidecarCheck::Unreadable { .. }),
        "{check:?}"
    );
    assert!(check.warning().unwrap().contains("the commit is unknown"));

    std::fs::remove_file(WarSidecar::path_for(&out)).unwrap();
    let (war, check) = WarFile::open_with_sidecar(&out).unwrap();
    assert_eq!((war.commit, check), (None, SidecarCheck::Missing));
}

/// A server that answers the first request with a head and then one body byte every 50 ms
/// forever: no single read ever waits long, so only a limit on the whole fetch stops it.
fn dripping_server() -> (
    String,
    std::thread::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let handle = std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf);
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
        );
        while !stopped.load(Ordering::Relaxed) {
            if conn.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    (url, handle, stop)
}

#[test]
fn a_server_that_drips_its_answer_is_given_up_at_the_fetch_timeout() {
    let (url, handle, stop) = dripping_server();
    let dir = tempfile::tempdir().unwrap();
    let mut c = TeamCityConfig::new(url, "IHos_App");
    c.fetch_timeout = ihos_core::Dur(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let e = fetch(&c, &FetchOptions::new(out(&dir))).unwrap_err();
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    handle.join().unwrap();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
}
