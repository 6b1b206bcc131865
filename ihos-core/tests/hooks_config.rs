//! `[[hooks]]` in the topology: accepted as documented, and every value that cannot work
//! refused with its key and its line.

use ihos_core::{HookOn, HookRun};

mod one_instance;

use one_instance::{assert_invalid, assert_syntax, load};

#[test]
fn hooks_load_with_their_defaults() {
    let t = load(
        r#"
[[hooks]]
on = "post-instance"
run = ["curl", "-fsS", "http://127.0.0.1:39091/ihos/health"]
where = "h101"
name = "smoke test"

[[hooks]]
on = "post-rollout"
run = "echo done >> /var/log/deploys"
"#,
    )
    .unwrap();
    let (smoke, done) = (&t.hooks[0], &t.hooks[1]);
    assert_eq!(smoke.on, HookOn::PostInstance);
    assert!(smoke.is_gate() && !smoke.is_local());
    assert_eq!(smoke.timeout.0.as_secs(), 300);
    assert_eq!(smoke.label(), "smoke test");
    assert!(matches!(&done.run, HookRun::Shell(_)));
    assert_eq!(done.run.argv()[..2], ["sh", "-c"]);
    assert!(!done.is_gate() && done.is_local());
}

#[test]
fn every_value_that_cannot_work_names_its_key_and_line() {
    let cases = [
        (
            "on = \"pre-instance\"\nrun = []",
            "hooks[0].run",
            "names no program",
        ),
        (
            "on = \"pre-instance\"\nrun = \"  \"",
            "hooks[0].run",
            "is empty",
        ),
        (
            "on = \"pre-instance\"\nrun = \"x\"\nwhere = \"h999\"",
            "hooks[0].where",
            "neither \"local\" nor a host",
        ),
        (
            "on = \"post-rollout\"\nrun = \"x\"\ngate = true",
            "hooks[0].gate",
            "cannot be a gate",
        ),
        (
            "on = \"failure\"\nrun = \"x\"\ntimeout = \"2h\"",
            "hooks[0].timeout",
            "at most 1h",
        ),
        (
            "on = \"failure\"\nrun = \"x\"\ntimeout = \"0s\"",
            "hooks[0].timeout",
            "more than 0s",
        ),
        (
            "on = \"pre-rollout\"\nrun = \"x\"\nsudo = true",
            "hooks[0].sudo",
            "only for a hook on a host",
        ),
        (
            "on = \"pre-rollout\"\nrun = \"x\"\nenv = [\"TOKEN=abc\"]",
            "hooks[0].env",
            "not an environment variable name",
        ),
        (
            "on = \"pre-rollout\"\nrun = \"x\"\nwhere = \"h101\"\nenv = [\"TOKEN\"]",
            "hooks[0].env",
            "local hooks only",
        ),
    ];
    for (body, key, says) in cases {
        assert_invalid(&format!("[[hooks]]\n{body}\n"), key, says);
    }
    for (body, says) in [
        ("on = \"after\"\nrun = \"x\"", "unknown variant `after`"),
        (
            "on = \"failure\"\nrun = 3",
            "data did not match any variant",
        ),
        (
            "on = \"failure\"\nrun = \"x\"\nretries = 3",
            "unknown field `retries`",
        ),
    ] {
        assert_syntax(&format!("[[hooks]]\n{body}\n"), says);
    }
}
