//! The app log since the start, read for error patterns (the runbook's step 10, done for
//! every instance before it takes requests again).

use super::cancel::StopLevel;
use super::ctx::Env;
use super::health::LogMarks;
use super::step::StepError;
use crate::fleet::InstanceHandle;
use crate::transport::remote;

/// Fails on the first app-log line since the start that contains an error pattern.
pub(crate) async fn scan_log(
    env: &Env<'_>,
    inst: &InstanceHandle,
    marks: &LogMarks,
) -> Result<String, StepError> {
    let t = inst.transport.as_ref();
    // Exceptions often come right after startup: watch a little before judging.
    tokio::select! {
        _ = tokio::time::sleep(env.policy.log_watch.0) => {}
        _ = env.cancel.reached(StopLevel::Now) => {}
    }
    let log = remote::read_from(t, &marks.app_log, marks.app_offset).await?;
    let text = String::from_utf8_lossy(&log);
    let lines = text.lines().count();
    for line in text.lines() {
        if let Some(p) = env
            .policy
            .log_error_patterns
            .iter()
            .find(|p| line.contains(p.as_str()))
        {
            return Err(StepError::ErrorInLog {
                log: marks.app_log.to_string(),
                pattern: p.clone(),
                line: line.trim().to_string(),
            });
        }
    }
    Ok(format!(
        "{lines} new line(s) in {}, no error pattern",
        marks.app_log.file_name()
    ))
}
