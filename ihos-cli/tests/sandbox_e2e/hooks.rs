//! Scenario 17: `[[hooks]]` around a real rollout under load. A post-instance smoke test
//! (python's urllib against the instance itself, while it is out of rotation) expects the
//! version it is told in a variable named in its `env`; deploying v2 while it expects v1
//! fails it on the first instance, which is rolled back before any user reaches it. The
//! pre-rollout, failure and post-rollout hooks leave files saying what they were told.

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use super::{LOAD_MAX, ROLLOUT_MAX, Row, V2, assert_no_failures, exit_of};
use crate::sandbox::{Load, Sandbox, ihos, out_text, rollout, say, set_child_env};

/// The smoke test: the instance's `/ihos/version` must be `IHOS_E2E_SMOKE_EXPECT`.
const SMOKE: &str = "import os, sys, urllib.request as u; \
v = u.urlopen('http://' + os.environ['IHOS_BACKEND'] + '/ihos/version', timeout=5).read().decode().strip(); \
print('serves ' + v + ', expected ' + os.environ['IHOS_E2E_SMOKE_EXPECT']); \
sys.exit(v != os.environ['IHOS_E2E_SMOKE_EXPECT'])";

pub fn failing_smoke_test(sb: &Sandbox, rt: &tokio::runtime::Runtime, tmp: &Path) -> Row {
    sb.reset();
    let marks = tmp.join("hook-marks");
    std::fs::create_dir_all(&marks).expect("marks dir");
    let toml = sb.topology_copy(tmp, "hooks.toml", &[]);
    let mark = |name: &str| marks.join(name).display().to_string();
    let mut text = std::fs::read_to_string(&toml).expect("read topology copy");
    text.push_str(&format!(
        r#"
[[hooks]]
on = "pre-rollout"
run = 'echo "$IHOS_ROLLOUT_ID $IHOS_OPERATOR" > {pre}'

[[hooks]]
on = "post-instance"
name = "smoke test"
run = ["python3", "-c", "{smoke}"]
env = ["IHOS_E2E_SMOKE_EXPECT"]
timeout = "30s"

[[hooks]]
on = "failure"
run = 'echo "$IHOS_OUTCOME" > {failure}'

[[hooks]]
on = "post-rollout"
run = 'echo "$IHOS_OUTCOME" > {post}'
"#,
        pre = mark("pre-rollout"),
        smoke = SMOKE,
        failure = mark("failure"),
        post = mark("post-rollout"),
    ));
    std::fs::write(&toml, text).expect("write topology copy");
    set_child_env("IHOS_E2E_SMOKE_EXPECT", "v1");
    let war = sb.war(V2);
    let plan = ihos(
        &toml,
        &["plan", "--war", war.to_str().unwrap(), "--offline"],
    );
    let plan_text = out_text(&plan);
    assert!(plan.status.success(), "{plan_text}");
    assert!(
        plan_text.contains("hook pre-rollout:") && plan_text.contains("\"smoke test\""),
        "the plan shows the hooks: {plan_text}"
    );
    let first = sb.instances()[0].name.clone();

    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let run = rollout(&toml, &["--war", war.to_str().unwrap()], None, ROLLOUT_MAX);
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);

    assert_eq!(run.code(), Some(1), "{}", run.explain());
    let failed = run
        .find("instance_failed", &first, "post_instance_hooks")
        .unwrap_or_else(|| panic!("{first} failed at its smoke test: {}", run.explain()));
    assert!(
        run.find("rolled_back", &first, "").is_some(),
        "{}",
        run.explain()
    );
    // The new release never served users: its Enable never ran.
    assert!(
        run.find("step_started", &first, "enable").is_none(),
        "{}",
        run.explain()
    );
    let smoke = run
        .all("hook_finished")
        .into_iter()
        .find(|e| e.v["hook"] == "smoke test")
        .unwrap_or_else(|| panic!("no smoke test event: {}", run.explain()));
    assert_eq!(smoke.v["passed"], false);
    let said = smoke.v["output"].as_str().unwrap_or("").to_string();
    assert!(said.contains("serves v2, expected v1"), "{said}");
    let f = assert_no_failures("failing smoke test", &r);
    assert!(
        sb.versions().iter().all(|(_, v)| v == "v1"),
        "{:?}",
        sb.versions()
    );
    assert!(sb.out_of_rotation().is_empty());
    let read = |name: &str| {
        std::fs::read_to_string(marks.join(name))
            .unwrap_or_else(|e| panic!("{name} hook left no mark: {e}"))
            .trim()
            .to_string()
    };
    let rollout_id = run
        .find("rollout_started", "", "")
        .and_then(|e| e.v["rollout_id"].as_str().map(str::to_string))
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| panic!("no rollout id: {}", run.explain()));
    assert!(
        read("pre-rollout").starts_with(&rollout_id),
        "{}",
        read("pre-rollout")
    );
    assert_eq!(read("failure"), "rolled_back");
    assert_eq!(read("post-rollout"), "rolled_back");
    say(&format!("sandbox_e2e:   smoke test said: {said}"));
    Row {
        load: f,
        rollout_s: Some(run.wall.as_secs_f64()),
        exit: exit_of(&run),
        notes: vec![format!(
            "{first}'s post-instance smoke test failed ({}), rolled back before users reached it; \
             pre-rollout, failure and post-rollout hooks ran (IHOS_OUTCOME=rolled_back); plan shows the hooks",
            failed.v["error"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(120)
                .collect::<String>()
        )],
    }
}
