//! Rollout progress for people (a line per instance on a terminal, plain lines otherwise)
//! and for programs (NDJSON events on stdout).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use ihos_core::{Event, EventRecord, EventSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// NDJSON: one event per line on stdout.
pub struct JsonLines;

impl EventSink for JsonLines {
    fn emit(&self, record: &EventRecord) {
        if let Ok(line) = serde_json::to_string(record) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Progress on stderr: live bars on a terminal, plain lines when not.
pub struct Human {
    bars: Option<(MultiProgress, Mutex<BTreeMap<String, ProgressBar>>)>,
}

impl Human {
    /// Bars if stderr is a terminal.
    pub fn new() -> Self {
        let bars = std::io::stderr().is_terminal().then(|| {
            (
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                Mutex::new(BTreeMap::new()),
            )
        });
        Human { bars }
    }

    fn line(&self, text: &str) {
        let text = crate::output::printable(text);
        match &self.bars {
            Some((m, _)) => {
                let _ = m.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn bar(&self, instance: &str, message: String) {
        let Some((m, bars)) = &self.bars else { return };
        let Ok(mut bars) = bars.lock() else { return };
        let bar = bars.entry(instance.to_string()).or_insert_with(|| {
            let b = m.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix:10} {elapsed:>5} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_prefix(instance.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        bar.set_message(crate::output::printable(&message).into_owned());
    }

    fn finish(&self, instance: &str, message: String) {
        if let Some((_, bars)) = &self.bars {
            if let Ok(mut bars) = bars.lock() {
                if let Some(b) = bars.remove(instance) {
                    b.finish_with_message(message.clone());
                    return;
                }
            }
        }
        self.line(&format!("{instance}: {message}"));
    }
}

impl EventSink for Human {
    fn emit(&self, record: &EventRecord) {
        let t = record.elapsed;
        match &record.event {
            Event::RolloutStarted {
                rollout_id,
                sha256,
                bytes,
                instances,
                resumed,
                commit,
            } => self.line(&format!(
                "rollout {rollout_id}{}: {} ({bytes} bytes{}) to {}",
                if *resumed { " (resumed)" } else { "" },
                if sha256.is_empty() {
                    "each instance's previous release".to_string()
                } else {
                    format!("WAR sha256 {}", ihos_core::short_sha(sha256))
                },
                commit
                    .as_ref()
                    .map(|c| format!(", commit {c}"))
                    .unwrap_or_default(),
                instances.join(", ")
            )),
            Event::LockTaken { host } => self.line(&format!("lock taken on {host}")),
            Event::PreflightPassed { checks } => {
                self.line(&format!("preflight: {} instance(s) checked", checks.len()));
                for c in checks {
                    self.line(&format!("  {c}"));
                }
            }
            Event::Uploaded {
                host,
                bytes,
                seconds,
            } => {
                if *bytes == 0 {
                    self.line(&format!("{host}: WAR already there (sha256 checked)"));
                } else {
                    self.line(&format!("{host}: uploaded {bytes} bytes in {seconds:.1}s, sha256 checked on the host"));
                }
            }
            Event::StepStarted { instance, step } => {
                if self.bars.is_some() {
                    self.bar(instance, format!("{step}…"));
                } else {
                    self.line(&format!("[{t:7.1}s] {instance}: {step}…"));
                }
            }
            Event::StepFinished {
                instance,
                step,
                seconds,
                detail,
            } if self.bars.is_none() => {
                let d = detail
                    .as_ref()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default();
                self.line(&format!(
                    "[{t:7.1}s] {instance}: {step} done in {seconds:.1}s{d}"
                ));
            }
            Event::Draining {
                instance,
                connections,
                old_workers,
                waited,
            } => {
                let msg = format!(
                    "drain: {connections} connection(s), {old_workers} old nginx worker(s), {waited:.0}s"
                );
                if self.bars.is_some() {
                    self.bar(instance, msg);
                } else {
                    self.line(&format!("[{t:7.1}s] {instance}: {msg}"));
                }
            }
            Event::Warning { instance, message } => self.line(&format!(
                "warning{}: {message}",
                instance
                    .as_ref()
                    .map(|i| format!(" ({i})"))
                    .unwrap_or_default()
            )),
            Event::InstanceUpdated { instance, seconds } => {
                self.finish(instance, format!("updated in {seconds:.1}s"))
            }
            Event::InstanceFailed {
                instance,
                step,
                error,
            } => self.line(&format!("{instance}: FAILED at {step}: {error}")),
            Event::RollbackStarted { instance } => {
                self.bar(instance, "rolling back to the previous release…".into())
            }
            Event::RolledBack { instance } => self.finish(
                instance,
                "rolled back to the previous release, in rotation".into(),
            ),
            Event::RollbackFailed { instance, error } => {
                self.finish(instance, format!("ROLLBACK FAILED: {error}"))
            }
            Event::StopRequested { level } => self.line(&format!("stop requested ({level:?})")),
            Event::HookFinished {
                on,
                hook,
                instance,
                at,
                passed,
                error,
                seconds,
                output,
                ..
            } => {
                let mut text = format!(
                    "{on} hook {hook:?}{} ({at}): {} in {seconds:.1}s",
                    instance
                        .as_ref()
                        .map(|i| format!(" for {i}"))
                        .unwrap_or_default(),
                    if *passed { "passed" } else { "FAILED" }
                );
                if let Some(e) = error {
                    text.push_str(&format!(": {e}"));
                }
                // A failure shows the end of what it printed: that is where the reason is.
                if !passed && !output.is_empty() {
                    let lines: Vec<&str> = output.lines().collect();
                    for l in &lines[lines.len().saturating_sub(10)..] {
                        text.push_str(&format!("\n    | {l}"));
                    }
                }
                self.line(&text)
            }
            Event::RolloutFinished {
                outcome,
                updated,
                seconds,
            } => self.line(&format!(
                "rollout finished: {outcome:?}, {} instance(s) updated, {seconds:.1}s",
                updated.len()
            )),
            _ => {}
        }
    }
}
