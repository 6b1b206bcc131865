//! `ihos canary check` without `--ids`: the live canary rule of the topology's site file,
//! evaluated with its own operator and regex as nginx does, beside the prefix view of the
//! cohort it reads back as. The topology's hosts are this machine (`local = true`): the
//! command only reads the site file, a temp file here.

mod common;

use std::path::PathBuf;

use common::{Hosts, Run, SITE, ihos_stdin, jwt, loopback_topology, replace_once};
use ihos_core::{Cohort, RegexStyle};
use serde_json::Value;

/// The runbook's rule as production has it: its own regex, `~*`.
const RUNBOOK: (&str, &str) = (
    "~*",
    "(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)",
);

/// A topology and its canary site file, with the rule `if ($http_x_pep_token OP "REGEX")`,
/// active or commented out as in the runbook.
struct Live {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Live {
    fn new(open: bool, operator: &str, regex: &str) -> Live {
        let dir = tempfile::tempdir().unwrap();
        let site_path = dir.path().join("site");
        let mut site = replace_once(
            SITE,
            &format!("if ($http_x_pep_token {} \"{}\")", RUNBOOK.0, RUNBOOK.1),
            &format!("if ($http_x_pep_token {operator} \"{regex}\")"),
        );
        if open {
            site = replace_once(&site, "    #  if (", "        if (");
            site = replace_once(&site, "    #      set $a 1;", "            set $a 1;");
            site = replace_once(&site, "    #  }", "        }");
        }
        std::fs::write(&site_path, site).unwrap();
        let config = loopback_topology(dir.path(), Hosts::Local, &site_path);
        Live { dir, config }
    }

    /// `ihos canary check --token - --json` for a JWT carrying `id`.
    fn check(&self, id: &str) -> (Run, Option<Value>) {
        let token = jwt(&format!(r#"{{"id":"{id}","exp":1}}"#));
        let r = ihos_stdin(
            &[
                "-c",
                self.config.to_str().unwrap(),
                "canary",
                "check",
                "--token",
                "-",
                "--json",
            ],
            &token,
        );
        assert!(!r.stderr.contains(&token) && !r.stdout.contains(&token));
        let v = serde_json::from_str(&r.stdout).ok();
        (r, v)
    }
}

/// (rule_matches, to_canary, in_cohort, agree) of a `--json` answer.
fn verdict(v: &Value) -> (bool, bool, bool, bool) {
    let b = |k: &str| v[k].as_bool().unwrap_or_else(|| panic!("{k} in {v}"));
    (
        b("rule_matches"),
        b("to_canary"),
        b("in_cohort"),
        b("agree"),
    )
}

#[test]
fn the_runbook_rule_with_tilde_star_misses_1b_and_says_so() {
    let live = Live::new(true, RUNBOOK.0, RUNBOOK.1);
    let (r, v) = live.check("1b");
    assert_eq!(r.code, 0, "{r:?}");
    let v = v.expect("JSON");
    // nginx leaves it on the fleet although its id starts with 1
    assert_eq!(verdict(&v), (false, false, true, false), "{v}");
    assert_eq!(v["prefix"], "1");
    assert_eq!(v["rule"]["source"], "live");
    assert_eq!(v["rule"]["open"], true);
    assert_eq!(v["rule"]["operator"], "~*");
    assert_eq!(v["rule"]["regex"], RUNBOOK.1);
    assert_eq!(v["rule"]["exact"], false);
    assert_eq!(v["rule"]["line"], 8);
    assert!(
        v["rule"]["file"]
            .as_str()
            .unwrap()
            .starts_with(live.dir.path().to_str().unwrap())
    );
    for says in [
        "OPEN, if ($http_x_pep_token ~* \"(eyJpZCI6IjE",
        "nginx: the rule leaves this token on the fleet",
        "in cohort 1,3,5,7 by prefix: yes, prefix 1",
        "WARNING: the rule and the cohort disagree: id \"1b\" starts with the cohort's prefix 1, but the rule does NOT select it (the runbook's form under `~*`)",
        "`ihos canary open --ids 1,3,5,7` writes the exact form with `~`",
    ] {
        assert!(r.stderr.contains(says), "{says}: {r:?}");
    }
    assert!(
        !r.stderr
            .contains("yes, prefix 1 — the cohort's exact regex")
    );

    // `12`: both say yes; the rule is still flagged as not exact.
    let (r, v) = live.check("12");
    assert_eq!(verdict(&v.expect("JSON")), (true, true, true, true));
    assert!(
        r.stderr
            .contains("nginx: the rule sends this token to the canary"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("WARNING"), "{r:?}");
    assert!(
        r.stderr
            .contains("note: the rule is not exact (the runbook's form under `~*`)"),
        "{r:?}"
    );
}

#[test]
fn the_exact_regex_under_tilde_star_lets_outsiders_in_and_says_so() {
    let regex = Cohort::parse_list("7").unwrap().regex(RegexStyle::Exact);
    let live = Live::new(true, "~*", &regex);
    let (r, v) = live.check("1x");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(verdict(&v.expect("JSON")), (true, true, false, false));
    assert!(
        r.stderr.contains(
            "id \"1x\" starts with none of the cohort's prefixes, but the rule SELECTS it (the exact regex under the case-insensitive `~*`)"
        ),
        "{r:?}"
    );
    assert!(r.stderr.contains("`ihos canary open --ids 7`"), "{r:?}");
}

#[test]
fn the_exact_rule_with_tilde_agrees_with_the_prefixes() {
    let regex = Cohort::parse_list("1,3,5,7")
        .unwrap()
        .regex(RegexStyle::Exact);
    let live = Live::new(true, "~", &regex);
    for (id, member) in [
        ("1b", true),
        ("12", true),
        ("305", true),
        ("8", false),
        ("1", true),
        ("", false),
    ] {
        let (r, v) = live.check(id);
        assert_eq!(r.code, 0, "{id}: {r:?}");
        let v = v.expect("JSON");
        assert_eq!(verdict(&v), (member, member, member, true), "{id}: {v}");
        assert_eq!(v["rule"]["exact"], true);
        assert!(
            !r.stderr.contains("WARNING") && !r.stderr.contains("note:"),
            "{r:?}"
        );
    }
}

#[test]
fn a_closed_route_sends_nobody() {
    let live = Live::new(false, RUNBOOK.0, RUNBOOK.1);
    let (r, v) = live.check("12");
    assert_eq!(r.code, 0, "{r:?}");
    let v = v.expect("JSON");
    assert_eq!(v["rule"]["open"], false);
    // the rule matches, but the block is commented out
    assert_eq!(verdict(&v), (true, false, true, true), "{v}");
    assert!(
        r.stderr.contains(
            "nginx: the route is closed, nobody reaches the canary now; reopened as it stands, the rule would send this token to the canary"
        ),
        "{r:?}"
    );
    assert!(r.stderr.contains("closed (commented out), if "), "{r:?}");
}

#[test]
fn a_rule_ihos_cannot_evaluate_is_an_input_error() {
    // a look-ahead: PCRE has it, the regex crate does not, so nothing is guessed
    let live = Live::new(true, "~", "(?=eyJ)eyJpZCI6IjE");
    let (r, _) = live.check("12");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("cannot evaluate the regex"), "{r:?}");
    assert!(r.stderr.contains("pass --ids"), "{r:?}");

    // not a regex match at all
    let live = Live::new(true, "=", "eyJpZCI6IjEyIn0");
    let (r, _) = live.check("12");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(
            "is not a regex match (if ($http_x_pep_token = \"eyJpZCI6IjEyIn0\")): ihos cannot tell whom it selects; pass --ids"
        ),
        "{r:?}"
    );

    // a hand-written regex it can evaluate: no cohort, no prefix view
    let live = Live::new(true, "~", "^eyJhbGciOiJIUzI1NiIs");
    let (r, v) = live.check("12");
    assert_eq!(r.code, 0, "{r:?}");
    let v = v.expect("JSON");
    assert_eq!(v["rule_matches"], true);
    assert_eq!(v["to_canary"], true);
    assert_eq!(v["in_cohort"], Value::Null);
    assert_eq!(v["prefixes"], Value::Null);
    assert_eq!(v["agree"], Value::Null);
    assert!(r.stderr.contains("by prefix: unknown"), "{r:?}");
}
