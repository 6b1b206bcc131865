//! Times on the command line (`--since`, `--until`).

use ihos_core::Dur;

/// A `--since`/`--until` value: an RFC 3339 time, `@` and seconds since the epoch, or a
/// duration before now (`10m`, `1h30m`). In ms since the epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Some(secs) = text.strip_prefix('@') {
        return secs
            .parse::<i64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(|| format!("{text:?}: `@` takes whole seconds since the epoch"));
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    match text.parse::<Dur>() {
        Ok(d) => {
            let ago = i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX);
            Ok(jiff::Timestamp::now().as_millisecond().saturating_sub(ago))
        }
        Err(_) => Err(format!(
            "{text:?} is neither a time (2026-12-03T10:00:00+08:00, @1733220000) nor a \
             duration before now (10m, 1h30m)"
        )),
    }
}
