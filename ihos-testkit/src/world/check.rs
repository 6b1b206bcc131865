//! What the [`InvariantChecker`](crate::InvariantChecker) sees of the world: the
//! violations holding now, read from every nginx container and the apps behind its
//! upstream, evaluated after every operation (and whenever the world is queried).

use super::World;
use crate::clock::VirtualTime;
use crate::container::AppPhase;
use crate::invariant::{Cause, ViolationKind};

impl World {
    /// The violations holding at `now`, keyed so that an ongoing one is recognized.
    fn current_violations(&self, now: VirtualTime) -> Vec<(String, ViolationKind)> {
        let mut found = Vec::new();
        // Out of rotation on any load balancer is out for the users that one serves: with
        // several, the limit holds over the union (DESIGN.md invariant 1).
        let mut union: std::collections::BTreeSet<String> = Default::default();
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
                let all = &c.nginx.servers;
                let out: Vec<String> = all
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
        if running_lbs > 1 && union.len() > self.checker.max_out_of_rotation {
            found.push((
                "out|union".to_string(),
                ViolationKind::TooManyOutOfRotation {
                    lb: "all load balancers together".into(),
                    out_of_rotation: union.into_iter().collect(),
                    max: self.checker.max_out_of_rotation,
                },
            ));
        }
        found
    }

    /// Evaluates the invariants now; `cause`: the operation just done (`None`: time
    /// passing).
    pub(crate) fn evaluate(&mut self, cause: Option<Cause>) {
        let now = self.now();
        let cuts = std::mem::take(&mut self.cuts);
        for (_, count, _) in &cuts {
            self.checker.requests_failed += count;
        }
        if !self.checker.start_check() {
            return;
        }
        if !self.dirty && cuts.is_empty() {
            // Nothing the invariants depend on changed: the same violations hold.
            return;
        }
        self.dirty = false;
        let current = self.current_violations(now);
        self.checker.record(now, current, cuts, cause);
    }
}
