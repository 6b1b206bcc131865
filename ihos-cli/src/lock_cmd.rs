//! `ihos lock status|release`.

use std::path::Path;

use crate::cli::LockCommand;
use crate::connect;
use crate::drive::runtime;
use crate::exit::CliError;
use crate::output;

/// `ihos lock status|release`.
pub fn run(config: &Path, cmd: LockCommand) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let rt = runtime()?;
    match cmd {
        LockCommand::Status => match rt.block_on(ihos_core::lock_status(&fleet))? {
            None => output::message("no rollout holds the lock"),
            Some(o) => output::message(&format!(
                "held by rollout {} of {} (pid {}) since {}{}",
                o.rollout_id,
                o.owner,
                o.pid,
                o.since,
                if o.sha256.is_empty() {
                    String::new()
                } else {
                    format!(", WAR sha256 {}", o.sha256)
                }
            )),
        },
        LockCommand::Release { force } => {
            let owner = rt.block_on(ihos_core::lock_status(&fleet))?;
            let Some(o) = owner else {
                output::message("no rollout holds the lock");
                return Ok(());
            };
            let mine = o.pid == std::process::id();
            if !force && !mine {
                return Err(CliError::Usage(format!(
                    "the lock belongs to rollout {} of {} (pid {}) since {}; make sure it is not running, then `ihos lock release --force`",
                    o.rollout_id, o.owner, o.pid, o.since
                )));
            }
            rt.block_on(ihos_core::lock_release(&fleet))?;
            output::message(&format!("lock of rollout {} released", o.rollout_id));
        }
    }
    Ok(())
}
