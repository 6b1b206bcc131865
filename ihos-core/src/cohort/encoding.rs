//! Base64 bit arithmetic: which characters can stand at each position of the encoding of a
//! byte string whose start is known and whose rest is not.
//!
//! Base64 writes 6 bits per character, most significant first. The first `8n / 6` characters
//! of the encoding of `n` known bytes are fixed; when `8n` is not a multiple of 6, one more
//! character has only its top 2 or 4 bits fixed (the rest come from the unknown next byte),
//! so any of the 16 or 4 characters with those top bits can stand there.

/// The start every cohort payload must have: `{"id":"`.
pub(crate) const ID_PREFIX: &[u8] = b"{\"id\":\"";

/// The standard base64 alphabet (RFC 4648 section 4), by digit value.
const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The characters the URL-safe alphabet (RFC 4648 section 5) uses for digits 62 and 63.
const URL_SAFE_62: u8 = b'-';
const URL_SAFE_63: u8 = b'_';

/// A set of base64 digit values (0..=63); bit `v` stands for value `v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digits(u64);

impl Digits {
    /// The empty set.
    pub(crate) const EMPTY: Digits = Digits(0);

    /// The one value `v` (taken modulo 64).
    pub(crate) fn single(v: u8) -> Digits {
        Digits(1 << (v & 63))
    }

    /// Every value whose top `fixed` bits equal `top` (`fixed` in 1..=6).
    fn with_top_bits(top: u8, fixed: u32) -> Digits {
        let free = 6 - fixed;
        let count = 1u64 << free;
        let lowest = u64::from(top) << free;
        // count <= 32 here (fixed >= 1), so the shift cannot overflow
        Digits(((1u64 << count) - 1) << lowest)
    }

    /// This set with value `v` added.
    pub(crate) fn with(self, v: u8) -> Digits {
        Digits(self.0 | Digits::single(v).0)
    }

    /// How many values are in the set.
    pub(crate) fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// The values, ascending.
    pub(crate) fn values(self) -> impl Iterator<Item = u8> {
        (0u8..64).filter(move |&v| self.0 & (1 << v) != 0)
    }

    /// When the set is exactly "every value with these top bits": `(top, fixed bits)`.
    /// A single value is `(value, 6)`.
    pub(crate) fn top_bits(self) -> Option<(u8, u32)> {
        let len = self.len();
        if !len.is_power_of_two() || len > 32 {
            return None;
        }
        let fixed = 6 - len.trailing_zeros();
        let lowest = u8::try_from(self.0.trailing_zeros()).ok()?;
        let top = lowest >> (6 - fixed);
        (Digits::with_top_bits(top, fixed) == self).then_some((top, fixed))
    }
}

/// The digit sets of the encoding of `bytes` followed by anything: one fixed digit per
/// complete 6 bits, then, if bits are left over, the set of digits with those top bits.
pub(crate) fn positions(bytes: &[u8]) -> Vec<Digits> {
    let nbits = bytes.len() * 8;
    let full = nbits / 6;
    let mut out: Vec<Digits> = (0..full)
        .map(|k| Digits::single(bits(bytes, 6 * k, 6)))
        .collect();
    let rest = nbits - 6 * full;
    if rest > 0 {
        // rest is 2 or 4: a byte count times 8, modulo 6
        out.push(Digits::with_top_bits(
            bits(bytes, 6 * full, rest),
            rest as u32,
        ));
    }
    out
}

/// `n` (at most 8) bits of `bytes` from bit `start`, most significant first.
fn bits(bytes: &[u8], start: usize, n: usize) -> u8 {
    let mut v = 0u8;
    for i in start..start + n {
        let byte = bytes.get(i / 8).copied().unwrap_or(0);
        v = (v << 1) | ((byte >> (7 - i % 8)) & 1);
    }
    v
}

/// The bytes that the digit sets `seq` encode: every set a single digit except perhaps the
/// last, which may fix only its top bits. `None` when the sets do not encode whole bytes.
pub(crate) fn bytes_of(seq: &[Digits]) -> Option<Vec<u8>> {
    let (last, init) = seq.split_last()?;
    let mut bits_acc: Vec<bool> = Vec::with_capacity(seq.len() * 6);
    let mut push = |value: u8, n: u32| {
        for i in (0..n).rev() {
            bits_acc.push((value >> i) & 1 == 1);
        }
    };
    for d in init {
        let (v, 6) = d.top_bits()? else {
            return None;
        };
        push(v, 6);
    }
    let (top, fixed) = last.top_bits()?;
    push(top, fixed);
    if bits_acc.len() % 8 != 0 {
        return None;
    }
    Some(
        bits_acc
            .chunks(8)
            .map(|c| c.iter().fold(0u8, |b, &bit| (b << 1) | u8::from(bit)))
            .collect(),
    )
}

/// The characters that stand for the digits in `set`, in both alphabets: standard order,
/// then `_` and `-` (last, so a regex class reads it as a literal).
pub(crate) fn chars(set: Digits) -> Vec<u8> {
    let mut out: Vec<u8> = set.values().map(|v| STANDARD[usize::from(v)]).collect();
    if set.0 & (1 << 63) != 0 {
        out.push(URL_SAFE_63);
    }
    if set.0 & (1 << 62) != 0 {
        out.push(URL_SAFE_62);
    }
    out
}

/// The digit value of a base64 character of either alphabet.
pub(crate) fn value_of(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(seq: &[Digits]) -> String {
        seq.iter()
            .map(|&d| {
                let c = chars(d);
                if c.len() == 1 {
                    (c[0] as char).to_string()
                } else {
                    format!("[{}]", String::from_utf8_lossy(&c))
                }
            })
            .collect()
    }

    #[test]
    fn id_prefix_alone_leaves_two_bits() {
        // 7 bytes = 56 bits = 9 characters + 2 bits; `"` = 0b0010_0010 ends in `10`
        let p = positions(ID_PREFIX);
        assert_eq!(p.len(), 10);
        assert_eq!(
            render(&p),
            "eyJpZCI6I[ghijklmnopqrstuv]",
            "values 0b10xxxx = 32..=47"
        );
    }

    #[test]
    fn known_vectors() {
        let enc = |p: &str| render(&positions(&[ID_PREFIX, p.as_bytes()].concat()));
        // `1` = 0x31: 8 bytes = 10 characters + 4 bits (0001), free 2 bits
        assert_eq!(enc("1"), "eyJpZCI6Ij[EFGH]");
        assert_eq!(enc("3"), "eyJpZCI6Ij[MNOP]");
        assert_eq!(enc("5"), "eyJpZCI6Ij[UVWX]");
        assert_eq!(enc("7"), "eyJpZCI6Ij[cdef]");
        // 9 bytes = 72 bits: exactly 12 characters, no class
        assert_eq!(enc("12"), "eyJpZCI6IjEy");
        // 10 bytes = 13 characters + 2 bits (`5` = 0x35 ends in 01): 16 values 16..=31
        assert_eq!(enc("305"), "eyJpZCI6IjMwN[QRSTUVWXYZabcdef]");
        // 11 bytes = 14 characters + 4 bits
        assert_eq!(enc("3050"), "eyJpZCI6IjMwNT[ABCD]");
    }

    #[test]
    fn digits_62_and_63_get_both_alphabets() {
        // `?` = 0x3F = 0b0011_1111: its low 4 bits 1111 + 2 free bits = values 60..=63
        let p = positions(&[ID_PREFIX, b"?"].concat());
        assert_eq!(render(&p), "eyJpZCI6Ij[89+/_-]");
        // `~` = 0x7E after `{"id":"1`: 9 bytes, the 12th character is 0b111110 = 62
        let p = positions(&[ID_PREFIX, b"1~"].concat());
        assert_eq!(render(&p[11..]), "[+-]");
    }

    #[test]
    fn matches_the_base64_crate_on_complete_groups() {
        use base64::Engine as _;
        for id in ["1", "12", "305", "abc", "Z_-?~", "user@example"] {
            let bytes = [ID_PREFIX, id.as_bytes()].concat();
            let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
            let pos = positions(&bytes);
            assert_eq!(pos.len(), enc.len(), "{id}");
            for (d, c) in pos.iter().zip(enc.bytes()) {
                let v = value_of(c).unwrap();
                assert_eq!(
                    d.values().next(),
                    Some(v),
                    "{id}: padding bits are zero, so the lowest value is the crate's"
                );
            }
        }
    }

    #[test]
    fn bytes_of_inverts_positions() {
        for id in ["1", "12", "305", "3050", "x", "?~"] {
            let bytes = [ID_PREFIX, id.as_bytes()].concat();
            assert_eq!(bytes_of(&positions(&bytes)), Some(bytes), "{id}");
        }
        // a class that fixes no whole byte boundary
        assert_eq!(bytes_of(&[Digits::single(1)]), None);
        // a set that is not "all values with these top bits"
        assert_eq!(
            bytes_of(&[Digits::single(1), Digits::EMPTY.with(3).with(5)]),
            None
        );
        // a class before the last position
        let mut p = positions(b"{\"id\":\"1");
        p.push(Digits::single(0));
        assert_eq!(bytes_of(&p), None);
    }

    #[test]
    fn top_bits_of_sets() {
        assert_eq!(Digits::single(9).top_bits(), Some((9, 6)));
        assert_eq!(Digits::with_top_bits(3, 2).top_bits(), Some((3, 2)));
        assert_eq!(Digits::EMPTY.top_bits(), None);
        assert_eq!(Digits::EMPTY.with(1).with(2).top_bits(), None);
    }
}
