//! Scenarios 11 and 12: a host's sshd killed with its sessions in the middle of a drain, and
//! the load balancer's container stopped in the middle of a rollout. Each is bounded to the
//! instances it needs (`--only`), so that the sandbox run stays short.

use std::cell::Cell;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::{LOAD_MAX, Row, V2, assert_no_failures, exit_of};
use crate::sandbox::{Ev, Load, Sandbox, docker, rollout, say, sha256sum};

/// Longest one bounded run of these scenarios may take.
const RUN_MAX: Duration = Duration::from_secs(150);

/// The fleet instances on `host`, in topology order.
fn on_host(sb: &Sandbox, host: &str) -> Vec<String> {
    sb.instances()
        .iter()
        .filter(|i| i.host == host)
        .map(|i| i.name.clone())
        .collect()
}

/// SIGKILLs the sshd serving `addr` and every sshd process under it (the sessions ihos
/// holds): the host is gone for ihos as after a crash of its SSH service.
fn kill_sshd(sb: &Sandbox, addr: &str) -> usize {
    let pid_file = sb.root.join("ssh").join(format!("sshd.{addr}.harness-pid"));
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()))
        .trim()
        .parse()
        .expect("sshd pid");
    let sshds: Vec<String> = ihos_testkit::procs::sshd_tree(pid)
        .iter()
        .map(u32::to_string)
        .collect();
    assert!(!sshds.is_empty(), "no sshd under pid {pid}");
    let st = Command::new("kill")
        .arg("-KILL")
        .args(&sshds)
        .status()
        .expect("kill");
    assert!(st.success(), "kill -KILL {sshds:?}");
    sshds.len()
}

/// `scripts/sandbox up`: starts the sshds that are down (keeps host keys, containers, state).
fn sandbox_up(sb: &Sandbox) {
    let out = Command::new(&sb.script)
        .arg("up")
        .output()
        .expect("scripts/sandbox up");
    assert!(
        out.status.success(),
        "scripts/sandbox up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- 11 ---------------------------------------------------------------------------------------

/// h103's sshd and all its sessions are killed while ihos drains an instance there: the run
/// stops with that instance consistent (not stopped, back in rotation or said to be out),
/// naming it and its host; once sshd is back, `--resume` finishes; no request fails.
pub(super) fn sshd_killed_mid_drain(sb: &Sandbox, rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let names = on_host(sb, "h103");
    let victim = names[0].clone();
    let addr = sb.topology.hosts["h103"].address.clone();
    let war = sb.war(V2);
    let war_arg = war.to_str().unwrap();
    let sha = sha256sum(&war);
    let only: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut args = vec!["--war", war_arg, "--only"];
    args.extend(&only);

    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let killed_at: Cell<Option<(Instant, usize)>> = Cell::new(None);
    let trigger = |e: &Ev| {
        if killed_at.get().is_none() && e.is("step_started", &victim, "drain") {
            killed_at.set(Some((Instant::now(), kill_sshd(sb, &addr))));
        }
        false
    };
    let run1 = rollout(&sb.toml, &args, Some(&trigger), RUN_MAX);
    let (killed, procs) = killed_at
        .get()
        .unwrap_or_else(|| panic!("never drained {victim}: {}", run1.explain()));
    let out_after = sb.out_of_rotation();
    // The instance was never stopped: it still answers, with v1.
    let versions = sb.versions();
    let victim_version = versions
        .iter()
        .find(|(n, _)| *n == victim)
        .map(|(_, v)| v.clone());
    say(&format!(
        "sandbox_e2e:   killed {procs} sshd processes of {addr} at {victim}'s drain; run ended {:.1}s later with {}; out of rotation: {out_after:?}",
        run1.wall.as_secs_f64() - killed.duration_since(run1.started).as_secs_f64(),
        exit_of(&run1)
    ));
    assert!(
        matches!(run1.code(), Some(1 | 3)),
        "a failure exit: {}",
        run1.explain()
    );
    assert!(
        run1.stderr.contains(&victim) && run1.stderr.contains(&addr),
        "the message names the instance and its host: {}",
        run1.explain()
    );
    assert!(
        run1.find("step_started", &victim, "stop").is_none(),
        "{victim} was not stopped with its host unreachable: {}",
        run1.explain()
    );
    assert_eq!(
        victim_version.as_deref(),
        Some("v1"),
        "{victim} still serves v1"
    );
    if run1.code() == Some(1) {
        assert!(
            out_after.is_empty(),
            "exit 1 means everything is back in rotation: {out_after:?}"
        );
    } else {
        assert!(
            run1.stderr
                .contains("left out of rotation, its container not stopped"),
            "exit 3 says where {victim} is: {}",
            run1.explain()
        );
    }

    sandbox_up(sb);
    let run2 = rollout(
        &sb.toml,
        &[&["--resume"][..], &args[..]].concat(),
        None,
        RUN_MAX,
    );
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);
    assert_eq!(run2.code(), Some(0), "{}", run2.explain());
    let f = assert_no_failures("sshd killed mid-drain + resume", &r);
    for (name, v) in sb.versions() {
        let want = if names.contains(&name) { "v2" } else { "v1" };
        assert_eq!(v, want, "{name}");
    }
    assert!(sb.out_of_rotation().is_empty(), "all back in rotation");
    assert!(!sb.lb_state_dir().join("lock").exists(), "lock released");
    // ihos status: the two updated run `sha` (recorded), the others still have no record.
    let status = sb.status(&sb.toml);
    let recorded = sb
        .instances()
        .iter()
        .filter(|i| status[&i.name]["deployed"]["sha256"] == sha.as_str())
        .map(|i| i.name.clone())
        .collect::<Vec<_>>();
    assert_eq!(recorded, names, "records of {sha}: {status:?}");
    Row {
        load: f,
        rollout_s: Some(run1.wall.as_secs_f64() + run2.wall.as_secs_f64()),
        exit: format!("{} then {}", exit_of(&run1), exit_of(&run2)),
        notes: vec![format!(
            "{addr}'s sshd + {} sessions killed -9 at {victim}'s drain: stopped in {:.1}s ({victim} not stopped, v1, {}); sshd back, --resume updated and recorded {recorded:?} in {:.1}s",
            procs - 1,
            run1.wall.as_secs_f64() - killed.duration_since(run1.started).as_secs_f64(),
            if out_after.is_empty() {
                "back in rotation".to_string()
            } else {
                format!("out of rotation: {out_after:?}")
            },
            run2.wall.as_secs_f64()
        )],
    }
}

// --- 12 ---------------------------------------------------------------------------------------

/// The load balancer's container is stopped while the first instance starts its new
/// release: it cannot go back into rotation, so the run stops with exit 3 saying so, keeps
/// the lock and stops no further instance. With nginx back, `--resume` finishes.
pub(super) fn lb_stopped_mid_rollout(sb: &Sandbox, _rt: &tokio::runtime::Runtime) -> Row {
    sb.reset();
    let names = on_host(sb, "h101");
    let (first, second) = (names[0].clone(), names[1].clone());
    let war = sb.war(V2);
    let war_arg = war.to_str().unwrap();
    let args = ["--war", war_arg, "--only", &first, &second];
    let stopped = Cell::new(false);
    let trigger = |e: &Ev| {
        if !stopped.get() && e.is("step_started", &first, "start") {
            docker(&["stop", "-t", "2", &sb.nginx_container]).expect("docker stop nginx");
            stopped.set(true);
        }
        false
    };
    /// Starts nginx again whatever happens.
    struct StartAgain<'a>(&'a str);
    impl Drop for StartAgain<'_> {
        fn drop(&mut self) {
            let _ = docker(&["start", self.0]);
        }
    }
    let start_again = StartAgain(&sb.nginx_container);
    let run1 = rollout(&sb.toml, &args, Some(&trigger), RUN_MAX);
    assert!(
        stopped.get(),
        "never reached {first}'s start: {}",
        run1.explain()
    );
    // No load here: with its LB stopped, every request fails by definition.
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
    let lock = sb.lb_state_dir().join("lock");
    assert!(lock.exists(), "exit 3 keeps the lock");
    let status_line = run1
        .stderr
        .lines()
        .find(|l| l.contains(&first) && l.contains("NOT RESTORED"))
        .unwrap_or_default()
        .to_string();

    drop(start_again);
    let waited = Instant::now();
    while crate::sandbox::http_get(&sb.lb.to_string(), "/ihos/version").is_err()
        && waited.elapsed() < Duration::from_secs(20)
    {
        sleep(Duration::from_millis(200));
    }
    let run2 = rollout(
        &sb.toml,
        &[&["--resume"][..], &args[..]].concat(),
        None,
        RUN_MAX,
    );
    assert_eq!(run2.code(), Some(0), "{}", run2.explain());
    for (name, v) in sb.versions() {
        let want = if name == first || name == second {
            "v2"
        } else {
            "v1"
        };
        assert_eq!(v, want, "{name}");
    }
    assert!(sb.out_of_rotation().is_empty(), "all back in rotation");
    assert!(!lock.exists(), "lock released");
    assert_versions_through_lb(sb);
    Row {
        load: Default::default(),
        rollout_s: Some(run1.wall.as_secs_f64() + run2.wall.as_secs_f64()),
        exit: format!("{} then {}", exit_of(&run1), exit_of(&run2)),
        notes: vec![
            format!(
                "nginx stopped at {first}'s start: exit 3 after {:.1}s, lock kept, {second} untouched: {}",
                run1.wall.as_secs_f64(),
                status_line.trim()
            ),
            format!(
                "nginx started again, --resume finished in {:.1}s",
                run2.wall.as_secs_f64()
            ),
        ],
    }
}

/// The LB answers again and routes to every fleet instance.
fn assert_versions_through_lb(sb: &Sandbox) {
    let seen = sb.through_lb(40);
    for i in sb.instances() {
        assert!(
            seen.keys().any(|(name, _)| *name == i.name),
            "{} gets no request through the LB: {seen:?}",
            i.name
        );
    }
}

// --- 8, second part -----------------------------------------------------------------------

/// The container (which can write its bind-mounted webapps) replaced `ihos.war` with a link
/// to a host file: root's copy of the WAR as the previous release would read that file, a
/// later rollback would put it into webapps. The preflight refuses before any change and
/// the file is untouched. The instance's container is stopped first: a running Tomcat
/// (autoDeploy) would redeploy from the link; no load runs meanwhile.
pub(super) fn planted_war_link(sb: &Sandbox) -> String {
    let inst = sb.instances().last().expect("an instance").clone();
    docker(&["stop", "-t", "5", &inst.container]).expect("docker stop");
    let war = Path::new(&inst.webapps).join(&inst.war_name);
    let kept = Path::new(&inst.webapps).join(".ihos-e2e-kept.war");
    let secret = sb.root.join("e2e-host-file");
    let secret_bytes = b"a host file the container must not reach\n";
    std::fs::write(&secret, secret_bytes).expect("host file");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let secret_mtime = std::fs::metadata(&secret).and_then(|m| m.modified()).ok();
    std::fs::rename(&war, &kept).expect("keep the WAR");
    std::os::unix::fs::symlink(&secret, &war).expect("plant the link");
    /// Puts the WAR and the container back, whatever happens.
    struct Unplant<'a>(&'a Path, &'a Path, &'a Path, &'a str);
    impl Drop for Unplant<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
            let _ = std::fs::rename(self.1, self.0);
            let _ = std::fs::remove_file(self.2);
            let _ = docker(&["start", self.3]);
        }
    }
    let _unplant = Unplant(&war, &kept, &secret, &inst.container);

    let v2 = sb.war(V2);
    let run = rollout(
        &sb.toml,
        &["--war", v2.to_str().unwrap(), "--only", &inst.name],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), Some(1), "{}", run.explain());
    assert!(
        run.stderr.contains("preflight")
            && run.stderr.contains("symbolic link")
            && run.stderr.contains(&war.display().to_string()),
        "the refusal names the preflight and the link: {}",
        run.explain()
    );
    assert!(run.touched().is_empty(), "no step ran: {}", run.explain());
    assert!(
        run.wall < Duration::from_secs(30),
        "refused at once: {:.1}s",
        run.wall.as_secs_f64()
    );
    assert_eq!(
        std::fs::read(&secret).expect("host file"),
        secret_bytes,
        "the link's target is unchanged"
    );
    assert_eq!(
        std::fs::metadata(&secret).and_then(|m| m.modified()).ok(),
        secret_mtime,
        "the link's target was not written"
    );
    assert!(
        std::fs::symlink_metadata(&war).is_ok_and(|m| m.is_symlink()),
        "ihos left the container's link alone"
    );
    assert!(!sb.lb_state_dir().join("lock").exists(), "lock released");
    assert!(
        sb.out_of_rotation().is_empty(),
        "nothing taken out of rotation"
    );
    format!(
        "{}'s {} -> a root-only host file: refused by the preflight in {:.1}s, the file unchanged",
        inst.name,
        inst.war_name,
        run.wall.as_secs_f64()
    )
}
