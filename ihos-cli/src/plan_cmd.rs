//! `ihos plan`: ihos-core's [`Plan`] rendered as text, or as JSON.

use std::path::Path;

use ihos_core::{NotifyConfig, Plan, RolloutOptions, plan};

use crate::connect;
use crate::drive::{json_line, runtime};
use crate::exit::CliError;
use crate::output;
use crate::war_input::open_war;

/// `ihos plan`.
pub fn run(
    config: &Path,
    war: &Path,
    only: &[String],
    offline: bool,
    json: bool,
) -> Result<(), CliError> {
    let war = open_war(war, None)?;
    let fleet = connect::fleet(config)?;
    let options = RolloutOptions::new().only(only.iter().cloned());
    let plan = runtime()?
        .block_on(plan(&fleet, &war, &options, !offline))
        .map_err(ihos_core::RolloutError::from)?;
    if json {
        return json_line(&plan);
    }
    let mut text = render(&plan);
    for h in &plan.hooks {
        text.push_str(&format!("hook {h}\n"));
    }
    text.push_str(&robots(&fleet.topology.notify));
    output::stdout(&text, Path::new("-"))
}

/// Who is told about the run, and whether their URL's variable is set here.
fn robots(notify: &[NotifyConfig]) -> String {
    let mut out = String::new();
    for (n, r) in notify.iter().enumerate() {
        let set = std::env::var_os(&r.url_env).is_some_and(|v| !v.is_empty());
        let on: Vec<String> =
            r.on.iter()
                .map(|o| format!("{o:?}").to_lowercase())
                .collect();
        out.push_str(&format!(
            "notify[{n}]: {} on {}{}\n",
            r.kind.name(),
            on.join(", "),
            if set {
                String::new()
            } else {
                format!(" (NOT TOLD: {} is not set here)", r.url_env)
            }
        ));
    }
    out
}

fn render(p: &Plan) -> String {
    let mut out = format!(
        "WAR {} sha256 {} ({} bytes), server-release: {}\n",
        p.war,
        p.sha256,
        p.bytes,
        p.commit.as_deref().unwrap_or("unknown")
    );
    out.push_str(&format!(
        "upload once to each of: {}\n",
        p.upload_hosts.join(", ")
    ));
    out.push_str(&format!(
        "then {} instance(s), at most {} out of rotation at a time; on failure: {:?}\n",
        p.instances.len(),
        p.max_unavailable,
        p.on_failure
    ));
    if let Some(e) = &p.load_balancer_error {
        out.push_str(&format!("load balancer: cannot read the config: {e}\n"));
    }
    for c in &p.preflight {
        out.push_str(&format!("preflight: {c}\n"));
    }
    if let Some(e) = &p.preflight_error {
        out.push_str(&format!("PREFLIGHT WOULD REFUSE: {e}\n"));
    }
    for i in &p.instances {
        let Some(v) = &i.current else { continue };
        out.push_str(&format!(
            "  {}: now {}, container {}, deployed {}{}\n",
            i.instance,
            v.rotation
                .map_or("not in the upstream".to_string(), |r| r.to_string()),
            v.container
                .as_ref()
                .map_or("unknown".to_string(), |c| c.status.clone()),
            v.deployed
                .as_ref()
                .map_or("unknown".to_string(), |d| format!(
                    "sha256 {}",
                    d.short_sha()
                )),
            if i.already_deployed {
                " (already this WAR: it is deployed again)"
            } else {
                ""
            }
        ));
    }
    for i in &p.instances {
        out.push_str(&format!(
            "\n{} ({} on {}, backend {}):\n",
            i.instance, i.container, i.host, i.backend
        ));
        let width = i
            .steps
            .iter()
            .map(|s| s.step.describe().len())
            .max()
            .unwrap_or(0);
        for (n, s) in i.steps.iter().enumerate() {
            out.push_str(&format!(
                "  {:2}. {:<width$} {}\n",
                n + 1,
                s.step.describe(),
                s.action
            ));
        }
    }
    out
}
