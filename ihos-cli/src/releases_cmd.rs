//! `ihos releases [INSTANCE]`: what each instance keeps on its host for `ihos rollback --to`
//! and which release it runs.

use std::path::Path;

use ihos_core::{InstanceReleases, KeptRelease};

use crate::connect;
use crate::drive::{json_line, runtime};
use crate::exit::CliError;
use crate::output;
use crate::table::Table;

/// `ihos releases`.
pub fn releases(config: &Path, instance: Option<&str>, json: bool) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let views = runtime()?
        .block_on(ihos_core::releases(&fleet, instance))
        .map_err(ihos_core::RolloutError::from)?;
    if json {
        return json_line(&serde_json::json!({
            "schema": 1,
            "keep_releases": fleet.topology.policy.keep_releases,
            "instances": views,
        }));
    }
    output::stdout(&render(&views), Path::new("-"))
}

/// One table for the fleet: each instance's running release, then what it keeps.
fn render(views: &[InstanceReleases]) -> String {
    let mut table = Table::new([
        "INSTANCE", "", "SHA256", "BUILD", "COMMIT", "DEPLOYED", "BY", "KEPT",
    ]);
    for v in views {
        let name = match v.canary {
            true => format!("{} (canary)", v.instance),
            false => v.instance.clone(),
        };
        let running_sha = v.running.as_ref().map(|r| r.sha256.clone());
        match &v.running {
            Some(r) => {
                let rec = r.record.as_ref();
                table.row(
                    vec![
                        name.clone(),
                        "runs".into(),
                        r.sha256.short().to_string(),
                        or_dash(rec.and_then(|x| x.build.clone())),
                        or_dash(rec.and_then(|x| x.commit.clone()).map(short)),
                        rec.map_or_else(|| "not by ihos".into(), |x| x.deployed_at.clone()),
                        or_dash(rec.map(|x| x.operator.clone())),
                        String::new(),
                    ],
                    Vec::new(),
                );
            }
            None => table.row(
                vec![name.clone(), "runs".into(), "no WAR deployed".into()],
                Vec::new(),
            ),
        }
        for k in &v.kept {
            // The release it runs is listed once, as running.
            if Some(&k.sha256) == running_sha.as_ref() {
                continue;
            }
            let state = match v.missing.contains(&k.sha256) {
                true => "MISSING",
                false => "kept",
            };
            table.row(kept_row(&name, state, k), Vec::new());
        }
        let notes = v
            .error
            .iter()
            .map(|e| format!("cannot read: {e}"))
            .collect();
        if v.error.is_some() {
            table.row(vec![name.clone(), "?".into()], notes);
        }
    }
    table.render()
}

fn kept_row(name: &str, state: &str, k: &KeptRelease) -> Vec<String> {
    vec![
        name.to_string(),
        state.to_string(),
        k.sha256.short().to_string(),
        or_dash(k.build.clone()),
        or_dash(k.commit.clone().map(short)),
        k.deployed_at
            .clone()
            .unwrap_or_else(|| "not by ihos".into()),
        or_dash(k.deployed_by.clone()),
        k.kept_at.clone(),
    ]
}

fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".into())
}

fn short(commit: String) -> String {
    ihos_core::short_sha(&commit).to_string()
}
