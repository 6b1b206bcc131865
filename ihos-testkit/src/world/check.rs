//! What the [`InvariantChecker`](crate::InvariantChecker) sees of the world: the
//! violations holding now, read from every nginx container and the apps behind its
//! upstream, evaluated after every operation (and whenever the world is queried).
//!
//! Evaluated incrementally, so that a whole-fleet run costs the checker O(changes), not
//! O(backends) per operation: an nginx container started or stopped is looked at whole; a
//! reload through the backends it put in or out of rotation (`rerouted`); otherwise only
//! the backends of the app containers that changed and the violations already holding (a phase also changes with time alone, always towards
//! ready: Tomcat's "started" is an event of its own). In small worlds (the tests) every
//! evaluation is also made whole and the two must agree.

use std::collections::{BTreeMap, BTreeSet};

use super::World;
use crate::clock::VirtualTime;
use crate::container::AppPhase;
use crate::invariant::{Cause, ViolationKind};

/// Up to this many registered backends, each incremental evaluation is checked against a
/// whole one.
const CROSS_CHECK_UP_TO: usize = 64;

/// What the incremental evaluation keeps between two evaluations.
#[derive(Debug, Default)]
pub(crate) struct CheckState {
    /// Containers with an event since the last evaluation, (host, name).
    pub touched: BTreeSet<(String, String)>,
    /// Everything is to be looked at (a setting or the registry changed).
    pub whole: bool,
    /// Per nginx container (`host/name`): the backends it routes to whose app is not ready,
    /// with their phase.
    pub routed: BTreeMap<String, BTreeMap<String, AppPhase>>,
    /// Per nginx container: the backends a reload put in or out of rotation since the last
    /// evaluation (a reload is looked at through these, not whole).
    pub rerouted: BTreeMap<String, BTreeSet<String>>,
}

impl World {
    /// The routed-to-unavailable backends of the nginx container `(host, name)`.
    fn unavailable_routed(
        &self,
        host: &str,
        name: &str,
        now: VirtualTime,
    ) -> BTreeMap<String, AppPhase> {
        let Some(c) = self.ctr(host, name) else {
            return BTreeMap::new();
        };
        c.nginx
            .routing
            .iter()
            .filter_map(|addr| match self.backend_phase(addr, now) {
                None | Some(AppPhase::Ready) => None,
                Some(phase) => Some((addr.clone(), phase)),
            })
            .collect()
    }

    /// Brings the routed-to-unavailable sets up to date with what changed.
    fn update_routed(&mut self, now: VirtualTime) {
        let whole = std::mem::take(&mut self.check.whole);
        let touched = std::mem::take(&mut self.check.touched);
        let mut rerouted = std::mem::take(&mut self.check.rerouted);
        let changed_addrs: BTreeSet<String> = touched
            .iter()
            .flat_map(|(h, n)| self.addresses_of(h, n))
            .collect();
        let lbs: Vec<(String, String)> = self.lbs.iter().cloned().collect();
        for (host, name) in lbs {
            let lb = format!("{host}/{name}");
            let running = self.ctr(&host, &name).is_some_and(|c| c.running);
            if !running {
                self.check.routed.remove(&lb);
                continue;
            }
            if whole
                || touched.contains(&(host.clone(), name.clone()))
                || !self.check.routed.contains_key(&lb)
            {
                let now_set = self.unavailable_routed(&host, &name, now);
                self.check.routed.insert(lb, now_set);
                continue;
            }
            let c = self.ctr(&host, &name).expect("listed");
            let mut look: BTreeSet<&String> = changed_addrs
                .iter()
                .filter(|a| c.nginx.routing.contains(*a))
                .collect();
            let held = &self.check.routed[&lb];
            look.extend(held.keys());
            let rerouted = rerouted.remove(&lb).unwrap_or_default();
            look.extend(rerouted.iter());
            let updates: Vec<(String, Option<AppPhase>)> = look
                .into_iter()
                .map(|addr| {
                    let phase = c
                        .nginx
                        .routing
                        .contains(addr)
                        .then(|| self.backend_phase(addr, now))
                        .flatten()
                        .filter(|p| *p != AppPhase::Ready);
                    (addr.clone(), phase)
                })
                .collect();
            let held = self.check.routed.get_mut(&lb).expect("present");
            for (addr, phase) in updates {
                match phase {
                    Some(p) => held.insert(addr, p),
                    None => held.remove(&addr),
                };
            }
        }
    }

    /// The violations holding at `now`, keyed so that an ongoing one is recognized.
    fn current_violations(&mut self, now: VirtualTime) -> Vec<(String, ViolationKind)> {
        self.update_routed(now);
        let found = self.violations_from_routed();
        if self.registry.len() <= CROSS_CHECK_UP_TO {
            let mut whole = self.whole_violations(now);
            let mut incremental = found.clone();
            whole.sort_by(|a, b| a.0.cmp(&b.0));
            incremental.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(
                incremental, whole,
                "the invariant checker's incremental evaluation disagrees with a whole one"
            );
        }
        found
    }

    /// The violations, from the routed sets and each nginx's rotation.
    fn violations_from_routed(&self) -> Vec<(String, ViolationKind)> {
        let mut found = Vec::new();
        let mut union: BTreeSet<&String> = BTreeSet::new();
        let mut running_lbs = 0;
        for (host, name) in &self.lbs {
            let Some(c) = self.ctr(host, name) else {
                continue;
            };
            let lb = format!("{host}/{name}");
            if !c.running {
                found.push((format!("down|{lb}"), ViolationKind::LbDown { lb }));
                continue;
            }
            let empty = BTreeMap::new();
            let routed = self.check.routed.get(&lb).unwrap_or(&empty);
            for (addr, phase) in routed {
                found.push((
                    format!("routed|{lb}|{addr}|{phase:?}"),
                    ViolationKind::RoutedToUnavailable {
                        lb: lb.clone(),
                        backend: addr.clone(),
                        phase: *phase,
                    },
                ));
            }
            if c.nginx.routing.len() == routed.len() {
                found.push((
                    format!("none|{lb}"),
                    ViolationKind::NoActiveBackend { lb: lb.clone() },
                ));
            }
            running_lbs += 1;
            // Every server routed to is one of the config's servers (both come from the
            // config nginx loaded), so this is the number out.
            let out_count = c.nginx.servers.len().saturating_sub(c.nginx.routing.len());
            let out = || {
                c.nginx
                    .servers
                    .iter()
                    .filter(|a| !c.nginx.routing.contains(*a))
            };
            if self.lbs.len() > 1 {
                union.extend(out());
            }
            if out_count > self.checker.max_out_of_rotation {
                found.push((
                    format!("out|{lb}"),
                    ViolationKind::TooManyOutOfRotation {
                        lb,
                        out_of_rotation: out().cloned().collect(),
                        max: self.checker.max_out_of_rotation,
                    },
                ));
            }
        }
        if running_lbs > 1 {
            found.extend(self.union_violation(union.into_iter().cloned().collect()));
        }
        found
    }

    /// The violations holding at `now`, every nginx container and backend looked at.
    fn whole_violations(&self, now: VirtualTime) -> Vec<(String, ViolationKind)> {
        let mut found = Vec::new();
        // Out of rotation on any load balancer is out for the users that one serves: with
        // several, the limit holds over the union (DESIGN.md invariant 1).
        let mut union: BTreeSet<String> = Default::default();
        let mut running_lbs = 0;
        for (hname, h) in &self.hosts {
            for (cname, c) in &h.containers {
                if c.nginx_spec().is_none() {
                    continue;
                }
                let lb = format!("{hname}/{cname}");
                if !c.running {
                    found.push((format!("down|{lb}"), ViolationKind::LbDown { lb }));
                    continue;
                }
                let mut answering = 0;
                for addr in &c.nginx.routing {
                    match self.backend_phase(addr, now) {
                        None | Some(AppPhase::Ready) => answering += 1,
                        Some(phase) => found.push((
                            format!("routed|{lb}|{addr}|{phase:?}"),
                            ViolationKind::RoutedToUnavailable {
                                lb: lb.clone(),
                                backend: addr.clone(),
                                phase,
                            },
                        )),
                    }
                }
                if answering == 0 {
                    found.push((
                        format!("none|{lb}"),
                        ViolationKind::NoActiveBackend { lb: lb.clone() },
                    ));
                }
                let out: Vec<String> = c
                    .nginx
                    .servers
                    .iter()
                    .filter(|a| !c.nginx.routing.contains(*a))
                    .cloned()
                    .collect();
                running_lbs += 1;
                union.extend(out.iter().cloned());
                if out.len() > self.checker.max_out_of_rotation {
                    found.push((
                        format!("out|{lb}"),
                        ViolationKind::TooManyOutOfRotation {
                            lb,
                            out_of_rotation: out,
                            max: self.checker.max_out_of_rotation,
                        },
                    ));
                }
            }
        }
        if running_lbs > 1 {
            found.extend(self.union_violation(union.into_iter().collect()));
        }
        found
    }

    /// Too many out of rotation over several load balancers together (DESIGN.md
    /// invariant 1: out on any one is out for the users that one serves).
    fn union_violation(&self, out: Vec<String>) -> Option<(String, ViolationKind)> {
        (out.len() > self.checker.max_out_of_rotation).then(|| {
            (
                "out|union".to_string(),
                ViolationKind::TooManyOutOfRotation {
                    lb: "all load balancers together".into(),
                    out_of_rotation: out,
                    max: self.checker.max_out_of_rotation,
                },
            )
        })
    }

    /// Evaluates the invariants now; `cause`: the operation just done (`None`: time
    /// passing).
    pub(crate) fn evaluate(&mut self, cause: Option<Cause>) {
        let now = self.now();
        let cuts = std::mem::take(&mut self.cuts);
        let deployed_changes = std::mem::take(&mut self.deployed_changes);
        for (_, count, _) in &cuts {
            self.checker.requests_failed += count;
        }
        if !self.checker.start_check() {
            return;
        }
        if !self.dirty && cuts.is_empty() && deployed_changes.is_empty() {
            // Nothing the invariants depend on changed: the same violations hold.
            return;
        }
        self.dirty = false;
        let current = self.current_violations(now);
        self.checker
            .record(now, current, cuts, deployed_changes, cause);
    }
}
