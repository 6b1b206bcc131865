//! The WAR a command deploys: a local file checked with its `ihos fetch` sidecar, or the
//! exact WAR the canary runs (`--from-canary`).

use std::path::{Path, PathBuf};

use ihos_core::{Fleet, RolloutError, SidecarCheck, WarFile, canary_war};

use crate::drive::runtime;
use crate::exit::CliError;
use crate::output;

/// Opens and checks the WAR with its `ihos fetch` sidecar (`FILE.json`), whose commit goes
/// into the deployment records unless `--commit` gives one.
pub fn open_war(path: &Path, commit: Option<String>) -> Result<WarFile, CliError> {
    let (war, check) = WarFile::open_with_sidecar(path).map_err(RolloutError::War)?;
    if let Some(warning) = check.warning() {
        output::message(&format!("warning: {warning}"));
    }
    if let SidecarCheck::Matched(s) = &check {
        let from = format!(
            "TeamCity build #{} (id {}) of {}",
            s.build_number, s.build_id, s.build_type
        );
        match (&commit, &s.commit) {
            (Some(given), Some(c)) if given != c => output::message(&format!(
                "{}: {from}, server-release {c}; --commit {given} is recorded instead",
                path.display()
            )),
            (None, c) => output::message(&format!(
                "{}: {from}, server-release: {}",
                path.display(),
                c.as_deref().unwrap_or("unknown")
            )),
            _ => {}
        }
    }
    Ok(match commit {
        Some(c) => war.with_commit(Some(c)),
        None => war,
    })
}

/// Where copies of the canary's WAR are kept: `$XDG_CACHE_HOME/ihos/canary` or
/// `~/.cache/ihos/canary`.
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ihos").join("canary")
}

/// The exact WAR the canary runs, copied here (for `ihos rollout --from-canary`).
pub fn war_from_canary(fleet: &Fleet) -> Result<WarFile, CliError> {
    let dir = cache_dir();
    let war = runtime()?.block_on(canary_war(fleet, &dir))?;
    output::message(&format!(
        "the canary's WAR: sha256 {}{}, copied to {}",
        war.short_sha(),
        war.commit
            .as_deref()
            .map(|c| format!(", commit {c}"))
            .unwrap_or_default(),
        war.path.display()
    ));
    Ok(war)
}
