//! Every failure of the `ihos` binary, and the exit code each one maps to.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | done, including a no-op edit (already disabled/enabled), `--dry-run`, `--help`, `--version` |
//! | 1 | any other failure: I/O (missing or unreadable file, failed write, failed backup), the file changed on disk between read and write, an internal editor error |
//! | 2 | bad input: command-line usage errors (clap, including bad `--ids` prefixes), a configuration nginx would reject (`FILE:LINE:COL: message`), an edit the editor refuses (unknown or ambiguous upstream/server/block, last enabled server without `--force`, condition without a regex, invalid value), a token `ihos canary check` cannot decode |
//!
//! The codes follow the convention of `grep`/`diff`: 2 means "fix your input", 1 means
//! "something went wrong while doing it".
//!
//! Fleet commands (`rollout`, `drain`, `enable`, ...) add:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | done: every selected instance runs the new WAR, in rotation |
//! | 1 | failed, everything consistent: an instance was rolled back, or nothing was changed (lock held, host unreachable before any change) |
//! | 2 | bad input: topology file, WAR, unknown instance, instances out of rotation before the start |
//! | 3 | failed and NOT fully restored: an instance is out of rotation or inconsistent; a human is needed |
//! | 130 | interrupted (Ctrl-C): consistent, `ihos rollout --resume` goes on |
//!
//! Canary commands (`canary open|close|status|deploy`): 2 for a topology without a canary or
//! a site file whose canary block cannot be found or edited; 3 when a route change failed and
//! putting the previous site file back failed too; 1 for other failures (canary not healthy,
//! lock held, nginx refused the change and the previous file is back). `canary deploy` ends
//! like a rollout (0, 1, 3, 130).
//!
//! `ihos canary analyze`: 0 pass, 1 fail (or a log that cannot be read), 4 inconclusive (too
//! few requests), 2 for a topology without `[canary.analysis]` or no recorded route opening
//! (give `--since`). `canary deploy --analyze`: the deploy's code if it did not complete;
//! then 0 pass, 1 fail (the canary back on its previous release, route closed), 3 fail and
//! the previous release could not be put back, 4 inconclusive (route as before), 130
//! interrupted (route as before). `canary ramp`: 0 every step passed, 1 a step failed (route
//! closed), 4 a step inconclusive and 130 interrupted (route as before, `--resume` goes on).
//!
//! `ihos fetch`: 2 for what the operator fixes (no `[teamcity]` section, token variable unset,
//! token refused (401/403), unknown build configuration, build or artifact (404), a pinned
//! build that did not succeed, no or several WARs in the build); 1 for the rest (no
//! successful build yet, HTTP 5xx, connection, unexpected answers, a download of the wrong
//! size or not a WAR, local files).

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ihos_nginx::{EditError, ParseError};

/// Exit code: the command did what was asked (or there was nothing to do).
pub const SUCCESS: u8 = 0;
/// Exit code: a failure that is not the input's fault (I/O, concurrent change, internal).
pub const FAILURE: u8 = 1;
/// Exit code: the input is wrong (usage, configuration syntax, refused edit).
pub const INPUT: u8 = 2;
/// Exit code: a rollout failed and could not restore everything.
pub const NOT_RESTORED: u8 = 3;
/// Exit code: the canary analysis had too few requests to tell.
pub const INCONCLUSIVE: u8 = 4;

/// A failure of one command. Display gives the whole message, file name first.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The file is not a configuration nginx accepts. Display: `FILE:LINE:COL: message`.
    #[error("{}:{error}", file.display())]
    Parse { file: PathBuf, error: ParseError },

    /// The editor refused the edit; nothing was written.
    #[error("{}: {error}", file.display())]
    Edit { file: PathBuf, error: EditError },

    /// An I/O operation failed.
    #[error("{}: {what}: {source}", file.display())]
    Io {
        file: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },

    /// Someone else changed the file between our read and our write; nothing was written.
    #[error(
        "{}: the file changed on disk while ihos was editing it; nothing was written, run the command again",
        file.display()
    )]
    ChangedOnDisk { file: PathBuf },

    /// The topology file is unusable.
    #[error("{0}")]
    Config(#[from] ihos_core::ConfigError),

    /// A rollout could not start; nothing was changed.
    #[error("{0}")]
    Rollout(#[from] ihos_core::RolloutError),

    /// A canary operation failed (the previous site file is back unless it says otherwise).
    #[error("{0}")]
    Canary(#[from] ihos_core::CanaryError),

    /// A manual operation (drain, enable, history, lock) failed.
    #[error("{0}")]
    Op(#[from] ihos_core::OpError),

    /// The fleet could not be built from the topology.
    #[error("{0}")]
    Fleet(#[from] ihos_core::FleetError),

    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),

    /// `ihos fetch` failed.
    #[error("{0}")]
    Fetch(#[from] ihos_core::FetchError),

    /// `ihos init` found nothing to write.
    #[error("{0}")]
    Discover(#[from] ihos_core::DiscoverError),

    /// `ihos init` could not set up its connections.
    #[error("{0}")]
    DiscoverConnect(#[from] ihos_core::DiscoverConnectError),

    /// The canary analysis could not be made.
    #[error("{0}")]
    Analyze(#[from] ihos_core::AnalyzeError),

    /// A fleet command ran and ended with `code` (its summary is already printed).
    #[error("{summary}")]
    Finished { code: u8, summary: String },

    /// A command that needs a terminal or `--yes`.
    #[error("{0}")]
    Usage(String),

    /// A sample token no cohort regex can route (`ihos canary check`).
    #[error("token: {0}")]
    Token(#[from] ihos_core::TokenError),

    /// The in-place write failed; `restore` tells whether the original bytes were put back.
    #[error("{}: writing the edited file failed: {source}; {}", file.display(), restore_note(restore, backup.as_deref()))]
    WriteFailed {
        file: PathBuf,
        #[source]
        source: io::Error,
        restore: Result<(), io::Error>,
        backup: Option<PathBuf>,
    },
}

fn restore_note(restore: &Result<(), io::Error>, backup: Option<&Path>) -> String {
    match (restore, backup) {
        (Ok(()), _) => "the original content was restored".to_string(),
        (Err(e), Some(b)) => format!(
            "RESTORING THE ORIGINAL FAILED ({e}): copy {} back over it by hand",
            b.display()
        ),
        (Err(e), None) => {
            format!("RESTORING THE ORIGINAL FAILED ({e}) and no backup was kept (--no-backup)")
        }
    }
}

impl CliError {
    /// An I/O failure on `file` while doing `what`.
    pub fn io(file: &Path, what: &'static str, source: io::Error) -> Self {
        CliError::Io {
            file: file.to_path_buf(),
            what,
            source,
        }
    }

    /// The process exit code for this failure (see the module docs).
    pub fn code(&self) -> u8 {
        match self {
            CliError::Parse { .. } => INPUT,
            CliError::Edit { error, .. } => edit_error_code(error),
            CliError::Io { .. } | CliError::ChangedOnDisk { .. } | CliError::WriteFailed { .. } => {
                FAILURE
            }
            CliError::Config(_) | CliError::Usage(_) | CliError::Token(_) => INPUT,
            CliError::Rollout(e) => rollout_error_code(e),
            CliError::Canary(e) => canary_error_code(e),
            CliError::Op(e) => op_error_code(e),
            CliError::Fleet(ihos_core::FleetError::Transport(_)) | CliError::Runtime(_) => FAILURE,
            CliError::Fleet(_) => INPUT,
            CliError::Fetch(e) if e.is_input_error() => INPUT,
            CliError::Fetch(_) => FAILURE,
            CliError::Discover(ihos_core::DiscoverError::Transport(_)) => FAILURE,
            CliError::Discover(_) | CliError::DiscoverConnect(_) => INPUT,
            CliError::Analyze(
                ihos_core::AnalyzeError::Transport(_) | ihos_core::AnalyzeError::Local { .. },
            ) => FAILURE,
            CliError::Analyze(_) => INPUT,
            CliError::Finished { code, .. } => *code,
        }
    }
}

/// Refused edits are input errors, except `Reparse`, which is a bug in the editor.
fn edit_error_code(error: &EditError) -> u8 {
    match error {
        EditError::Reparse(_) => FAILURE,
        EditError::UnknownUpstream { .. }
        | EditError::AmbiguousUpstream { .. }
        | EditError::UnknownServer { .. }
        | EditError::AmbiguousServer { .. }
        | EditError::LastEnabledServer { .. }
        | EditError::UnknownBlock { .. }
        | EditError::AmbiguousBlock { .. }
        | EditError::NoRegexInCondition { .. }
        | EditError::InvalidValue { .. } => INPUT,
        // `EditError` is non-exhaustive; a new variant is by its contract a refused edit.
        _ => INPUT,
    }
}

/// A rollout that did not start: input errors are 2, the rest 1 (nothing was changed).
fn rollout_error_code(e: &ihos_core::RolloutError) -> u8 {
    use ihos_core::RolloutError as R;
    match e {
        R::War(_)
        | R::UnknownInstance(_)
        | R::NotInRotation { .. }
        | R::Resume(_)
        | R::NoCanary
        | R::CanaryInUpstream { .. }
        | R::ReleaseNotKept { .. }
        | R::ReleaseAmbiguous { .. }
        | R::ReleaseDiffers { .. } => INPUT,
        _ => FAILURE,
    }
}

/// A canary command: no canary or a site file the editor refuses is the input's fault; a
/// route change whose undo failed too needs a human (3); the rest is 1.
fn canary_error_code(e: &ihos_core::CanaryError) -> u8 {
    use ihos_core::{CanaryError as C, LbError};
    match e {
        C::NoCanary | C::Lb(LbError::Parse { .. } | LbError::Edit { .. }) => INPUT,
        C::Lb(LbError::RestoreFailed { .. }) => NOT_RESTORED,
        _ => FAILURE,
    }
}

/// A manual operation: an unknown instance is the input's fault; a load balancer change
/// whose undo failed too needs a human (3); the rest is 1.
fn op_error_code(e: &ihos_core::OpError) -> u8 {
    use ihos_core::{LbError, OpError as O};
    match e {
        O::UnknownInstance(_) => INPUT,
        O::Lb(LbError::RestoreFailed { .. }) => NOT_RESTORED,
        _ => FAILURE,
    }
}

/// The process exit status for a command's result.
pub fn exit_code(result: &Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(SUCCESS),
        Err(e) => ExitCode::from(e.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let file = PathBuf::from("x.conf");
        let refused = CliError::Edit {
            file: file.clone(),
            error: EditError::LastEnabledServer {
                upstream: "u".into(),
                server: "s".into(),
            },
        };
        assert_eq!(refused.code(), INPUT);
        let io = CliError::io(&file, "reading", io::Error::other("boom"));
        assert_eq!(io.code(), FAILURE);
        assert_eq!(io.to_string(), "x.conf: reading: boom");
        assert_eq!(CliError::ChangedOnDisk { file }.code(), FAILURE);
    }
}
