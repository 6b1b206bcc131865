//! Telling the team: a [`Notifier`] turns a run's events (and canary verdicts) into
//! [`Notice`]s and sends them to the `[[notify]]` robots of the topology: DingTalk, WeCom,
//! Feishu, Slack, or any webhook, each as its service documents its custom robot
//! (`service`), signed where the robot is (`sign`), in Chinese or English (`render`),
//! with bounded tries that never hold the run up (`deliver`).

mod deliver;
mod notice;
mod notifier;
mod render;
mod service;
mod sign;

pub use notice::{InstanceProblem, Notice, RunInfo, RunKind, WarInfo};
pub use notifier::{Notifier, NotifyingSink};
