//! `ihos drain` and `ihos enable`: one instance out of rotation until idle, or back in.

use std::path::Path;

use ihos_core::CancelToken;

use crate::connect;
use crate::drive::runtime;
use crate::exit::CliError;
use crate::output;
use crate::progress::Human;

/// `ihos drain`.
pub fn drain(config: &Path, instance: &str) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let sink = Human::new();
    let cancel = CancelToken::new();
    let msg = runtime()?.block_on(ihos_core::drain_instance(&fleet, instance, &sink, &cancel))?;
    output::message(&format!("{instance}: {msg}"));
    Ok(())
}

/// `ihos enable`.
pub fn enable(config: &Path, instance: &str) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let change = runtime()?.block_on(ihos_core::enable_instance(&fleet, instance))?;
    output::message(&format!("{instance}: {}", change.message));
    if !change.diff.is_empty() {
        output::stdout(&change.diff, Path::new("-"))?;
    }
    Ok(())
}
