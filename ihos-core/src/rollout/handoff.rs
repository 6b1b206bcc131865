//! [`Handoff`]: which instance of a run is next, for one reload per transition (see
//! [`transition`](super::transition)): an instance coming back into rotation and the next one going
//! out are ONE change of the load balancer ([`LoadBalancer::swap`]: one edit, one `nginx -t`,
//! one reload), where two reloads each closed the old workers' idle keep-alive connections.
//!
//! Same safety as two changes: the instance coming back is healthy and its log clean (the
//! swap is its Enable step), the one going out is the next not yet started, and the number
//! out of rotation does not change (checked against what the load balancer says). The next
//! instance then starts with its Disable step already done. If the swap is refused, the
//! instance comes back alone and the next one takes itself out as usual; if nginx's state
//! is unknown after it (its restore failed), the next one is put back and this one's Enable
//! fails, so its rollback handles it.
//!
//! [`LoadBalancer::swap`]: crate::lb::LoadBalancer::swap

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Mutex;

use tokio::sync::MutexGuard;

use crate::fleet::InstanceHandle;

/// An instance of the run, as the handoff needs it.
struct Slot {
    name: String,
    backend: String,
    /// A server of the upstream (not the canary, which has its route instead).
    upstream: bool,
}

/// The run's instances in order and which have started.
pub(crate) struct Handoff {
    slots: Vec<Slot>,
    state: Mutex<State>,
    /// An instance failed: no further instance leaves rotation.
    failed: AtomicBool,
}

#[derive(Default)]
struct State {
    started: BTreeSet<usize>,
    /// Instances already out of rotation, by the name of the one whose return took them out.
    taken_out: BTreeMap<String, String>,
}

impl Handoff {
    pub(crate) fn new(todo: &[&InstanceHandle], canary: Option<&str>) -> Self {
        Handoff {
            slots: todo
                .iter()
                .map(|i| Slot {
                    name: i.name().to_string(),
                    backend: i.config.backend.clone(),
                    upstream: canary != Some(i.name()),
                })
                .collect(),
            state: Mutex::new(State::default()),
            failed: AtomicBool::new(false),
        }
    }

    /// `name` starts: `Some(previous)` if the return of `previous` took it out already.
    pub(crate) async fn start(&self, name: &str) -> Option<String> {
        let mut s = self.state.lock().await;
        if let Some(i) = self.slots.iter().position(|x| x.name == name) {
            s.started.insert(i);
        }
        s.taken_out.remove(name)
    }

    pub(crate) fn set_failed(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// The next instance to start, if it has not started and is a server of the upstream;
    /// while the claim is held, no instance starts.
    pub(crate) async fn claim_next(&self) -> Option<Claim<'_>> {
        let guard = self.state.lock().await;
        let next = (0..self.slots.len())
            .find(|i| !guard.started.contains(i))
            .map(|i| &self.slots[i])
            .filter(|n| n.upstream && !guard.taken_out.contains_key(&n.name))?;
        Some(Claim {
            guard,
            name: next.name.clone(),
            backend: next.backend.clone(),
        })
    }
}

/// The next instance, held back from starting until the claim is dropped.
pub(crate) struct Claim<'a> {
    guard: MutexGuard<'a, State>,
    /// Its name.
    pub name: String,
    /// Its backend address.
    pub backend: String,
}

impl Claim<'_> {
    /// It is out of rotation now, by `by`'s return: it starts without taking itself out.
    pub(crate) fn taken_out_by(mut self, by: &str) {
        self.guard
            .taken_out
            .insert(self.name.clone(), by.to_string());
    }
}
