//! Loads the topology and connects its hosts (SSH, or this machine for `local = true`),
//! through the library's `Fleet::connect`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ihos_core::{Fleet, LoadOptions, Topology};

use crate::exit::CliError;
use crate::output;

/// `--ssh-config`, set once by `main`.
static SSH_CONFIG: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records `--ssh-config` for every later [`topology`] call.
pub fn set_ssh_config(path: Option<PathBuf>) {
    let _ = SSH_CONFIG.set(path);
}

/// Loads and checks the topology (through `--ssh-config` if given), printing what loading
/// warns about.
pub fn topology(config: &Path) -> Result<Topology, CliError> {
    let mut options = LoadOptions::default();
    options.ssh_config = SSH_CONFIG.get().cloned().flatten();
    let topology = Topology::load_with(config, &options)?;
    for w in &topology.warnings {
        output::message(&format!("warning: {w}"));
    }
    Ok(topology)
}

/// Loads the topology and builds the fleet. SSH connections are made on first use, so a
/// command that needs only some hosts does not wait for the others.
pub fn fleet(config: &Path) -> Result<Fleet, CliError> {
    Ok(Fleet::connect(topology(config)?)?)
}
