//! What the steps of a run see: [`Env`], the environment every operation on an instance
//! needs (the fleet, its policy, where events go, the stop request), apart from [`Run`],
//! one rollout's own state (its journal, the WAR each instance gets, its id). A manual
//! drain has an `Env` and no `Run`.

use crate::container::ContainerState;
use std::collections::{BTreeMap, HashMap};

use tokio::sync::Mutex;

use super::cancel::CancelToken;
use super::event::{Emitter, Event, Step};
use super::journal::{self, InstanceStatus, Journal, JournalEntry};
use super::stage::Source;
use crate::config::Policy;
use crate::fleet::{Fleet, InstanceHandle};
use crate::sha::Sha256;
use crate::transport::TransportError;
use crate::war::WarFile;

/// The environment of an operation on instances.
pub(crate) struct Env<'a> {
    pub fleet: &'a Fleet,
    pub policy: &'a Policy,
    pub emitter: &'a Emitter<'a>,
    pub cancel: &'a CancelToken,
}

impl<'a> Env<'a> {
    pub(crate) fn new(fleet: &'a Fleet, emitter: &'a Emitter<'a>, cancel: &'a CancelToken) -> Self {
        Env {
            fleet,
            policy: &fleet.topology.policy,
            emitter,
            cancel,
        }
    }

    /// Whether `inst` is the fleet's canary.
    pub(crate) fn is_canary(&self, inst: &InstanceHandle) -> bool {
        self.fleet
            .canary
            .as_ref()
            .is_some_and(|c| c.name() == inst.name())
    }
}

/// What a run does to each instance.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind<'a> {
    /// Deploy this WAR.
    Deploy(&'a WarFile),
    /// Put each instance's previous release back.
    Rollback,
    /// Put the kept release this names on every instance.
    RollbackTo(&'a super::release_ref::ReleaseRef),
}

impl<'a> Kind<'a> {
    pub(crate) fn action(self) -> Action {
        match self {
            Kind::Deploy(_) => Action::Deploy,
            Kind::Rollback | Kind::RollbackTo(_) => Action::Rollback,
        }
    }

    /// The digest every instance gets, when known before the run reads its hosts (`None`: a
    /// rollback, each its own, or the kept release a name resolves to).
    pub(crate) fn sha256(self) -> Option<&'a Sha256> {
        match self {
            Kind::Deploy(war) => Some(&war.sha256),
            Kind::Rollback | Kind::RollbackTo(_) => None,
        }
    }
}

/// What a run does to each instance, as its deployment records say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// A new WAR.
    Deploy,
    /// The previous release back.
    Rollback,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
        }
    }
}

/// One rollout's state.
pub(crate) struct Run {
    pub journal: Mutex<Journal>,
    /// What each instance gets, by instance name.
    pub sources: BTreeMap<String, Source>,
    pub action: Action,
    pub rollout_id: String,
    pub operator: String,
    /// Which instance's return takes the next one out (one reload per transition).
    pub handoff: super::handoff::Handoff,
    /// Where each instance's entry is in the journal (they are fixed when it begins).
    pub positions: HashMap<String, usize>,
    /// Journal lines being written.
    pub appends: super::journal_appends::Appends,
    /// Backends that passed the `max_unavailable` check, until back in rotation.
    pub leaving: super::leaving::Leaving,
    /// What its hooks are told.
    pub hook_vars: RunVars,
    /// Containers' states read while another instance's return took them out (beside that
    /// change), for their drains: by instance name, taken once.
    pub states_read: std::sync::Mutex<HashMap<String, ContainerState>>,
}

/// What every hook of a run is told.
#[derive(Clone)]
pub(crate) struct RunVars {
    pub(crate) rollout_id: String,
    /// The WAR's digest (empty for a rollback: each instance goes back to its own).
    pub(crate) sha256: String,
    pub(crate) commit: Option<String>,
    pub(crate) operator: String,
    /// `deploy` or `rollback`.
    pub(crate) action: &'static str,
    /// `fleet` or `canary`.
    pub(crate) target: &'static str,
}

/// An environment and the run going on in it.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub env: &'a Env<'a>,
    pub run: &'a Run,
}

impl Run {
    /// `instance`'s container state as read beside the change that took it out.
    pub(crate) fn note_state(&self, instance: &str, state: ContainerState) {
        let mut states = self.states_read.lock().unwrap_or_else(|e| e.into_inner());
        states.insert(instance.to_string(), state);
    }

    /// The state [`Run::note_state`] kept for `instance`, once.
    pub(crate) fn take_state(&self, instance: &str) -> Option<ContainerState> {
        let mut states = self.states_read.lock().unwrap_or_else(|e| e.into_inner());
        states.remove(instance)
    }

    /// Updates an instance's journal entry and writes the journal (best effort: a journal
    /// that cannot be written is a warning, the rollout itself goes on).
    pub(crate) async fn update_entry(
        &self,
        env: &Env<'_>,
        instance: &str,
        f: impl FnOnce(&mut JournalEntry),
    ) {
        if let Err(e) = self.update_entry_strict(env, instance, f).await {
            env.emitter.emit(Event::Warning {
                instance: Some(instance.to_string()),
                message: format!("journal not written: {e}"),
            });
        }
    }

    /// Like [`Run::update_entry`], but a journal that cannot be written is an error: for
    /// facts a resume cannot do without (whether the canary's route was open). The entry
    /// in memory is updated either way.
    pub(crate) async fn update_entry_strict(
        &self,
        env: &Env<'_>,
        instance: &str,
        f: impl FnOnce(&mut JournalEntry),
    ) -> Result<(), TransportError> {
        self.update_entries_strict(env, [(instance, f)]).await
    }

    /// Like [`Run::update_entry_strict`] for several entries, written in one append (one
    /// round trip to the load balancer's host where each would take its own).
    pub(crate) async fn update_entries_strict<'i, F: FnOnce(&mut JournalEntry)>(
        &self,
        env: &Env<'_>,
        changes: impl IntoIterator<Item = (&'i str, F)>,
    ) -> Result<(), TransportError> {
        let queued: Vec<_> = {
            let mut j = self.journal.lock().await;
            (changes.into_iter())
                .filter_map(|(instance, f)| {
                    let e = (self.positions.get(instance)).and_then(|&i| j.instances.get_mut(i))?;
                    f(e);
                    // Queued under the journal's lock: lines are written in the order
                    // entries change, all of them by the first write below.
                    Some(self.appends.queue(journal::entry_line(e)))
                })
                .collect()
        };
        let (t, dir) = (env.fleet.lb_transport.as_ref(), &env.fleet.lb_state_dir);
        for queued in queued {
            (self.appends)
                .written(queued, |bytes| journal::append_lines(t, dir, bytes))
                .await?;
        }
        Ok(())
    }

    /// The journal entry of `instance`, as it is now.
    pub(crate) async fn entry(&self, instance: &str) -> Option<JournalEntry> {
        let j = self.journal.lock().await;
        self.positions
            .get(instance)
            .and_then(|&i| j.instances.get(i))
            .cloned()
    }

    /// What the journal remembers of the canary's route before this rollout closed it.
    pub(crate) async fn canary_was_open(&self, instance: &str) -> Option<bool> {
        self.entry(instance).await.and_then(|e| e.canary_was_open)
    }
}

impl Ctx<'_> {
    pub(crate) async fn update_entry(&self, instance: &str, f: impl FnOnce(&mut JournalEntry)) {
        self.run.update_entry(self.env, instance, f).await;
    }

    pub(crate) async fn set_step(&self, instance: &str, step: Step) {
        self.update_entry(instance, |e| {
            e.status = InstanceStatus::InProgress;
            e.step = Some(step);
        })
        .await;
    }

    pub(crate) async fn set_status(
        &self,
        instance: &str,
        status: InstanceStatus,
        error: Option<String>,
    ) {
        self.update_entry(instance, |e| {
            e.status = status;
            e.error = error;
            // An attempt that ended without the update is over: a later one runs its
            // hooks again.
            if !matches!(status, InstanceStatus::Updated | InstanceStatus::InProgress) {
                e.hooks_done.clear();
            }
        })
        .await;
    }

    /// The WAR prepared for `inst`.
    pub(crate) fn source(&self, inst: &InstanceHandle) -> Result<&Source, super::step::StepError> {
        self.run
            .sources
            .get(inst.name())
            .ok_or_else(|| super::step::StepError::NotStaged {
                instance: inst.name().to_string(),
                host: inst.config.host.clone(),
            })
    }
}
