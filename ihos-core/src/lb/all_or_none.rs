//! All or none: one change made on several members at once (load balancers, canary
//! routes), undone on the ones that changed when another refuses or fails.

use async_trait::async_trait;

use super::{LbChange, LbError, LoadBalancer};
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;

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
