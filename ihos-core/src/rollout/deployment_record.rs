//! [`DeploymentRecord`]: what an instance runs, as written on its host
//! (`deployments/<instance>.json`), and how it is read back.

use crate::command::Privilege;
use crate::fleet::InstanceHandle;
use crate::names::RemotePath;
use crate::transport::{TransportError, remote};

/// The deployment record written on the instance's host and appended to the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeploymentRecord {
    /// The instance.
    pub instance: String,
    /// SHA-256 of the WAR.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// Commit id, if known.
    pub commit: Option<String>,
    /// The CI build number, if known (absent from records written before ihos kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// The rollout that deployed it.
    pub rollout_id: String,
    /// Who ran it.
    pub operator: String,
    /// When (RFC 3339 UTC).
    pub deployed_at: String,
    /// `deploy` or `rollback`.
    pub action: String,
}

impl DeploymentRecord {
    /// The first 12 hex digits of its SHA-256, for display.
    pub fn short_sha(&self) -> &str {
        crate::sha::short_sha(&self.sha256)
    }
}

/// The bytes of `inst`'s last deployment record and its path (`None`: none written yet).
pub(crate) async fn read_record(
    inst: &InstanceHandle,
) -> Result<Option<(RemotePath, Vec<u8>)>, TransportError> {
    let t = inst.transport.as_ref();
    let path = inst.record_path()?;
    if !remote::exists(t, &path).await? {
        return Ok(None);
    }
    let bytes = t.read_file(&path, Privilege::Sudo).await?;
    Ok(Some((path, bytes)))
}

/// `inst`'s last deployment record, `None` when there is none or it cannot be read or
/// parsed (for what only describes a release, never decides anything).
pub(crate) async fn record_if_readable(inst: &InstanceHandle) -> Option<DeploymentRecord> {
    let (_, bytes) = read_record(inst).await.ok().flatten()?;
    serde_json::from_slice(&bytes).ok()
}
