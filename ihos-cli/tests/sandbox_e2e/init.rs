//! Scenario 15 (issue 16 §5): `ihos init` on the sandbox, then `validate` and `plan` with
//! what it wrote, against the hand-written sandbox topology: the same load balancer, the
//! same four instances (container, webapps, logs, WAR, port, host), the same plan; no
//! secret in the file. Read-only: nothing on the sandbox changes.

use ihos_core::{LoadOptions, Topology};
use serde_json::Value;

use super::Row;
use crate::sandbox::{Sandbox, ihos, out_text};

/// The plan's per-instance facts that come from what `init` discovers (not from policy,
/// state directories or names): the backend, the container, its rotation, the steps in
/// order, and the actions of those that touch nginx and the container.
type Facts = (String, String, String, Vec<String>, Vec<String>);

fn plan_facts(out: &std::process::Output) -> Vec<Facts> {
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan --json");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    plan["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| {
            let steps = i["steps"].as_array().expect("steps");
            let kinds: Vec<String> = steps.iter().map(|s| text(&s["step"])).collect();
            let actions: Vec<String> = steps
                .iter()
                .filter(|s| {
                    ["disable", "stop", "start", "enable"]
                        .contains(&s["step"].as_str().unwrap_or_default())
                })
                .map(|s| text(&s["action"]))
                .collect();
            assert!(kinds.len() > 5, "{i}");
            (
                text(&i["backend"]),
                text(&i["container"]),
                i["current"]["rotation"].to_string(),
                kinds,
                actions,
            )
        })
        .collect()
}

pub(super) fn init_round_trip(sb: &Sandbox) -> Row {
    sb.reset();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("ihos.toml");
    let hand = &sb.topology;
    let lb = hand.primary_lb().expect("the sandbox's load balancer");
    let lb_address = hand.hosts[&lb.host].address.clone();
    let ssh_config = sb.root.join("ssh/ssh_config");
    let ssh_config = ssh_config.to_str().expect("utf-8 path");
    let r = ihos(
        &out,
        &[
            "--ssh-config",
            ssh_config,
            "init",
            "--lb",
            &lb_address,
            "--nginx-container",
            &lb.container,
            "--upstream",
            &lb.upstream,
            "-o",
            out.to_str().expect("utf-8 path"),
        ],
    );
    assert!(r.status.success(), "init: {}", out_text(&r));
    let text = std::fs::read_to_string(&out).expect("the written topology");
    for secret in ["password =", "BEGIN OPENSSH", "id_ed25519"] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }
    let mut options = LoadOptions::default();
    options.ssh_config = None;
    let made = Topology::load_with(&out, &options).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let made_lb = made.primary_lb().expect("a load balancer");
    assert_eq!(
        (
            &made_lb.container,
            &made_lb.config,
            &made_lb.upstream,
            &made.hosts[&made_lb.host].address
        ),
        (&lb.container, &lb.config, &lb.upstream, &lb_address)
    );
    assert_eq!(made.instances.len(), hand.instances.len(), "{text}");
    for want in &hand.instances {
        let got = made
            .instances
            .iter()
            .find(|i| i.backend == want.backend)
            .unwrap_or_else(|| panic!("no instance for {} in\n{text}", want.backend));
        assert_eq!(
            (
                &got.container,
                &got.webapps,
                &got.logs,
                &got.war_name,
                got.container_port
            ),
            (
                &want.container,
                &want.webapps,
                &want.logs,
                &want.war_name,
                want.container_port
            ),
            "{}",
            want.name
        );
        assert_eq!(
            made.hosts[&got.host].address,
            hand.hosts[&want.host].address
        );
        assert_eq!(made.hosts[&got.host].port, hand.hosts[&want.host].port);
    }
    let v = ihos(&out, &["validate"]);
    assert!(v.status.success(), "validate: {}", out_text(&v));
    let war = sb.war("ihos-v1.war");
    let war = war.to_str().expect("utf-8 path");
    let plan_made = ihos(&out, &["plan", "--war", war, "--json"]);
    let plan_hand = ihos(&sb.toml, &["plan", "--war", war, "--json"]);
    assert!(plan_made.status.success(), "plan: {}", out_text(&plan_made));
    assert!(plan_hand.status.success(), "plan: {}", out_text(&plan_hand));
    assert_eq!(plan_facts(&plan_made), plan_facts(&plan_hand));
    Row {
        exit: "0".into(),
        notes: vec![format!(
            "init found the LB and {} instances as written by hand; validate and plan agree",
            made.instances.len()
        )],
        ..Row::default()
    }
}
