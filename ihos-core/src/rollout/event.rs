//! Events: what a rollout reports as it goes. The CLI prints them as progress or as NDJSON
//! (`--json`); an embedding tool receives the same values through an [`EventSink`].

use tokio::time::Instant;

use serde::Serialize;

/// Version of the event schema (the `schema` field of every record).
pub const EVENT_SCHEMA: u32 = 1;

/// The steps of one instance's update, in order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// Take it out of the upstream, validate, reload nginx.
    Disable,
    /// Wait until no request is in flight to it.
    Drain,
    /// Keep the current WAR as the previous release, outside webapps (done while it
    /// drains).
    KeepPrevious,
    /// Stop its container.
    Stop,
    /// Delete the WAR and the exploded directory from webapps.
    Remove,
    /// Put the new WAR into webapps (temp name + rename).
    Install,
    /// Start its container.
    Start,
    /// Container running, HTTP probe, Tomcat's startup line.
    WaitHealthy,
    /// Look for error patterns in the app log written since the start.
    ScanLog,
    /// Put it back into the upstream, validate, reload nginx.
    Enable,
    /// Record the deployment on its host and in the audit log.
    Record,
    /// The `pre-instance` hooks (only with such hooks; before Disable).
    PreInstanceHooks,
    /// The `post-instance` hooks (only with such hooks; after ScanLog, before Enable).
    PostInstanceHooks,
}

impl Step {
    /// The steps every instance goes through, in order (with hooks configured,
    /// [`Step::PreInstanceHooks`] comes first and [`Step::PostInstanceHooks`] after
    /// [`Step::ScanLog`]).
    pub const ALL: [Step; 11] = [
        Step::Disable,
        Step::Drain,
        Step::KeepPrevious,
        Step::Stop,
        Step::Remove,
        Step::Install,
        Step::Start,
        Step::WaitHealthy,
        Step::ScanLog,
        Step::Enable,
        Step::Record,
    ];

    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Disable => "take out of rotation",
            Step::Drain => "drain",
            Step::Stop => "stop container",
            Step::KeepPrevious => "keep previous release",
            Step::Remove => "remove old WAR",
            Step::Install => "install new WAR",
            Step::Start => "start container",
            Step::WaitHealthy => "wait until healthy",
            Step::ScanLog => "scan log",
            Step::Enable => "back into rotation",
            Step::Record => "record deployment",
            Step::PreInstanceHooks => "pre-instance hooks",
            Step::PostInstanceHooks => "post-instance hooks (smoke test)",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Something that happened during a rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The rollout begins.
    RolloutStarted {
        /// Its id.
        rollout_id: String,
        /// SHA-256 of the WAR.
        sha256: String,
        /// Size of the WAR.
        bytes: u64,
        /// Commit id, if known.
        commit: Option<String>,
        /// Instances to update, in order.
        instances: Vec<String>,
        /// Whether this continues an interrupted rollout.
        resumed: bool,
    },
    /// Before the first change, every instance of the run was checked on its host.
    PreflightPassed {
        /// What was checked, one line per instance.
        checks: Vec<String>,
    },
    /// The rollout lock was taken.
    LockTaken {
        /// Host of the lock.
        host: String,
    },
    /// The WAR reached a host and its checksum matched there.
    Uploaded {
        /// The host.
        host: String,
        /// Bytes sent.
        bytes: u64,
        /// Seconds it took.
        seconds: f64,
    },
    /// A step of an instance begins.
    StepStarted {
        /// The instance.
        instance: String,
        /// The step.
        step: Step,
    },
    /// A step of an instance is done.
    StepFinished {
        /// The instance.
        instance: String,
        /// The step.
        step: Step,
        /// Seconds it took.
        seconds: f64,
        /// What it found or did, if worth saying.
        detail: Option<String>,
    },
    /// Drain status while waiting.
    Draining {
        /// The instance.
        instance: String,
        /// Established connections to it.
        connections: usize,
        /// nginx workers still on the previous config.
        old_workers: usize,
        /// Seconds waited so far.
        waited: f64,
    },
    /// Something worth a look that does not stop the rollout.
    Warning {
        /// The instance concerned, if any.
        instance: Option<String>,
        /// What.
        message: String,
    },
    /// An instance runs the new WAR and is back in rotation.
    InstanceUpdated {
        /// The instance.
        instance: String,
        /// Seconds its update took.
        seconds: f64,
    },
    /// An instance's update failed.
    InstanceFailed {
        /// The instance.
        instance: String,
        /// The failing step.
        step: Step,
        /// Why.
        error: String,
    },
    /// Rolling an instance back to its previous release begins.
    RollbackStarted {
        /// The instance.
        instance: String,
    },
    /// The instance runs its previous release again and is back in rotation.
    RolledBack {
        /// The instance.
        instance: String,
    },
    /// Rolling back failed: the instance needs a human.
    RollbackFailed {
        /// The instance.
        instance: String,
        /// Why.
        error: String,
    },
    /// A hook ran.
    HookFinished {
        /// When it runs (`pre-rollout`, `pre-instance`, ...).
        on: String,
        /// Its name.
        hook: String,
        /// The instance it ran for, if any.
        instance: Option<String>,
        /// Where: `local` or the host.
        at: String,
        /// Whether it passed.
        passed: bool,
        /// Whether its failure stops the run.
        gate: bool,
        /// Why it failed (`exit status 1`, `did not finish within 300s`), if it did.
        error: Option<String>,
        /// Seconds it took.
        seconds: f64,
        /// The end of its output.
        output: String,
    },
    /// A stop was requested.
    StopRequested {
        /// How far.
        level: super::cancel::StopLevel,
    },
    /// The rollout is over.
    RolloutFinished {
        /// How it ended.
        outcome: super::Outcome,
        /// Instances now on the new WAR.
        updated: Vec<String>,
        /// Seconds in all.
        seconds: f64,
    },
}

/// An [`Event`] with its envelope, as printed in NDJSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// [`EVENT_SCHEMA`].
    pub schema: u32,
    /// Wall-clock time, RFC 3339 UTC.
    pub time: String,
    /// Seconds since the rollout began.
    pub elapsed: f64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// Receives a rollout's events. Implemented for closures and for tokio channels.
pub trait EventSink: Send + Sync {
    /// Called for each event, in order.
    fn emit(&self, record: &EventRecord);
}

impl<F: Fn(&EventRecord) + Send + Sync> EventSink for F {
    fn emit(&self, record: &EventRecord) {
        self(record)
    }
}

impl EventSink for tokio::sync::mpsc::UnboundedSender<EventRecord> {
    fn emit(&self, record: &EventRecord) {
        // A receiver that went away just stops listening; the rollout goes on.
        let _ = self.send(record.clone());
    }
}

/// Stamps events and hands them to a sink.
pub(crate) struct Emitter<'a> {
    sink: &'a dyn EventSink,
    start: Instant,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(sink: &'a dyn EventSink) -> Self {
        Emitter {
            sink,
            start: Instant::now(),
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        tracing::debug!(?event, "rollout event");
        self.sink.emit(&EventRecord {
            schema: EVENT_SCHEMA,
            time: crate::time::now_utc(),
            elapsed: self.start.elapsed().as_secs_f64(),
            event,
        });
    }
}
