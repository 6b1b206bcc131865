//! [`Handoff`]: which instances of a run are next, for one reload per transition (see
//! [`transition`](super::transition)): an instance coming back into rotation and the next one going
//! out are ONE change of the load balancer ([`LoadBalancer::swap`]: one edit, one `nginx -t`,
//! one reload), where two reloads each closed the old workers' idle keep-alive connections.
//!
//! With `max_unavailable` = k above one, the run goes in waves of k instances: the members
//! of a wave ready to come back wait for each other ([`Handoff::wait_for_wave`]; one that
//! fails or is rolled back is not waited for), then each claims its own next instance (the
//! first not yet started nor claimed), so their swaps are asked for together and the load
//! balancer makes them as one change: the whole wave back and the next one out with one
//! reload (see `lb/nginx/batch.rs`). A claimed instance does not start until its claim is
//! settled (it is out, or the swap did not happen); the others start as usual.
//!
//! Same safety as two changes: the instance coming back is healthy and its log clean (the
//! swap is its Enable step), the one going out has not started, and the number out of
//! rotation does not change (checked against what the load balancer says). The next
//! instance then starts with its Disable step already done. If the swap is refused, the
//! instance comes back alone and the next one takes itself out as usual; if nginx's state
//! is unknown after it (its restore failed), the next one is put back and this one's Enable
//! fails, so its rollback handles it.
//!
//! [`LoadBalancer::swap`]: crate::lb::LoadBalancer::swap

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

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
    /// Slot of each name.
    index: HashMap<String, usize>,
    state: std::sync::Mutex<State>,
    /// A claim was settled: an instance waiting to start looks again.
    settled: Notify,
    /// Instances per wave (`max_unavailable`).
    wave_size: usize,
    /// A member of a wave is ready to come back or has ended: the others look again.
    wave_moved: Notify,
    /// An instance failed: no further instance leaves rotation.
    failed: AtomicBool,
    /// Each instance takes itself out (no claims): its pre-instance hooks come first.
    alone: bool,
}

#[derive(Default)]
struct State {
    started: Vec<bool>,
    /// Every slot before this one has started: where the search for the next begins, so
    /// that a claim costs O(max_unavailable), not O(instances).
    first_unstarted: usize,
    /// Slots claimed by a swap under way: they do not start until it is settled.
    claimed: BTreeSet<usize>,
    /// Instances already out of rotation, by the name of the one whose return took them out.
    taken_out: BTreeMap<String, String>,
    /// How far each slot is: 0 on its way, 1 ready to come back, 2 at its change of the
    /// load balancer (or ended otherwise).
    reached: Vec<u8>,
    /// Per wave, its members not yet ready to come back (index 0) and not yet at their
    /// change (index 1).
    waiting_for: Vec<[usize; 2]>,
}

impl Handoff {
    /// `todo` in order, in waves of `wave_size`.
    pub(crate) fn new(todo: &[&InstanceHandle], canary: Option<&str>, wave_size: usize) -> Self {
        let wave_size = wave_size.max(1);
        let slots: Vec<Slot> = todo
            .iter()
            .map(|i| Slot {
                name: i.name().to_string(),
                backend: i.config.backend.clone(),
                upstream: canary != Some(i.name()),
            })
            .collect();
        Handoff {
            index: slots
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.clone(), i))
                .collect(),
            state: std::sync::Mutex::new(State {
                started: vec![false; slots.len()],
                reached: vec![0; slots.len()],
                waiting_for: (0..slots.len().div_ceil(wave_size))
                    .map(|w| [wave_size.min(slots.len() - w * wave_size); 2])
                    .collect(),
                ..State::default()
            }),
            slots,
            settled: Notify::new(),
            wave_size,
            wave_moved: Notify::new(),
            failed: AtomicBool::new(false),
            alone: false,
        }
    }

    /// With `alone`, no instance is taken out by another one's return.
    pub(crate) fn alone(mut self, alone: bool) -> Self {
        self.alone = alone;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `name` starts, once a claim on it is settled: `Some(previous)` if the return of
    /// `previous` took it out already.
    pub(crate) async fn start(&self, name: &str) -> Option<String> {
        let Some(&i) = self.index.get(name) else {
            return self.lock().taken_out.remove(name);
        };
        loop {
            // Registered before the state is looked at: a claim settled in between wakes it.
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            {
                let mut s = self.lock();
                if !s.claimed.contains(&i) {
                    s.started[i] = true;
                    while s.started.get(s.first_unstarted) == Some(&true) {
                        s.first_unstarted += 1;
                    }
                    return s.taken_out.remove(name);
                }
            }
            settled.await;
        }
    }

    pub(crate) fn set_failed(&self) {
        self.failed.store(true, Ordering::SeqCst);
        // Nobody waits for a wave after a failure: each comes back on its own.
        self.wave_moved.notify_waiters();
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// `name` has ended (it came back, was rolled back or never started): its wave no
    /// longer waits for it.
    pub(crate) fn ended(&self, name: &str) {
        self.reach(name, 2);
    }

    /// Marks `name` as having reached `point` (1 ready to come back, 2 at its change).
    fn reach(&self, name: &str, point: u8) -> Option<usize> {
        let &i = self.index.get(name)?;
        let wave = i / self.wave_size;
        let moved = {
            let mut s = self.lock();
            let was = s.reached[i];
            for p in was..point {
                s.waiting_for[wave][usize::from(p)] -= 1;
            }
            s.reached[i] = was.max(point);
            was < point
        };
        if moved {
            self.wave_moved.notify_waiters();
        }
        Some(wave)
    }

    /// Marks `name` as having reached `point` and waits until every member of its wave has
    /// too (or has ended). Returns at once after a failure.
    async fn wait_at(&self, name: &str, point: u8) {
        let Some(wave) = self.reach(name, point) else {
            return;
        };
        loop {
            let moved = self.wave_moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if self.failed() || self.lock().waiting_for[wave][usize::from(point) - 1] == 0 {
                return;
            }
            moved.await;
        }
    }

    /// `name` is healthy and ready to come back: waits until every member of its wave is
    /// too (or has ended), so that they come back together.
    pub(crate) async fn wait_for_wave(&self, name: &str) {
        self.wait_at(name, 1).await;
    }

    /// `name` is about to ask the load balancer for its change (its return, with the next
    /// one's going out): waits until every member of its wave is, so that their changes are
    /// asked for at the same moment and made as one.
    pub(crate) async fn wait_for_wave_change(&self, name: &str) {
        self.wait_at(name, 2).await;
    }

    /// The next instance to start that no other swap has claimed or taken out already, if
    /// it is a server of the upstream; it does not start while the claim is held.
    pub(crate) fn claim_next(&self) -> Option<Claim<'_>> {
        if self.alone {
            return None;
        }
        let mut s = self.lock();
        let at = (s.first_unstarted..self.slots.len()).find(|&i| {
            !s.started[i]
                && !s.claimed.contains(&i)
                && !s.taken_out.contains_key(&self.slots[i].name)
        })?;
        let slot = &self.slots[at];
        if !slot.upstream {
            return None;
        }
        s.claimed.insert(at);
        Some(Claim {
            handoff: self,
            at,
            name: slot.name.clone(),
            backend: slot.backend.clone(),
            taken_out_by: None,
        })
    }
}

/// The next instance, held back from starting until the claim is dropped.
pub(crate) struct Claim<'a> {
    handoff: &'a Handoff,
    at: usize,
    /// Its name.
    pub name: String,
    /// Its backend address.
    pub backend: String,
    taken_out_by: Option<String>,
}

impl Claim<'_> {
    /// It is out of rotation now, by `by`'s return: it starts without taking itself out.
    pub(crate) fn taken_out_by(mut self, by: &str) {
        self.taken_out_by = Some(by.to_string());
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        {
            let mut s = self.handoff.lock();
            if let Some(by) = self.taken_out_by.take() {
                s.taken_out.insert(self.name.clone(), by);
            }
            s.claimed.remove(&self.at);
        }
        self.handoff.settled.notify_waiters();
    }
}
