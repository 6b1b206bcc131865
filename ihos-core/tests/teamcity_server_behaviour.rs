//! `ihos fetch` against TeamCity as the real server behaves (ihos-testkit's fake, whose
//! behaviours come from JetBrains' teamcity-rest sources, each cited there): installed at
//! a context path, behind a proxy that redirects, with artifacts in an external storage on
//! another host, branches matched as BranchFinder matches them, builds not branched,
//! personal, canceled or with several VCS roots, errors in the 2025 JSON/XML form, and
//! artifacts inside archives or with spaces and non-ASCII names.

use std::sync::Arc;

use ihos_core::{FetchError, FetchOptions, FetchedWar, TeamCityClient, TeamCityConfig};
use ihos_testkit::{FakeBuild, FakeStorage, FakeTeamCity, test_war, zip_of};

const TOKEN: &str = "tc-behaviour-token-42";
const APP: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SCRIPTS: &str = "5555555555555555555555555555555555555555";

/// The runbook's server: `https://HOST/teamcities/` (here on loopback, over http).
fn server() -> FakeTeamCity {
    let tc = FakeTeamCity::start_at(TOKEN, "/teamcities").unwrap();
    tc.add_build(
        FakeBuild::new(10, "1.0.10")
            .revision(APP)
            .artifact("ihos.war", test_war("v10", 20_000)),
    );
    tc
}

fn config(url: &str) -> TeamCityConfig {
    TeamCityConfig::new(url, "IHos_App")
}

fn fetch(config: &TeamCityConfig, dir: &tempfile::TempDir) -> Result<FetchedWar, FetchError> {
    TeamCityClient::with_token(config, TOKEN.into())
        .unwrap()
        .fetch(&FetchOptions::new(dir.path().join("ihos.war")), &mut |_| {})
}

fn fetched_bytes(dir: &tempfile::TempDir) -> Vec<u8> {
    std::fs::read(dir.path().join("ihos.war")).unwrap()
}

#[test]
fn a_server_at_a_context_path_is_asked_under_it() {
    let tc = server();
    assert!(tc.url().ends_with("/teamcities"));
    let dir = tempfile::tempdir().unwrap();
    let war = fetch(&config(&tc.url()), &dir).unwrap();
    assert_eq!(war.sidecar.build_id, 10);
    assert_eq!(war.sidecar.commit.as_deref(), Some(APP));
    assert_eq!(fetched_bytes(&dir), test_war("v10", 20_000));
    for r in tc.requests() {
        assert!(r.path.starts_with("/teamcities/app/rest/builds"), "{r:?}");
        assert_eq!(r.status / 100, 2, "{r:?}");
    }
    // The same server named without its context path: a 404 that is not "no build".
    let root = tc.url().trim_end_matches("/teamcities").to_string();
    let e = fetch(&config(&root), &dir).unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::BuildTypeNotFound { .. } | FetchError::Http { status: 404, .. }
        ),
        "{e}"
    );
}

#[test]
fn a_redirect_on_the_same_host_keeps_the_token_and_one_elsewhere_never_gets_it() {
    let tc = server();
    let origin = tc.url().trim_end_matches("/teamcities").to_string();
    // A proxy moved the server from /tc to /teamcities (a 301 on the same host).
    tc.redirect("/tc/", 301, &format!("{}/", tc.url()));
    let dir = tempfile::tempdir().unwrap();
    let war = fetch(&config(&format!("{origin}/tc")), &dir).unwrap();
    assert_eq!(war.sidecar.build_id, 10);
    let requests = tc.requests();
    assert!(requests.iter().any(|r| r.status == 301), "{requests:#?}");
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}")),
            "{r:?}"
        );
    }

    // A redirect to another host (127.0.0.2): followed without the token.
    let elsewhere = FakeStorage::start().unwrap();
    let tc = server();
    tc.redirect(
        "/teamcities/app/rest/builds",
        302,
        &format!("{}/artifacts/x", elsewhere.url()),
    );
    let e = fetch(&config(&tc.url()), &dir).unwrap_err();
    let seen = elsewhere.requests();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|r| r.authorization.is_none()), "{seen:#?}");
    // Its refusal is the other host's, not "TeamCity refused the token".
    assert!(matches!(e, FetchError::Storage { status: 403, .. }), "{e}");
    assert!(!e.to_string().contains(TOKEN));
}

#[test]
fn a_download_from_external_storage_goes_without_the_token_and_its_refusal_says_whose() {
    let tc = server();
    let storage = Arc::new(FakeStorage::start().unwrap());
    tc.store_artifacts_in(storage.clone());
    let dir = tempfile::tempdir().unwrap();
    let war = fetch(&config(&tc.url()), &dir).unwrap();
    assert_eq!(fetched_bytes(&dir), test_war("v10", 20_000));
    assert_eq!(war.sidecar.bytes, test_war("v10", 20_000).len() as u64);
    let downloads = storage.requests();
    assert_eq!(downloads.len(), 1, "{downloads:#?}");
    // Forwarding the token would have been refused by the storage (400 InvalidArgument).
    assert_eq!(
        (downloads[0].status, downloads[0].authorization.clone()),
        (200, None)
    );

    storage.expire();
    let dir = tempfile::tempdir().unwrap();
    let e = fetch(&config(&tc.url()), &dir).unwrap_err();
    match &e {
        FetchError::Storage {
            status,
            url,
            message,
        } => {
            assert_eq!(*status, 403);
            assert_eq!(message, "AccessDenied: Request has expired");
            assert!(url.starts_with(&storage.url()), "{url}");
        }
        other => panic!("{other}"),
    }
    let text = e.to_string();
    assert!(
        !text.contains("X-Amz-Signature") && !text.contains("fake0signature"),
        "{text}"
    );
    assert!(!text.contains("refused the access token"), "{text}");
    assert!(!dir.path().join("ihos.war").exists());
}

#[test]
fn a_storage_on_the_servers_host_but_another_port_never_gets_the_token() {
    // A MinIO beside TeamCity on the same host: ureq's "same host" would have sent the
    // token there (it ignores the port), and the storage refuses a request with both.
    let tc = server();
    let storage = Arc::new(FakeStorage::start_on("127.0.0.1").unwrap());
    tc.store_artifacts_in(storage.clone());
    let dir = tempfile::tempdir().unwrap();
    fetch(&config(&tc.url()), &dir).unwrap();
    let seen = storage.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!((seen[0].status, seen[0].authorization.clone()), (200, None));
}

#[test]
fn a_pinned_build_is_refused_for_what_it_is_before_its_roots_are_looked_at() {
    let tc = server();
    tc.add_build(
        FakeBuild::new(60, "6")
            .build_type("Other_App")
            .revision_of("A", "a", APP)
            .revision_of("B", "b", SCRIPTS),
    );
    tc.add_build(
        FakeBuild::new(61, "6.1")
            .personal()
            .revision_of("A", "a", APP)
            .revision_of("B", "b", SCRIPTS),
    );
    let client = TeamCityClient::with_token(&config(&tc.url()), TOKEN.into()).unwrap();
    let e = client.pinned_build(60).unwrap_err();
    assert!(matches!(e, FetchError::WrongBuildType { .. }), "{e}");
    let e = client.pinned_build(61).unwrap_err();
    assert!(matches!(e, FetchError::BuildRefused { .. }), "{e}");
}

#[test]
fn a_root_name_two_roots_share_is_not_a_choice() {
    let tc = server();
    tc.add_build(
        FakeBuild::new(70, "7")
            .revision_of("ProjA_Ihos", "ihos", APP)
            .revision_of("ProjB_Ihos", "ihos", SCRIPTS)
            .artifact("ihos.war", test_war("v70", 100)),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&tc.url());
    c.vcs_root = Some("ihos".into());
    let e = fetch(&c, &dir).unwrap_err();
    assert!(matches!(e, FetchError::VcsRootUnclear { .. }), "{e}");
    c.vcs_root = Some("ProjB_Ihos".into());
    assert_eq!(
        fetch(&c, &dir).unwrap().sidecar.commit.as_deref(),
        Some(SCRIPTS)
    );
}

#[test]
fn branches_match_as_teamcity_matches_them() {
    let tc = server();
    tc.add_build(
        FakeBuild::new(20, "2.0-login")
            .branch("feature/Login")
            .revision(APP)
            .artifact("ihos.war", test_war("v20", 100)),
    );
    tc.add_build(
        FakeBuild::new(21, "2.1-odd")
            .branch("fix(a),b:c")
            .revision(APP)
            .artifact("ihos.war", test_war("v21", 100)),
    );
    let dir = tempfile::tempdir().unwrap();
    for (asked, id) in [
        ("feature/login", 20), // ignoring case
        ("FEATURE/LOGIN", 20),
        ("refs/heads/feature/Login", 20), // the VCS name: found under TeamCity's name
        ("fix(a),b:c", 21),               // a locator's own characters, escaped
        ("master", 10),                   // the default branch by its name
        ("<default>", 10),
    ] {
        let mut c = config(&tc.url());
        c.branch = Some(asked.into());
        let war = fetch(&c, &dir).unwrap_or_else(|e| panic!("{asked}: {e}"));
        assert_eq!(war.sidecar.build_id, id, "{asked}");
    }
    let mut c = config(&tc.url());
    c.branch = Some("feature/logout".into());
    let e = fetch(&c, &dir).unwrap_err();
    assert!(matches!(e, FetchError::NoSuccessfulBuild { .. }), "{e}");
}

#[test]
fn a_configuration_without_branches_has_builds_without_a_branch_name() {
    let tc = FakeTeamCity::start_at(TOKEN, "/teamcities").unwrap();
    tc.add_build(
        FakeBuild::new(5, "5")
            .not_branched()
            .revision(APP)
            .artifact("ihos.war", test_war("v5", 100)),
    );
    let dir = tempfile::tempdir().unwrap();
    let war = fetch(&config(&tc.url()), &dir).unwrap();
    assert_eq!(
        (war.sidecar.build_id, war.sidecar.branch.clone()),
        (5, None)
    );
    // Asking for a branch by name finds nothing (a build not branched has none).
    let mut c = config(&tc.url());
    c.branch = Some("master".into());
    assert!(matches!(
        fetch(&c, &dir).unwrap_err(),
        FetchError::NoSuccessfulBuild { .. }
    ));
}

#[test]
fn with_several_vcs_roots_the_commit_is_the_named_roots_or_none_is_guessed() {
    let tc = server();
    // The build scripts' root listed first: taking the first revision records their commit.
    tc.add_build(
        FakeBuild::new(30, "3.0")
            .revision_of("IHos_BuildScripts", "build-scripts", SCRIPTS)
            .revision_of("IHos_Git", "ihos", APP)
            .artifact("ihos.war", test_war("v30", 100)),
    );
    let dir = tempfile::tempdir().unwrap();
    let e = fetch(&config(&tc.url()), &dir).unwrap_err();
    match &e {
        FetchError::VcsRootUnclear {
            build_id: 30,
            vcs_root: None,
            roots,
        } => {
            assert_eq!(
                roots,
                &["IHos_BuildScripts (build-scripts)", "IHos_Git (ihos)"]
            );
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("teamcity.vcs_root"), "{e}");
    assert!(e.is_input_error());
    for root in ["IHos_Git", "ihos"] {
        let mut c = config(&tc.url());
        c.vcs_root = Some(root.into());
        let war = fetch(&c, &dir).unwrap();
        assert_eq!(war.sidecar.commit.as_deref(), Some(APP), "{root}");
    }
    let mut c = config(&tc.url());
    c.vcs_root = Some("IHos_Docs".into());
    let e = fetch(&c, &dir).unwrap_err();
    assert!(
        e.to_string()
            .contains("no revision of VCS root \"IHos_Docs\""),
        "{e}"
    );
    assert!(e.to_string().contains("IHos_Git (ihos)"), "{e}");
}

#[test]
fn personal_canceled_and_failed_to_start_builds_are_never_deployed() {
    let tc = server();
    tc.add_build(
        FakeBuild::new(40, "4.0-personal")
            .personal()
            .revision(APP)
            .artifact("ihos.war", test_war("p", 100)),
    );
    tc.add_build(
        FakeBuild::new(41, "4.1")
            .canceled()
            .revision(APP)
            .artifact("ihos.war", test_war("c", 100)),
    );
    tc.add_build(FakeBuild::new(42, "4.2").failed_to_start());
    let dir = tempfile::tempdir().unwrap();
    // The latest successful: 10, not the newer personal build 40.
    assert_eq!(
        fetch(&config(&tc.url()), &dir).unwrap().sidecar.build_id,
        10
    );
    for (id, says) in [
        (40, "personal build"),
        (41, "canceled"),
        (42, "failed to start"),
    ] {
        let e = TeamCityClient::with_token(&config(&tc.url()), TOKEN.into())
            .unwrap()
            .pinned_build(id)
            .unwrap_err();
        assert!(matches!(e, FetchError::BuildRefused { .. }), "{id}: {e}");
        assert!(e.to_string().contains(says), "{id}: {e}");
        assert!(e.is_input_error());
    }
}

#[test]
fn errors_in_the_2025_form_give_their_message_not_their_json() {
    let tc = server();
    tc.answer_errors_as_2025();
    let dir = tempfile::tempdir().unwrap();
    let client = TeamCityClient::with_token(&config(&tc.url()), TOKEN.into()).unwrap();
    let e = client.pinned_build(999).unwrap_err();
    assert!(
        matches!(e, FetchError::BuildNotFound { id: 999, .. }),
        "{e}"
    );
    let e = fetch(&TeamCityConfig::new(tc.url(), "Nope_App"), &dir).unwrap_err();
    assert!(matches!(e, FetchError::BuildTypeNotFound { .. }), "{e}");
    // A failure the client has no name for: the exception's message, no JSON.
    tc.override_response(
        "/artifacts/children",
        500,
        r#"{"errors":[{"additionalMessage":"java.lang.IllegalStateException: Artifacts storage is unavailable","message":"Error has occurred during request processing.","stackTrace":null,"statusText":"Responding with error, status code: 500 (Internal Server Error)."}]}"#,
    );
    let e = fetch(&config(&tc.url()), &dir).unwrap_err();
    let text = e.to_string();
    assert!(
        text.ends_with("HTTP 500: Artifacts storage is unavailable"),
        "{text}"
    );
    assert!(!text.contains('{'), "{text}");
}

#[test]
fn an_artifact_inside_an_archive_or_with_spaces_and_non_ascii_names() {
    let tc = server();
    let inner = test_war("zipped", 5_000);
    tc.add_build(
        FakeBuild::new(50, "5.0")
            .revision(APP)
            .artifact(
                "dist/app 1.zip",
                zip_of(&[("ihos.war", inner.clone()), ("README", b"x".to_vec())]),
            )
            .artifact("发布/应用 v2.war", test_war("cn", 300)),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&tc.url());
    c.artifact = Some("dist/app 1.zip!/ihos.war".into());
    let war = fetch(&c, &dir).unwrap();
    assert_eq!(war.sidecar.artifact, "dist/app 1.zip!/ihos.war");
    assert_eq!(fetched_bytes(&dir), inner);
    let requests = tc.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path.ends_with("/artifacts/children/dist/app 1.zip")
                && r.param("locator") == Some("browseArchives:true")),
        "{requests:#?}"
    );
    assert!(requests.iter().any(|r| {
        r.path
            .ends_with("/artifacts/content/dist/app 1.zip!/ihos.war")
    }));

    let mut c = config(&tc.url());
    c.artifact = Some("发布/应用 v2.war".into());
    fetch(&c, &dir).unwrap();
    assert_eq!(fetched_bytes(&dir), test_war("cn", 300));

    // A name inside the archive that is not there: the archive's entries are listed.
    let mut c = config(&tc.url());
    c.artifact = Some("dist/app 1.zip!/app.war".into());
    let e = fetch(&c, &dir).unwrap_err();
    assert!(e.to_string().contains("dist/app 1.zip!/ihos.war"), "{e}");
}
