//! [`Appends`]: journal lines asked to be written at the same moment, written as one append
//! (group commit). The instances of a wave reach their steps together; one after the
//! other, each of their appends would wait for the others' round trips.
//!
//! Each writer queues its line (under the journal's lock, so lines are queued in the order
//! the entries changed) and waits for the writing lock; whoever gets it writes every line
//! queued by then in one append and tells each writer the result. A writer whose line was
//! taken by a write that was cut off (its task dropped) appends its own line again: an
//! entry written twice is harmless (the last one of an instance wins, and it is the same).

use std::future::Future;

use tokio::sync::{Mutex, oneshot};

use crate::transport::TransportError;

type Reply = oneshot::Sender<Result<(), TransportError>>;

/// Lines waiting to be appended, and the lock that keeps appends one at a time.
#[derive(Default)]
pub(crate) struct Appends {
    queue: std::sync::Mutex<Vec<(Vec<u8>, Reply)>>,
    writing: Mutex<()>,
}

impl Appends {
    /// Queues `line`: call it where the entry changed, in that order.
    pub(crate) fn queue(&self, line: Vec<u8>) -> Queued {
        let (reply, rx) = oneshot::channel();
        self.lock().push((line.clone(), reply));
        Queued { line, rx }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Vec<u8>, Reply)>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `queued` is written, by this caller or by another one's append;
    /// `append` writes bytes at the end of the journal.
    pub(crate) async fn written<F, Fut>(
        &self,
        queued: Queued,
        append: F,
    ) -> Result<(), TransportError>
    where
        F: Fn(Vec<u8>) -> Fut,
        Fut: Future<Output = Result<(), TransportError>>,
    {
        let Queued { line, mut rx } = queued;
        let done = tokio::select! {
            biased;
            done = &mut rx => done,
            _writing = self.writing.lock() => {
                let batch = std::mem::take(&mut *self.lock());
                if !batch.is_empty() {
                    let bytes: Vec<u8> = batch.iter().flat_map(|(l, _)| l.iter().copied()).collect();
                    let result = append(bytes).await;
                    for (_, reply) in batch {
                        let _ = reply.send(result.clone());
                    }
                }
                rx.await
            }
        };
        match done {
            Ok(result) => result,
            // The write that took it was cut off: not known to be written. Again, one
            // writer at a time.
            Err(_) => {
                let _writing = self.writing.lock().await;
                append(line).await
            }
        }
    }
}

/// A line in the queue.
pub(crate) struct Queued {
    line: Vec<u8>,
    rx: oneshot::Receiver<Result<(), TransportError>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn lines_queued_together_are_one_append_in_queue_order() {
        let appends = Arc::new(Appends::default());
        let calls = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
        let queued: Vec<Queued> = (0..5u8).map(|i| appends.queue(vec![b'a' + i])).collect();
        let results = futures_util::future::join_all(queued.into_iter().map(|q| {
            let calls = Arc::clone(&calls);
            let appends = Arc::clone(&appends);
            async move {
                appends
                    .written(q, |b| {
                        let calls = Arc::clone(&calls);
                        async move {
                            calls.lock().unwrap().push(b);
                            Ok(())
                        }
                    })
                    .await
            }
        }))
        .await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(*calls.lock().unwrap(), vec![b"abcde".to_vec()]);
    }

    #[tokio::test]
    async fn a_failed_append_is_every_writers_error() {
        let appends = Appends::default();
        let (a, b) = (appends.queue(b"a".to_vec()), appends.queue(b"b".to_vec()));
        let fail = |_b: Vec<u8>| async {
            Err(TransportError::Connect {
                host: "lb".into(),
                reason: "refused".into(),
            })
        };
        let (ra, rb) = tokio::join!(appends.written(a, fail), appends.written(b, fail));
        assert!(ra.is_err() && rb.is_err());
    }

    #[tokio::test]
    async fn a_line_taken_by_a_write_that_was_cut_off_is_written_again() {
        let appends = Arc::new(Appends::default());
        let written = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
        let (a, b) = (appends.queue(b"a".to_vec()), appends.queue(b"b".to_vec()));
        let started = Arc::new(tokio::sync::Notify::new());
        // The first writer takes both lines and is dropped in the middle of its append.
        let leader = {
            let appends = Arc::clone(&appends);
            let started = Arc::clone(&started);
            tokio::spawn(async move {
                appends
                    .written(a, |_| {
                        let started = Arc::clone(&started);
                        async move {
                            started.notify_one();
                            std::future::pending::<()>().await;
                            Ok(())
                        }
                    })
                    .await
            })
        };
        started.notified().await;
        leader.abort();
        let _ = leader.await;
        let r = appends
            .written(b, |bytes| {
                written.lock().unwrap().push(bytes);
                async { Ok(()) }
            })
            .await;
        assert!(r.is_ok());
        assert_eq!(*written.lock().unwrap(), vec![b"b".to_vec()]);
    }
}
