//! [`MultiCanaryRoute`]: the canary's cohort route on several load balancers, opened and
//! closed on all of them or on none (as [`MultiLb`](super::MultiLb) does for the upstream).
//!
//! Every load balancer that carries the route has its own site file; a user of the cohort
//! must reach the canary whichever load balancer DNS or keepalived hands them, and nobody
//! may reach it through one of them once it is closed.

use std::sync::Arc;

use async_trait::async_trait;

use super::all_or_none::{Undo, all_or_none};
use super::{CanaryRoute, CanaryRule, LbChange, LbError};

/// The cohort route on several load balancers, as one.
pub struct MultiCanaryRoute {
    routes: Vec<Arc<dyn CanaryRoute>>,
    /// One change (with its undo) at a time over all of them.
    busy: tokio::sync::Mutex<()>,
}

impl MultiCanaryRoute {
    /// Drives `routes` (at least one) together; their order is the order of reports.
    pub fn new(routes: Vec<Arc<dyn CanaryRoute>>) -> Self {
        MultiCanaryRoute {
            routes,
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// The routes, in order.
    pub fn members(&self) -> &[Arc<dyn CanaryRoute>] {
        &self.routes
    }

    /// Every route's rule, refused when their conditions differ: a reopen would send
    /// different users to the canary depending on the load balancer.
    async fn same_condition(&self) -> Result<Vec<CanaryRule>, LbError> {
        let rules =
            futures_util::future::try_join_all(self.routes.iter().map(|r| r.rule())).await?;
        if rules.windows(2).any(|w| w[0].condition != w[1].condition) {
            let each: Vec<String> = rules.iter().map(describe).collect();
            return Err(LbError::Inconsistent {
                reason: format!(
                    "the canary route's condition differs between the load balancers ({}); `ihos canary open` sets it on all of them",
                    each.join("; ")
                ),
            });
        }
        Ok(rules)
    }
}

#[async_trait]
impl Undo for dyn CanaryRoute {
    async fn undo(&self, before: &[u8]) -> Result<(), LbError> {
        self.restore(before).await
    }
}

/// How a rule reads to a person: open or closed, and its condition.
fn describe(r: &CanaryRule) -> String {
    format!(
        "{}:{} {} `{}`",
        r.file,
        r.line,
        if r.open { "open" } else { "closed" },
        r.condition
    )
}

#[async_trait]
impl CanaryRoute for MultiCanaryRoute {
    /// The first one's rule, when every one says the same (closed on all, or open on all
    /// with the same condition); a disagreement (an edit by hand on one of them) is
    /// [`LbError::Inconsistent`], naming each: `canary open` or `canary close` sets all.
    async fn rule(&self) -> Result<CanaryRule, LbError> {
        let rules =
            futures_util::future::try_join_all(self.routes.iter().map(|r| r.rule())).await?;
        let Some(first) = rules.first() else {
            return Err(LbError::Inconsistent {
                reason: "no load balancer carries the canary route".into(),
            });
        };
        // Closed everywhere routes nobody, whatever each condition says (a reopen checks
        // them); open anywhere must be open everywhere, for the same users.
        if rules
            .iter()
            .any(|r| r.open != first.open || (r.open && r.condition != first.condition))
        {
            let each: Vec<String> = rules.iter().map(describe).collect();
            return Err(LbError::Inconsistent {
                reason: format!(
                    "the canary route differs between the load balancers ({}); `ihos canary open` or `ihos canary close` sets it on all of them",
                    each.join("; ")
                ),
            });
        }
        Ok(first.clone())
    }

    async fn open(&self, operator: &str, regex: &str) -> Result<LbChange, LbError> {
        let _one = self.busy.lock().await;
        all_or_none(&self.routes, |r| Box::pin(r.open(operator, regex))).await
    }

    async fn rule_to_resume(&self) -> Result<CanaryRule, LbError> {
        let rules = self.same_condition().await?;
        let mut rule = rules
            .first()
            .cloned()
            .ok_or_else(|| LbError::Inconsistent {
                reason: "no load balancer carries the canary route".into(),
            })?;
        rule.open = rules.iter().all(|r| r.open);
        Ok(rule)
    }

    /// Refused when the conditions written differ: reopening would send different users
    /// to the canary depending on the load balancer.
    async fn reopen(&self) -> Result<LbChange, LbError> {
        let _one = self.busy.lock().await;
        self.same_condition().await?;
        all_or_none(&self.routes, |r| Box::pin(r.reopen())).await
    }

    async fn close(&self) -> Result<LbChange, LbError> {
        let _one = self.busy.lock().await;
        all_or_none(&self.routes, |r| Box::pin(r.close())).await
    }

    /// Each has its own file: refused ([`MultiCanaryRoute::members`] reaches each one).
    async fn restore(&self, _before: &[u8]) -> Result<(), LbError> {
        Err(LbError::Inconsistent {
            reason: "several load balancers have one site file each: restore each one's".into(),
        })
    }
}
