//! The app log since the start, read for error patterns (the runbook's step 10, done for
//! every instance before it takes requests again).

use tokio::time::Instant;

use super::cancel::StopLevel;
use super::ctx::Env;
use super::health::LogMarks;
use super::step::StepError;
use crate::fleet::InstanceHandle;
use crate::transport::remote;

/// Fails on the first app-log line since the start that contains an error pattern.
/// Exceptions often come right after startup: the log is judged `log_watch` after
/// `watch_from` (when Tomcat's startup line was first seen; the health check ran
/// meanwhile), or after now when that is unknown.
pub(crate) async fn scan_log(
    env: &Env<'_>,
    inst: &InstanceHandle,
    marks: &LogMarks,
    watch_from: Option<Instant>,
) -> Result<String, StepError> {
    let t = inst.transport.as_ref();
    let from = watch_from.unwrap_or_else(Instant::now);
    tokio::select! {
        _ = tokio::time::sleep_until(from + env.policy.log_watch.0) => {}
        _ = env.cancel.reached(StopLevel::Now) => {}
    }
    // In pieces of at most READ_CAP bytes, to the end: memory stays bounded and no line
    // written since the start is left unread. A line cut between two pieces is kept and
    // read whole with the next.
    let mut offset = marks.app_offset;
    let mut carry: Vec<u8> = Vec::new();
    let mut lines = 0;
    loop {
        let piece = remote::read_from(t, &marks.app_log, offset).await?;
        offset += piece.len() as u64;
        let last = (piece.len() as u64) < remote::READ_CAP;
        carry.extend_from_slice(&piece);
        let cut = if last {
            carry.len()
        } else {
            carry
                .iter()
                .rposition(|&b| b == b'\n')
                // A piece without any line end is read as it is: memory stays bounded.
                .map_or(carry.len(), |i| i + 1)
        };
        let text = String::from_utf8_lossy(&carry[..cut]).into_owned();
        carry.drain(..cut);
        for line in text.lines() {
            lines += 1;
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
        if last {
            break;
        }
    }
    Ok(format!(
        "{lines} new line(s) in {}, no error pattern, {:.1}s after {}",
        marks.app_log.file_name(),
        from.elapsed().as_secs_f64(),
        if watch_from.is_some() {
            "the startup line"
        } else {
            "the health check"
        }
    ))
}
