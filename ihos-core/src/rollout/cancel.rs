//! [`CancelToken`]: how a caller asks a running rollout to stop. The CLI's Ctrl-C is one
//! user of it: the first press asks to stop after the current instance, the second to stop
//! as soon as the current instance is consistent again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::Notify;

/// How far a stop request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopLevel {
    /// Keep going.
    None = 0,
    /// Finish the instances being updated, start no new one.
    AfterCurrent = 1,
    /// Stop waiting (drain, health) and make the current instances consistent now.
    Now = 2,
}

/// A shared stop request. Clone it and give a copy to whoever may ask for a stop; the
/// rollout engine checks it between instances and while it waits (drain, health).
///
/// ```
/// use ihos_core::{CancelToken, StopLevel};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let token = CancelToken::new();
/// let watcher = token.clone();
/// let waiting = tokio::spawn(async move { watcher.reached(StopLevel::Now).await });
///
/// // E.g. on Ctrl-C: first finish the instances being updated, start no new one...
/// assert_eq!(token.escalate(), StopLevel::AfterCurrent);
/// // ...then stop waiting and make the current instances consistent now.
/// token.request(StopLevel::Now);
/// waiting.await.unwrap();
/// assert_eq!(token.level(), StopLevel::Now);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    level: AtomicU8,
    changed: Notify,
}

impl CancelToken {
    /// A token nobody has used.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for one more level of stopping (None → AfterCurrent → Now); returns the new level.
    pub fn escalate(&self) -> StopLevel {
        let prev = self
            .inner
            .level
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| Some((l + 1).min(2)))
            .unwrap_or(2);
        self.inner.changed.notify_waiters();
        Self::from_u8((prev + 1).min(2))
    }

    /// Asks for `level` (never lowers it).
    pub fn request(&self, level: StopLevel) {
        self.inner.level.fetch_max(level as u8, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
    }

    /// The current level.
    pub fn level(&self) -> StopLevel {
        Self::from_u8(self.inner.level.load(Ordering::SeqCst))
    }

    /// Waits until the level is at least `level`.
    pub async fn reached(&self, level: StopLevel) {
        loop {
            let notified = self.inner.changed.notified();
            if self.level() >= level {
                return;
            }
            notified.await;
        }
    }

    fn from_u8(v: u8) -> StopLevel {
        match v {
            0 => StopLevel::None,
            1 => StopLevel::AfterCurrent,
            _ => StopLevel::Now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn escalates_and_wakes_waiters() {
        let t = CancelToken::new();
        let w = t.clone();
        let waiter = tokio::spawn(async move { w.reached(StopLevel::Now).await });
        assert_eq!(t.escalate(), StopLevel::AfterCurrent);
        assert!(!waiter.is_finished());
        assert_eq!(t.escalate(), StopLevel::Now);
        waiter.await.unwrap();
        assert_eq!(t.escalate(), StopLevel::Now);
    }
}
