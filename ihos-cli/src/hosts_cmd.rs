//! `ihos hosts check`: every host reached at once, and what a rollout needs of it.

use std::path::Path;

use crate::connect;
use crate::drive::{json_line, runtime};
use crate::exit::{CliError, FAILURE};
use crate::output;
use crate::table::Table;

/// `ihos hosts check`: exit 0 when every host is ready, 1 (with the table) when not.
pub fn check(config: &Path, json: bool) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let rt = runtime()?;
    let started = std::time::Instant::now();
    let checks = rt.block_on(ihos_core::check_hosts(&fleet));
    let wall = started.elapsed();
    if json {
        for c in &checks {
            json_line(c)?;
        }
    } else {
        let mut table = Table::new(["HOST", "THROUGH", "CHECKED", "SECONDS", "RESULT"]);
        for c in &checks {
            let through = if c.through.is_empty() {
                "-".to_string()
            } else {
                c.through.join(" -> ")
            };
            let checked = if c.runs_containers {
                "login, sudo, docker"
            } else {
                "login"
            };
            let result = match (&c.error, &c.docker) {
                (Some(e), _) => output::printable(e).into_owned(),
                (None, Some(v)) => format!("ok (docker {v})"),
                (None, None) => "ok".to_string(),
            };
            table.row(
                vec![
                    c.host.clone(),
                    through,
                    checked.to_string(),
                    format!("{:.2}", c.seconds),
                    result,
                ],
                Vec::new(),
            );
        }
        output::stdout(&table.render(), Path::new("-"))?;
    }
    let failed = checks.iter().filter(|c| !c.ok()).count();
    let summary = format!(
        "{} host(s) checked in {:.2}s, {failed} not ready",
        checks.len(),
        wall.as_secs_f64()
    );
    if failed > 0 {
        return Err(CliError::Finished {
            code: FAILURE,
            summary,
        });
    }
    output::message(&summary);
    Ok(())
}
