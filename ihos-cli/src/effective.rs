//! `ihos validate --effective`: every instance's settings as ihos will use them, after
//! `[defaults]`, its host's defaults and templates, each with where it came from.

use ihos_core::{InstanceConfig, Topology};
use serde::Serialize;

use crate::exit::CliError;
use crate::output;

/// One resolved setting.
#[derive(Debug, Serialize)]
struct Setting {
    key: &'static str,
    value: String,
    from: String,
}

/// One instance's settings, as printed by `--json`.
#[derive(Debug, Serialize)]
struct Effective<'a> {
    instance: &'a str,
    canary: bool,
    settings: Vec<Setting>,
}

/// Prints each instance's (and the canary's) settings: a table on stderr, or one JSON
/// object per instance on stdout.
pub fn print(t: &Topology, file: &str, json: bool) -> Result<(), CliError> {
    let all = t
        .instances
        .iter()
        .map(|i| (i, false))
        .chain(t.canary.iter().map(|c| (&c.instance, true)));
    for (inst, canary) in all {
        let effective = Effective {
            instance: &inst.name,
            canary,
            settings: settings(inst, file),
        };
        if json {
            crate::drive::json_line(&effective)?;
            continue;
        }
        let what = if canary { "canary" } else { "instance" };
        output::message(&format!("{what} {}", inst.name));
        for s in &effective.settings {
            output::message(&format!("    {:<22} {:<44} {}", s.key, s.value, s.from));
        }
    }
    Ok(())
}

/// The settings in the order of the documentation.
fn settings(i: &InstanceConfig, file: &str) -> Vec<Setting> {
    let h = &i.health;
    let values: [(&'static str, String); 15] = [
        ("name", i.name.clone()),
        ("host", i.host.clone()),
        ("app", i.app.clone()),
        ("container", i.container.clone()),
        ("backend", i.backend.clone()),
        ("webapps", i.webapps.clone()),
        ("war_name", i.war_name.clone()),
        ("logs", i.logs.clone()),
        ("log_pattern", i.log_pattern.clone()),
        ("container_port", i.container_port.to_string()),
        ("health.url", h.url.clone()),
        ("health.expect_status", h.expect_status.to_string()),
        ("health.timeout", h.timeout.to_string()),
        ("health.startup_line", h.startup_line.clone()),
        ("health.startup_log", h.startup_log.clone()),
    ];
    values
        .into_iter()
        .map(|(key, value)| Setting {
            key,
            value,
            from: i
                .origins
                .get(key)
                .map_or_else(String::new, |o| o.describe(file)),
        })
        .collect()
}
