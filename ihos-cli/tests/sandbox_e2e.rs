//! End-to-end tests on the real sandbox (issue 5 §3, DESIGN.md §5): real sshd "hosts", real
//! Docker, real nginx in front of real Tomcats, the real `ihos` binary, and the load generator
//! of ihos-testkit against the load balancer.
//!
//! One test runs the scenarios in sequence (they share the one sandbox):
//!
//! | # | scenario | asserted |
//! |---|---|---|
//! | 0 | negative control: `docker stop` of an instance in rotation under load | failed > 0 (POST) |
//! | 1 | v1 → v2 on all four, `apply = "reload"` | exit 0, 0 failed, v2 everywhere, status + audit log = sha256sum |
//! | 3 | fail-start WAR (after 1, so "previous" is v2), with `[[notify]]` robots of the five kinds on the loopback robot receiver (DingTalk and Feishu signed) | exit 1, first instance rolled back and in rotation, others untouched, 0 failed; every robot accepted "started" and "failed, rolled back" (naming the instance and why; the failure @-ing its people), the messages printed |
//! | 2 | v1 → v2 with `apply = "restart"` (the runbook's way) | exit 0, v2 everywhere; failed requests > 0, printed beside 1's |
//! | 4 | SIGKILL of ihos during the second instance's `start`, then `--resume` | exit 0, v2 everywhere, all in rotation, lock free, 0 failed over both |
//! | 5 | drain until idle, 4-second requests in flight | exit 0, 0 failed, stop only after the last in-flight request ended, drain ≪ max |
//! | 6 | a site file nginx rejects | exit 1 from the preflight's `nginx -t` of the current config, no step run, nginx.conf bytes and inode unchanged, 0 failed |
//! | 7 | canary: `canary deploy` v2, `canary open --ids 1,3,5,7`, a canary deploy under the cohort's load, `canary close`, `rollout --from-canary` | users 1xx/3xx/5xx/7xx (JWT and plain tokens) reach the canary on v2, the others never; none after close; 0 failed; the fleet gets the canary's exact sha256 |
//! | 8 | today's app log replaced by a link to `/dev/zero` (as the container could); then (container stopped, no load) `ihos.war` replaced by a link to a root-only host file | exit 1 from the preflight within seconds, no step run, the links untouched, the host file unchanged, 0 failed |
//! | 9 | a second `ihos rollout`, then a `--resume`, while one runs | both exit 1 (lock held) touching nothing, the first exits 0, 0 failed |
//! | 10 | the last host's key is not the one known (a changed host key) | exit 1 before the first instance leaves rotation, naming the host; nothing changed, 0 failed |
//! | 11 | h103's sshd and its sessions SIGKILLed during a drain there (`--only` h103's two), then sshd back and `--resume` | the first run fails naming the instance and host, the instance not stopped and on v1; the resume exits 0; 0 failed over both |
//! | 12 | the LB's nginx container stopped at the first instance's start (`--only` h101's two), then started and `--resume` | exit 3 naming the instance out of rotation, lock kept, the second untouched; the resume exits 0, all in rotation |
//! | 13 | `ihos-reach.toml`: h101 by password, h103 only through the bastion (root's direct connections refused by an iptables rule, checked with `ssh`), two LBs; the canary's route opened and closed (on both LBs' site files); v1 → v2 on all four under load through both LBs | `hosts check` shows h103 through the bastion; cohort users reach the canary through either LB while open, nobody after close; exit 0, 0 failed on either LB, v2 everywhere, all in rotation on both, one bastion login, h101's password accepted |
//! | 14 | `ihos-reach.toml`: the second LB's nginx stopped at the first instance's start (`--only` h103's two), then started and `--resume` | exit 3 naming the instance; the first LB restored (the instance out on both, nothing else), lock kept, the second untouched, LB 1 serving throughout; the resume exits 0, all in rotation on both; 0 failed through LB 1 |
//! | 15 | `ihos init --lb h101 --nginx-container ... --upstream service_ihos` with the sandbox's ssh config, then `validate` and `plan` of what it wrote | the load balancer and the four instances as in the hand-written topology (container, webapps, logs, WAR, port, host), `validate` exit 0, the same plan per backend, no secret in the file |
//! | 16 | under load (users 1x to 8x), `canary deploy --analyze 15s --ids 1,3,5,7` of v2, of a WAR that answers 500 to every 20th request, of one 300 ms slower; then of v2 for ids 9 (nobody) | v2 passes (exit 0, route closed); the two bad ones fail on error rate and latency (exit 1), the canary back on v2, route closed; ids 9: inconclusive (exit 4), route closed as before; `canary ramp --ids 1 --ids 1,3,5,7` SIGINTed in step 2: exit 130, route closed as before, `--resume` runs step 2 only: exit 0, open for 1,3,5,7; users outside the cohort: 0 failed (but keep-alive POSTs on a connection a reload closed), never on the canary |
//! | 17 | `[[hooks]]`: a post-instance smoke test (python, against the instance while it is out of rotation) expecting v1 while v2 is deployed under load; pre-rollout, failure and post-rollout hooks writing what they were told | `plan` shows the hooks; exit 1, the first instance failed at its smoke test (its output in the event) and rolled back without its Enable ever running, v1 everywhere, all in rotation, 0 failed; the other hooks' files hold the rollout id and `rolled_back` |
//! | 18 | three rollouts to the first two instances (builds 201, 202, 203 with `ihos fetch` sidecars), `ihos releases`, `rollback --to 201` of all four, then with `--only` the two under load | each of the two keeps 202 and 201 and runs 203, the others keep nothing; the fleet-wide rollback refused (exit 2) naming who keeps 201, touching nothing; with `--only`: exit 0, the two on 201's exact sha256 (recorded as rollbacks of build 201), the others untouched, 0 failed |
//!
//! `scripts/sandbox reset` (checked: v1 everywhere, empty state and staging dirs, all in
//! rotation) runs before every scenario but 3, and once more at the end, even after a
//! failure: the sandbox is left up and pristine. Scenario 3 uses a copy of the topology with
//! `start_timeout = "20s"` (the sandbox's 120 s would only make the failing start slower; a
//! healthy Tomcat here answers within 2-4 s).
//!
//! `IHOS_E2E_ONLY=7` (a comma-separated list of scenario numbers) runs only those, for
//! development; `scripts/test` runs them all.
//!
//! Prerequisites: root and a Docker engine (`scripts/sandbox up` builds the rest). Without
//! them the test is skipped with a message, or fails when `IHOS_REQUIRE_SANDBOX=1`
//! (`scripts/test` sets it). The figures of every scenario and a summary table go to stderr
//! (uncaptured) and to `$CARGO_TARGET_TMPDIR/sandbox_e2e_summary.txt`.

#[path = "sandbox_e2e/canary_analysis.rs"]
mod canary_analysis;
#[path = "sandbox_e2e/faults.rs"]
mod faults;
#[path = "sandbox_e2e/hooks.rs"]
mod hooks;
#[path = "sandbox_e2e/init.rs"]
mod init;
#[path = "sandbox_e2e/reach.rs"]
mod reach;
#[path = "sandbox_e2e/releases.rs"]
mod releases;
#[path = "sandbox_e2e/robots.rs"]
mod robots;
mod sandbox;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use ihos_testkit::load::{Class, Method};
use sandbox::{
    Ev, Load, LoadFigures, RestoreFile, RolloutRun, Sandbox, docker, http_get_with, ihos, inode,
    out_text, required, rollout, run_events, say, sha256sum,
};

/// Longest a load may run (it is stopped as soon as its scenario is done).
const LOAD_MAX: Duration = Duration::from_secs(480);
/// Longest one `ihos rollout` may take before the test kills it and fails.
const ROLLOUT_MAX: Duration = Duration::from_secs(300);

const V2: &str = "ihos-v2.war";
const V3_FAIL_START: &str = "ihos-v3-fail-start.war";

/// One scenario's line in the summary.
#[derive(Debug, Clone, Default)]
struct Row {
    load: LoadFigures,
    /// Wall time of the rollout(s) of the scenario.
    rollout_s: Option<f64>,
    exit: String,
    notes: Vec<String>,
}

struct Outcome {
    name: &'static str,
    row: Option<Row>,
    error: Option<String>,
    seconds: f64,
}

/// Resets the sandbox when dropped (also after a panic): it is left up, v1 everywhere, with
/// empty ihos state.
struct LeavePristine<'a>(&'a Sandbox);

impl Drop for LeavePristine<'_> {
    fn drop(&mut self) {
        say("sandbox_e2e: leaving the sandbox pristine (scripts/sandbox reset)");
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| self.0.reset())) {
            say(&format!(
                "sandbox_e2e: the final reset FAILED: {}",
                panic_text(&e)
            ));
        }
    }
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs a scenario, catching its panic so the others still run.
fn scenario(outcomes: &mut Vec<Outcome>, name: &'static str, f: impl FnOnce() -> Row) -> bool {
    // IHOS_E2E_ONLY=7 (or "7,1"): run only the scenarios whose number is listed (development).
    if let Ok(only) = std::env::var("IHOS_E2E_ONLY") {
        let number = name.split(' ').next().unwrap_or("");
        if !only.split(',').any(|n| n.trim() == number) {
            say(&format!(
                "sandbox_e2e: scenario {name}: skipped (IHOS_E2E_ONLY={only})"
            ));
            return false;
        }
    }
    say(&format!("\nsandbox_e2e: ===== scenario {name} ====="));
    let t = Instant::now();
    let r = catch_unwind(AssertUnwindSafe(f));
    let seconds = t.elapsed().as_secs_f64();
    let ok = r.is_ok();
    let (row, error) = match r {
        Ok(row) => {
            say(&format!(
                "sandbox_e2e: scenario {name}: ok in {seconds:.1}s: load {}{}; {}",
                row.load.line(),
                row.rollout_s
                    .map_or(String::new(), |s| format!(", rollout {s:.1}s")),
                row.notes.join("; ")
            ));
            (Some(row), None)
        }
        Err(e) => {
            let text = panic_text(&e);
            say(&format!(
                "sandbox_e2e: scenario {name}: FAILED after {seconds:.1}s: {text}"
            ));
            (None, Some(text))
        }
    };
    outcomes.push(Outcome {
        name,
        row,
        error,
        seconds,
    });
    ok
}

#[test]
fn sandbox_end_to_end() {
    let t0 = Instant::now();
    if let Some(missing) = sandbox::missing_prerequisite() {
        if required() {
            panic!("IHOS_REQUIRE_SANDBOX=1 but the sandbox cannot run here: {missing}");
        }
        say(&format!(
            "sandbox_e2e: SKIPPED: {missing} (set IHOS_REQUIRE_SANDBOX=1 to make this a failure)"
        ));
        return;
    }
    let sb = match Sandbox::up() {
        Ok(sb) => sb,
        Err(e) if !required() => {
            say(&format!(
                "sandbox_e2e: SKIPPED: scripts/sandbox up failed (set IHOS_REQUIRE_SANDBOX=1 to make this a failure): {e}"
            ));
            return;
        }
        Err(e) => panic!("scripts/sandbox up failed: {e}"),
    };
    let _leave = LeavePristine(&sb);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let tmp = tempfile::tempdir().expect("tempdir");

    let mut outcomes = Vec::new();
    scenario(&mut outcomes, "0 negative control", || {
        negative_control(&sb, &rt)
    });
    let reload_ok = scenario(&mut outcomes, "1 v1->v2 reload", || {
        reload_rollout(&sb, &rt)
    });
    scenario(&mut outcomes, "3 fail-start WAR", || {
        fail_start(&sb, &rt, tmp.path(), reload_ok)
    });
    scenario(&mut outcomes, "2 v1->v2 restart", || {
        restart_rollout(&sb, &rt, tmp.path())
    });
    scenario(&mut outcomes, "4 SIGKILL + resume", || {
        kill_and_resume(&sb, &rt)
    });
    scenario(&mut outcomes, "5 drain until idle", || {
        drain_until_idle(&sb, &rt)
    });
    scenario(&mut outcomes, "6 nginx rejects", || nginx_rejects(&sb, &rt));
    scenario(&mut outcomes, "7 canary", || canary(&sb, &rt));
    scenario(&mut outcomes, "8 planted link", || planted_link(&sb, &rt));
    scenario(&mut outcomes, "9 second rollout", || {
        second_rollout(&sb, &rt)
    });
    scenario(&mut outcomes, "10 changed host key", || {
        changed_host_key(&sb, &rt, tmp.path())
    });
    scenario(&mut outcomes, "11 sshd killed mid-drain", || {
        faults::sshd_killed_mid_drain(&sb, &rt)
    });
    scenario(&mut outcomes, "12 LB stopped mid-rollout", || {
        faults::lb_stopped_mid_rollout(&sb, &rt)
    });
    scenario(&mut outcomes, "13 bastion+password+2 LBs", || {
        reach::reach_rollout(&sb, &rt)
    });
    scenario(&mut outcomes, "14 one of 2 LBs fails", || {
        reach::lb_fails_midway(&sb, &rt)
    });
    scenario(&mut outcomes, "15 init round trip", || {
        init::init_round_trip(&sb)
    });
    scenario(&mut outcomes, "16 canary analysis", || {
        canary_analysis::trials(&sb, &rt)
    });
    scenario(&mut outcomes, "17 failing smoke test", || {
        hooks::failing_smoke_test(&sb, &rt, tmp.path())
    });
    scenario(&mut outcomes, "18 rollback --to", || {
        releases::rollback_to_first(&sb, &rt, tmp.path())
    });
    drop(rt);

    let table = summary(&outcomes, t0.elapsed().as_secs_f64());
    say(&table);
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox_e2e_summary.txt");
    if std::fs::write(&file, &table).is_ok() {
        say(&format!(
            "sandbox_e2e: summary written to {}",
            file.display()
        ));
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.error
                .as_ref()
                .map(|e| format!("scenario {}: {e}", o.name))
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

fn summary(outcomes: &[Outcome], total: f64) -> String {
    let mut s = String::from(
        "\nsandbox_e2e summary\n\
         | scenario | result | exit | rollout s | requests | failed | GET failed | POST failed | keep-alive clients | scenario s |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        match &o.row {
            Some(r) => s.push_str(&format!(
                "| {} | ok | {} | {} | {} | {} | {} of {} | {} of {} | {} | {:.1} |\n",
                o.name,
                r.exit,
                r.rollout_s.map_or("-".into(), |x| format!("{x:.1}")),
                r.load.requests,
                r.load.failed,
                r.load.get.1,
                r.load.get.0,
                r.load.post.1,
                r.load.post.0,
                r.load.keepalive_cell(),
                o.seconds
            )),
            None => s.push_str(&format!(
                "| {} | FAILED | | | | | | | | {:.1} |\n",
                o.name, o.seconds
            )),
        }
    }
    s.push_str(&format!("total wall time {total:.1}s\n"));
    for o in outcomes {
        if let Some(r) = &o.row {
            for n in &r.notes {
                s.push_str(&format!("  {}: {n}\n", o.name));
            }
        }
        if let Some(e) = &o.error {
            s.push_str(&format!("  {}: FAILED: {}\n", o.name, first_lines(e, 6)));
        }
    }
    s
}

fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).collect::<Vec<_>>().join(" / ")
}

fn exit_of(run: &RolloutRun) -> String {
    match (run.code(), run.signal()) {
        (Some(c), _) => c.to_string(),
        (None, Some(s)) => format!("signal {s}"),
        _ => "?".into(),
    }
}

/// The load's figures, checked for 0 failed requests (GET and POST).
fn assert_no_failures(what: &str, r: &ihos_testkit::load::LoadResult) -> LoadFigures {
    let f = LoadFigures::of(&r.summary);
    say(&format!("sandbox_e2e:   load {what}: {}", f.line()));
    assert!(f.requests > 0, "{what}: no request was sent");
    assert!(
        f.get.0 > 0 && f.post.0 > 0,
        "{what}: GETs and POSTs expected: {}",
        f.line()
    );
    // One-request-per-connection clients: not one failure.
    assert_eq!(
        f.close.failed,
        0,
        "{what}: one-request-per-connection clients saw failures:\n{}",
        r.summary.to_text()
    );
    assert!(
        f.close.requests > 0 && f.keepalive.requests > 0,
        "{what}: both kinds of client ran: {}",
        f.line()
    );
    // Keep-alive clients: a reload closes their idle connections (nginx's graceful
    // shutdown of old workers); a GET that meets one is retried on a new connection, as
    // Apache HttpClient does, and must then succeed. The only failures allowed are POSTs
    // written onto such a connection, which no client may safely send twice: counted and
    // reported (`stale_closed`), never hidden.
    assert_eq!(
        (f.get.1, f.keepalive.failed),
        (0, f.keepalive.stale_failed),
        "{what}: failed GETs, or keep-alive failures other than POSTs on a connection nginx closed at a reload:\n{}",
        r.summary.to_text()
    );
    assert_eq!(
        f.failed,
        f.keepalive.stale_failed,
        "{what}: failures other than stale keep-alive POSTs:\n{}",
        r.summary.to_text()
    );
    f
}

/// A refused run: 0 failed requests, v1 everywhere and in rotation, the lock released,
/// nothing recorded.
fn assert_nothing_changed(
    sb: &Sandbox,
    what: &str,
    r: &ihos_testkit::load::LoadResult,
) -> LoadFigures {
    let f = assert_no_failures(what, r);
    assert_versions(sb, "v1");
    let status = sb.status(&sb.toml);
    assert_all_in_rotation(sb, &status);
    assert!(!sb.lb_state_dir().join("lock").exists(), "lock released");
    assert!(sb.history(&sb.toml).is_empty(), "nothing deployed");
    f
}

/// Every fleet instance answers `want` on `/ihos/version`, asked directly.
fn assert_versions(sb: &Sandbox, want: &str) {
    let v = sb.versions();
    assert!(
        v.iter().all(|(_, x)| x == want),
        "every instance should serve {want}: {v:?}"
    );
}

/// Every fleet instance in rotation, by nginx.conf and by `ihos status`.
fn assert_all_in_rotation(sb: &Sandbox, status: &BTreeMap<String, serde_json::Value>) {
    let out = sb.out_of_rotation();
    assert!(out.is_empty(), "out of rotation in nginx.conf: {out:?}");
    for i in sb.instances() {
        let v = &status[&i.name];
        assert_eq!(
            v["rotation"], "enabled",
            "{}: ihos status says {}",
            i.name, v
        );
        assert_eq!(v["healthy"], true, "{}: ihos status says {}", i.name, v);
    }
}

/// `ihos status` says every instance runs `sha`; the audit log has a `deploy` record of `sha`
/// for each (exactly one each when `exactly_one`).
fn assert_records(sb: &Sandbox, toml: &Path, sha: &str, exactly_one: bool) -> usize {
    let status = sb.status(toml);
    assert_all_in_rotation(sb, &status);
    for i in sb.instances() {
        assert_eq!(
            status[&i.name]["deployed"]["sha256"], sha,
            "{}: ihos status --json: {}",
            i.name, status[&i.name]
        );
    }
    let history = sb.history(toml);
    let names: BTreeSet<String> = sb.instances().iter().map(|i| i.name.clone()).collect();
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for r in &history {
        let instance = r["instance"].as_str().unwrap_or("?");
        // The canary's own deploys are in the audit log too; these are the fleet's.
        if r["sha256"] == sha && r["action"] == "deploy" && names.contains(instance) {
            *per.entry(instance.to_string()).or_default() += 1;
        }
    }
    assert_eq!(
        per.keys().cloned().collect::<BTreeSet<_>>(),
        names,
        "audit log: deploy records of {sha} per instance: {per:?}\n{history:?}"
    );
    if exactly_one {
        assert!(
            per.values().all(|n| *n == 1),
            "one deploy record per instance expected: {per:?}"
        );
    }
    per.values().sum()
}

// --- 0 ----------------------------------------------------------------------------------------

/// Stop one instance's container under load without taking it out of rotation first (ihos
/// bypassed): the load generator must see failed requests, or the zeros below mean nothing.
fn negative_control(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let victim = &sb.instances()[0];
    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(4));
    let t = Instant::now();
    docker(&["stop", &victim.container]).expect("docker stop");
    let stop_s = t.elapsed().as_secs_f64();
    let mut notes = vec![format!(
        "docker stop {} in rotation ({stop_s:.1}s) at 4s of a 12s load",
        victim.name
    )];
    sleep(Duration::from_secs(3));
    // Measured here: 3 to 8 failed POSTs per stop. Should a stop ever go unnoticed, stop a
    // second instance (still without draining) rather than report a control that proves nothing.
    if load.progress().failed == 0 {
        let second = &sb.instances()[2];
        say(&format!(
            "sandbox_e2e:   no failure 3s after stopping {}: stopping {} too",
            victim.name, second.name
        ));
        docker(&["stop", &second.container]).expect("docker stop");
        notes.push(format!(
            "no failure 3s after the first stop: docker stop {} too",
            second.name
        ));
    }
    sleep(Duration::from_secs(5));
    let r = load.finish(rt);
    let f = LoadFigures::of(&r.summary);
    say(&format!("sandbox_e2e:   load: {}", f.line()));
    assert!(
        f.failed > 0 && f.post.1 > 0,
        "stopping {} in rotation under load should fail requests (POSTs): {}",
        victim.container,
        r.summary.to_text()
    );
    Row {
        load: f,
        rollout_s: None,
        exit: "-".into(),
        notes,
    }
}

// --- 1 ----------------------------------------------------------------------------------------

fn reload_rollout(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let war = sb.war(V2);
    let sha = sha256sum(&war);
    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let run = rollout(
        &sb.toml,
        &["--war", war.to_str().unwrap()],
        None,
        ROLLOUT_MAX,
    );
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);
    assert_eq!(run.code(), Some(0), "{}", run.explain());
    let f = assert_no_failures("v1 -> v2 (reload)", &r);
    assert_eq!(
        run.find("rollout_started", "", "")
            .map(|e| e.v["sha256"].clone()),
        Some(serde_json::Value::String(sha.clone())),
        "the rollout's sha256 is sha256sum's"
    );
    assert!(
        f.versions.contains_key("v1") && f.versions.contains_key("v2"),
        "the load saw the switch: {:?}",
        f.versions
    );
    assert_versions(sb, "v2");
    let records = assert_records(sb, &sb.toml, &sha, true);
    assert_eq!(records, 4);
    // ihos's state is root's alone: the directories it made 0700, its files 0600.
    let mode = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    for i in sb.instances() {
        let state = Path::new(&sb.topology.hosts[&i.host].state_dir);
        for dir in ["releases", "deployments"] {
            assert_eq!(mode(&state.join(dir)), 0o700, "{}: {dir}", i.host);
        }
    }
    for file in ["journal.ndjson", "audit.log"] {
        assert_eq!(mode(&sb.lb_state_dir().join(file)), 0o600, "{file}");
    }
    let drains: Vec<String> = run
        .all("step_finished")
        .iter()
        .filter(|e| e.step() == "drain")
        .map(|e| format!("{:.1}", e.v["seconds"].as_f64().unwrap_or(0.0)))
        .collect();
    Row {
        load: f,
        rollout_s: Some(run.wall.as_secs_f64()),
        exit: exit_of(&run),
        notes: vec![format!(
            "all four serve v2; status and 4 audit records = sha256sum {}; drains {}s",
            &sha[..12],
            drains.join("/")
        )],
    }
}

// --- 3 ----------------------------------------------------------------------------------------

fn fail_start(sb: &Sandbox, rt: &tokio::runtime::Runtime, tmp: &Path, after_v2: bool) -> Row {
    if !after_v2 {
        say("sandbox_e2e:   scenario 1 failed: starting from a reset sandbox (v1) instead of v2");
        sb.reset();
    }
    let toml = sb.topology_copy(
        tmp,
        "fail-start.toml",
        &[("start_timeout = \"120s\"", "start_timeout = \"20s\"")],
    );
    let robots = robots::Robots::start(&toml);
    let before = sb.versions();
    let previous = before[0].1.clone();
    assert!(
        before.iter().all(|(_, v)| *v == previous),
        "all four on one version before: {before:?}"
    );
    let status_before = sb.status(&toml);
    let history_before = sb.history(&toml);
    let war = sb.war(V3_FAIL_START);
    let bad_sha = sha256sum(&war);
    let first = sb.instances()[0].name.clone();

    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let run = rollout(&toml, &["--war", war.to_str().unwrap()], None, ROLLOUT_MAX);
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);

    assert_eq!(
        run.code(),
        Some(1),
        "exit code 1 expected: {}",
        run.explain()
    );
    let failed = run
        .find("instance_failed", &first, "")
        .unwrap_or_else(|| panic!("no instance_failed for {first}: {}", run.explain()));
    assert_eq!(failed.step(), "wait_healthy", "{}", run.explain());
    assert!(
        run.find("rolled_back", &first, "").is_some(),
        "{first} rolled back: {}",
        run.explain()
    );
    assert_eq!(
        run.touched(),
        BTreeSet::from([first.clone()]),
        "only the first instance is touched: {}",
        run.explain()
    );
    assert_eq!(
        run.find("rollout_finished", "", "")
            .map(|e| e.v["outcome"].clone()),
        Some("rolled_back".into()),
        "{}",
        run.explain()
    );
    let f = assert_no_failures("fail-start", &r);
    assert_eq!(
        sb.versions(),
        before,
        "all four serve what they served before"
    );
    let status = sb.status(&toml);
    assert_all_in_rotation(sb, &status);
    for i in sb.instances() {
        assert_eq!(
            status[&i.name]["deployed"], status_before[&i.name]["deployed"],
            "{}: deployment record unchanged",
            i.name
        );
    }
    let history = sb.history(&toml);
    assert_eq!(history.len(), history_before.len(), "no new audit record");
    assert!(!history.iter().any(|h| h["sha256"] == bad_sha.as_str()));
    // In rotation for real: nginx sends it requests, and it answers the previous version.
    let seen = sb.through_lb(24);
    for i in sb.instances() {
        assert!(
            seen.get(&(i.name.clone(), previous.clone()))
                .is_some_and(|n| *n > 0),
            "{} should answer {previous} through nginx: {seen:?}",
            i.name
        );
    }
    assert_eq!(
        seen.values().sum::<usize>(),
        seen.iter()
            .filter(|((_, v), _)| *v == previous)
            .map(|(_, n)| n)
            .sum::<usize>(),
        "only {previous} through nginx: {seen:?}"
    );
    let healthy_wait = run
        .find("step_finished", &first, "wait_healthy")
        .map(|e| e.v["seconds"].as_f64().unwrap_or(0.0));
    let told = robots.check_failed_rollout(&first, &run);
    Row {
        load: f,
        rollout_s: Some(run.wall.as_secs_f64()),
        exit: exit_of(&run),
        notes: vec![
            told,
            format!(
                "{first} failed at wait_healthy ({}), rolled back to {previous} and in rotation; the other three untouched",
                first_lines(failed.v["error"].as_str().unwrap_or(""), 1)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ) + &healthy_wait.map_or(String::new(), |s| format!(" ({s:.1}s)")),
        ],
    }
}

// --- 2 ----------------------------------------------------------------------------------------

fn restart_rollout(sb: &Sandbox, rt: &tokio::runtime::Runtime, tmp: &Path) -> Row {
    sb.reset();
    let toml = sb.topology_copy(
        tmp,
        "restart.toml",
        &[("apply = \"reload\"", "apply = \"restart\"")],
    );
    let war = sb.war(V2);
    let sha = sha256sum(&war);
    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let run = rollout(&toml, &["--war", war.to_str().unwrap()], None, ROLLOUT_MAX);
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);
    let f = LoadFigures::of(&r.summary);
    say(&format!(
        "sandbox_e2e:   load v1 -> v2 (restart): {}",
        f.line()
    ));
    assert_eq!(run.code(), Some(0), "{}", run.explain());
    assert_versions(sb, "v2");
    assert_records(sb, &toml, &sha, true);
    // Every disable and enable restarts nginx: in-flight requests are cut and new connections
    // refused meanwhile (measured: thousands of failures per rollout, never 0).
    assert!(
        f.failed > 0,
        "apply = restart is expected to fail requests: {}",
        r.summary.to_text()
    );
    Row {
        load: f,
        rollout_s: Some(run.wall.as_secs_f64()),
        exit: exit_of(&run),
        notes: vec!["8 nginx restarts (docker restart) instead of reloads".into()],
    }
}

// --- 4 ----------------------------------------------------------------------------------------

fn kill_and_resume(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let war = sb.war(V2);
    let war_arg = war.to_str().unwrap();
    let sha = sha256sum(&war);
    let first = sb.instances()[0].name.clone();
    let second = sb.instances()[1].name.clone();
    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let trigger = |e: &Ev| e.is("step_started", &second, "start");
    let run1 = rollout(&sb.toml, &["--war", war_arg], Some(&trigger), ROLLOUT_MAX);
    assert!(
        run1.killed,
        "the rollout ended before {second}'s start step: {}",
        run1.explain()
    );
    assert_eq!(
        run1.signal(),
        Some(9),
        "killed by SIGKILL: {}",
        run1.explain()
    );
    // What the crash left: the lock (a dead owner), an unfinished journal, the second
    // instance out of rotation.
    let lock = sb.lb_state_dir().join("lock");
    let journal_path = sb.lb_state_dir().join("journal.ndjson");
    assert!(lock.exists(), "the crashed rollout's lock is left");
    let journal = ihos_core::Journal::parse(&std::fs::read(&journal_path).expect("journal"))
        .expect("journal");
    assert!(!journal.finished, "{journal:?}");
    let out_after_kill = sb.out_of_rotation();
    assert_eq!(
        out_after_kill,
        vec![second.clone()],
        "out of rotation after the kill"
    );
    let mid = load.progress();
    say(&format!(
        "sandbox_e2e:   killed at {second}'s start after {:.1}s; load so far: {} requests, {} failed; out of rotation: {out_after_kill:?}",
        run1.wall.as_secs_f64(),
        mid.requests,
        mid.failed
    ));
    sleep(Duration::from_secs(2));

    let run2 = rollout(&sb.toml, &["--resume", "--war", war_arg], None, ROLLOUT_MAX);
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);
    assert_eq!(run2.code(), Some(0), "{}", run2.explain());
    let started = run2
        .find("rollout_started", "", "")
        .unwrap_or_else(|| panic!("{}", run2.explain()));
    assert_eq!(started.v["resumed"], true, "{}", started.v);
    assert_eq!(
        started.v["rollout_id"],
        run1.find("rollout_started", "", "")
            .expect("rollout_started")
            .v["rollout_id"],
        "the same rollout continues"
    );
    let todo: Vec<&str> = started.v["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        !todo.contains(&first.as_str()) && todo.contains(&second.as_str()),
        "the resume skips {first} (done) and redoes {second}: {todo:?}"
    );
    let f = assert_no_failures("SIGKILL + resume (both runs)", &r);
    assert_versions(sb, "v2");
    assert_records(sb, &sb.toml, &sha, true);
    assert!(!lock.exists(), "lock released");
    let journal = ihos_core::Journal::parse(&std::fs::read(&journal_path).expect("journal"))
        .expect("journal");
    assert!(journal.finished, "{journal:?}");
    Row {
        load: f,
        rollout_s: Some(run1.wall.as_secs_f64() + run2.wall.as_secs_f64()),
        exit: format!("{} then {}", exit_of(&run1), exit_of(&run2)),
        notes: vec![format!(
            "killed -9 at {second}'s start after {:.1}s (lock + journal left, {second} out of rotation), --resume ran {:?} in {:.1}s; all v2, all in rotation, lock free",
            run1.wall.as_secs_f64(),
            todo,
            run2.wall.as_secs_f64()
        )],
    }
}

// --- 5 ----------------------------------------------------------------------------------------

fn drain_until_idle(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    // Longer than taking the instance out of rotation ever takes here (edit, nginx -t,
    // reload, old workers gone; about 1 s, over 2 s on a loaded machine), so some are
    // still in flight when the drain begins.
    const HOLD_MS: u64 = 4000;
    sb.reset();
    let target = sb.instances()[0].name.clone();
    let war = sb.war(V2);
    let normal = Load::start(rt, sb.load_config(LOAD_MAX));
    let mut c = sb.load_config(LOAD_MAX);
    c.concurrency = 16;
    c.mix.slow_fraction = 1.0;
    c.mix.slow_ms = HOLD_MS;
    c.mix.post_fraction = 0.5;
    c.keep_records = true;
    let long = Load::start(rt, c);
    // Long requests in flight on every instance.
    sleep(Duration::from_secs(3));
    let run = rollout(
        &sb.toml,
        &["--war", war.to_str().unwrap(), "--only", &target],
        None,
        ROLLOUT_MAX,
    );
    sleep(Duration::from_millis(500));
    let rn = normal.finish(rt);
    let long_t0 = long.t0;
    let rl = long.finish(rt);
    assert_eq!(run.code(), Some(0), "{}", run.explain());
    let fnorm = assert_no_failures("drain: normal clients", &rn);
    let flong = assert_no_failures("drain: 4-second clients", &rl);

    let drain_start = run
        .find("step_started", &target, "drain")
        .unwrap_or_else(|| panic!("no drain step: {}", run.explain()));
    let drain_end = run
        .find("step_finished", &target, "drain")
        .unwrap_or_else(|| panic!("no drain step: {}", run.explain()));
    let stop = run
        .find("step_started", &target, "stop")
        .unwrap_or_else(|| panic!("no stop step: {}", run.explain()));
    let drain_s = drain_end.v["seconds"].as_f64().expect("drain seconds");
    let first_draining = run.find("draining", &target, "");
    let connections_at_start = first_draining
        .map(|e| e.v["connections"].as_u64().unwrap_or(0))
        .unwrap_or(0);

    // The 4-second requests the old instance served: all ended before its container was
    // told to stop; some were in flight when the drain began.
    let old: Vec<(f64, f64)> = rl
        .records
        .iter()
        .filter(|r| {
            r.class == Class::Slow
                && r.instance.as_deref() == Some(target.as_str())
                && r.version.as_deref() == Some("v1")
        })
        .map(|r| (r.start_ms / 1000.0, (r.start_ms + r.latency_ms) / 1000.0))
        .collect();
    assert!(
        !old.is_empty(),
        "{target} served no 4-second request before its update"
    );
    let at = |i: Instant| i.saturating_duration_since(long_t0).as_secs_f64();
    let (t_drain, t_stop) = (at(drain_start.at), at(stop.at));
    let last_end = old.iter().map(|(_, e)| *e).fold(0.0, f64::max);
    let in_flight: Vec<&(f64, f64)> = old
        .iter()
        .filter(|(s, e)| *s < t_drain && *e > t_drain)
        .collect();
    let posts_in_flight = rl
        .records
        .iter()
        .filter(|r| {
            r.method == Method::Post
                && r.instance.as_deref() == Some(target.as_str())
                && r.start_ms / 1000.0 < t_drain
                && (r.start_ms + r.latency_ms) / 1000.0 > t_drain
        })
        .count();
    let remaining = last_end - t_drain;
    say(&format!(
        "sandbox_e2e:   drain of {target}: {drain_s:.2}s; at its start {} connection(s) counted, {} 4-second request(s) in flight ({posts_in_flight} POST), the last ended {remaining:.2}s later; stop issued {:.2}s after the last ended",
        connections_at_start,
        in_flight.len(),
        t_stop - last_end
    ));
    assert!(
        !in_flight.is_empty(),
        "no 4-second request of {target} was in flight when its drain began: nothing was tested"
    );
    assert!(
        t_stop >= last_end,
        "the stop of {target} began at {t_stop:.3}s, before its last request ended at {last_end:.3}s"
    );
    assert!(
        drain_s + 0.05 >= remaining,
        "the drain ({drain_s:.2}s) ended before the requests in flight ({remaining:.2}s)"
    );
    let max = sb.topology.policy.drain.max.0.as_secs_f64();
    assert!(
        drain_s < max / 3.0,
        "the drain ({drain_s:.1}s) should end long before its maximum ({max}s)"
    );
    Row {
        load: fnorm.add(&flong),
        rollout_s: Some(run.wall.as_secs_f64()),
        exit: exit_of(&run),
        notes: vec![format!(
            "--only {target}: drain {drain_s:.1}s (max {max:.0}s) with {} 4-second request(s) in flight ({connections_at_start} connection(s) counted), last one ended {remaining:.2}s into the drain, stop {:.2}s after it",
            in_flight.len(),
            t_stop - last_end
        )],
    }
}

// --- 6 ----------------------------------------------------------------------------------------

fn nginx_rejects(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let first = sb.instances()[0].name.clone();
    let conf_before = std::fs::read(&sb.nginx_conf).expect("nginx.conf");
    let ino_before = inode(&sb.nginx_conf);
    let mut site = RestoreFile::new(&sb.site_file);
    let mut broken = site.bytes.clone();
    broken.extend_from_slice(b"\n# broken by sandbox_e2e\nihos_e2e_no_such_directive on;\n");
    sandbox::write_in_place(&sb.site_file, &broken);
    let complaint = sb
        .nginx_t()
        .expect_err("nginx -t should reject the hand-broken site file");
    assert!(
        complaint.contains("ihos_e2e_no_such_directive"),
        "{complaint}"
    );

    let war = sb.war(V2);
    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let run = rollout(
        &sb.toml,
        &["--war", war.to_str().unwrap()],
        None,
        ROLLOUT_MAX,
    );
    sleep(Duration::from_secs(1));
    let conf_after = std::fs::read(&sb.nginx_conf).expect("nginx.conf");
    let ino_after = inode(&sb.nginx_conf);
    let r = load.finish(rt);
    site.restore();
    sb.nginx_t()
        .expect("nginx -t after restoring the site file");

    // Exit code 1: "failed, everything consistent" (ihos-cli/src/exit.rs): the preflight's
    // `nginx -t` of the config as it is refused the run before its first change.
    assert_eq!(run.code(), Some(1), "{}", run.explain());
    let error = run.stderr.clone();
    assert!(
        error.contains("preflight: the load balancer")
            && error.contains("nginx -t rejects")
            && error.contains("as it is now (before any change)")
            && error.contains("ihos_e2e_no_such_directive"),
        "the refusal names the preflight, nginx -t and its complaint: {}",
        run.explain()
    );
    assert!(run.touched().is_empty(), "no step ran: {}", run.explain());
    assert!(
        run.wall < Duration::from_secs(30),
        "refused at once: {:.1}s",
        run.wall.as_secs_f64()
    );
    assert!(
        conf_after == conf_before,
        "nginx.conf byte for byte:\n--- before\n{}\n--- after\n{}",
        String::from_utf8_lossy(&conf_before),
        String::from_utf8_lossy(&conf_after)
    );
    assert_eq!(
        ino_after, ino_before,
        "nginx.conf not replaced (same inode)"
    );
    let f = assert_nothing_changed(sb, "nginx rejects", &r);
    Row {
        load: f,
        rollout_s: Some(run.wall.as_secs_f64()),
        exit: exit_of(&run),
        notes: vec![format!(
            "refused by the preflight before {first}'s disable (nginx -t of the current config: {}); nginx.conf bytes and inode unchanged",
            error
                .find("unknown directive")
                .map_or(first_lines(&error, 1), |i| first_lines(&error[i..], 1))
                .chars()
                .take(140)
                .collect::<String>()
        )],
    }
}

// --- 7 ----------------------------------------------------------------------------------------

/// The build's commit, as the runbook notes it ("server-release").
const COMMIT: &str = "c9dc3ef593f2";

/// The cohort of the runbook's example: users whose id starts with 1, 3, 5 or 7.
const COHORT: [char; 4] = ['1', '3', '5', '7'];

/// User ids to route: every one- and two-digit id, and a spread of three- and four-digit ones.
fn sample_users() -> Vec<String> {
    let mut ids: Vec<String> = (1..100).map(|i| i.to_string()).collect();
    ids.extend((100..10_000).step_by(37).map(|i| i.to_string()));
    ids
}

/// Where nginx sends each user's request (by `x-pep-token`, JWT and plain tokens): the
/// (instance, version) that answered, per user and token format.
fn route_users(sb: &Sandbox, users: &[String]) -> Vec<(String, &'static str, String, String)> {
    use ihos_testkit::load::TokenFormat;
    use ihos_testkit::load::token::token;
    let mut out = Vec::new();
    for (n, id) in users.iter().enumerate() {
        for (format, name) in [(TokenFormat::Jwt, "jwt"), (TokenFormat::Plain, "plain")] {
            let t = token(id, n as u64, format);
            let r = http_get_with(&sb.lb.to_string(), "/ihos/whoami", &[("x-pep-token", &t)])
                .unwrap_or_else(|e| panic!("user {id} ({name}): {e}"));
            assert_eq!(r.status, 200, "user {id} ({name}): {}", r.body);
            out.push((
                id.clone(),
                name,
                r.header("x-ihos-instance").unwrap_or("?").to_string(),
                r.header("x-ihos-version").unwrap_or("?").to_string(),
            ));
        }
    }
    out
}

fn canary(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let canary = sb
        .topology
        .canary
        .as_ref()
        .expect("the sandbox has a canary")
        .instance
        .name
        .clone();
    let war = sb.war(V2);
    let sha = sha256sum(&war);
    let users = sample_users();
    let mut notes = Vec::new();

    // A canary deploy with the route closed: the canary gets v2, the route stays closed.
    let closed_site = std::fs::read(&sb.site_file).expect("site file");
    let run = run_events(
        &sb.toml,
        &["canary", "deploy"],
        &["--war", war.to_str().unwrap(), "--commit", COMMIT],
        None,
        ROLLOUT_MAX,
    );
    assert_eq!(run.code(), Some(0), "{}", run.explain());
    assert_eq!(
        run.touched(),
        BTreeSet::from([canary.clone()]),
        "only the canary"
    );
    assert_eq!(
        std::fs::read(&sb.site_file).unwrap(),
        closed_site,
        "a closed route stays closed, byte for byte"
    );
    assert_versions(sb, "v1");
    let routed = route_users(sb, &users);
    let leaked: Vec<_> = routed.iter().filter(|r| r.2 == canary).collect();
    assert!(leaked.is_empty(), "route closed, yet: {leaked:?}");

    // Open it for 1, 3, 5, 7.
    let out = ihos(&sb.toml, &["canary", "open", "--ids", "1,3,5,7"]);
    assert!(out.status.success(), "{}", out_text(&out));
    sb.nginx_t().expect("nginx -t after canary open");
    let routed = route_users(sb, &users);
    let mut to_canary = 0;
    for (id, format, instance, version) in &routed {
        let cohort = id.starts_with(COHORT);
        if cohort {
            to_canary += 1;
            assert_eq!(
                (instance.as_str(), version.as_str()),
                (canary.as_str(), "v2"),
                "user {id} ({format}) is in the cohort"
            );
        } else {
            assert_ne!(
                instance, &canary,
                "user {id} ({format}) is not in the cohort"
            );
            assert_eq!(
                version, "v1",
                "user {id} ({format}) stays on the fleet's release"
            );
        }
    }
    notes.push(format!(
        "open: {to_canary} of {} requests (users 1/3/5/7...) reached the canary on v2, the other {} never",
        routed.len(),
        routed.len() - to_canary
    ));
    let status = ihos(&sb.toml, &["canary", "status", "--json"]);
    assert!(status.status.success(), "{}", out_text(&status));
    let st: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(st["rule"]["open"], true, "{st}");
    assert_eq!(
        st["cohort"],
        serde_json::json!(["1", "3", "5", "7"]),
        "{st}"
    );
    assert_eq!(st["canary"]["deployed"]["sha256"], sha.as_str(), "{st}");

    // A canary deploy under the cohort's load: the route is closed for it (the cohort goes
    // to the fleet), reopened as it was, and no request fails.
    let open_site = std::fs::read(&sb.site_file).unwrap();
    let mut config = sb.load_config(LOAD_MAX);
    config.users = (0..16).map(|i| format!("{}{i}", COHORT[i % 4])).collect();
    let load = Load::start(rt, config);
    sleep(Duration::from_secs(1));
    let run = run_events(
        &sb.toml,
        &["canary", "deploy"],
        &["--war", war.to_str().unwrap(), "--commit", COMMIT],
        None,
        ROLLOUT_MAX,
    );
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);
    assert_eq!(run.code(), Some(0), "{}", run.explain());
    let f = assert_no_failures("canary deploy, route open", &r);
    assert_eq!(
        std::fs::read(&sb.site_file).unwrap(),
        open_site,
        "reopened exactly as it was"
    );
    let rollout_s = run.wall.as_secs_f64();

    // Close it: nobody reaches the canary.
    let out = ihos(&sb.toml, &["canary", "close"]);
    assert!(out.status.success(), "{}", out_text(&out));
    let routed = route_users(sb, &users);
    let leaked: Vec<_> = routed.iter().filter(|r| r.2 == canary).collect();
    assert!(leaked.is_empty(), "after close: {leaked:?}");
    notes.push(format!(
        "closed: 0 of {} requests reached the canary",
        routed.len()
    ));

    // Promote: the fleet gets the canary's exact WAR.
    let run = rollout(&sb.toml, &["--from-canary"], None, ROLLOUT_MAX);
    assert_eq!(run.code(), Some(0), "{}", run.explain());
    assert_eq!(
        run.find("rollout_started", "", "")
            .map(|e| e.v["sha256"].clone()),
        Some(serde_json::Value::String(sha.clone())),
        "the canary's sha256"
    );
    assert_versions(sb, "v2");
    assert_records(sb, &sb.toml, &sha, false);
    // ... with the commit the canary's record carries, in every record and in the history.
    let status = sb.status(&sb.toml);
    for i in sb.instances() {
        assert_eq!(
            status[&i.name]["deployed"]["commit"], COMMIT,
            "{}: {}",
            i.name, status[&i.name]
        );
    }
    let promoted = sb
        .history(&sb.toml)
        .iter()
        .filter(|r| r["commit"] == COMMIT && r["action"] == "deploy")
        .count();
    assert_eq!(
        promoted,
        2 + sb.instances().len(),
        "2 canary deploys + the fleet's"
    );
    notes.push(format!(
        "--from-canary: fleet on sha {}, server-release {COMMIT} in every record",
        &sha[..12]
    ));
    Row {
        load: f,
        rollout_s: Some(rollout_s),
        exit: exit_of(&run),
        notes,
    }
}

/// The container replaced today's app log of the first instance with a link to
/// `/dev/zero` (it can: the logs directory is its own). ihos, which reads that log as root
/// after the start, refuses in the preflight, at once and before any change: no hang, no
/// instance out of rotation, the link's target untouched.
fn planted_link(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let first = &sb.instances()[0];
    let date = String::from_utf8(
        std::process::Command::new("date")
            .arg("+%Y-%m-%d")
            .output()
            .expect("date")
            .stdout,
    )
    .expect("utf-8 date");
    let name = first
        .log_pattern
        .replace("%Y", &date.trim()[..4])
        .replace("%m", &date.trim()[5..7])
        .replace("%d", &date.trim()[8..10]);
    let log = Path::new(&first.logs).join(&name);
    let kept = Path::new(&first.logs).join(format!(".{name}.e2e-kept"));
    let had_log = std::fs::rename(&log, &kept).is_ok();
    std::os::unix::fs::symlink("/dev/zero", &log).expect("plant the link");
    /// Puts the container's log back, whatever happens to the scenario.
    struct Unplant<'a>(&'a Path, &'a Path, bool);
    impl Drop for Unplant<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
            if self.2 {
                let _ = std::fs::rename(self.1, self.0);
            }
        }
    }
    let unplant = Unplant(&log, &kept, had_log);

    let war = sb.war(V2);
    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let run = rollout(
        &sb.toml,
        &["--war", war.to_str().unwrap()],
        None,
        Duration::from_secs(60),
    );
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);
    let still_link = std::fs::symlink_metadata(&log).is_ok_and(|m| m.is_symlink());
    drop(unplant);

    assert_eq!(run.code(), Some(1), "{}", run.explain());
    assert!(
        run.stderr.contains("preflight") && run.stderr.contains("symbolic link"),
        "the refusal names the preflight and the link: {}",
        run.explain()
    );
    assert!(
        run.stderr.contains(&name),
        "the refusal names the log: {}",
        run.explain()
    );
    assert!(run.touched().is_empty(), "no step ran: {}", run.explain());
    assert!(
        run.wall < Duration::from_secs(30),
        "refused at once, not hung: {:.1}s",
        run.wall.as_secs_f64()
    );
    assert!(still_link, "ihos left the container's link alone");
    let f = assert_nothing_changed(sb, "planted link", &r);
    let war_link = faults::planted_war_link(sb);
    Row {
        load: f,
        rollout_s: Some(run.wall.as_secs_f64()),
        exit: format!("{} / 1", exit_of(&run)),
        notes: vec![
            format!(
                "{}'s {name} -> /dev/zero: refused by the preflight in {:.1}s, before any change",
                first.name,
                run.wall.as_secs_f64()
            ),
            war_link,
        ],
    }
}

/// A second operator starts `ihos rollout` while one runs: it is refused (the lock is
/// held, exit 1) and changes nothing; the first finishes with 0 failed requests.
fn second_rollout(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let war = sb.war(V2);
    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let toml = sb.toml.clone();
    let war_arg = war.to_str().unwrap().to_string();
    let first = std::thread::spawn(move || rollout(&toml, &["--war", &war_arg], None, ROLLOUT_MAX));
    // Wait until the first holds the lock, then try a second one.
    let lock = sb.lb_state_dir().join("lock");
    let waited = std::time::Instant::now();
    while !lock.exists() && waited.elapsed() < Duration::from_secs(60) {
        sleep(Duration::from_millis(100));
    }
    let second = rollout(
        &sb.toml,
        &["--war", war.to_str().unwrap()],
        None,
        Duration::from_secs(60),
    );
    // And a `--resume` of the running one, as if it had crashed, once its journal is
    // written: its holder runs.
    let journal = sb.lb_state_dir().join("journal.ndjson");
    while !journal.exists() && waited.elapsed() < Duration::from_secs(60) {
        sleep(Duration::from_millis(100));
    }
    let resume = rollout(
        &sb.toml,
        &["--resume", "--war", war.to_str().unwrap()],
        None,
        Duration::from_secs(60),
    );
    let first = first.join().expect("first rollout thread");
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);

    assert_eq!(second.code(), Some(1), "{}", second.explain());
    assert!(
        second.stderr.contains("holds the lock"),
        "the second names the lock: {}",
        second.explain()
    );
    assert!(second.touched().is_empty(), "{}", second.explain());
    assert_eq!(resume.code(), Some(1), "{}", resume.explain());
    assert!(
        resume.stderr.contains("holds the lock") && resume.touched().is_empty(),
        "the resume of a running rollout is refused, touching nothing: {}",
        resume.explain()
    );
    assert_eq!(first.code(), Some(0), "{}", first.explain());
    let f = assert_no_failures("second rollout", &r);
    assert_versions(sb, "v2");
    let status = sb.status(&sb.toml);
    assert_all_in_rotation(sb, &status);
    assert!(!lock.exists(), "lock released");
    Row {
        load: f,
        rollout_s: Some(first.wall.as_secs_f64()),
        exit: format!(
            "{} / {} / {}",
            exit_of(&first),
            exit_of(&second),
            exit_of(&resume)
        ),
        notes: vec![format!(
            "a second rollout {:.1}s into the first: refused (lock held) in {:.1}s; a --resume of the running one: refused in {:.1}s; the first finished",
            second.started.duration_since(first.started).as_secs_f64(),
            second.wall.as_secs_f64(),
            resume.wall.as_secs_f64()
        )],
    }
}

/// The last host presents a key other than the one in known_hosts (a reinstalled host, or
/// someone in between): the run stops before the first instance leaves rotation, naming
/// that host, instead of after updating the first three.
fn changed_host_key(sb: &Sandbox, rt: &tokio::runtime::Runtime, tmp: &Path) -> Row {
    sb.reset();
    let text = std::fs::read_to_string(&sb.toml).expect("read ihos.toml");
    let known_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("known_hosts = "))
        .expect("a known_hosts line");
    let known = known_line
        .split('"')
        .nth(1)
        .expect("known_hosts path")
        .to_string();
    // Another ed25519 key, as a reinstalled host would present.
    let other = tmp.join("other_host_key");
    let _ = std::fs::remove_file(&other);
    let _ = std::fs::remove_file(other.with_extension("pub"));
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("public key");
    let mut fields = other_pub.split_whitespace();
    let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
    let last_host = sb.instances().last().expect("instances").host.clone();
    let last_address = text
        .split(&format!("[hosts.{last_host}]"))
        .nth(1)
        .and_then(|s| s.lines().find(|l| l.trim_start().starts_with("address = ")))
        .and_then(|l| l.split('"').nth(1))
        .expect("the last host's address")
        .to_string();
    let changed: String = std::fs::read_to_string(&known)
        .expect("known_hosts")
        .lines()
        .map(|l| {
            if l.starts_with(&format!("[{last_address}]:")) {
                let host = l.split_whitespace().next().unwrap_or_default();
                format!("{host} {kind} {key}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let changed_known = tmp.join("known_hosts.changed");
    std::fs::write(&changed_known, changed).expect("write known_hosts copy");
    let toml = tmp.join("ihos-changed-key.toml");
    std::fs::write(
        &toml,
        text.replace(
            known_line,
            &format!("known_hosts = \"{}\"", changed_known.display()),
        ),
    )
    .expect("write topology copy");

    let war = sb.war(V2);
    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let run = rollout(
        &toml,
        &["--war", war.to_str().unwrap()],
        None,
        Duration::from_secs(120),
    );
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);

    assert_eq!(run.code(), Some(1), "{}", run.explain());
    assert!(
        run.stderr.contains("host key")
            && (run.stderr.contains(&last_address) || run.stderr.contains(&last_host)),
        "the refusal names the host key and the host: {}",
        run.explain()
    );
    assert!(run.touched().is_empty(), "no step ran: {}", run.explain());
    let f = assert_nothing_changed(sb, "changed host key", &r);
    Row {
        load: f,
        rollout_s: Some(run.wall.as_secs_f64()),
        exit: exit_of(&run),
        notes: vec![format!(
            "{last_host} ({last_address}) presents another key: refused in {:.1}s, before the first instance",
            run.wall.as_secs_f64()
        )],
    }
}
