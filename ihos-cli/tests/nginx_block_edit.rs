//! `ihos nginx disable-block|enable-block|set-regex FILE (--if-contains TEXT | --line N)`:
//! the runbook's canary block in the site file.

mod common;

use common::{Fixture, SITE, read, replace_once};

const CANARY_COMMENTED: &str = "    #  if ($http_x_pep_token ~* \"(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)\") {
    #      set $a 1;
    #  }
";
const CANARY_ENABLED: &str = "      if ($http_x_pep_token ~* \"(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)\") {
          set $a 1;
      }
";

fn site_with_canary_open() -> String {
    replace_once(SITE, CANARY_COMMENTED, CANARY_ENABLED)
}

#[test]
fn enable_block_by_condition_opens_the_canary_in_place() {
    let f = Fixture::site();
    let ino = f.ino();
    let r = f.nginx("enable-block", &["--if-contains", "eyJpZCI6IjE"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.text(), site_with_canary_open());
    // The `#id ...` comment above the block stays a comment.
    assert!(f.text().contains("    #id 1、3、5、7开头\n      if ("));
    assert_eq!(f.ino(), ino);
    let backups = f.backups();
    assert_eq!(backups.len(), 1);
    assert_eq!(read(&backups[0]), SITE.as_bytes());
    for line in CANARY_COMMENTED.lines() {
        assert!(r.stdout.contains(&format!("\n-{line}\n")), "{line}: {r:?}");
    }
    for line in CANARY_ENABLED.lines() {
        assert!(r.stdout.contains(&format!("\n+{line}\n")), "{line}: {r:?}");
    }
    assert!(r.stderr.contains("if block at line 8 enabled"), "{r:?}");
}

#[test]
fn disable_then_enable_restores_the_original_bytes() {
    // Start with the canary open, as during a canary release.
    let open = site_with_canary_open();
    let f = Fixture::new("ihos", &open);
    let ino = f.ino();
    let r = f.nginx("disable-block", &["--line", "8"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("if block at line 8 commented out"),
        "{r:?}"
    );
    // Each line gets a `#` before its first non-blank byte; indentation is kept.
    let closed = replace_once(
        &open,
        CANARY_ENABLED,
        "      #if ($http_x_pep_token ~* \"(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)\") {
          #set $a 1;
      #}
",
    );
    assert_eq!(f.text(), closed);
    let r = f.nginx("enable-block", &["--line", "8"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.text(), open);
    assert_eq!(f.ino(), ino);
    let backups = f.backups();
    assert_eq!(backups.len(), 2);
    let contents: Vec<Vec<u8>> = backups.iter().map(|b| read(b)).collect();
    assert!(contents.contains(&open.clone().into_bytes()));
    assert!(contents.contains(&closed.into_bytes()));
}

#[test]
fn runbook_block_enable_then_disable_gives_an_equivalent_comment() {
    let f = Fixture::site();
    assert_eq!(f.nginx("enable-block", &["--line", "8"]).code, 0);
    assert_eq!(f.nginx("disable-block", &["--line", "8"]).code, 0);
    // Commented out again (nginx reads the same config); the `#` now sits at the block's
    // indentation rather than in column 5 as in the hand-edited original.
    let v: serde_json::Value = serde_json::from_str(&f.nginx("show", &["--json"]).stdout).unwrap();
    assert_eq!(v["if_blocks"][0]["enabled"], false);
    assert_eq!(v["if_blocks"][0]["line"], 8);
    assert!(f.text().contains("      #if ($http_x_pep_token"));
    // And opening it once more gives the same open text as the first time.
    assert_eq!(f.nginx("enable-block", &["--line", "8"]).code, 0);
    assert_eq!(f.text(), site_with_canary_open());
}

#[test]
fn enable_block_twice_is_a_no_op() {
    let f = Fixture::site();
    assert_eq!(f.nginx("enable-block", &["--line", "8"]).code, 0);
    let r = f.nginx("enable-block", &["--line", "8"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("already enabled"), "{r:?}");
    assert_eq!(f.text(), site_with_canary_open());
    assert_eq!(f.backups().len(), 1);

    let r = Fixture::site().nginx("disable-block", &["--if-contains", "x_pep_token"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("already commented out"), "{r:?}");
}

#[test]
fn dry_run_disable_block_changes_nothing() {
    let f = Fixture::site();
    let r = f.nginx("disable-block", &["--if-contains", "$a = 1", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.bytes(), SITE.as_bytes());
    assert!(f.backups().is_empty());
    assert!(r.stdout.contains("\n-        if ($a = 1) {\n"), "{r:?}");
    assert!(r.stdout.contains("\n+        #if ($a = 1) {\n"), "{r:?}");
    assert!(
        r.stdout
            .contains("\n+            #proxy_pass http://service_ihos_gray;\n"),
        "{r:?}"
    );
}

#[test]
fn set_regex_on_the_commented_block() {
    let f = Fixture::site();
    let ino = f.ino();
    let r = f.nginx(
        "set-regex",
        &["--line", "8", "--regex", "(eyJpZCI6IjE.*$|eyJpZCI6Ijk.*$)"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let expected = replace_once(
        SITE,
        "\"(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)\"",
        "\"(eyJpZCI6IjE.*$|eyJpZCI6Ijk.*$)\"",
    );
    assert_eq!(f.text(), expected);
    assert_eq!(f.ino(), ino);
    assert_eq!(read(&f.backups()[0]), SITE.as_bytes());

    let r = f.nginx("show", &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["if_blocks"][0]["regex"],
        "(eyJpZCI6IjE.*$|eyJpZCI6Ijk.*$)"
    );
    assert_eq!(v["if_blocks"][0]["enabled"], false);

    // The same regex again is a no-op.
    let r = f.nginx(
        "set-regex",
        &["--line", "8", "--regex", "(eyJpZCI6IjE.*$|eyJpZCI6Ijk.*$)"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.text(), expected);
    assert_eq!(f.backups().len(), 1);
}

#[test]
fn set_regex_dry_run_changes_nothing() {
    let f = Fixture::site();
    let r = f.nginx(
        "set-regex",
        &["--if-contains", "pep_token", "--regex", "^x", "--dry-run"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.bytes(), SITE.as_bytes());
    assert!(f.backups().is_empty());
    assert!(
        r.stdout
            .contains("\n+    #  if ($http_x_pep_token ~* \"^x\") {\n"),
        "{r:?}"
    );
}

#[test]
fn set_regex_refuses_bad_targets_and_values() {
    let f = Fixture::site();
    // `($a = 1)` has no regex operator.
    let r = f.nginx("set-regex", &["--line", "11", "--regex", "x"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("has no regex match operator"), "{r:?}");
    // A line break cannot be written into the config.
    let r = f.nginx("set-regex", &["--line", "8", "--regex", "a\nb"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("line break"), "{r:?}");
    assert_eq!(f.bytes(), SITE.as_bytes());
    assert!(f.backups().is_empty());
}

#[test]
fn unknown_block_lists_the_candidates() {
    let f = Fixture::site();
    let r = f.nginx("enable-block", &["--line", "3"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("candidates: line 8 if ($http_x_pep_token"),
        "{r:?}"
    );
    assert!(r.stderr.contains("line 11 if ($a = 1) (enabled)"), "{r:?}");
    let r = f.nginx("enable-block", &["--if-contains", "no such text"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(f.bytes(), SITE.as_bytes());
    assert!(f.backups().is_empty());
}

#[test]
fn ambiguous_selector_is_refused() {
    let f = Fixture::site();
    // Both conditions contain `$`.
    let r = f.nginx("disable-block", &["--if-contains", "$"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("use a more specific selector"), "{r:?}");
    assert_eq!(f.bytes(), SITE.as_bytes());
}

#[test]
fn exactly_one_selector_is_required() {
    let f = Fixture::site();
    let r = f.nginx("enable-block", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = f.nginx("enable-block", &["--line", "8", "--if-contains", "pep"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = f.nginx("set-regex", &["--line", "8"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = f.nginx("enable-block", &["--line", "eight"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(f.bytes(), SITE.as_bytes());
    assert!(f.backups().is_empty());
}
