//! Wall-clock timestamps as RFC 3339 UTC text to the second, the form of every time ihos
//! writes (records, journal, lock, events).

use jiff::Timestamp;

/// `2026-11-25T15:04:05Z` for `t`.
pub(crate) fn rfc3339_utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Now, as [`rfc3339_utc`].
pub(crate) fn now_utc() -> String {
    rfc3339_utc(Timestamp::now())
}

/// Now, compact (`20261125T150405Z`), for ids that sort by time.
pub(crate) fn now_compact() -> String {
    Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// `now + after` on tokio's clock, or a day from now when the sum does not fit (a
/// duration from a library caller can be anything): a deadline, never a panic.
pub(crate) fn deadline_after(after: std::time::Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(24 * 3600))
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    #[test]
    fn formats_known_instants() {
        let at = |s| super::rfc3339_utc(Timestamp::from_second(s).unwrap());
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(at(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(
            super::rfc3339_utc(Timestamp::from_millisecond(1_500).unwrap()),
            "1970-01-01T00:00:01Z"
        );
    }
}
