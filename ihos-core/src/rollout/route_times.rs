//! When the canary's route was last opened and closed: `state_dir/canary-route.json` on the
//! first load balancer's host, in that host's clock (the clock nginx logs with). It is the
//! default window of the canary analysis: since the route was opened, until it was closed.
//!
//! Written best-effort: a route change has happened when this is written, and failing to
//! note its time must not turn it into a failure (the analysis then asks for `--since`).

use serde::{Deserialize, Serialize};

use crate::command::{Command, Privilege};
use crate::fleet::Fleet;
use crate::names::RemotePath;
use crate::transport::{Transport, TransportError, remote, run_checked};

/// The route's last opening and closing, ms since the epoch in the LB host's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTimes {
    /// When it was last opened (by `canary open`, or reopened after a canary deploy).
    pub opened_ms: Option<i64>,
    /// When it was last closed.
    pub closed_ms: Option<i64>,
}

fn path(fleet: &Fleet) -> Result<RemotePath, TransportError> {
    Ok(fleet.lb_state_dir.join("canary-route.json")?)
}

/// The host's clock, in ms since the epoch.
pub(crate) async fn host_now_ms(t: &dyn Transport) -> Result<i64, TransportError> {
    let cmd = Command::new("date").arg("+%s%3N");
    let out = run_checked(t, &cmd).await?;
    let text = out.stdout_text();
    text.trim()
        .parse::<i64>()
        .map_err(|_| TransportError::Protocol {
            host: t.host().to_string(),
            command: cmd.to_string(),
            reason: format!("unexpected output {:?}", text.trim()),
        })
}

/// The recorded times, `None` when nothing was recorded.
pub(crate) async fn load(fleet: &Fleet) -> Result<Option<RouteTimes>, TransportError> {
    let t = fleet.lb_transport.as_ref();
    let p = path(fleet)?;
    if !remote::exists(t, &p).await? {
        return Ok(None);
    }
    let bytes = t.read_file(&p, Privilege::Sudo).await?;
    // A file ihos cannot read as its own is as good as none: the analysis asks for --since.
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Notes that the route was just opened (`open`) or closed.
pub(crate) async fn note(fleet: &Fleet, open: bool) {
    if let Err(e) = try_note(fleet, open).await {
        tracing::warn!(
            "could not record when the canary route was {}: {e} (`ihos canary analyze` will \
             need --since)",
            if open { "opened" } else { "closed" }
        );
    }
}

async fn try_note(fleet: &Fleet, open: bool) -> Result<(), TransportError> {
    let t = fleet.lb_transport.as_ref();
    let now = host_now_ms(t).await?;
    let mut times = load(fleet).await?.unwrap_or_default();
    if open {
        times.opened_ms = Some(now);
    } else {
        times.closed_ms = Some(now);
    }
    let p = path(fleet)?;
    remote::mkdir_private(t, &fleet.lb_state_dir, &fleet.lb_state_dir).await?;
    let bytes = serde_json::to_vec(&times).unwrap_or_default();
    remote::replace_file(t, &p, &bytes, Privilege::Sudo).await
}
