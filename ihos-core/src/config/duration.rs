//! Durations in configuration: `"30m"`, `"1h30m"`, `"10s"`, `"500ms"`, or a number of seconds.

use std::fmt;
use std::time::Duration;

/// A duration read from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// `n` seconds.
    pub const fn secs(n: u64) -> Self {
        Dur(Duration::from_secs(n))
    }
}

impl From<Dur> for Duration {
    fn from(d: Dur) -> Duration {
        d.0
    }
}

/// The longest duration a setting takes (checked by the topology's validation, which names
/// the key): a day is beyond any drain, start or timeout ihos waits for, and deadlines
/// computed from it cannot overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("{0:?} is not a duration like 30s, 5m, 1h30m, 500ms")]
    Syntax(String),
    #[error("{0:?}: a duration cannot be negative")]
    Negative(String),
}

/// Parses `"1h30m"`, `"10s"`, `"500ms"`, `"2m"`, `"0"` (a sum too large for any duration
/// is refused as not a duration; the limit is the validation's). The
/// topology's one compact form (units ms, s, m, h, no spaces) is checked here; jiff reads
/// it, with checked arithmetic.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let compact = t
        .split(|c: char| c.is_ascii_digit())
        .filter(|unit| !unit.is_empty())
        .all(|unit| matches!(unit, "ms" | "s" | "m" | "h"));
    if !compact
        || !t.starts_with(|c: char| c.is_ascii_digit())
        || t.ends_with(|c: char| c.is_ascii_digit())
    {
        return Err(DurationError::Syntax(text.to_string()));
    }
    let signed: jiff::SignedDuration = t
        .parse()
        .map_err(|_| DurationError::Syntax(text.to_string()))?;
    Duration::try_from(signed).map_err(|_| DurationError::Negative(text.to_string()))
}

impl std::str::FromStr for Dur {
    type Err = String;

    /// `"30m"`, `"1h30m"`, `"500ms"`, or a number of seconds.
    fn from_str(text: &str) -> Result<Dur, String> {
        parse_duration(text).map(Dur).map_err(|e| e.to_string())
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        if ms % 1000 != 0 {
            return write!(f, "{ms}ms");
        }
        let s = ms / 1000;
        let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\", \"1h30m\" or a number of seconds")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                let secs =
                    u64::try_from(v).map_err(|_| E::custom("a duration cannot be negative"))?;
                self.visit_u64(secs)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur::secs(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl serde::Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("5minutes").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("18446744073709551615s1s").is_err());
        assert!(parse_duration("9223372036854775807s9223372036854775807s").is_err());
        assert_eq!(parse_duration("24h").unwrap(), MAX_DURATION);
        assert_eq!(Dur(Duration::from_secs(5400)).to_string(), "1h30m");
        assert_eq!(Dur(Duration::from_millis(1500)).to_string(), "1500ms");
    }
}
