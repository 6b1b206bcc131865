//! [`CanaryRoute`]: the rule that sends a cohort of users to the canary instance, and
//! [`NginxCanaryRoute`], the runbook's form of it: an `if` block in an nginx site file that
//! is open when active and closed when commented out.
//!
//! Closing comments the block out line by line and opening uncomments it, so a close and a
//! reopen give back the same bytes: the cohort survives a canary deploy without being
//! remembered anywhere else.

use std::sync::Arc;

use async_trait::async_trait;
use ihos_nginx::{BlockSelector, IfBlock};

use super::nginx::NginxLb;
use super::{LbChange, LbError, LoadBalancer};
use crate::container::Container;
use crate::transport::Transport;

/// The canary rule as the site file says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CanaryRule {
    /// The site file holding it.
    pub file: String,
    /// Whether the block is active (users of the cohort reach the canary).
    pub open: bool,
    /// The condition as written, e.g. `($http_x_pep_token ~ "^...")`.
    pub condition: String,
    /// The match operator (`~` or `~*`), when the condition is a regex match.
    pub operator: Option<String>,
    /// The regex operand, when the condition is a regex match.
    pub regex: Option<String>,
    /// 1-based line of the `if`.
    pub line: u32,
}

/// Opens and closes the route of a cohort of users to the canary. Every change is
/// validated and applied like a load balancer change, and undone on failure.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait CanaryRoute: Send + Sync {
    /// The rule as it stands.
    async fn rule(&self) -> Result<CanaryRule, LbError>;

    /// The rule as a resumed canary deploy needs it: where several load balancers carry
    /// the route, only its condition must agree (the run it resumes may have been cut off
    /// between closing it on one and on another; the journal says whether it was open, and
    /// the resume closes or reopens it on all). `open` is true only when open on all.
    async fn rule_to_resume(&self) -> Result<CanaryRule, LbError> {
        self.rule().await
    }

    /// Opens the route for the users a regex selects: activates the block and sets its
    /// condition to `operator` (`~` or `~*`) and `regex`.
    async fn open(&self, operator: &str, regex: &str) -> Result<LbChange, LbError>;

    /// Opens the route again as it is written (after [`CanaryRoute::close`]).
    async fn reopen(&self) -> Result<LbChange, LbError>;

    /// Closes the route: no user reaches the canary through it any more.
    async fn close(&self) -> Result<LbChange, LbError>;

    /// Puts the site file's previous bytes back (in place, checked, applied): the undo of
    /// a change when another load balancer refused the same change.
    async fn restore(&self, before: &[u8]) -> Result<(), LbError>;
}

/// The canary route as an `if` block in an nginx site file, edited through an [`NginxLb`]
/// on that file (same backup, in-place write, `nginx -t`, reload and restore path).
pub struct NginxCanaryRoute<T: ?Sized, C: ?Sized> {
    file: NginxLb<T, C>,
    selector: BlockSelector,
}

impl<T: Transport + ?Sized, C: Container + ?Sized> NginxCanaryRoute<T, C> {
    /// The block whose condition contains `condition_contains` in the file `site` edits.
    pub fn new(site: NginxLb<T, C>, condition_contains: impl Into<String>) -> Self {
        NginxCanaryRoute {
            file: site,
            selector: BlockSelector::ConditionContains(condition_contains.into()),
        }
    }

    fn to_rule(&self, block: IfBlock) -> CanaryRule {
        CanaryRule {
            file: self.file.config_path().to_string(),
            open: block.enabled,
            condition: block.condition,
            operator: block.operator,
            regex: block.regex,
            line: block.line,
        }
    }

    fn edit_error(&self, error: ihos_nginx::EditError) -> LbError {
        LbError::Edit {
            host: self.file.host(),
            path: self.file.config_path().to_string(),
            error: Box::new(error),
        }
    }
}

#[async_trait]
impl<T: Transport + ?Sized, C: Container + ?Sized> CanaryRoute for NginxCanaryRoute<T, C> {
    async fn rule(&self) -> Result<CanaryRule, LbError> {
        let doc = self.file.document().await?;
        let block = doc
            .if_block(&self.selector)
            .map_err(|e| self.edit_error(e))?;
        Ok(self.to_rule(block))
    }

    async fn open(&self, operator: &str, regex: &str) -> Result<LbChange, LbError> {
        let selector = self.selector.clone();
        let (operator, regex) = (operator.to_string(), regex.to_string());
        self.file
            .edit_with(move |doc| {
                doc.enable_block(&selector)?
                    .and_then(|d| d.set_block_condition(&selector, &operator, &regex))
            })
            .await
    }

    async fn reopen(&self) -> Result<LbChange, LbError> {
        let selector = self.selector.clone();
        self.file
            .edit_with(move |doc| doc.enable_block(&selector))
            .await
    }

    async fn close(&self) -> Result<LbChange, LbError> {
        let selector = self.selector.clone();
        self.file
            .edit_with(move |doc| doc.disable_block(&selector))
            .await
    }

    async fn restore(&self, before: &[u8]) -> Result<(), LbError> {
        LoadBalancer::restore(&self.file, before).await
    }
}

/// A route handle for a [`Fleet`](crate::rollout::Fleet): the site file on the load
/// balancer's host, edited through its nginx container.
pub(crate) fn nginx_canary_route(
    site: NginxLb<dyn Transport, dyn Container>,
    condition_contains: &str,
) -> Arc<dyn CanaryRoute> {
    Arc::new(NginxCanaryRoute::new(site, condition_contains))
}
