//! What every fleet command shares: the async runtime, the confirmation prompt, JSON lines
//! on stdout, and the driver of a run (rollout, rollback, canary deploy): progress, Ctrl-C
//! wired to the engine's stop request, the outcome's exit code.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use ihos_core::{
    CancelToken, EventSink, Notifier, Outcome, RolloutError, RolloutReport, StopLevel,
};

use crate::exit::{CliError, FAILURE};
use crate::output;
use crate::progress::{Human, JsonLines};

/// A multi-threaded runtime sized for this 2-thread tool (SSH work runs on its own threads).
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

/// Writes `value` as one JSON line on stdout.
pub fn json_line(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string(value)
        .map_err(|e| CliError::io(Path::new("<stdout>"), "encoding JSON", e.into()))?;
    output::stdout(&format!("{text}\n"), Path::new("-"))
}

/// Asks `question` on the terminal; refused without one (scripts pass `--yes`).
pub fn confirm(question: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "not on a terminal: pass --yes to run without confirmation".into(),
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::io(Path::new("<stdin>"), "reading the answer", e))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The refusal when a confirmation was declined.
pub fn not_confirmed() -> CliError {
    CliError::Usage("not confirmed; nothing was changed".into())
}

pub type RunFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<RolloutReport, RolloutError>> + 'a>>;

/// Runs a rollout, rollback or canary deploy on `rt` with progress (or NDJSON events with
/// `json`), Ctrl-C handling, the robots of `notifier` told, and the exit code of its
/// outcome; `resume` names the command that continues it if interrupted.
pub fn drive<F>(
    rt: tokio::runtime::Runtime,
    json: bool,
    resume: &str,
    notifier: Option<Notifier>,
    run: F,
) -> Result<(), CliError>
where
    F: for<'a> FnOnce(&'a dyn EventSink, &'a CancelToken) -> RunFuture<'a>,
{
    let result = rt.block_on(async {
        let cancel = CancelToken::new();
        let watcher = cancel.clone();
        let watching = tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                match watcher.escalate() {
                    StopLevel::AfterCurrent => output::message(
                        "stopping after the instances being updated (Ctrl-C again: stop now, leaving every instance consistent)",
                    ),
                    _ => output::message("stopping now: making the current instances consistent"),
                }
            }
        });
        let sink: Box<dyn EventSink> = if json {
            Box::new(JsonLines)
        } else {
            Box::new(Human::new())
        };
        let result = match &notifier {
            Some(n) => run(&n.sink(sink.as_ref()), &cancel).await,
            None => run(sink.as_ref(), &cancel).await,
        };
        // The run is over: a Ctrl-C from now on is not a stop request.
        watching.abort();
        result
    });
    // The last messages (bounded; Ctrl-C abandons them), then the outcome.
    if let Some(n) = notifier {
        if let Err(e) = &result {
            n.aborted(&e.to_string());
        }
        rt.block_on(async {
            let waiting = tokio::task::spawn_blocking(move || crate::notify::finish(n));
            tokio::select! {
                _ = waiting => {}
                _ = tokio::signal::ctrl_c() => output::message("notifications abandoned"),
            }
        });
        // Not waiting for an abandoned wait.
        rt.shutdown_background();
    }
    finished(&result?, resume)
}

/// The summary of a run that ended, and its exit code.
fn finished(report: &RolloutReport, resume: &str) -> Result<(), CliError> {
    let mut summary = format!(
        "{:?} in {:.1}s: {} updated",
        report.outcome,
        report.seconds,
        report.updated.len()
    );
    if !report.not_updated.is_empty() {
        summary.push_str(&format!(", not updated: {}", report.not_updated.join(", ")));
    }
    for f in &report.rolled_back {
        summary.push_str(&format!("\n  rolled back {}: {f}", f.instance));
    }
    for f in &report.not_restored {
        summary.push_str(&format!("\n  NOT RESTORED {}: {f}", f.instance));
    }
    for f in &report.warnings {
        summary.push_str(&format!("\n  warning {}: {f}", f.instance));
    }
    match report.outcome {
        Outcome::Completed => {
            output::message(&summary);
            return Ok(());
        }
        Outcome::Interrupted => {
            summary.push_str(&format!("\n  consistent; `{resume}` continues"));
        }
        Outcome::NotRestored => summary.push_str(
            "\n  a human is needed: see `ihos status`; the lock is kept (`ihos lock release` when done)",
        ),
        _ => {}
    }
    Err(CliError::Finished {
        code: u8::try_from(report.outcome.exit_code()).unwrap_or(FAILURE),
        summary,
    })
}
