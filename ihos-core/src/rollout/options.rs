//! [`RolloutOptions`]: the per-run choices of a rollout.

/// Choices for a rollout (defaults match the CLI's: every instance, a new rollout, the
/// operator `user@machine`). Everything else (drain, timeouts, `max_unavailable`, what to
/// do on failure) is the topology's [`Policy`](crate::Policy).
///
/// Build it with struct syntax or with the chainable setters:
///
/// ```
/// use ihos_core::RolloutOptions;
///
/// let options = RolloutOptions::new()
///     .only(["101-pep1", "101-pep2"])
///     .operator("release-bot");
/// assert_eq!(options.only, ["101-pep1", "101-pep2"]);
/// assert!(!options.resume);
/// assert_eq!(RolloutOptions::new(), RolloutOptions::default());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutOptions {
    /// Only these instances (all when empty).
    pub only: Vec<String>,
    /// Continue the unfinished rollout recorded in the journal.
    pub resume: bool,
    /// Who runs it, for the records (default `user@machine`).
    pub operator: Option<String>,
    /// With `resume`: take over the lock of the interrupted run even when its holder runs on
    /// another machine (or an older ihos wrote the lock) and its liveness cannot be checked
    /// from here. The operator has made sure it is dead.
    pub force: bool,
}

impl RolloutOptions {
    /// The defaults: every instance, a new rollout, the operator `user@machine`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Updates only these instances, in the topology's order (all of them when empty).
    pub fn only<I, S>(mut self, instances: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = instances.into_iter().map(Into::into).collect();
        self
    }

    /// Continues the unfinished rollout recorded in the journal on the load balancer's
    /// host (same WAR), like `ihos rollout --resume`.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Takes over the lock of the rollout being resumed without checking that its holder
    /// is dead (see [`RolloutOptions::force`]).
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Names who runs the rollout in the lock, the journal and the deployment records.
    pub fn operator(mut self, operator: impl Into<String>) -> Self {
        self.operator = Some(operator.into());
        self
    }
}
