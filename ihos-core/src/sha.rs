//! [`Sha256`]: a SHA-256 digest as the lowercase hex `sha256sum` prints, the one form in
//! which ihos compares, records and shows WARs.

use std::fmt;
use std::path::Path;

use sha2::Digest;

/// Digits of a digest shown to people (`ihos status`, events); enough to tell releases
/// apart, as git's short ids are.
const SHORT: usize = 12;

/// A SHA-256 digest: exactly 64 lowercase hex digits.
///
/// ```
/// use ihos_core::Sha256;
///
/// let sum = Sha256::of_bytes(b"abc");
/// assert_eq!(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert_eq!(sum.short(), "ba7816bf8f01");
/// assert_eq!(Sha256::parse(&sum.as_str().to_uppercase()), Some(sum));
/// assert_eq!(Sha256::parse("not a digest"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Sha256(String);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Sha256 {
        Sha256::from_digest(sha2::Sha256::digest(bytes))
    }

    /// The digest of a local file, read in chunks (memory does not grow with its size).
    pub fn of_file(path: &Path) -> std::io::Result<Sha256> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        Ok(Sha256::from_digest(hasher.finalize()))
    }

    /// 64 hex digits, either case (`None` for anything else).
    pub fn parse(hex: &str) -> Option<Sha256> {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Sha256(hex.to_ascii_lowercase()))
    }

    /// The digest in a `sha256sum` output line (`<hex>  <file>`; GNU coreutils starts the
    /// line with `\` when the file's name has a backslash or a newline).
    pub fn from_sha256sum_line(line: &str) -> Option<Sha256> {
        let first = line.split_whitespace().next()?;
        Sha256::parse(first.strip_prefix('\\').unwrap_or(first))
    }

    pub(crate) fn from_digest(digest: impl fmt::LowerHex) -> Sha256 {
        Sha256(format!("{digest:x}"))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> &str {
        short_sha(&self.0)
    }

    /// The first 16 hex digits: enough to name a file by its content.
    pub(crate) fn file_tag(&self) -> &str {
        self.0.get(..16).unwrap_or(&self.0)
    }
}

/// The first 12 characters of a digest as a record stores it (a record read from a host
/// is text, possibly shorter or not hex at all: never panics).
pub fn short_sha(digest: &str) -> &str {
    match digest.char_indices().nth(SHORT) {
        Some((end, _)) => &digest[..end],
        None => digest,
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The hex digits as a `&str`, wherever text is expected.
impl std::ops::Deref for Sha256 {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sha256 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Sha256> for String {
    fn from(s: Sha256) -> String {
        s.0
    }
}

impl PartialEq<str> for Sha256 {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Sha256 {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Sha256 {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Sha256> for String {
    fn eq(&self, other: &Sha256) -> bool {
        self == &other.0
    }
}

impl PartialEq<Sha256> for str {
    fn eq(&self, other: &Sha256) -> bool {
        self == other.0
    }
}

impl PartialEq<Sha256> for &str {
    fn eq(&self, other: &Sha256) -> bool {
        *self == other.0
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Sha256::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a SHA-256 digest")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(Sha256::of_bytes(b"abc"), abc);
        assert_eq!(
            Sha256::from_sha256sum_line(&format!("{abc}  /tmp/x\n")).as_ref(),
            Some(&Sha256::of_bytes(b"abc"))
        );
        assert_eq!(Sha256::from_sha256sum_line("nope"), None);
        // A name with a backslash: GNU's line starts with one.
        assert_eq!(
            Sha256::from_sha256sum_line(&format!("\\{abc}  /tmp/a\\\\b\n")).as_ref(),
            Some(&Sha256::of_bytes(b"abc"))
        );
        assert_eq!(Sha256::from_sha256sum_line("\\\\"), None);
        assert_eq!(Sha256::parse(&abc[1..]), None);
    }

    #[test]
    fn short_form_never_panics() {
        assert_eq!(short_sha("abc"), "abc");
        assert_eq!(short_sha(""), "");
        assert_eq!(short_sha("ééééééééééééééé"), "éééééééééééé");
        assert_eq!(short_sha(&"a".repeat(64)), "a".repeat(12));
    }
}
