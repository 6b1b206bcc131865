//! [`MultiLb`]: several load balancers with the same upstream (an nginx pair behind
//! keepalived, DNS or an SLB) driven as one: a backend is in rotation only when it is in on
//! every one of them, and every change is made on all of them or on none.
//!
//! A change goes to every load balancer at once; if one refuses or fails, the ones that
//! changed have it undone, so the instance is not touched with traffic still reaching it
//! from one side. Rotation changes asked for at the same moment (the instances of a wave)
//! are not made one after the other: each goes to every member at once, where each
//! member makes the ones asked together as one edit and one reload; so a rotation change
//! is undone by its inverse (the server back in, or out again), never by putting back the
//! bytes it saw, which another change of the same edit may follow.

use async_trait::async_trait;

use super::all_or_none::all_or_none_with;
use super::{Backend, LbChange, LbError, LoadBalancer};
use std::sync::Arc;

/// Several load balancers as one.
pub struct MultiLb {
    lbs: Vec<Arc<dyn LoadBalancer>>,
}

impl MultiLb {
    /// Drives `lbs` (at least one) together; their order is the order of reports.
    pub fn new(lbs: Vec<Arc<dyn LoadBalancer>>) -> Self {
        MultiLb { lbs }
    }

    /// The load balancers, in order.
    pub fn members(&self) -> &[Arc<dyn LoadBalancer>] {
        &self.lbs
    }

    /// Puts `address` in (`enable`) or out of rotation on every load balancer, or on none:
    /// where it changed, the inverse change undoes it.
    async fn rotate(&self, address: &str, enable: bool) -> Result<LbChange, LbError> {
        all_or_none_with(
            &self.lbs,
            |lb| Box::pin(turn(lb, address, enable)),
            |lb, _before| Box::pin(async move { turn(lb, address, !enable).await.map(|_| ()) }),
        )
        .await
    }
}

/// `address` in or out of rotation on one load balancer.
async fn turn(lb: &dyn LoadBalancer, address: &str, enable: bool) -> Result<LbChange, LbError> {
    match enable {
        true => lb.enable(address).await,
        false => lb.disable(address).await,
    }
}

/// Merges each load balancer's view of the upstream: a backend is enabled only where every
/// load balancer has it enabled; one that some do not list is an error (they must share
/// the upstream).
fn merge(views: Vec<Vec<Backend>>) -> Result<Vec<Backend>, String> {
    let mut views = views.into_iter();
    let Some(mut merged) = views.next() else {
        return Ok(Vec::new());
    };
    for (n, view) in views.enumerate() {
        let other = n + 2;
        for b in &mut merged {
            match view.iter().find(|v| v.address == b.address) {
                Some(v) if !v.state.is_enabled() && b.state.is_enabled() => b.state = v.state,
                Some(_) => {}
                None => {
                    return Err(format!(
                        "backend {} is in the first load balancer's upstream but not in load balancer {other}'s",
                        b.address
                    ));
                }
            }
        }
        if let Some(v) = view
            .iter()
            .find(|v| !merged.iter().any(|b| b.address == v.address))
        {
            return Err(format!(
                "backend {} is in load balancer {other}'s upstream but not in the first one's",
                v.address
            ));
        }
    }
    Ok(merged)
}

#[async_trait]
impl LoadBalancer for MultiLb {
    async fn backends(&self) -> Result<Vec<Backend>, LbError> {
        // One round trip's time for all of them, not one each.
        let views =
            futures_util::future::try_join_all(self.lbs.iter().map(|lb| lb.backends())).await?;
        merge(views).map_err(|reason| LbError::Inconsistent { reason })
    }

    async fn disable(&self, address: &str) -> Result<LbChange, LbError> {
        self.rotate(address, false).await
    }

    async fn enable(&self, address: &str) -> Result<LbChange, LbError> {
        self.rotate(address, true).await
    }

    /// In two changes, not one: `enable` back on every load balancer, then `disable` out
    /// on every one. Swapping on each in turn would leave, between two of them, `enable`
    /// still out on one and `disable` already out on another: two out over the union.
    async fn swap(&self, enable: &str, disable: &str) -> Result<LbChange, LbError> {
        let back = self.enable(enable).await?;
        let out = match self.disable(disable).await {
            Ok(out) => out,
            // `enable` is back everywhere; `disable`'s state is unknown somewhere: back in
            // on all (applied where the file already says so), and the caller told only that
            // the swap failed, so `enable` is not rolled back for `disable`'s trouble.
            Err(mut e @ LbError::RestoreFailed { .. }) => {
                // Every member is tried, whatever another did: one that fails must not
                // leave the next one's state unknown too.
                let tried = futures_util::future::join_all(self.lbs.iter().map(|lb| async {
                    match lb.enable(disable).await {
                        Ok(c) if !c.changed() => lb.apply().await,
                        Ok(_) => Ok(()),
                        Err(again) => Err(again),
                    }
                }))
                .await;
                let still: Vec<String> = tried
                    .into_iter()
                    .filter_map(|r| r.err().map(|again| again.to_string()))
                    .collect();
                if !still.is_empty() {
                    // Still unknown somewhere: the restore failure is what the caller
                    // must see (a plain error would read as "nothing changed").
                    if let LbError::RestoreFailed { restore, .. } = &mut e {
                        restore.push_str(&format!(
                            "; putting {disable} back in rotation failed too: {}",
                            still.join("; ")
                        ));
                    }
                    return Err(e);
                }
                return Err(LbError::Apply {
                    host: "the load balancers".into(),
                    path: String::new(),
                    reason: format!(
                        "taking {disable} out failed ({e}); it is back in rotation on all of them"
                    ),
                });
            }
            Err(e) => return Err(e),
        };
        Ok(LbChange {
            message: format!("{}; {}", back.message, out.message),
            diff: format!("{}{}", back.diff, out.diff),
            before: back.before,
            after: out.after,
        })
    }

    /// Every member is made to apply its file, whatever another did (one that fails must
    /// not leave the next one running something else); the first failure is returned.
    async fn apply(&self) -> Result<(), LbError> {
        let applied = futures_util::future::join_all(self.lbs.iter().map(|lb| lb.apply())).await;
        applied.into_iter().collect()
    }

    async fn check(&self) -> Result<(), LbError> {
        for lb in &self.lbs {
            lb.check().await?;
        }
        Ok(())
    }

    /// Each has its own file: refused ([`MultiLb::members`] reaches each one).
    async fn config(&self) -> Result<Vec<u8>, LbError> {
        Err(LbError::Inconsistent {
            reason: "several load balancers have one config file each: read each one's".into(),
        })
    }

    /// Each has its own file: refused ([`MultiLb::members`] reaches each one).
    async fn restore(&self, _bytes: &[u8]) -> Result<(), LbError> {
        Err(LbError::Inconsistent {
            reason: "several load balancers have one config file each: restore each one's".into(),
        })
    }

    async fn old_workers(&self) -> Result<usize, LbError> {
        // Asked every second while draining: all at once.
        let counts =
            futures_util::future::try_join_all(self.lbs.iter().map(|lb| lb.old_workers())).await?;
        Ok(counts.into_iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::ServerState;

    fn view(states: &[(&str, ServerState)]) -> Vec<Backend> {
        states
            .iter()
            .enumerate()
            .map(|(i, (a, s))| Backend {
                address: a.to_string(),
                state: *s,
                line: i as u32 + 1,
            })
            .collect()
    }

    #[test]
    fn a_backend_is_in_rotation_only_where_every_load_balancer_routes_to_it() {
        use ServerState::{Commented, Enabled};
        let merged = merge(vec![
            view(&[("a:1", Enabled), ("b:1", Enabled), ("c:1", Enabled)]),
            view(&[("a:1", Enabled), ("b:1", Commented), ("c:1", Enabled)]),
        ])
        .unwrap();
        let out: Vec<&str> = merged
            .iter()
            .filter(|b| !b.state.is_enabled())
            .map(|b| b.address.as_str())
            .collect();
        assert_eq!(out, ["b:1"]);
        // They must list the same backends, whichever side has more.
        let e = merge(vec![
            view(&[("a:1", Enabled), ("b:1", Enabled)]),
            view(&[("a:1", Enabled)]),
        ])
        .unwrap_err();
        assert!(e.contains("b:1") && e.contains("load balancer 2"), "{e}");
        let e = merge(vec![
            view(&[("a:1", Enabled)]),
            view(&[("a:1", Enabled), ("z:1", Enabled)]),
        ])
        .unwrap_err();
        assert!(e.contains("z:1"), "{e}");
    }

    /// A load balancer whose `disable` fails with its own restore failing (or changes
    /// the file), whose `enable` finds the file as it is, and whose `apply` works or not.
    struct Scripted {
        host: &'static str,
        disable_fails: bool,
        apply_works: bool,
        applied: std::sync::atomic::AtomicUsize,
    }

    impl Scripted {
        fn new(host: &'static str, disable_fails: bool, apply_works: bool) -> Arc<Scripted> {
            Arc::new(Scripted {
                host,
                disable_fails,
                apply_works,
                applied: Default::default(),
            })
        }
        fn change(before: &[u8], after: &[u8]) -> LbChange {
            LbChange {
                before: before.to_vec(),
                after: after.to_vec(),
                diff: String::new(),
                message: "done".into(),
            }
        }
    }

    #[async_trait]
    impl LoadBalancer for Scripted {
        async fn backends(&self) -> Result<Vec<Backend>, LbError> {
            Ok(Vec::new())
        }
        async fn disable(&self, _address: &str) -> Result<LbChange, LbError> {
            match self.disable_fails {
                true => Err(LbError::RestoreFailed {
                    host: self.host.into(),
                    path: "/n.conf".into(),
                    failure: "reload timed out".into(),
                    restore: "disk full".into(),
                }),
                false => Ok(Scripted::change(b"in", b"out")),
            }
        }
        async fn enable(&self, _address: &str) -> Result<LbChange, LbError> {
            // The file already says "in": nginx may still run something else.
            Ok(Scripted::change(b"in", b"in"))
        }
        async fn apply(&self) -> Result<(), LbError> {
            self.applied
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match self.apply_works {
                true => Ok(()),
                false => Err(LbError::Apply {
                    host: self.host.into(),
                    path: "/n.conf".into(),
                    reason: "nginx is not running".into(),
                }),
            }
        }
        async fn check(&self) -> Result<(), LbError> {
            Ok(())
        }
        async fn config(&self) -> Result<Vec<u8>, LbError> {
            Ok(Vec::new())
        }
        async fn restore(&self, _bytes: &[u8]) -> Result<(), LbError> {
            Ok(())
        }
        async fn old_workers(&self) -> Result<usize, LbError> {
            Ok(0)
        }
    }

    #[tokio::test]
    async fn a_swap_whose_take_out_left_nginx_unknown_tries_every_member_and_says_restore_failed() {
        // The first member's take-out fails and so does putting its file back; making it
        // apply the file that says "in" fails too. The second must still be made to apply
        // it, and the caller must hear a restore failure, not a plain one ("nothing
        // changed" would be false).
        let first = Scripted::new("lb1", true, false);
        let second = Scripted::new("lb2", false, true);
        let multi = MultiLb::new(vec![first.clone(), second.clone()]);
        let e = multi.swap("a:1", "b:1").await.unwrap_err();
        match &e {
            LbError::RestoreFailed { restore, .. } => {
                assert!(
                    restore.contains("putting b:1 back")
                        && restore.contains("nginx is not running"),
                    "{e}"
                );
            }
            other => panic!("expected RestoreFailed, got {other}"),
        }
        let applied = |s: &Scripted| s.applied.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            (applied(&first), applied(&second)),
            (1, 1),
            "every member tried"
        );

        // When every member applies "in", the swap failed plainly: b:1 is back everywhere.
        let first = Scripted::new("lb1", true, true);
        let second = Scripted::new("lb2", false, true);
        let multi = MultiLb::new(vec![first.clone(), second.clone()]);
        let e = multi.swap("a:1", "b:1").await.unwrap_err();
        assert!(
            matches!(&e, LbError::Apply { reason, .. } if reason.contains("back in rotation on all")),
            "{e}"
        );
    }
}
