//! nginx's master reached from the load balancer's host, where docker took 80-300 ms of
//! every transition: `nginx -t` in its namespaces (`nsenter`), used only for a master
//! known to be the container's main process and running as root, its "accepted" only
//! while the listing made beside it still has that master, anything else asked of the
//! container, whose answer is the verdict; and the reload's SIGHUP, sent only to a pid
//! the same command finds to be nginx's master, else through docker.

mod rollout_support;

use ihos_core::{Command, Outcome, Output, Privilege, Step, Transport};
use ihos_testkit::{ContainerSpec, Fault, Matcher, NginxSpec, ViolationKind};
use rollout_support::{Env, NAMES, Recorder, is_step_started};

/// How an `nginx -t` on the load balancer's host was run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    InContainer,
    /// From the host, in the namespaces of this pid.
    FromHost(u32),
}

fn test_of(c: &Command) -> Option<Test> {
    let argv = c.argv();
    let is_test = argv.contains(&"nginx") && argv.contains(&"-t");
    match argv.as_slice() {
        ["docker", "exec", _, "nginx", ..] if is_test => Some(Test::InContainer),
        ["sh", "-c", script, "sh", pid, _start, "nginx", ..]
            if is_test && script.contains("exec nsenter") =>
        {
            Some(Test::FromHost(pid.parse().ok()?))
        }
        _ => None,
    }
}

/// Every `nginx -t` on the load balancer's host, in order.
fn tests(env: &Env) -> Vec<Test> {
    (env.world.commands().iter())
        .filter(|c| c.host == env.lb_host.name())
        .filter_map(|c| test_of(&c.command))
        .collect()
}

fn from_host(tests: &[Test]) -> usize {
    tests.iter().filter(|t| **t != Test::InContainer).count()
}

fn in_container(tests: &[Test]) -> usize {
    tests.iter().filter(|t| **t == Test::InContainer).count()
}

/// The host's form of `nginx -t` (nsenter in a script; not the drain's `nsenter ... ss`).
fn nsenter_nginx() -> Matcher {
    Matcher::command("sh -c ... nsenter ... nginx -t", |c| {
        matches!(test_of(c), Some(Test::FromHost(_)))
    })
}

/// How a reload's signal on the load balancer's host was sent, successful ones only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hup {
    FromHost,
    DockerKill,
}

fn hups(env: &Env) -> Vec<Hup> {
    (env.world.commands().iter())
        .filter(|c| c.host == env.lb_host.name())
        .filter(|c| c.result.as_ref().is_ok_and(|o| o.success()))
        .filter_map(|c| match c.command.argv().as_slice() {
            ["sh", "-c", script, "sh", _, _] if script.contains("kill -s HUP") => {
                Some(Hup::FromHost)
            }
            ["docker", "kill", "--signal", "HUP", _] => Some(Hup::DockerKill),
            _ => None,
        })
        .collect()
}

/// The host's SIGHUP script.
fn host_hup() -> Matcher {
    Matcher::command(
        "sh -c ... kill -s HUP",
        |c| matches!(c.argv().as_slice(), ["sh", "-c", script, "sh", _, _] if script.contains("kill -s HUP")),
    )
}

/// nginx's container restarted by someone while the first instance starts (after the last
/// look at nginx's processes before its return), then `after` done.
fn restart_nginx_at_first_start(
    env: &Env,
    rec: &Recorder,
    after: impl Fn() + Clone + Send + Sync + 'static,
) {
    let (host, nginx) = (env.lb_host.clone(), env.nginx.clone());
    rec.once(
        move |e| is_step_started(e, NAMES[0], Step::WaitHealthy),
        move || {
            let (host, nginx, after) = (host.clone(), nginx.clone(), after.clone());
            tokio::spawn(async move {
                let restart = Command::new("docker")
                    .args(["restart", "--time", "10", nginx.as_str()])
                    .sudo();
                let out = host.run(&restart).await.unwrap();
                assert!(out.success(), "{out:?}");
                after();
            });
        },
    );
}

fn completed(env: &Env, rec: &Recorder, report: &ihos_core::RolloutReport) {
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert_eq!(report.updated, NAMES);
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    assert!(env.unsupported().is_empty(), "{:?}", env.unsupported());
}

#[tokio::test(start_paused = true)]
async fn nginx_t_runs_from_the_host_once_the_master_is_known_to_be_root_and_main() {
    let env = Env::runbook();
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    completed(&env, &rec, &report);
    let tests = tests(&env);
    // Every test from the host: the preflight's (which learns nginx's master first), the
    // first take-out, the three swaps and the last return.
    assert_eq!(in_container(&tests), 0, "{tests:?}");
    assert_eq!(from_host(&tests), NAMES.len() + 2, "{tests:?}");
    let master = env
        .world
        .container(env.lb_host.name(), &env.nginx)
        .unwrap()
        .pid
        .unwrap();
    assert!(
        tests[1..].iter().all(|t| *t == Test::FromHost(master)),
        "{tests:?}, master {master}"
    );
    // As root (nsenter needs it), like the config's own reads and writes.
    assert!(
        (env.world.commands().iter())
            .filter(|c| matches!(test_of(&c.command), Some(Test::FromHost(_))))
            .all(|c| c.command.privilege() == Privilege::Sudo)
    );
    assert_eq!(env.reloads(env.lb_host.name()), NAMES.len() + 1);
    // Every reload's signal from the host (the preflight's look saw the master).
    assert_eq!(hups(&env), vec![Hup::FromHost; NAMES.len() + 1]);
}

#[tokio::test(start_paused = true)]
async fn a_pid_that_is_no_longer_nginx_s_master_is_never_signalled_from_the_host() {
    // The script finds another process at the pid (status 3, nothing sent): docker
    // signals the container instead, every time.
    let env = Env::runbook();
    let fault = env
        .world
        .inject(Fault::on(host_hup()).every().respond(Output {
            status: Some(3),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    completed(&env, &rec, &report);
    assert_eq!(env.world.fault_fired(fault), NAMES.len() + 1);
    assert_eq!(hups(&env), vec![Hup::DockerKill; NAMES.len() + 1]);
    assert_eq!(env.reloads(env.lb_host.name()), NAMES.len() + 1);
}

#[tokio::test(start_paused = true)]
async fn a_host_where_the_signal_is_refused_is_asked_once() {
    // sudo refusing the login (its message starts `sudo:`): docker from then on.
    let env = Env::runbook();
    let fault = env.world.inject(
        Fault::on(host_hup())
            .every()
            .fail(1, "sudo: a password is required"),
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    completed(&env, &rec, &report);
    assert_eq!(env.world.fault_fired(fault), 1);
    assert_eq!(hups(&env), vec![Hup::DockerKill; NAMES.len() + 1]);
}

#[tokio::test(start_paused = true)]
async fn an_nginx_running_as_another_user_is_always_tested_in_its_container() {
    // nginx-unprivileged: `docker exec` runs nginx -t as 101, which may not read what root
    // reads; the host's root is never asked to stand in for it.
    let env = Env::cluster(
        2,
        2,
        NginxSpec::new("/etc/nginx/nginx.conf", "app").runs_as(101),
        |s| s,
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_clean();
    let tests = tests(&env);
    assert_eq!(from_host(&tests), 0, "{tests:?}");
    assert_eq!(in_container(&tests), 6, "{tests:?}");
}

#[tokio::test(start_paused = true)]
async fn a_host_where_nsenter_is_refused_is_tested_in_the_container_and_asked_once() {
    let env = Env::runbook();
    // As util-linux 2.38 says it without the right to enter (seen on this machine kind).
    let fault = env.world.inject(Fault::on(nsenter_nginx()).every().fail(
        1,
        "nsenter: cannot open /proc/4242/ns/ipc: Permission denied",
    ));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    completed(&env, &rec, &report);
    assert_eq!(env.world.fault_fired(fault), 1);
    let tests = tests(&env);
    assert_eq!(from_host(&tests), 1, "{tests:?}");
    // The preflight's and every change's verdict (five) from the container: the first
    // change asked it again after the refused try, the others at once.
    assert_eq!(in_container(&tests), 1 + NAMES.len() + 1, "{tests:?}");
}

#[tokio::test(start_paused = true)]
async fn a_refusal_from_the_host_is_asked_of_the_container_whose_word_stands() {
    let env = Env::runbook();
    // The host's view refuses what the container accepts (say, a file only the
    // container's mount shows): the change goes on, and the host is asked again next time.
    let fault = env.world.inject(Fault::on(nsenter_nginx()).nth(1).fail(
        1,
        "nginx: [emerg] open() \"/etc/nginx/conf.d/extra.conf\" failed (2: No such file or directory) in /etc/nginx/nginx.conf:30\nnginx: configuration file /etc/nginx/nginx.conf test failed\n",
    ));
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    completed(&env, &rec, &report);
    assert_eq!(env.world.fault_fired(fault), 1);
    let tests = tests(&env);
    assert_eq!(from_host(&tests), NAMES.len() + 2, "{tests:?}");
    assert_eq!(in_container(&tests), 1, "{tests:?}");
    // The refused try (the preflight's) is followed at once by the container's.
    assert!(matches!(tests[0], Test::FromHost(_)), "{tests:?}");
    assert_eq!(tests[1], Test::InContainer, "{tests:?}");
    assert!(matches!(tests[2], Test::FromHost(_)), "{tests:?}");
}

#[tokio::test(start_paused = true)]
async fn an_accepted_test_is_not_taken_once_the_master_changed() {
    // nginx's container is restarted by someone while the first instance starts (after the
    // last look at nginx's processes before its return): its master has a new pid. The host's answer for the old pid says "accepted" (as another
    // process that took the pid might): the listing beside it has another master, so the
    // container is asked, and from then on the new master is learnt.
    let env = Env::runbook();
    let fault = env
        .world
        .inject(Fault::on(nsenter_nginx()).every().respond(Output {
            status: Some(0),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }));
    let rec = Recorder::new();
    restart_nginx_at_first_start(&env, &rec, || {});
    let old = env
        .world
        .container(env.lb_host.name(), &env.nginx)
        .unwrap()
        .pid
        .unwrap();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    // Only the restart, not ihos, cut requests.
    let unexpected = env.unexpected_violations(|k| {
        matches!(k, ViolationKind::RequestsCut { reason, .. } if reason.contains("nginx stopped"))
    });
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert!(env.unsupported().is_empty());
    let new = env
        .world
        .container(env.lb_host.name(), &env.nginx)
        .unwrap()
        .pid
        .unwrap();
    assert_ne!(old, new, "restarted");
    let tests = tests(&env);
    // 1 preflight (host, once the master is learnt); 2 first take-out (host); 3 the first
    // swap: the old master's "accepted" not taken, 4 the container's; 5 the second swap,
    // in the container while the new master is learnt; then the new master from the host.
    assert_eq!(
        tests,
        [
            Test::FromHost(old),
            Test::FromHost(old),
            Test::FromHost(old),
            Test::InContainer,
            Test::InContainer,
            Test::FromHost(new),
            Test::FromHost(new),
        ],
    );
    assert!(env.world.fault_fired(fault) >= 1);
}

/// A 2x2 cluster behind an nginx made by `nginx`, rolled out: the `nginx -t`s made.
async fn roll_behind(nginx: NginxSpec) -> Vec<Test> {
    let env = Env::cluster(2, 2, nginx, |s| s);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    assert!(env.unsupported().is_empty(), "{:?}", env.unsupported());
    tests(&env)
}

#[tokio::test(start_paused = true)]
async fn a_master_that_may_do_less_than_the_host_s_root_is_tested_in_its_container() {
    // The host's root may read what a container without DAC_OVERRIDE (`--cap-drop`) or
    // under SELinux's container_t may not: the host's test is tried once, says the
    // context differs (status 4), and every verdict comes from the container.
    const DAC_OVERRIDE: u64 = 1 << 1;
    let base = || NginxSpec::new("/etc/nginx/nginx.conf", "app");
    for nginx in [
        base().drops_caps(DAC_OVERRIDE),
        base().drops_caps(u64::MAX),
        base().labelled("system_u:system_r:container_t:s0:c112,c967\0"),
        base().labelled("nginx-hardened (enforce)\n"),
    ] {
        let tests = roll_behind(nginx.clone()).await;
        assert_eq!(from_host(&tests), 1, "{nginx:?}: {tests:?}");
        assert_eq!(in_container(&tests), 6, "{nginx:?}: {tests:?}");
    }
    // docker's defaults less NET_RAW (a common hardening), or docker's AppArmor profile:
    // the host's test stands in (all six, the preflight's too).
    const NET_RAW: u64 = 1 << 13;
    for nginx in [
        base().drops_caps(NET_RAW),
        base().labelled("docker-default (enforce)\n"),
    ] {
        let tests = roll_behind(nginx.clone()).await;
        assert_eq!(
            (from_host(&tests), in_container(&tests)),
            (6, 0),
            "{nginx:?}: {tests:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn another_nginx_that_takes_the_old_master_s_pid_is_never_tested_nor_signalled() {
    // nginx's container is restarted by someone while the first instance starts; another
    // nginx container started just after takes the old master's pid (the kernel's pids
    // wrap). A pid and "nginx: master process" no longer name our master: its start time
    // does. Tests, signals and the switch check must reach the restarted nginx only, so
    // every instance really leaves rotation before it stops.
    let env = Env::runbook();
    let lb = env.lb_host.name().to_string();
    let old = env.world.container(&lb, &env.nginx).unwrap().pid.unwrap();
    let other_conf = "/etc/nginx-other/nginx.conf";
    // Another site's nginx: its own upstream (loopback's discard port; the fake contacts
    // nothing), none of ours.
    env.lb_host.write_file(
        other_conf,
        "events {}\nhttp {\n    upstream other {\n        server 127.0.0.1:9;\n    }\n    server {\n        listen 8081;\n        location / {\n            proxy_pass http://other;\n        }\n    }\n}\n",
    );
    let rec = Recorder::new();
    let (host, world) = (env.lb_host.clone(), env.world.clone());
    restart_nginx_at_first_start(&env, &rec, move || {
        world.reuse_pid_next(old);
        let spec = NginxSpec::new(other_conf, "other");
        host.add_container(
            ContainerSpec::nginx("other-nginx", spec).running_since(Default::default()),
        );
    });
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    env.assert_all_on(&env.war.sha256);
    let other = env.world.container(&lb, "other-nginx").unwrap();
    assert_eq!(other.pid, Some(old), "the other nginx took the old pid");
    let new = env.world.container(&lb, &env.nginx).unwrap().pid.unwrap();
    assert_ne!(new, old);
    // Only the restart, not ihos, cut requests: every instance left the restarted nginx's
    // rotation before it stopped.
    let unexpected = env.unexpected_violations(|k| {
        matches!(k, ViolationKind::RequestsCut { reason, .. } if reason.contains("nginx stopped"))
    });
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert!(env.unsupported().is_empty(), "{:?}", env.unsupported());
    // Nothing from the host reached the old pid once the other nginx had it: the scripts
    // found another process there (status 3), and the new master was learnt.
    let pid_of = |argv: &[&str]| match argv {
        ["sh", "-c", _, "sh", pid, _, ..] => pid.parse::<u32>().ok(),
        _ => None,
    };
    let after_restart: Vec<_> = (env.world.commands().iter())
        .filter(|c| c.host == lb)
        .skip_while(|c| !c.command.argv().starts_with(&["docker", "restart"]))
        .filter_map(|c| Some((pid_of(&c.command.argv())?, c.result.clone().ok()?.status)))
        .collect();
    assert!(
        after_restart
            .iter()
            .all(|(pid, status)| *pid == new || *status == Some(3)),
        "{after_restart:?}"
    );
    assert!(
        after_restart
            .iter()
            .any(|(pid, status)| *pid == new && *status == Some(0))
    );
    // The trap was live: the host's listing of the old pid found the other nginx's master
    // there (and did not take it for ours).
    let old_pid = old.to_string();
    let listed_other = (env.world.commands().iter())
        .filter(|c| c.host == lb)
        .skip_while(|c| !c.command.argv().starts_with(&["docker", "restart"]))
        .any(|c| {
            let listing = matches!(c.command.argv().as_slice(),
                ["sh", "-c", script, "sh", pid] if script.starts_with("ps ") && *pid == old_pid);
            let out = c
                .result
                .as_ref()
                .map(|o| o.stdout_text())
                .unwrap_or_default();
            listing && out.contains("nginx: master process")
        });
    assert!(listed_other);
}
