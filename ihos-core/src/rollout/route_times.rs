//! When the canary's route was last opened and closed: `state_dir/canary-route.json` on the
//! first load balancer's host, in that host's clock (the clock nginx logs with). It is the
//! default window of the canary analysis: since the route was opened, until it was closed.
//!
//! Written best-effort: a route change has happened when this is written, and failing to
//! note its time must not turn it into a failure (the analysis then asks for `--since`).

use serde::{Deserialize, Serialize};

use super::state_json;
use crate::command::Command;
use crate::fleet::Fleet;
use crate::transport::{Transport, TransportError, run_checked};

/// The route's last opening and closing, ms since the epoch in the LB host's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTimes {
    /// When it was last opened (by `canary open`, or reopened after a canary deploy).
    pub opened_ms: Option<i64>,
    /// When it was last closed.
    pub closed_ms: Option<i64>,
}

const FILE: &str = "canary-route.json";

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

/// The recorded times, `None` when nothing was recorded (or nothing ihos can read: the
/// analysis then asks for --since).
pub(crate) async fn load(fleet: &Fleet) -> Result<Option<RouteTimes>, TransportError> {
    state_json::read(fleet, FILE).await
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
    state_json::write(fleet, FILE, &times).await
}
