//! Virtual time: [`VirtualTime`] is a moment on the fake world's timeline, measured with
//! `tokio::time::Instant` (so a paused tokio clock drives it) from the moment the world was
//! created, and shown as wall-clock time from a fixed epoch ([`EPOCH_UNIX_SECS`]).

use std::fmt;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Wall-clock time of the world's start: 2026-01-05T09:00:00Z, as Unix seconds.
pub const EPOCH_UNIX_SECS: i64 = 1_767_603_600;

/// A moment of the fake world, in nanoseconds since the world was created (negative for
/// moments before it, e.g. a container that was already running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VirtualTime(i64);

impl VirtualTime {
    /// The moment the world was created.
    pub const START: VirtualTime = VirtualTime(0);

    /// `d` after the world's start.
    pub fn from_start(d: Duration) -> Self {
        VirtualTime(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// Nanoseconds since the world's start (negative before it).
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Time since the world's start (zero for moments before it).
    pub fn since_start(self) -> Duration {
        Duration::from_nanos(self.0.max(0) as u64)
    }

    /// `d` later.
    pub fn plus(self, d: Duration) -> Self {
        VirtualTime(
            self.0
                .saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    /// `d` earlier.
    pub fn minus(self, d: Duration) -> Self {
        VirtualTime(
            self.0
                .saturating_sub(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    /// How long after `earlier` this is (zero if it is not later).
    pub fn duration_since(self, earlier: VirtualTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// The wall-clock time of this moment.
    fn wall(self) -> Timestamp {
        Timestamp::from_second(EPOCH_UNIX_SECS).expect("the epoch is a valid timestamp")
            + SignedDuration::from_nanos(self.0)
    }

    /// The wall-clock time in UTC, formatted with `strftime` directives.
    pub(crate) fn strftime(self, format: &str) -> String {
        self.wall().strftime(format).to_string()
    }

    /// RFC 3339 with nanoseconds, as `docker inspect` shows times:
    /// `2026-01-05T09:00:02.000000000Z`.
    pub fn rfc3339(self) -> String {
        self.strftime("%Y-%m-%dT%H:%M:%S.%NZ")
    }

    /// The date, `YYYY-MM-DD` (the app's log file is `logFile.YYYY-MM-DD.log`).
    pub fn date(self) -> String {
        self.strftime("%Y-%m-%d")
    }

    /// Tomcat's log timestamp: `05-Jan-2026 09:00:02.034` (milliseconds truncated).
    pub fn tomcat_stamp(self) -> String {
        self.strftime("%d-%b-%Y %H:%M:%S.%3f")
    }
}

/// `+12.500s (2026-01-05T09:00:12.500000000Z)`.
impl fmt::Display for VirtualTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "+" };
        let abs = Duration::from_nanos(self.0.unsigned_abs());
        write!(f, "{sign}{:.3}s ({})", abs.as_secs_f64(), self.rfc3339())
    }
}

/// The world's clock: `tokio::time::Instant` relative to the world's creation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            origin: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> VirtualTime {
        VirtualTime::from_start(tokio::time::Instant::now().saturating_duration_since(self.origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_wall_clock() {
        assert_eq!(
            VirtualTime::START.rfc3339(),
            "2026-01-05T09:00:00.000000000Z"
        );
        let t = VirtualTime::from_start(Duration::from_millis(15 * 3600 * 1000 + 2034));
        assert_eq!(t.rfc3339(), "2026-01-06T00:00:02.034000000Z");
        assert_eq!(t.date(), "2026-01-06");
        assert_eq!(t.tomcat_stamp(), "06-Jan-2026 00:00:02.034");
        let before = VirtualTime::START.minus(Duration::from_secs(9 * 3600 + 1));
        assert_eq!(before.rfc3339(), "2026-01-04T23:59:59.000000000Z");
        // 20_458 days and 9 hours before the world's start: 1970-01-01; 9_442 days: a leap day.
        let unix_epoch = VirtualTime::START.minus(Duration::from_secs(20_458 * 86_400 + 9 * 3600));
        assert_eq!(unix_epoch.rfc3339(), "1970-01-01T00:00:00.000000000Z");
        let leap_day = VirtualTime::START.minus(Duration::from_secs(9_442 * 86_400 + 9 * 3600));
        assert_eq!(leap_day.date(), "2000-02-29");
    }
}
