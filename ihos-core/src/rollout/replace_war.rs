//! The container stopped and the new WAR put in place: the KeepPrevious, Stop, Remove and
//! Install steps of an instance's update.
//!
//! The previous release goes in place while the container stops, and the new WAR is
//! copied into webapps under a name Tomcat does not deploy meanwhile: none of the three
//! touches the deployed WAR. The deployed WAR is removed and the copy renamed in place
//! once all three are done and Tomcat is gone: its container's main process seen ended
//! from the host (`docker stop` returns only after docker's teardown of the container,
//! 0.2-0.5 s later), or else `docker stop` returned. The container is started (by the
//! caller) only once `docker stop` returned. A failure of one leaves the others' work to
//! the rollback, which reads what was done from `progress`.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::ctx::Ctx;
use super::event::{Event, Step};
use super::health::{LogMarks, log_marks};
use super::release::{
    Previous, check_prepared, commit_previous, discard_prepared, install, prepare_install,
    remove_deployed,
};
use super::restore::Progress;
use super::stage::Source;
use super::step::{Failure, StepError, fail};
use super::timed_step::{step, step_with};
use crate::container::ContainerError;
use crate::fleet::InstanceHandle;
use crate::transport::remote;

/// How long past the stop's grace the host is watched for the main process's end: docker
/// kills it at the grace's end; a watch that has not seen it by then gives way to `docker
/// stop`'s own return.
const WATCH_BEYOND_GRACE: Duration = Duration::from_secs(10);

/// Stops `inst`'s container, keeps its previous release (`staged`: as the drain staged it,
/// and how long that took; `None` when this run kept it already) and puts `source`'s WAR in
/// place. `main_pid`: the container's main process as the drain last counted it, watched
/// from the host beside `docker stop` for its end; `None` (the container did not run, or
/// was not counted) waits for `docker stop`. Returns where the logs ended, for the health
/// check and the log scan.
pub(crate) async fn stop_and_replace(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    progress: &mut Progress,
    staged: (Option<Previous>, Duration),
    source: &Source,
    main_pid: Option<u32>,
) -> Result<LogMarks, Failure> {
    let grace = ctx.env.policy.stop_grace.0;
    progress.stopped = true;
    let (stopped_tx, stopped_rx) = oneshot::channel();
    let (ended_tx, ended_rx) = oneshot::channel();
    let stop = stop_and_watch(ctx, inst, main_pid, grace, stopped_tx, ended_tx);
    let replaced = replace(ctx, inst, progress, staged, source, stopped_rx, ended_rx);
    // The KeepPrevious step begins first, as the steps are listed; its commands are sent
    // after `docker stop` and the watch (see `replace`).
    let (replaced, ()) = tokio::join!(replaced, stop);
    replaced
}

/// The Stop step, and beside it the watch for Tomcat's main process to end, sent right
/// after `docker stop` (its first look must find the process still there: Tomcat's own
/// stop takes 50-200 ms after the signal, which `docker stop` sends some 50 ms after it
/// starts). `ended` is told when the watch saw the end (not if it cannot tell); the watch
/// is dropped when the stop ends, whose outcome goes to `stopped`.
async fn stop_and_watch(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    main_pid: Option<u32>,
    grace: Duration,
    stopped: oneshot::Sender<Result<(), Failure>>,
    ended: oneshot::Sender<()>,
) {
    let began = Instant::now();
    let ended_at: OnceLock<Instant> = OnceLock::new();
    let stop = step(ctx, inst, Step::Stop, async {
        inst.container.stop(grace).await?;
        Ok(ended_at.get().map(|&at| {
            format!(
                "Tomcat's process ended after {:.2}s; docker finished the stop {:.2}s later",
                (at - began).as_secs_f64(),
                at.elapsed().as_secs_f64()
            )
        }))
    });
    let watch = async {
        let Some(pid) = main_pid else {
            // Nothing to watch: the other half waits for the stop.
            return;
        };
        let t = inst.transport.as_ref();
        if remote::wait_for_exit(t, pid, grace + WATCH_BEYOND_GRACE).await {
            let _ = ended_at.set(Instant::now());
            let _ = ended.send(());
        }
        // Else it cannot tell: `ended` is dropped, the other half waits for the stop.
    };
    tokio::pin!(stop, watch);
    let mut watching = true;
    let outcome = loop {
        // Biased: `docker stop` is sent before the watch.
        tokio::select! {
            biased;
            outcome = &mut stop => break outcome,
            () = &mut watch, if watching => watching = false,
        }
    };
    let _ = stopped.send(outcome);
}

/// The half of [`stop_and_replace`] beside the stop: `stopped` is the Stop step's
/// outcome, sent when it ends; `ended` says Tomcat's process ended before that.
async fn replace(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    progress: &mut Progress,
    staged: (Option<Previous>, Duration),
    source: &Source,
    stopped: oneshot::Receiver<Result<(), Failure>>,
    ended: oneshot::Receiver<()>,
) -> Result<LogMarks, Failure> {
    let mut stopped = StopOutcome::Pending(stopped, inst);
    // Polled first (the KeepPrevious step's events come first), their commands are sent
    // once `docker stop` and the watch are: the stop is on the instance's path, and the
    // watch must look before Tomcat ends.
    let (kept, prepared) = tokio::join!(keep_previous(ctx, inst, progress, staged), async {
        tokio::task::yield_now().await;
        prepare_install(inst, &source.staged).await
    });
    if let Ok(true) = kept {
        progress.kept_previous = true;
    }
    // A failure to keep the previous release comes first, then the stop's, then the
    // prepared copy's: as the steps began. The prepared copy goes if the WAR is not
    // replaced.
    let failure = match kept {
        Err(f) => Some(f),
        Ok(_) => stopped.failure_if_ended(),
    };
    let prepared = match (prepared, failure) {
        (Ok(prepared), None) => prepared,
        (Ok(prepared), Some(f)) => {
            discard_prepared(inst, &prepared).await;
            stopped.wait().await;
            return Err(f);
        }
        (Err(_), Some(f)) => {
            stopped.wait().await;
            return Err(f);
        }
        (Err(e), None) => {
            let stop_failed = stopped.wait().await;
            return Err(stop_failed.unwrap_or_else(|| fail(Step::Install)(e)));
        }
    };

    // Tomcat gone: its main process ended, or the stop returned.
    if let Some(f) = stopped.failure_when_gone(ended).await {
        discard_prepared(inst, &prepared).await;
        return Err(f);
    }

    let marks = replace_deployed(ctx, inst, progress, &prepared, source).await;
    // The container starts only once docker is done with its stop; a stop that failed
    // after Tomcat's end is the failure (the rollback puts the previous release back).
    match (stopped.wait().await, marks) {
        (Some(f), _) | (None, Err(f)) => Err(f),
        (None, Ok(marks)) => Ok(marks),
    }
}

/// The Stop step's outcome as the other half sees it.
enum StopOutcome<'a> {
    /// Not known yet; the instance says what a lost outcome was about.
    Pending(oneshot::Receiver<Result<(), Failure>>, &'a InstanceHandle),
    Ended(Option<Failure>),
}

impl StopOutcome<'_> {
    /// The outcome received: its failure. One that never came (the stop's half always
    /// sends before it ends, and both are joined) is taken for a failed stop: the
    /// container may still run.
    fn take(r: Option<Result<(), Failure>>, inst: &InstanceHandle) -> Option<Failure> {
        match r {
            Some(Ok(())) => None,
            Some(Err(f)) => Some(f),
            None => Some(fail(Step::Stop)(ContainerError::Docker {
                host: inst.config.host.clone(),
                container: inst.config.container.clone(),
                command: "docker stop".into(),
                reason: "its outcome was lost; the container may still run".into(),
            })),
        }
    }

    /// The stop's failure, if it has ended with one by now.
    fn failure_if_ended(&mut self) -> Option<Failure> {
        if let StopOutcome::Pending(rx, inst) = self {
            match rx.try_recv() {
                Ok(r) => *self = StopOutcome::Ended(Self::take(Some(r), inst)),
                Err(oneshot::error::TryRecvError::Empty) => return None,
                Err(oneshot::error::TryRecvError::Closed) => {
                    *self = StopOutcome::Ended(Self::take(None, inst))
                }
            }
        }
        match self {
            StopOutcome::Ended(f) => f.take(),
            StopOutcome::Pending(..) => None,
        }
    }

    /// Waits for the stop to end; its failure (once: a later call says `None`).
    async fn wait(&mut self) -> Option<Failure> {
        if let StopOutcome::Pending(rx, inst) = self {
            let r = rx.await;
            *self = StopOutcome::Ended(Self::take(r.ok(), inst));
        }
        match self {
            StopOutcome::Ended(f) => f.take(),
            StopOutcome::Pending(..) => None,
        }
    }

    /// Waits until Tomcat is gone: the watch saw its process end (`ended`), or the stop
    /// ended (its failure, if it failed: Tomcat may run on).
    async fn failure_when_gone(&mut self, ended: oneshot::Receiver<()>) -> Option<Failure> {
        let StopOutcome::Pending(rx, inst) = self else {
            return self.wait().await;
        };
        tokio::select! {
            r = rx => {
                *self = StopOutcome::Ended(Self::take(r.ok(), inst));
                self.wait().await
            }
            // A watch that cannot tell drops its sender: the branch is disabled, and the
            // stop is waited for.
            Ok(()) = ended => None,
        }
    }
}

/// The KeepPrevious step: `Ok(true)` when this run kept the previous release now.
async fn keep_previous(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    progress: &Progress,
    staged: (Option<Previous>, Duration),
) -> Result<bool, Failure> {
    let env = ctx.env;
    let already_touched = progress.war_touched;
    step_with(ctx, inst, Step::KeepPrevious, async {
        // Its events first, its commands once `docker stop` and the watch are sent.
        tokio::task::yield_now().await;
        // Once the previous release is kept, the journal says the WAR may be touched
        // (with the kept mark: one write, while the container stops): a resume then
        // puts that release back, which is harmless before the WAR changes and
        // needed after, and the removal does not wait for a journal write.
        // The mark is what a resume after a crash goes by to put the previous release
        // back: not written, the WAR is not touched (the step fails, the instance is
        // started again as it was).
        match staged {
            (None, _) => {
                // A resume whose journal says so already writes nothing.
                if !already_touched {
                    ctx.run
                        .update_entry_strict(env, inst.name(), |e| e.war_touched = true)
                        .await
                        .map_err(StepError::JournalNotWritten)?;
                }
                Ok((
                    false,
                    Some("previous release already saved by this rollout".into()),
                ))
            }
            (Some(staged), took) => {
                let done = commit_previous(inst, staged).await?;
                // Said whatever the journal does next: the kept releases are as it says.
                if let Some(message) = done.warning {
                    env.emitter.emit(Event::Warning {
                        instance: Some(inst.name().to_string()),
                        message,
                    });
                }
                ctx.run
                    .update_entry_strict(env, inst.name(), |e| {
                        e.kept_previous = true;
                        e.war_touched = true;
                    })
                    .await
                    .map_err(StepError::JournalNotWritten)?;
                Ok((
                    true,
                    Some(format!(
                        "{} (copied while draining, in {:.2}s)",
                        done.detail,
                        took.as_secs_f64()
                    )),
                ))
            }
        }
    })
    .await
}

/// The Remove and Install steps, once Tomcat is gone: the deployed WAR and its exploded
/// directory removed, the prepared copy checked and renamed in place.
async fn replace_deployed(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    progress: &mut Progress,
    prepared: &crate::names::RemotePath,
    source: &Source,
) -> Result<LogMarks, Failure> {
    // The journal said the WAR may be touched with the kept mark, before the stop ended.
    // The prepared copy is checked meanwhile: Tomcat is gone, nothing in its container can
    // replace the copy any more.
    // The host's date, which names today's logs, is asked meanwhile too (after Tomcat's
    // end, which may take up to the stop's grace: one crossing midnight names the new
    // day's logs).
    let mut date = None;
    let removed = step(ctx, inst, Step::Remove, async {
        progress.war_touched = true;
        let (removed, checked, today) = tokio::join!(
            remove_deployed(inst),
            check_prepared(inst, prepared, &source.sha256),
            remote::host_date(inst.transport.as_ref())
        );
        removed.and(checked)?;
        date = Some(today);
        Ok(None)
    })
    .await;
    if let Err(f) = removed {
        discard_prepared(inst, prepared).await;
        return Err(f);
    }

    // Where the logs end is noted while the WAR goes in: Tomcat is gone, so nothing
    // writes them until the start.
    step_with(ctx, inst, Step::Install, async {
        // The rename runs whatever becomes of the date (it removes the copy if it fails).
        let (installed, marks) = tokio::join!(install(inst, prepared, &source.sha256), async {
            let date = match date {
                Some(Ok(today)) => today,
                _ => remote::host_date(inst.transport.as_ref()).await?,
            };
            log_marks(inst, &date).await
        });
        let installed = installed?;
        Ok((marks?, Some(installed)))
    })
    .await
}
