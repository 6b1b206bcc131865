//! [`releases`]: what each instance keeps on its host for `ihos rollback --to`, and which
//! release it runs (the WAR in its webapps, read by digest, not taken from a record).

use futures_util::future::join_all;
use serde::Serialize;

use super::deployment_record::{DeploymentRecord, record_if_readable};
use super::kept::{self, KeptRelease};
use crate::fleet::{Fleet, InstanceHandle, UnknownInstance};
use crate::sha::Sha256;
use crate::transport::{TransportError, remote};

/// One instance's releases.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct InstanceReleases {
    /// The instance.
    pub instance: String,
    /// Its host.
    pub host: String,
    /// Whether it is the canary.
    pub canary: bool,
    /// The WAR in its webapps now (`None`: none deployed, or it could not be read).
    pub running: Option<RunningRelease>,
    /// What it keeps, newest first.
    pub kept: Vec<KeptRelease>,
    /// Kept releases whose file is gone from the host (removed by hand, or a run cut off
    /// while it kept them): listed, but `rollback --to` cannot use them.
    pub missing: Vec<Sha256>,
    /// What could not be read.
    pub error: Option<String>,
}

/// The release an instance runs.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RunningRelease {
    /// The deployed WAR's SHA-256.
    pub sha256: Sha256,
    /// Its deployment record, when the record is about this very WAR (`None`: deployed
    /// by hand, or before ihos).
    pub record: Option<DeploymentRecord>,
}

/// The releases of every instance (fleet, then canary), or of the one named `only`.
pub async fn releases(
    fleet: &Fleet,
    only: Option<&str>,
) -> Result<Vec<InstanceReleases>, UnknownInstance> {
    let chosen: Vec<&InstanceHandle> = match only {
        None => fleet.instances.iter().chain(fleet.canary.iter()).collect(),
        Some(name) => match fleet.canary.iter().find(|c| c.name() == name) {
            Some(canary) => vec![canary],
            None => vec![fleet.find_instance(name)?],
        },
    };
    Ok(join_all(chosen.into_iter().map(|i| of_instance(fleet, i))).await)
}

async fn of_instance(fleet: &Fleet, inst: &InstanceHandle) -> InstanceReleases {
    let mut view = InstanceReleases {
        instance: inst.name().to_string(),
        host: inst.config.host.clone(),
        canary: fleet
            .canary
            .as_ref()
            .is_some_and(|c| c.name() == inst.name()),
        running: None,
        kept: Vec::new(),
        missing: Vec::new(),
        error: None,
    };
    let t = inst.transport.as_ref();
    let war = match inst.war_path() {
        Ok(w) => w,
        Err(e) => {
            view.error = Some(e.to_string());
            return view;
        }
    };
    let (deployed, record, index) = tokio::join!(
        remote::sha256_if_exists(t, &war),
        record_if_readable(inst),
        kept::read_index(inst)
    );
    let mut errors = Vec::new();
    match deployed {
        Ok(Some(sha256)) => {
            let record = record.filter(|r| r.sha256.eq_ignore_ascii_case(sha256.as_str()));
            view.running = Some(RunningRelease { sha256, record });
        }
        Ok(None) => {}
        Err(e) => errors.push(e.to_string()),
    }
    match index {
        Ok(list) => {
            let present = join_all(list.iter().map(|r| async move {
                let path = kept::kept_war(inst, &r.sha256).map_err(TransportError::from)?;
                remote::exists(t, &path).await
            }))
            .await;
            for (r, there) in list.iter().zip(present) {
                match there {
                    Ok(true) => {}
                    Ok(false) => view.missing.push(r.sha256.clone()),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            view.kept = list;
        }
        Err(e) => errors.push(e.to_string()),
    }
    if !errors.is_empty() {
        view.error = Some(errors.join("; "));
    }
    view
}
