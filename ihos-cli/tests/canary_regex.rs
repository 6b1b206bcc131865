//! `ihos canary regex` and `ihos canary check`: the cohort regex on stdout (the runbook's
//! exactly, with `--style runbook`), the operator on stderr, sample tokens decoded without
//! being printed back, and exit codes.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Fixture, SITE, ihos, ihos_stdin, jwt};
use ihos_core::{Cohort, RegexStyle};
use serde_json::Value;

/// The regex of the runbook's canary block (DESIGN.md section 1).
const RUNBOOK_REGEX: &str = "(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)";

#[test]
fn runbook_style_reproduces_the_runbook_regex() {
    let r = ihos(&["canary", "regex", "--ids", "1,3,5,7", "--style", "runbook"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, format!("{RUNBOOK_REGEX}\n"));
    assert!(r.stderr.contains("`~*`"), "{r:?}");

    let r = ihos(&[
        "canary", "regex", "--ids", "1,3,5,7", "--style", "runbook", "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON object");
    assert_eq!(v["style"], "runbook");
    assert_eq!(v["operator"], "~*");
    assert_eq!(v["regex"], RUNBOOK_REGEX);
    assert_eq!(v["prefixes"], serde_json::json!(["1", "3", "5", "7"]));
    // the condition is the runbook block's, as written in its site file
    let condition = v["condition"].as_str().unwrap();
    assert!(SITE.contains(&format!("if {condition} {{")), "{condition}");
}

#[test]
fn exact_style_is_the_default_and_needs_tilde() {
    let r = ihos(&["canary", "regex", "--ids", "1, 3,5,7,305"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    let cohort = Cohort::parse_list("1,3,5,7,305").unwrap();
    assert_eq!(r.stdout.trim_end(), cohort.regex(RegexStyle::Exact));
    assert!(r.stdout.starts_with("^(?:[^.]*[.])?eyJpZCI6Ij"), "{r:?}");
    assert!(r.stderr.contains("`~` (case-sensitive)"), "{r:?}");
    assert!(r.stderr.contains("($http_x_pep_token ~ \"^"), "{r:?}");

    let r = ihos(&["canary", "regex", "--ids", "305", "--json"]);
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON object");
    assert_eq!(v["style"], "exact");
    assert_eq!(v["operator"], "~");
    assert_eq!(
        v["regex"],
        "^(?:[^.]*[.])?eyJpZCI6IjMwN[QRSTUVWXYZabcdef][^.]*(?:[.][^.]*)?$"
    );
    assert_eq!(
        v["condition"].as_str().unwrap(),
        format!("($http_x_pep_token ~ \"{}\")", v["regex"].as_str().unwrap())
    );
}

#[test]
fn bad_ids_are_input_errors() {
    for (ids, says) in [
        ("", "at least one id prefix"),
        ("1,,3", "prefix number 2 is empty"),
        ("1,a\"b", "\"a\\\"b\""),
        ("7\\", "'\\\\'"),
    ] {
        let r = ihos(&["canary", "regex", "--ids", ids]);
        assert_eq!(r.code, 2, "{ids:?}: {r:?}");
        assert!(r.stderr.contains(says), "{ids:?}: {r:?}");
        assert_eq!(r.stdout, "", "{ids:?}");
    }
    let r = ihos(&["canary", "regex"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--ids"), "{r:?}");
}

#[test]
fn check_names_the_id_and_the_prefix_without_printing_the_token() {
    let token = jwt(r#"{"id":"305123","exp":1700000000}"#);
    let payload = token.split('.').nth(1).unwrap().to_string();
    let r = ihos(&["canary", "check", "--token", &token, "--ids", "1,3,5,7"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("user id: 305123"), "{r:?}");
    assert!(
        r.stderr
            .contains("in cohort 1,3,5,7 by prefix: yes, prefix 3"),
        "{r:?}"
    );
    // the exact rule itself, as nginx runs it, agrees
    assert!(
        r.stderr
            .contains("nginx: the rule sends this token to the canary"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("WARNING"), "{r:?}");
    assert!(r.stderr.contains("JWT"), "{r:?}");
    assert!(
        !r.stderr.contains(&payload),
        "the token is not printed back"
    );

    let r = ihos(&["canary", "check", "--token", &token, "--ids", "2,30"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("yes, prefix 30"), "{r:?}");
    let r = ihos(&["canary", "check", "--token", &token, "--ids", "2,4"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("in cohort 2,4 by prefix: no"), "{r:?}");
    assert!(
        r.stderr
            .contains("nginx: the rule leaves this token on the fleet"),
        "{r:?}"
    );
}

#[test]
fn check_reads_the_token_from_stdin_and_speaks_json() {
    // standard base64, padded, payload alone, on stdin with a trailing newline
    let token = STANDARD.encode(r#"{"id":"7??>","n":"xy"}"#);
    assert!(token.ends_with('=') && token.contains('/'), "{token}");
    let r = ihos_stdin(
        &["canary", "check", "--token", "-", "--ids", "1,7", "--json"],
        &format!("{token}\n"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON object");
    assert_eq!(v["id"], "7??>");
    assert_eq!(v["jwt"], false);
    assert_eq!(v["alphabet"], "standard");
    assert_eq!(v["padded"], true);
    assert_eq!(v["in_cohort"], true);
    assert_eq!(v["prefix"], "7");
    assert_eq!(v["prefixes"], serde_json::json!(["1", "7"]));
    assert_eq!(v["rule"]["source"], "ids");
    assert_eq!(v["rule"]["operator"], "~");
    assert_eq!(
        v["rule"]["regex"],
        Cohort::parse_list("1,7").unwrap().regex(RegexStyle::Exact)
    );
    assert_eq!(v["rule"]["exact"], true);
    assert_eq!(v["rule"]["open"], Value::Null);
    assert_eq!(v["rule_matches"], true);
    assert_eq!(v["to_canary"], true);
    assert_eq!(v["agree"], true);
    assert!(!r.stdout.contains(&token) && !r.stderr.contains(&token));

    // a member of neither prefix: both views say no
    let other = STANDARD.encode(r#"{"id":"8??>","n":"xy"}"#);
    let r = ihos_stdin(
        &["canary", "check", "--token", "-", "--ids", "1,7", "--json"],
        &other,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).expect("one JSON object");
    assert_eq!(v["id"], "8??>");
    assert_eq!(
        (
            &v["in_cohort"],
            &v["rule_matches"],
            &v["to_canary"],
            &v["agree"]
        ),
        (
            &Value::Bool(false),
            &Value::Bool(false),
            &Value::Bool(false),
            &Value::Bool(true)
        )
    );
}

#[test]
fn check_says_why_a_token_cannot_be_routed() {
    let sub = jwt(r#"{"sub":"305123","id":"3"}"#);
    let r = ihos(&["canary", "check", "--token", &sub, "--ids", "3"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains(r#"does not start with {"id":""#), "{r:?}");
    assert!(
        r.stderr.contains(r#"it starts with: {"sub":"305123""#),
        "{r:?}"
    );
    assert_eq!(r.stdout, "");

    for (token, says) in [
        ("a.b", "2 dot-separated parts"),
        ("%%%", "not valid base64"),
        ("", "empty"),
    ] {
        let r = ihos_stdin(&["canary", "check", "--token", "-", "--ids", "3"], token);
        assert_eq!(r.code, 2, "{token:?}: {r:?}");
        assert!(r.stderr.contains(says), "{token:?}: {r:?}");
    }
}

#[test]
fn two_part_values_are_refused_but_what_nginx_does_is_said() {
    // The exact regex reads `a.b` as payload.signature or header.payload; decode_token
    // reads no id from it. check says both, and exits 2.
    let token = jwt(r#"{"id":"305123"}"#);
    let parts: Vec<&str> = token.split('.').collect();
    for (value, cohort, routed) in [
        (format!("{}.{}", parts[1], parts[2]), "3", true),
        (format!("{}.{}", parts[0], parts[1]), "3", true),
        (format!("{}.{}", parts[0], parts[1]), "4", false),
    ] {
        let r = ihos_stdin(
            &["canary", "check", "--token", "-", "--ids", cohort],
            &value,
        );
        assert_eq!(r.code, 2, "{value}: {r:?}");
        assert!(r.stderr.contains("2 dot-separated parts"), "{r:?}");
        assert!(
            r.stderr
                .contains("nginx may route such a value by either part"),
            "{r:?}"
        );
        let says = if routed {
            "nginx: the rule sends this token to the canary"
        } else {
            "nginx: the rule leaves this token on the fleet"
        };
        assert!(r.stderr.contains(says), "{value} {cohort}: {r:?}");
        assert!(!r.stderr.contains("user id:"), "{r:?}");
        assert_eq!(r.stdout, "");
    }
}

#[test]
fn without_ids_check_reads_the_live_rule_of_the_topology() {
    // --ids is optional: without it the rule comes from the topology's canary site file,
    // so a missing topology is what fails (the token is a valid one).
    let token = jwt(r#"{"id":"305123"}"#);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let r = ihos(&[
        "-c",
        missing.to_str().unwrap(),
        "canary",
        "check",
        "--token",
        &token,
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("absent.toml"), "{r:?}");
    assert!(!r.stderr.contains("user id:"), "{r:?}");
    // the same token with --ids needs no topology
    let r = ihos(&[
        "-c",
        missing.to_str().unwrap(),
        "canary",
        "check",
        "--token",
        &token,
        "--ids",
        "3",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("user id: 305123"), "{r:?}");
}

#[test]
fn the_live_runbook_rule_reads_back_as_its_cohort() {
    // what `ihos canary status` will do: read the rule's operator and regex, then the ids
    let site = Fixture::site();
    let r = site.nginx("show", &["--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let block = &v["if_blocks"][0];
    assert_eq!(block["operator"], "~*");
    let cohort = Cohort::from_regex(block["regex"].as_str().unwrap()).expect("a cohort rule");
    assert_eq!(cohort.prefixes(), ["1", "3", "5", "7"]);
}
