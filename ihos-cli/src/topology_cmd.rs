//! `ihos validate`: what the topology file describes, or where it is wrong.

use std::path::Path;

use ihos_core::Topology;

use crate::exit::CliError;
use crate::output;

/// `ihos validate`.
pub fn validate(config: &Path) -> Result<(), CliError> {
    let t = Topology::load(config)?;
    output::message(&format!("{}: ok", config.display()));
    output::message(&format!(
        "load balancer: {} on {} ({}, upstream {}, apply {:?})",
        t.load_balancer.container,
        t.load_balancer.host,
        t.load_balancer.config,
        t.load_balancer.upstream,
        t.load_balancer.apply
    ));
    for i in &t.instances {
        output::message(&format!(
            "instance {}: {} on {}, backend {}",
            i.name, i.container, i.host, i.backend
        ));
    }
    if let Some(c) = &t.canary {
        output::message(&format!(
            "canary {}: {} on {}, rule in {}",
            c.instance.name, c.instance.container, c.instance.host, c.site_file
        ));
    }
    let p = &t.policy;
    output::message(&format!(
        "policy: max_unavailable {}, drain min {} idle {} max {}, start timeout {}, on failure {:?}",
        p.max_unavailable, p.drain.min, p.drain.idle, p.drain.max, p.start_timeout, p.on_failure
    ));
    Ok(())
}
