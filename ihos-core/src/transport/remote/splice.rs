//! Where a new file differs from an old one (nginx.conf after a wave's change: a few lines
//! of a file that grows with the fleet): the checked write ([`super::checked_write`]) makes
//! the new file on the host from the old one there and only these bytes, so that a rollout
//! moves O(instances) bytes of config, not O(instances²).

/// Below this many bytes saved, the whole file is sent (one command either way, and the
/// plain write is the simpler one).
pub(crate) const MIN_SAVED: usize = 4096;

/// Where `bytes` differs from `previous`: the common beginning's length, where the common
/// end starts in `previous`, and the bytes between.
pub(crate) fn differing<'a>(previous: &[u8], bytes: &'a [u8]) -> (usize, usize, &'a [u8]) {
    let prefix = previous
        .iter()
        .zip(bytes)
        .take_while(|(a, b)| a == b)
        .count();
    let room = previous.len().min(bytes.len()) - prefix;
    let suffix = (previous.iter().rev())
        .zip(bytes.iter().rev())
        .take(room)
        .take_while(|(a, b)| a == b)
        .count();
    (
        prefix,
        previous.len() - suffix,
        &bytes[prefix..bytes.len() - suffix],
    )
}

#[cfg(test)]
mod tests {
    use super::differing;

    #[test]
    fn the_differing_bytes_are_between_the_common_beginning_and_end() {
        assert_eq!(differing(b"abcXdef", b"abcYYdef"), (3, 4, &b"YY"[..]));
        assert_eq!(differing(b"same", b"same"), (4, 4, &b""[..]));
        assert_eq!(differing(b"", b"new"), (0, 0, &b"new"[..]));
        assert_eq!(differing(b"old", b""), (0, 3, &b""[..]));
        // A repeated byte at the seam is counted once, never twice.
        assert_eq!(differing(b"aa", b"aaa"), (2, 2, &b"a"[..]));
        assert_eq!(differing(b"aXa", b"aa"), (1, 2, &b""[..]));
    }
}
