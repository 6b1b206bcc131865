//! [`LoggedIn`]: whether any session of a host has logged in.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a session of the host has logged in: told by the session's thread as soon as
/// it is in, before the job it logged in for is answered (a run's lock command on the
/// first session: its other sessions log in beside that command, not after it).
#[derive(Default)]
pub(super) struct LoggedIn {
    yes: AtomicBool,
    told: tokio::sync::Notify,
}

impl LoggedIn {
    pub(super) fn tell(&self) {
        if !self.yes.swap(true, Ordering::SeqCst) {
            self.told.notify_waiters();
        }
    }

    pub(super) fn is_in(&self) -> bool {
        self.yes.load(Ordering::SeqCst)
    }

    pub(super) async fn wait(&self) {
        loop {
            let told = self.told.notified();
            tokio::pin!(told);
            // Registered before the flag is read: a login in between is not missed.
            told.as_mut().enable();
            if self.yes.load(Ordering::SeqCst) {
                return;
            }
            told.await;
        }
    }
}
