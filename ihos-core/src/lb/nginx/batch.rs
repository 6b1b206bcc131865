//! Changes asked for at the same moment, made as one: one write, one `nginx -t`, one
//! reload for all of them (with `max_unavailable` above one, the instances of a wave leave
//! and come back together; each reload closes the old workers' idle keep-alive
//! connections, and each write moves the whole file).
//!
//! Every change asks by putting its edit in the queue and waiting for the lock that keeps
//! changes one at a time. Whoever gets the lock lets the others that are ready run first
//! (one yield), takes every edit queued by then and applies them to the config one after
//! the other, in the order asked, then commits the result once. Each caller gets its own
//! [`LbChange`] (its edit's diff; its `before` and `after` are the text before and after
//! its own edit, which another caller's edit in the same change may follow). When nginx
//! refuses the combined content, each edit is made again on its own, so that one bad edit
//! fails alone, as it did before batching; any other failure of the combined change (the
//! previous bytes are back, or nginx's state is unknown) is every caller's.

use std::sync::Arc;

use ihos_nginx::{Document, Edit, EditError, RotationChange};
use tokio::sync::oneshot;

use super::{Cached, NginxLb};
use crate::container::Container;
use crate::lb::{LbChange, LbError};
use crate::transport::Transport;

/// An edit of the config, as a caller asks for it.
pub(super) type EditFn = Box<dyn Fn(&Document) -> Result<Edit, EditError> + Send + Sync>;

/// One queued change and where its result goes.
pub(super) struct Pending {
    edit: EditFn,
    /// The same change as servers in and out of rotation, when it is one: a batch of
    /// these is made in one pass over the config (`Document::change_rotation`).
    rotation: Option<Vec<RotationChange>>,
    reply: oneshot::Sender<Result<LbChange, LbError>>,
}

/// The changes asked for and not yet taken.
#[derive(Default)]
pub(super) struct Queue(std::sync::Mutex<Vec<Pending>>);

impl Queue {
    /// Queues `edit`; its result comes through the receiver.
    pub(super) fn push(
        &self,
        edit: EditFn,
        rotation: Option<Vec<RotationChange>>,
    ) -> oneshot::Receiver<Result<LbChange, LbError>> {
        let (reply, rx) = oneshot::channel();
        self.lock().push(Pending {
            edit,
            rotation,
            reply,
        });
        rx
    }

    /// How many changes are queued.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Every change queued, but those whose caller is gone (a dropped future asked for
    /// nothing any more: its change is not made).
    pub(super) fn take(&self) -> Vec<Pending> {
        let mut queued = std::mem::take(&mut *self.lock());
        queued.retain(|p| !p.reply.is_closed());
        queued
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Transport + ?Sized, C: Container + ?Sized> NginxLb<T, C> {
    /// Makes the queued changes, as one when there are several. Called with `busy` held.
    pub(super) async fn apply_queued(&self) {
        // Callers ready at this same moment queue their edits meanwhile (on a runtime with
        // several threads they may be a moment later: while more come, wait a little more).
        let mut queued = 0;
        for _ in 0..8 {
            tokio::task::yield_now().await;
            let now = self.queue.len();
            if now == queued {
                break;
            }
            queued = now;
        }
        let batch = self.queue.take();
        match batch.len() {
            0 => {}
            1 => {
                for p in batch {
                    let done = self.edit_alone(&p.edit).await;
                    let _ = p.reply.send(done);
                }
            }
            _ => self.apply_together(batch).await,
        }
    }

    /// One edit on its own, on the config as it is now (the kept copy when the file's
    /// digest says it still is that): a "nothing to change" or a refusal is as true as the
    /// file, and the write's own digest check covers the moment between.
    ///
    /// An edit that changes the kept copy is committed on it without asking the digest
    /// first (one round trip less per change): the write's first step checks it and
    /// refuses a file someone else changed, and then the file is read again and the edit
    /// made on top of theirs, as when the digest is asked first.
    pub(super) async fn edit_alone(&self, edit: &EditFn) -> Result<LbChange, LbError> {
        if let Some(kept) = self.cached() {
            if let Some(made) = edit(&kept.doc).ok().filter(|e| e.is_changed()) {
                match self.commit_edit(&kept, made).await {
                    Err(LbError::ChangedConcurrently { .. }) => {}
                    done => return done,
                }
            }
        }
        let seen = self.read().await?;
        self.edit_and_commit(&seen, edit).await
    }

    async fn apply_together(&self, batch: Vec<Pending>) {
        let together = match self.combine(&batch).await {
            Ok(combined) => {
                let done = self.commit_combined(&combined).await;
                Some((combined, done))
            }
            Err(_) => None,
        };
        match together {
            Some((combined, Ok(()))) => {
                for (p, change) in batch.into_iter().zip(combined.changes) {
                    let _ = p.reply.send(change);
                }
            }
            // nginx refused the content together: each on its own, so only the one that
            // brought it fails.
            Some((_, Err(LbError::Validation { .. }))) | None => {
                for p in batch {
                    let done = self.edit_alone(&p.edit).await;
                    let _ = p.reply.send(done);
                }
            }
            // Anything else (nginx did not switch, someone else's edit, a lost connection):
            // the previous bytes are back (else RestoreFailed: what nginx runs is unknown),
            // as after any one change that failed; every caller is told the same.
            Some((_, Err(e))) => {
                for p in batch {
                    let _ = p.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// The batch's edits applied one after the other to the config as kept (or read).
    async fn combine(&self, batch: &[Pending]) -> Result<Combined, LbError> {
        let seen = self.read().await?;
        if let Some(combined) = self.combine_rotation(&seen, batch) {
            return Ok(combined);
        }
        let mut doc = seen.doc.clone();
        let mut text = seen.bytes.clone();
        let mut changes = Vec::with_capacity(batch.len());
        for p in batch {
            match (p.edit)(&doc) {
                Ok(edit) => {
                    let change = self.change_of(&text, &edit);
                    if edit.is_changed() {
                        text = edit.text().to_vec();
                        // The edit's result is parsed already (an edit is checked that way).
                        doc = edit.into_document();
                    }
                    changes.push(Ok(change));
                }
                // This one's refusal is its own; the others go ahead without it.
                Err(error) => changes.push(Err(LbError::Edit {
                    host: self.host(),
                    path: self.config.to_string(),
                    error: Box::new(error),
                })),
            }
        }
        Ok(Combined {
            seen,
            text,
            doc,
            changes,
        })
    }

    /// Commits a combined change; keeps its result, or forgets what was kept.
    async fn commit_combined(&self, c: &Combined) -> Result<(), LbError> {
        if c.text == c.seen.bytes {
            return Ok(());
        }
        self.remember(None);
        match self.commit(&c.seen.bytes, &c.text).await {
            Ok(()) => {
                self.remember(Some(Arc::new(Cached::new(c.text.clone(), c.doc.clone()))));
                Ok(())
            }
            Err(e) => {
                self.remember(None);
                Err(e)
            }
        }
    }
}

impl<T: Transport + ?Sized, C: Container + ?Sized> NginxLb<T, C> {
    /// A batch of rotation changes only, each server named once: made in one pass
    /// (`Document::change_rotation`, the same result as one after the other). `None`:
    /// made one after the other.
    fn combine_rotation(&self, seen: &Arc<Cached>, batch: &[Pending]) -> Option<Combined> {
        let groups: Vec<Vec<RotationChange>> = batch
            .iter()
            .map(|p| p.rotation.clone())
            .collect::<Option<_>>()?;
        let made = seen
            .doc
            .change_rotation(&self.upstream, &groups, self.options.style)
            .ok()?;
        let label = self.config.as_str().trim_start_matches('/');
        let changes = made
            .groups
            .into_iter()
            .map(|g| match g {
                Ok(g) => Ok(LbChange {
                    diff: g.diff(label),
                    message: g.message().to_string(),
                    before: g.before().to_vec(),
                    after: g.after().to_vec(),
                }),
                Err(error) => Err(LbError::Edit {
                    host: self.host(),
                    path: self.config.to_string(),
                    error: Box::new(error),
                }),
            })
            .collect();
        Some(Combined {
            seen: Arc::clone(seen),
            text: made.edit.text().to_vec(),
            doc: made.edit.into_document(),
            changes,
        })
    }
}

/// Several edits applied in turn: the config they start from, where they end, and each
/// one's own change.
struct Combined {
    seen: Arc<Cached>,
    text: Vec<u8>,
    doc: Document,
    changes: Vec<Result<LbChange, LbError>>,
}
