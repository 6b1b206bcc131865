//! Small JSON records in the first load balancer host's state directory (the canary
//! route's times, the ramp's journal): read as ihos wrote them, replaced whole.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::command::Privilege;
use crate::fleet::Fleet;
use crate::transport::{TransportError, remote};

/// `state_dir/NAME`, `None` when missing or not a record of this kind (a file ihos cannot
/// read as its own counts as none: each caller says what that means).
pub(crate) async fn read<T: DeserializeOwned>(
    fleet: &Fleet,
    name: &str,
) -> Result<Option<T>, TransportError> {
    let t = fleet.lb_transport.as_ref();
    let p = fleet.lb_state_dir.join(name)?;
    if !remote::exists(t, &p).await? {
        return Ok(None);
    }
    let bytes = t.read_file(&p, Privilege::Sudo).await?;
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Replaces `state_dir/NAME` with `value` (root's alone).
pub(crate) async fn write<T: Serialize>(
    fleet: &Fleet,
    name: &str,
    value: &T,
) -> Result<(), TransportError> {
    let t = fleet.lb_transport.as_ref();
    let p = fleet.lb_state_dir.join(name)?;
    remote::mkdir_private(t, &fleet.lb_state_dir, &fleet.lb_state_dir).await?;
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    remote::replace_file(
        t,
        &p,
        &bytes,
        Privilege::Sudo,
        Some(remote::PrivateMode::File),
    )
    .await
}
