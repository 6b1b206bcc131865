//! The three times nginx can log, read to milliseconds since the Unix epoch.
//!
//! Written by hand because they are on the hot path (a line each; a 1 GB log has millions)
//! and have fixed forms (`ngx_http_log_time`, `ngx_http_log_iso8601`, `ngx_http_log_msec`):
//! a general date parser costs several times the rest of the line.

/// `$time_iso8601`: `1970-09-28T12:00:00+06:00`.
pub(crate) fn iso8601(s: &[u8]) -> Option<i64> {
    if s.len() != 25 || s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[22] != b':' {
        return None;
    }
    let date = civil(num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?)?;
    let secs = clock(&s[11..19])?;
    let offset = zone(s[19], num(&s[20..22])?, num(&s[23..25])?)?;
    Some((date * 86_400 + secs - offset) * 1000)
}

/// `$time_local`: `28/Sep/1970:12:00:00 +0600`.
pub(crate) fn local(s: &[u8]) -> Option<i64> {
    if s.len() != 26 || s[2] != b'/' || s[6] != b'/' || s[11] != b':' || s[20] != b' ' {
        return None;
    }
    let month = month(&s[3..6])?;
    let date = civil(num(&s[7..11])?, month, num(&s[0..2])?)?;
    let secs = clock(&s[12..20])?;
    let offset = zone(s[21], num(&s[22..24])?, num(&s[24..26])?)?;
    Some((date * 86_400 + secs - offset) * 1000)
}

/// `$msec`: seconds with a millisecond fraction, `1733222400.123`.
pub(crate) fn msec(s: &[u8]) -> Option<i64> {
    let dot = s.iter().position(|&b| b == b'.')?;
    let (whole, frac) = (&s[..dot], &s[dot + 1..]);
    if frac.len() != 3 || whole.is_empty() || whole.len() > 12 {
        return None;
    }
    Some(num(whole)? * 1000 + num(frac)?)
}

/// A time nginx wrote with a millisecond resolution (`$request_time`,
/// `$upstream_response_time`: `0.123`), in milliseconds.
pub(crate) fn seconds_ms(s: &[u8]) -> Option<u64> {
    let dot = s.iter().position(|&b| b == b'.')?;
    let (whole, frac) = (&s[..dot], &s[dot + 1..]);
    if frac.len() != 3 || whole.is_empty() || whole.len() > 9 {
        return None;
    }
    u64::try_from(num(whole)? * 1000 + num(frac)?).ok()
}

/// Decimal digits (at most 12) as a number.
fn num(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    let mut n: i64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    Some(n)
}

/// `HH:MM:SS` as seconds of the day.
fn clock(s: &[u8]) -> Option<i64> {
    if s[2] != b':' || s[5] != b':' {
        return None;
    }
    let (h, m, sec) = (num(&s[0..2])?, num(&s[3..5])?, num(&s[6..8])?);
    // 60: a leap second, as the C library may print it.
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

fn zone(sign: u8, hours: i64, minutes: i64) -> Option<i64> {
    if hours > 23 || minutes > 59 {
        return None;
    }
    let secs = hours * 3600 + minutes * 60;
    match sign {
        b'+' => Some(secs),
        b'-' => Some(-secs),
        _ => None,
    }
}

fn month(s: &[u8]) -> Option<i64> {
    const NAMES: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    NAMES.iter().position(|n| n[..] == *s).map(|i| i as i64 + 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn civil(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from jiff (a full date library), on the same instants.
    fn reference(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn iso8601_and_local_agree_with_a_date_library() {
        for (iso, local_text) in [
            ("1970-01-01T00:00:00+00:00", "01/Jan/1970:00:00:00 +0000"),
            ("2026-12-03T10:15:30+08:00", "03/Dec/2026:10:15:30 +0800"),
            ("2024-02-29T23:59:59-05:30", "29/Feb/2024:23:59:59 -0530"),
            ("2000-03-01T00:00:00+14:00", "01/Mar/2000:00:00:00 +1400"),
        ] {
            let want = reference(iso);
            assert_eq!(iso8601(iso.as_bytes()), Some(want), "{iso}");
            assert_eq!(local(local_text.as_bytes()), Some(want), "{local_text}");
        }
    }

    #[test]
    fn msec_and_durations() {
        assert_eq!(msec(b"1733222400.123"), Some(1_733_222_400_123));
        assert_eq!(seconds_ms(b"0.005"), Some(5));
        assert_eq!(seconds_ms(b"12.340"), Some(12_340));
        for bad in [&b"-"[..], b"1.2", b"", b".123", b"1a.000", b"0.0001"] {
            assert_eq!(seconds_ms(bad), None, "{:?}", String::from_utf8_lossy(bad));
            assert_eq!(msec(bad), None);
        }
    }

    #[test]
    fn malformed_times_are_none_not_garbage() {
        for bad in [
            "2026-13-03T10:15:30+08:00",
            "2026-12-03T24:15:30+08:00",
            "2026-12-03 10:15:30+08:00",
            "2026-12-03T10:15:30Z",
            "2026-12-0xT10:15:30+08:00",
        ] {
            assert_eq!(iso8601(bad.as_bytes()), None, "{bad}");
        }
        for bad in [
            "03/Dek/2026:10:15:30 +0800",
            "03/Dec/2026:10:15:30 0800",
            "3/Dec/2026",
        ] {
            assert_eq!(local(bad.as_bytes()), None, "{bad}");
        }
    }
}
