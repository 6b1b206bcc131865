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

/// A member of an all-or-none change: it can be given back the bytes it had.
#[async_trait]
pub(super) trait Undo: Send + Sync {
    /// Puts `before` back (in place, checked, applied).
    async fn undo(&self, before: &[u8]) -> Result<(), LbError>;
}

#[async_trait]
impl Undo for dyn LoadBalancer {
    async fn undo(&self, before: &[u8]) -> Result<(), LbError> {
        self.restore(before).await
    }
}

/// [`all_or_none_with`], a member that changed getting back the bytes it had before.
pub(super) async fn all_or_none<'a, M, F>(
    members: &'a [Arc<M>],
    change: F,
) -> Result<LbChange, LbError>
where
    M: Undo + ?Sized + 'a,
    F: Fn(&'a M) -> futures_util::future::BoxFuture<'a, Result<LbChange, LbError>>,
{
    all_or_none_with(members, change, |m, before| {
        Box::pin(async move { m.undo(&before).await })
    })
    .await
}

/// Makes one change on every member at once (each is a few round trips and a reload on its
/// own host: one after the other, their times would add up); if one refuses or fails,
/// `undo` is called for every member that changed, with the bytes it had before (each
/// failure to undo is named). A plain refusal is returned as it is; if any member could not restore its own
/// config, or an undo failed, a [`LbError::RestoreFailed`] naming every failure. The whole change's
/// `before`/`after` are the members' files one after the other, so `changed()` says
/// whether any changed.
pub(super) async fn all_or_none_with<'a, M, F, U>(
    members: &'a [Arc<M>],
    change: F,
    undo: U,
) -> Result<LbChange, LbError>
where
    M: ?Sized + 'a,
    F: Fn(&'a M) -> futures_util::future::BoxFuture<'a, Result<LbChange, LbError>>,
    U: Fn(&'a M, Vec<u8>) -> futures_util::future::BoxFuture<'a, Result<(), LbError>>,
{
    let results = futures_util::future::join_all(members.iter().map(|m| change(m.as_ref()))).await;
    let mut done: Vec<(&M, LbChange)> = Vec::new();
    let mut failures: Vec<LbError> = Vec::new();
    for (member, result) in members.iter().zip(results) {
        match result {
            Ok(c) => done.push((member.as_ref(), c)),
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() {
        return Ok(combine(done.into_iter().map(|(_, c)| c)));
    }
    let undone = futures_util::future::join_all(
        done.iter()
            .filter(|(_, c)| c.changed())
            .map(|(member, c)| undo(member, c.before.clone())),
    )
    .await;
    let undo_failures: Vec<String> = undone
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    // The members ran at once, so "first" means nothing: a member that could not put its
    // own config back must never hide behind another's plain refusal, or the caller would
    // take "nothing changed" for true while one nginx runs something unknown.
    let own_restore_failed = failures
        .iter()
        .any(|e| matches!(e, LbError::RestoreFailed { .. }));
    if undo_failures.is_empty() && !own_restore_failed {
        if done.iter().any(|(_, c)| c.changed()) {
            tracing::warn!(
                "a load balancer refused the change; the others have their previous config back"
            );
        }
        let mut failures = failures;
        return Err(failures.remove(0));
    }
    if undo_failures.is_empty() {
        // Every undo worked: the member whose own restore failed is the one to report,
        // with the other members' failures beside it.
        let at = failures
            .iter()
            .position(|e| matches!(e, LbError::RestoreFailed { .. }))
            .unwrap_or(0);
        let mut chosen = failures.remove(at);
        if let (LbError::RestoreFailed { failure, .. }, false) = (&mut chosen, failures.is_empty())
        {
            let others: Vec<String> = failures.iter().map(|e| e.to_string()).collect();
            failure.push_str(&format!(
                " (and on another load balancer: {})",
                others.join("; ")
            ));
        }
        return Err(chosen);
    }
    Err(LbError::RestoreFailed {
        host: "the other load balancers".into(),
        path: String::new(),
        failure: failures
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
        restore: undo_failures.join("; "),
    })
}

/// The members' changes as one: their files one after the other.
fn combine(changes: impl Iterator<Item = LbChange>) -> LbChange {
    let mut all = LbChange {
        before: Vec::new(),
        after: Vec::new(),
        diff: String::new(),
        message: String::new(),
    };
    for c in changes {
        all.before.extend_from_slice(&c.before);
        all.after.extend_from_slice(&c.after);
        all.diff.push_str(&c.diff);
        if !all.message.is_empty() {
            all.message.push_str("; ");
        }
        all.message.push_str(&c.message);
    }
    all
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
            Err(e @ LbError::RestoreFailed { .. }) => {
                for lb in &self.lbs {
                    match lb.enable(disable).await {
                        Ok(c) if !c.changed() => lb.apply().await?,
                        Ok(_) => {}
                        Err(_) => return Err(e),
                    }
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

    async fn apply(&self) -> Result<(), LbError> {
        for lb in &self.lbs {
            lb.apply().await?;
        }
        Ok(())
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

    /// A member whose change gives a set result and whose undo works or not.
    struct Member {
        change: std::sync::Mutex<Option<Result<LbChange, LbError>>>,
        undo_works: bool,
        undone: std::sync::atomic::AtomicBool,
    }

    impl Member {
        fn new(change: Result<LbChange, LbError>, undo_works: bool) -> Arc<Member> {
            Arc::new(Member {
                change: std::sync::Mutex::new(Some(change)),
                undo_works,
                undone: Default::default(),
            })
        }
        fn undone(&self) -> bool {
            self.undone.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Undo for Member {
        async fn undo(&self, _before: &[u8]) -> Result<(), LbError> {
            self.undone.store(true, std::sync::atomic::Ordering::SeqCst);
            if self.undo_works {
                Ok(())
            } else {
                Err(LbError::Apply {
                    host: "lb-undo".into(),
                    path: "/n.conf".into(),
                    reason: "disk full".into(),
                })
            }
        }
    }

    fn changed() -> Result<LbChange, LbError> {
        Ok(LbChange {
            before: b"a".to_vec(),
            after: b"b".to_vec(),
            diff: "-a\n+b\n".into(),
            message: "changed".into(),
        })
    }

    fn refused(host: &str) -> Result<LbChange, LbError> {
        Err(LbError::Validation {
            host: host.into(),
            path: "/n.conf".into(),
            output: "emerg".into(),
        })
    }

    fn restore_failed(host: &str) -> Result<LbChange, LbError> {
        Err(LbError::RestoreFailed {
            host: host.into(),
            path: "/n.conf".into(),
            failure: "reload timed out".into(),
            restore: "nginx -t rejects the previous config".into(),
        })
    }

    async fn run(members: &[Arc<Member>]) -> Result<LbChange, LbError> {
        all_or_none(members, |m: &Member| {
            let result = m.change.lock().unwrap().take().unwrap();
            Box::pin(async move { result })
        })
        .await
    }

    #[tokio::test]
    async fn a_member_that_could_not_restore_itself_is_never_hidden_by_an_earlier_refusal() {
        // The first member refuses plainly, the second could not put its own config back:
        // what nginx 2 runs is unknown, so the whole change must say RestoreFailed.
        let members = [
            Member::new(refused("lb1"), true),
            Member::new(restore_failed("lb2"), true),
        ];
        let e = run(&members).await.unwrap_err();
        match &e {
            LbError::RestoreFailed { host, failure, .. } => {
                assert_eq!(host, "lb2");
                assert!(failure.contains("lb1"), "the refusal is named too: {e}");
            }
            other => panic!("expected RestoreFailed, got {other}"),
        }
        // Neither changed anything to undo.
        assert!(!members[0].undone() && !members[1].undone());
        // The other order says the same.
        let members = [
            Member::new(restore_failed("lb1"), true),
            Member::new(refused("lb2"), true),
        ];
        let e = run(&members).await.unwrap_err();
        assert!(
            matches!(&e, LbError::RestoreFailed { host, .. } if host == "lb1"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_refusal_undoes_the_members_that_changed_and_is_returned_as_it_is() {
        let members = [
            Member::new(changed(), true),
            Member::new(refused("lb2"), true),
        ];
        let e = run(&members).await.unwrap_err();
        assert!(
            matches!(&e, LbError::Validation { host, .. } if host == "lb2"),
            "{e}"
        );
        assert!(members[0].undone(), "the member that changed is put back");
    }

    #[tokio::test]
    async fn a_failed_undo_is_a_restore_failure_naming_both() {
        let members = [
            Member::new(changed(), false),
            Member::new(refused("lb2"), true),
        ];
        let e = run(&members).await.unwrap_err();
        match &e {
            LbError::RestoreFailed {
                failure, restore, ..
            } => {
                assert!(failure.contains("lb2"), "{e}");
                assert!(restore.contains("disk full"), "{e}");
            }
            other => panic!("expected RestoreFailed, got {other}"),
        }
    }

    #[tokio::test]
    async fn all_changed_is_one_change() {
        let members = [Member::new(changed(), true), Member::new(changed(), true)];
        let all = run(&members).await.unwrap();
        assert_eq!(all.before, b"aa");
        assert_eq!(all.after, b"bb");
        assert_eq!(all.message, "changed; changed");
        assert!(!members[0].undone() && !members[1].undone());
    }
}
