//! Loads the topology and connects its hosts (SSH, or this machine for `local = true`),
//! through the library's `Fleet::connect`.

use std::path::Path;

use ihos_core::{Fleet, Topology};

use crate::exit::CliError;

/// Loads the topology and builds the fleet. SSH connections are made on first use, so a
/// command that needs only some hosts does not wait for the others.
pub fn fleet(config: &Path) -> Result<Fleet, CliError> {
    let topology = Topology::load(config)?;
    Ok(Fleet::connect(topology)?)
}
