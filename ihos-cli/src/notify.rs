//! The robots told about a command's run (`[[notify]]`): built from the topology before
//! the run, fed its events, given a bounded time after it. Whatever they refuse is a
//! warning on stderr: a notification never changes a run or its exit code.

use std::time::Duration;

use ihos_core::{
    CanaryAnalysis, Fleet, KeptRelease, Notice, Notifier, RunInfo, RunKind, WarFile, WarInfo,
};

use crate::output;

/// Time the last messages get once a run has ended (each message has its own, shorter,
/// deadline; this bounds several queued ones).
const LAST_MESSAGES: Duration = Duration::from_secs(30);

/// The notifier for a run of `action` (with `war`, if it deploys one) on `fleet`; robots
/// that cannot be told are said now.
pub fn notifier(fleet: &Fleet, action: RunKind, war: Option<&WarFile>) -> Notifier {
    with_war(fleet, action, war.map(war_info))
}

/// A notifier for a run that puts a kept release back (`None`: each instance's previous
/// one, not known ahead).
pub fn notifier_for_release(
    fleet: &Fleet,
    action: RunKind,
    release: Option<&KeptRelease>,
) -> Notifier {
    let war = release.map(|r| WarInfo {
        file: format!("kept release {}", r.sha256.short()),
        sha256: r.sha256.to_string(),
        commit: r.commit.clone(),
        build: r.build.clone(),
    });
    with_war(fleet, action, war)
}

fn with_war(fleet: &Fleet, action: RunKind, war: Option<WarInfo>) -> Notifier {
    let info = RunInfo {
        action,
        operator: String::new(),
        war,
    };
    let (notifier, warnings) = Notifier::new(&fleet.topology.notify, info);
    for w in warnings {
        output::message(&format!("warning: {w}"));
    }
    notifier
}

/// Waits (bounded) for the last messages; says what went wrong.
pub fn finish(notifier: Notifier) {
    for problem in notifier.finish(LAST_MESSAGES) {
        output::message(&format!("warning: {problem}"));
    }
}

/// Messages on their way, waited for (bounded) when dropped: the command acts on what it
/// told at once, and waits only when it is done.
pub struct Told(Option<Notifier>);

impl Drop for Told {
    fn drop(&mut self) {
        if let Some(n) = self.0.take() {
            finish(n);
        }
    }
}

/// Tells the robots subscribed to `canary` about a verdict (of a ramp's `step` of so
/// many, for `cohort`); keep what it returns while acting on the verdict.
#[must_use = "dropping it waits for the message: keep it while acting on the verdict"]
pub fn verdict(
    fleet: &Fleet,
    action: RunKind,
    analysis: &CanaryAnalysis,
    cohort: Option<String>,
    step: Option<(usize, usize)>,
) -> Told {
    if fleet.topology.notify.is_empty() {
        return Told(None);
    }
    let n = notifier(fleet, action, None);
    n.notice(Notice::Canary {
        verdict: analysis.analysis.verdict.as_str().to_string(),
        summary: analysis.analysis.reason.clone(),
        cohort,
        step,
    });
    Told(Some(n))
}

fn war_info(war: &WarFile) -> WarInfo {
    let build = war.build.clone();
    WarInfo {
        file: war.path.file_name().map_or_else(
            || war.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        sha256: war.sha256.to_string(),
        commit: war.commit.clone(),
        build,
    }
}
