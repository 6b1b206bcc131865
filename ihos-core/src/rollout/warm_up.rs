//! [`WarmUp`]: a run's SSH logins made beside its first steps, not on its path.

use std::sync::Arc;

use crate::fleet::{Fleet, InstanceHandle};
use crate::transport::Transport;

/// The run's hosts logging in beside its first steps (the lock, the preflight), each with
/// the sessions it is about to use at once ([`Transport::warm_up`]): the logins are not
/// on the run's path. Whatever is still under way when the run ends is dropped with it.
pub(crate) struct WarmUp(Vec<tokio::task::JoinHandle<()>>);

impl WarmUp {
    pub(crate) fn start(fleet: &Fleet, selected: &[&InstanceHandle]) -> Self {
        let mut transports: Vec<Arc<dyn Transport>> = Vec::new();
        let hosts = (fleet.lbs.iter().map(|h| &h.transport))
            .chain(std::iter::once(&fleet.lb_transport))
            .chain(selected.iter().map(|i| &i.transport));
        for t in hosts {
            if !transports.iter().any(|seen| Arc::ptr_eq(seen, t)) {
                transports.push(Arc::clone(t));
            }
        }
        WarmUp(
            transports
                .into_iter()
                .map(|t| tokio::spawn(async move { t.warm_up().await }))
                .collect(),
        )
    }
}

impl Drop for WarmUp {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
