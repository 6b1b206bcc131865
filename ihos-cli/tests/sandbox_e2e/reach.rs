//! Scenarios 13 and 14 (issue 13 §6): the fleet reached the hard way, with the sandbox's
//! `ihos-reach.toml`: h101 logs in by password (user `deploypass`), h103 is reached only
//! through the bastion (its sshd refuses root's direct connections while the scenario
//! runs: an iptables rule by uid, `ihos_testkit::DirectRefused`), and two nginx load
//! balancers with the same upstream take every instance out and back together.

use std::cell::Cell;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use ihos_testkit::DirectRefused;

use super::{LOAD_MAX, ROLLOUT_MAX, Row, V2, assert_no_failures, assert_versions, exit_of};
use crate::sandbox::{Ev, Load, Sandbox, docker, http_get_with, ihos, out_text, rollout};

/// The sshd port of the sandbox's hosts.
fn ssh_port(sb: &Sandbox, host: &str) -> u16 {
    sb.reach.topology.hosts[host].port
}

fn address(sb: &Sandbox, host: &str) -> String {
    sb.reach.topology.hosts[host].address.clone()
}

/// Lines of an sshd's log (by its address) that contain `needle`.
fn sshd_log_count(sb: &Sandbox, addr: &str, needle: &str) -> usize {
    let log = sb.reach.ssh_dir.join(format!("sshd.{addr}.log"));
    std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()))
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// h103 refuses root's direct SSH connections, and that is checked with OpenSSH's own
/// client: a scenario that passes went through the bastion.
fn only_through_bastion(sb: &Sandbox) -> DirectRefused {
    let addr = address(sb, "h103");
    let rule = DirectRefused::new(&addr, ssh_port(sb, "h103")).expect("the test's iptables rule");
    let direct = Command::new("ssh")
        .arg("-F")
        .arg(sb.reach.ssh_dir.join("ssh_config"))
        .args(["-o", "ConnectTimeout=5", &addr, "true"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh");
    assert!(
        !direct.status.success(),
        "h103 must refuse direct connections: {}",
        out_text(&direct)
    );
    rule
}

/// `ihos hosts check` over the reach topology: every host ready, h103 through the bastion.
fn hosts_check(sb: &Sandbox) -> String {
    let out = ihos(&sb.reach.toml, &["hosts", "check", "--json"]);
    assert!(out.status.success(), "ihos hosts check: {}", out_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let h103: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["host"] == "h103")
        .unwrap_or_else(|| panic!("no h103 in hosts check --json: {stdout}"));
    assert_eq!(h103["through"], serde_json::json!(["bastion"]), "{h103}");
    format!("hosts check: h103 through {}", h103["through"])
}

/// The canary's cohort route on both load balancers: `canary open --ids 1,3,5,7` sends a
/// cohort user to the canary through either load balancer and anyone else never;
/// `canary close` sends everyone to the fleet through both.
fn canary_on_both(sb: &Sandbox) -> String {
    use ihos_testkit::load::TokenFormat;
    use ihos_testkit::load::token::token;
    let canary = sb
        .reach
        .topology
        .canary
        .as_ref()
        .expect("ihos-reach.toml has the canary")
        .instance
        .name
        .clone();
    let served = |lb: std::net::SocketAddr, id: &str| {
        let t = token(id, 1, TokenFormat::Jwt);
        let r = http_get_with(&lb.to_string(), "/ihos/whoami", &[("x-pep-token", &t)])
            .unwrap_or_else(|e| panic!("user {id} through {lb}: {e}"));
        assert_eq!(r.status, 200, "user {id} through {lb}: {}", r.body);
        r.header("x-ihos-instance").unwrap_or("?").to_string()
    };
    let users = [("7", true), ("305", true), ("42", false), ("8001", false)];
    let out = ihos(&sb.reach.toml, &["canary", "open", "--ids", "1,3,5,7"]);
    assert!(out.status.success(), "canary open: {}", out_text(&out));
    for lb in [sb.lb, sb.reach.lb2] {
        for (id, cohort) in users {
            let by = served(lb, id);
            assert_eq!(
                by == canary,
                cohort,
                "user {id} through {lb}: served by {by}"
            );
        }
    }
    let out = ihos(&sb.reach.toml, &["canary", "close"]);
    assert!(out.status.success(), "canary close: {}", out_text(&out));
    for lb in [sb.lb, sb.reach.lb2] {
        for (id, _) in users {
            let by = served(lb, id);
            assert_ne!(by, canary, "user {id} through {lb} after close");
        }
    }
    format!(
        "canary route opened and closed on both LBs (users 7/305 -> {canary} through each, 42/8001 never)"
    )
}

/// Both load balancers' configs: every fleet instance in rotation.
fn assert_all_in_on_both(sb: &Sandbox) {
    for conf in [&sb.nginx_conf, &sb.reach.nginx2_conf] {
        let out = sb.out_of_rotation_in(conf);
        assert!(
            out.is_empty(),
            "out of rotation in {}: {out:?}",
            conf.display()
        );
    }
}

// --- 13 ---------------------------------------------------------------------------------------

/// v1 -> v2 on all four, h101 by password and h103 through the bastion, under load through
/// both load balancers: exit 0, 0 failed requests on either, v2 everywhere, every instance
/// back in rotation on both.
pub(super) fn reach_rollout(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let _rule = only_through_bastion(sb);
    let check = hosts_check(sb);
    let canary = canary_on_both(sb);
    let h101 = address(sb, "h101");
    let passwords_before = sshd_log_count(sb, &h101, "Accepted password for deploypass");
    let tunnels_before = sshd_log_count(sb, &sb.reach.bastion, "Accepted publickey for deploy");

    let war = sb.war(V2);
    let load1 = Load::start(rt, sb.load_config_via(sb.lb, 8, LOAD_MAX));
    let load2 = Load::start(rt, sb.load_config_via(sb.reach.lb2, 8, LOAD_MAX));
    sleep(Duration::from_secs(1));
    let run = rollout(
        &sb.reach.toml,
        &["--war", war.to_str().unwrap()],
        None,
        ROLLOUT_MAX,
    );
    sleep(Duration::from_secs(1));
    let r1 = load1.finish(rt);
    let r2 = load2.finish(rt);
    assert_eq!(run.code(), Some(0), "{}", run.explain());
    let f1 = assert_no_failures("through LB 1 (h101)", &r1);
    let f2 = assert_no_failures("through LB 2 (h103)", &r2);
    for (what, f) in [("LB 1", &f1), ("LB 2", &f2)] {
        assert!(
            f.versions.contains_key("v1") && f.versions.contains_key("v2"),
            "the load through {what} saw the switch: {:?}",
            f.versions
        );
    }
    assert_versions(sb, "v2");
    assert_all_in_on_both(sb);
    let passwords =
        sshd_log_count(sb, &h101, "Accepted password for deploypass") - passwords_before;
    let bastion_logins =
        sshd_log_count(sb, &sb.reach.bastion, "Accepted publickey for deploy") - tunnels_before;
    assert!(passwords >= 1, "h101's sshd accepted deploypass's password");
    // One session to the bastion carries every connection to h103 (ihos opens more than
    // one session to a host: commands, uploads, the log watch).
    assert_eq!(
        bastion_logins, 1,
        "one login on the bastion for the whole rollout"
    );
    let reloads = run
        .all("step_finished")
        .iter()
        .filter(|e| matches!(e.step(), "disable" | "enable"))
        .count();
    Row {
        load: f1.add(&f2),
        rollout_s: Some(run.wall.as_secs_f64()),
        exit: exit_of(&run),
        notes: vec![
            check,
            canary,
            format!(
                "h103 refused root's direct ssh; {passwords} password login(s) on h101, {bastion_logins} login on the bastion"
            ),
            format!(
                "both LBs: {} / {} requests, 0 failed GETs; {reloads} instance moves (out and back)",
                f1.requests, f2.requests
            ),
        ],
    }
}

// --- 14 ---------------------------------------------------------------------------------------

/// The second load balancer's nginx container is stopped while the first instance (on
/// h103, through the bastion) starts its new release. Putting it back cannot reach that
/// load balancer, so the first one gets its previous config back (all or none): the
/// instance stays out of rotation on both, the run stops with exit 3 naming it, keeps the
/// lock and touches no further instance; the load through the first load balancer sees no
/// failure. With nginx back, `--resume` finishes.
pub(super) fn lb_fails_midway(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let names: Vec<String> = sb
        .instances()
        .iter()
        .filter(|i| i.host == "h103")
        .map(|i| i.name.clone())
        .collect();
    let (first, second) = (names[0].clone(), names[1].clone());
    let war = sb.war(V2);
    let war_arg = war.to_str().unwrap();
    let args = ["--war", war_arg, "--only", &first, &second];
    let nginx2 = sb.reach.nginx2_container.clone();
    let stopped = Cell::new(false);
    let trigger = |e: &Ev| {
        if !stopped.get() && e.is("step_started", &first, "start") {
            docker(&["stop", "-t", "2", &nginx2]).expect("docker stop nginx 2");
            stopped.set(true);
        }
        false
    };
    /// Starts the second nginx again whatever happens.
    struct StartAgain<'a>(&'a str);
    impl Drop for StartAgain<'_> {
        fn drop(&mut self) {
            let _ = docker(&["start", self.0]);
        }
    }
    let start_again = StartAgain(&nginx2);
    let load = Load::start(rt, sb.load_config_via(sb.lb, 12, LOAD_MAX));
    let run1 = rollout(&sb.reach.toml, &args, Some(&trigger), ROLLOUT_MAX);
    assert!(
        stopped.get(),
        "never reached {first}'s start: {}",
        run1.explain()
    );
    assert_eq!(run1.code(), Some(3), "{}", run1.explain());
    assert!(
        run1.stderr.contains(&first)
            && run1
                .stderr
                .contains("left out of rotation with the new release running"),
        "exit 3 names the instance left out of rotation: {}",
        run1.explain()
    );
    assert!(
        run1.find("step_started", &second, "stop").is_none()
            && run1.find("step_started", &second, "disable").is_none(),
        "no further instance was touched: {}",
        run1.explain()
    );
    // All or none: the first load balancer, which took the change, was put back; both say
    // the same.
    let out1 = sb.out_of_rotation_in(&sb.nginx_conf);
    let out2 = sb.out_of_rotation_in(&sb.reach.nginx2_conf);
    assert_eq!(out1, vec![first.clone()], "LB 1 restored: only {first} out");
    assert_eq!(out1, out2, "both load balancers agree");
    let lock = sb.lb_state_dir().join("lock");
    assert!(lock.exists(), "exit 3 keeps the lock");
    let lb1_ok = sb.through(sb.lb, 20);
    assert!(
        lb1_ok
            .keys()
            .all(|(inst, _)| inst != "error" && *inst != first),
        "LB 1 serves, never from {first}: {lb1_ok:?}"
    );

    drop(start_again);
    let waited = Instant::now();
    while crate::sandbox::http_get(&sb.reach.lb2.to_string(), "/ihos/version").is_err()
        && waited.elapsed() < Duration::from_secs(20)
    {
        sleep(Duration::from_millis(200));
    }
    let run2 = rollout(
        &sb.reach.toml,
        &[&["--resume"][..], &args[..]].concat(),
        None,
        ROLLOUT_MAX,
    );
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);
    assert_eq!(run2.code(), Some(0), "{}", run2.explain());
    let f = assert_no_failures("through LB 1 over both runs", &r);
    for (name, v) in sb.versions() {
        let want = if name == first || name == second {
            "v2"
        } else {
            "v1"
        };
        assert_eq!(v, want, "{name}");
    }
    assert_all_in_on_both(sb);
    assert!(!lock.exists(), "lock released");
    let line = run1
        .stderr
        .lines()
        .find(|l| l.contains(&first) && l.contains("NOT RESTORED"))
        .unwrap_or_default()
        .trim()
        .to_string();
    Row {
        load: f,
        rollout_s: Some(run1.wall.as_secs_f64() + run2.wall.as_secs_f64()),
        exit: format!("{} then {}", exit_of(&run1), exit_of(&run2)),
        notes: vec![
            format!(
                "LB 2 stopped at {first}'s start: exit 3 after {:.1}s, LB 1 restored ({first} out on both), {second} untouched: {line}",
                run1.wall.as_secs_f64()
            ),
            format!(
                "LB 2 back, --resume finished in {:.1}s",
                run2.wall.as_secs_f64()
            ),
        ],
    }
}
