//! Two nginx load balancers with the same upstream (`[[load_balancers]]`: a pair behind
//! keepalived or DNS): an instance leaves rotation on both before it is drained and comes
//! back on both; a change one of them refuses is undone on the other and the instance is
//! not touched; "at most max_unavailable out" holds over the union (the fake world's
//! checker looks at every nginx and at their union).

mod rollout_support;

use ihos_core::{Outcome, Step, lb_rotations};
use ihos_testkit::{ContainerSpec, Fault, Matcher, NginxSpec};
use rollout_support::{Env, NAMES, Recorder};

const LB2: &str = "192.168.1.102";

/// The runbook's world with a second nginx on its own host, same config and upstream.
fn two_lbs() -> Env {
    let mut env = Env::runbook();
    let first = env.topology.load_balancers[0].clone();
    let lb2 = env.world.add_host(LB2);
    lb2.set_login_user("deploy", "/home/deploy");
    let dir = first.config.rsplit_once('/').map_or("/", |(d, _)| d);
    lb2.mkdir(dir, "root", 0o755);
    lb2.write_file(&first.config, env.nginx_config());
    lb2.add_container(ContainerSpec::nginx(
        &first.container,
        NginxSpec::new(&first.config, &first.upstream),
    ));
    let mut host = env.topology.hosts["h101"].clone();
    host.address = LB2.into();
    env.topology.hosts.insert("h102".into(), host);
    let mut second = first;
    second.host = "h102".into();
    env.topology.load_balancers.push(second);
    env.hosts.insert("h102".into(), lb2);
    env
}

#[tokio::test(start_paused = true)]
async fn each_instance_leaves_and_rejoins_both_load_balancers() {
    let env = two_lbs();
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert_eq!(report.updated, NAMES);
    env.assert_all_on(&env.war.sha256);
    // The checker (per nginx and over the union) saw nothing wrong; no request failed.
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    // Two changes per transition on each (back on both, then the next out on both): one
    // swap on each in turn would leave two out over the union between them.
    assert_eq!(env.reloads(env.lb_host.name()), 8);
    assert_eq!(env.reloads(LB2), 8);
    // Both route to all four at the end.
    assert_eq!(env.world.routing(LB2, &env.nginx).len(), 4);
    assert_eq!(env.routing().len(), 4);
    let views = lb_rotations(&env.fleet()).await;
    assert_eq!(views.len(), 2);
    for v in views {
        assert!(v.error.is_none(), "{v:?}");
        assert!(v.backends.iter().all(|b| b.state.is_enabled()), "{v:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_change_the_second_refuses_is_undone_on_the_first_and_the_instance_is_untouched() {
    let env = two_lbs();
    let before = env.nginx_config();
    // nginx -t on the second LB: 1 the preflight, 2 taking the first instance out (from
    // the host in nginx's namespaces), 3 the same asked of the container (only its refusal
    // counts).
    let faults = [2, 3].map(|n| {
        env.world.inject(
            Fault::on(Matcher::nginx_test())
                .on_host(LB2)
                .nth(n)
                .fail(1, "nginx: [emerg] injected on the second load balancer"),
        )
    });
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    for fault in faults {
        assert_eq!(env.world.fault_fired(fault), 1);
    }
    assert_eq!(report.outcome, Outcome::RolledBack, "{}", rec.text());
    assert!(report.updated.is_empty());
    // Never drained or stopped: it was out of the first LB only for that change.
    assert_eq!(rec.steps_started(NAMES[0]), [Step::Disable]);
    assert_eq!(env.starts(NAMES[0]), 0);
    env.assert_all_on(&env.old);
    // The first LB has its config back, byte for byte, and routes to all four again.
    assert_eq!(env.nginx_config(), before);
    assert_eq!(env.routing().len(), 4);
    assert_eq!(env.world.routing(LB2, &env.nginx).len(), 4);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
}

#[tokio::test(start_paused = true)]
async fn two_at_a_time_behind_two_load_balancers_stay_within_the_union_limit() {
    // Instances changing at once on both: never more than two out over the union, and the
    // wave's changes made together on each load balancer: out together (one reload), back
    // together (one), the second wave out (one, then two phases: back on both before out
    // on either), back (one). One at a time over both, it took 8 on each.
    let mut env = two_lbs();
    env.topology.policy.max_unavailable = 2;
    env.world.set_max_out_of_rotation(2);
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_eq!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert_eq!(report.updated.len(), 4);
    env.assert_all_on(&env.war.sha256);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
    assert_eq!(env.reloads(env.lb_host.name()), 4, "{}", rec.text());
    assert_eq!(env.reloads(LB2), 4, "{}", rec.text());
}

#[tokio::test(start_paused = true)]
async fn a_wave_the_second_refuses_is_undone_on_the_first_by_the_inverse_change_only() {
    // Two instances leave together; the second LB refuses every change after its
    // preflight. On the first, both went out in one edit: each is put back by its own
    // inverse change (made together again), never by bytes that would drop the other's.
    let mut env = two_lbs();
    env.topology.policy.max_unavailable = 2;
    env.world.set_max_out_of_rotation(2);
    let before = env.nginx_config();
    env.world.inject(
        Fault::on(Matcher::nginx_test())
            .on_host(LB2)
            .from_nth(2)
            .fail(1, "nginx: [emerg] injected on the second load balancer"),
    );
    let rec = Recorder::new();
    let report = env.roll(&rec).await;
    assert_ne!(report.outcome, Outcome::Completed, "{}", rec.text());
    assert!(report.updated.is_empty());
    for name in &NAMES[..2] {
        assert_eq!(rec.steps_started(name), [Step::Disable], "{name}");
        assert_eq!(env.starts(name), 0, "{name}");
    }
    assert!(rec.steps_started(NAMES[2]).is_empty());
    env.assert_all_on(&env.old);
    assert_eq!(env.nginx_config(), before);
    assert_eq!(env.routing().len(), 4);
    assert_eq!(env.world.routing(LB2, &env.nginx).len(), 4);
    // Out together, back together: two reloads on the first, none taken on the second.
    assert_eq!(env.reloads(env.lb_host.name()), 2, "{}", rec.text());
    assert_eq!(env.reloads(LB2), 0);
    env.assert_clean();
    assert_eq!(env.world.requests_failed(), 0);
}
