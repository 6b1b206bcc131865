//! Virtual time: [`VirtualTime`] is a moment on the fake world's timeline, measured with
//! `tokio::time::Instant` (so a paused tokio clock drives it) from the moment the world was
//! created, and shown as wall-clock time from a fixed epoch ([`EPOCH_UNIX_SECS`]).

use std::fmt;
use std::time::Duration;

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

    fn wall(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let total = i128::from(EPOCH_UNIX_SECS) * 1_000_000_000 + i128::from(self.0);
        let secs = total.div_euclid(1_000_000_000) as i64;
        let nanos = total.rem_euclid(1_000_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, nanos)
    }

    /// RFC 3339 with nanoseconds, as `docker inspect` shows times:
    /// `2026-01-05T09:00:02.000000000Z`.
    pub fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s, n) = self.wall();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{n:09}Z")
    }

    /// The date, `YYYY-MM-DD` (the app's log file is `logFile.YYYY-MM-DD.log`).
    pub fn date(self) -> String {
        let (y, mo, d, ..) = self.wall();
        format!("{y:04}-{mo:02}-{d:02}")
    }

    /// Tomcat's log timestamp: `05-Jan-2026 09:00:02.034`.
    pub fn tomcat_stamp(self) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (y, mo, d, h, mi, s, n) = self.wall();
        format!(
            "{d:02}-{}-{y:04} {h:02}:{mi:02}:{s:02}.{:03}",
            MONTHS[(mo - 1) as usize],
            n / 1_000_000
        )
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

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
