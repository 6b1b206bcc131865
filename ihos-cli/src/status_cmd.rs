//! `ihos status` and `ihos history`: where every instance stands, and what was deployed.

use std::path::Path;

use ihos_core::InstanceView;

use crate::connect;
use crate::drive::{json_line, runtime};
use crate::exit::CliError;
use crate::output;
use crate::table::Table;

/// `ihos status`.
pub fn status(config: &Path, json: bool) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let rt = runtime()?;
    let (views, lb_error) = rt.block_on(ihos_core::status(&fleet));
    // With several load balancers, each one's own view (they can differ after a failure).
    let per_lb = if fleet.lbs.len() > 1 {
        rt.block_on(ihos_core::lb_rotations(&fleet))
    } else {
        Vec::new()
    };
    if json {
        return json_line(&serde_json::json!({
            "schema": 1,
            "load_balancer_error": lb_error,
            "load_balancers": per_lb,
            "instances": views,
        }));
    }
    // The canary is not in the upstream: its "rotation" is its cohort route.
    let route = match &fleet.canary_route {
        Some(r) => match rt.block_on(r.rule()) {
            Ok(rule) if rule.open => "canary open",
            Ok(_) => "canary closed",
            Err(_) => "canary ?",
        },
        None => "canary",
    };
    let canary = fleet.canary.as_ref().map(|c| (c.name(), route));
    let mut text = status_table(&views, canary, lb_error.as_deref());
    for lb in &per_lb {
        text.push_str(&lb_line(lb));
    }
    output::stdout(&text, Path::new("-"))
}

/// `load balancer HOST/CONTAINER: all N in rotation` or what is out.
fn lb_line(lb: &ihos_core::LbRotation) -> String {
    let name = format!("{}/{}", lb.host, lb.container);
    if let Some(e) = &lb.error {
        return format!("load balancer {name}: {}\n", output::printable(e));
    }
    let out: Vec<&str> = lb
        .backends
        .iter()
        .filter(|b| !b.state.is_enabled())
        .map(|b| b.address.as_str())
        .collect();
    if out.is_empty() {
        format!(
            "load balancer {name}: all {} in rotation\n",
            lb.backends.len()
        )
    } else {
        format!(
            "load balancer {name}: out of rotation: {}\n",
            out.join(", ")
        )
    }
}

/// `ihos status`'s human table: a row per instance, then its commit as the runbook notes
/// it (`server-release: <commit>`) and any errors.
/// `canary`: the canary's name and what its route says (`canary open` / `canary closed`).
fn status_table(
    views: &[InstanceView],
    canary: Option<(&str, &str)>,
    lb_error: Option<&str>,
) -> String {
    let mut out = String::new();
    if let Some(e) = lb_error {
        out.push_str(&format!("load balancer: {e}\n"));
    }
    let mut table = Table::new([
        "INSTANCE",
        "ROTATION",
        "CONTAINER",
        "HEALTH",
        "SHA256",
        "DEPLOYED",
    ]);
    for v in views {
        let d = v.deployed.as_ref();
        let rotation = match (v.rotation, canary) {
            (Some(r), _) => r.to_string(),
            (None, Some((name, route))) if name == v.instance => route.to_string(),
            (None, _) => "missing".to_string(),
        };
        let mut notes = Vec::new();
        // The runbook notes each instance's build as "server-release: <commit>".
        if let Some(d) = d {
            notes.push(format!(
                "server-release: {}",
                d.commit.as_deref().unwrap_or("unknown")
            ));
        }
        notes.extend(v.errors.iter().map(|e| format!("! {e}")));
        table.row(
            vec![
                v.instance.clone(),
                rotation,
                v.container
                    .as_ref()
                    .map_or("?".to_string(), |c| c.status.clone()),
                match v.health_status {
                    Some(s) if v.healthy => format!("ok {s}"),
                    Some(s) => format!("BAD {s}"),
                    None => "down".into(),
                },
                d.map_or("-".into(), |d| d.short_sha().to_string()),
                d.map_or("-".into(), |d| {
                    format!("{} by {}", d.deployed_at, d.operator)
                }),
            ],
            notes,
        );
    }
    out.push_str(&table.render());
    out
}

/// `ihos history`.
pub fn history(config: &Path, json: bool) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let records = runtime()?.block_on(ihos_core::history(&fleet))?;
    if json {
        for r in &records {
            json_line(r)?;
        }
        return Ok(());
    }
    if records.is_empty() {
        output::message("no deployment recorded yet");
        return Ok(());
    }
    let mut table = Table::new([
        "DEPLOYED", "INSTANCE", "ACTION", "SHA256", "BUILD", "COMMIT", "BY", "ROLLOUT",
    ]);
    for r in &records {
        table.row(
            vec![
                r.deployed_at.clone(),
                r.instance.clone(),
                r.action.clone(),
                r.short_sha().to_string(),
                r.build.clone().unwrap_or_else(|| "-".into()),
                r.commit.clone().unwrap_or_else(|| "-".into()),
                r.operator.clone(),
                r.rollout_id.clone(),
            ],
            Vec::new(),
        );
    }
    output::stdout(&table.render(), Path::new("-"))
}

#[cfg(test)]
mod tests {
    use ihos_core::{ContainerState, DeploymentRecord, InstanceView};

    fn view(name: &str, commit: Option<&str>, deployed: bool) -> InstanceView {
        InstanceView {
            instance: name.into(),
            host: "h101".into(),
            backend: "192.168.1.101:39091".into(),
            rotation: None,
            container: Some(ContainerState {
                exists: true,
                running: true,
                status: "running".into(),
                ..ContainerState::missing()
            }),
            health_status: Some(200),
            healthy: true,
            deployed: deployed.then(|| DeploymentRecord {
                instance: name.into(),
                sha256: "ab".repeat(32),
                bytes: 10,
                commit: commit.map(str::to_string),
                build: None,
                rollout_id: "r1".into(),
                operator: "deploy@ops".into(),
                deployed_at: "2026-01-02T03:04:05Z".into(),
                action: "deploy".into(),
            }),
            errors: Vec::new(),
        }
    }

    #[test]
    fn status_shows_each_instances_server_release() {
        let views = [
            view(
                "101-pep1",
                Some("6feff116ab9ad0d3af686526a6ff96272620e70f"),
                true,
            ),
            view("101-pep2", None, true),
            view("102-pep1", None, false),
        ];
        let table = super::status_table(&views, Some(("102-pep1", "canary open")), None);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("101-pep1 "), "{table}");
        assert!(lines[1].contains("abababababab"), "{table}");
        assert_eq!(
            lines[2],
            "  server-release: 6feff116ab9ad0d3af686526a6ff96272620e70f"
        );
        assert!(lines[3].starts_with("101-pep2 "), "{table}");
        assert_eq!(lines[4], "  server-release: unknown");
        assert!(lines[5].starts_with("102-pep1 canary open "), "{table}");
        assert_eq!(lines.len(), 6, "nothing deployed, no release line: {table}");
    }
}
