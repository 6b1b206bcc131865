//! SHA-256 as `sha256sum` prints it, for the fake hosts and for tests that check what a
//! host holds.

/// SHA-256 of `bytes` as 64 lowercase hex digits (what `sha256sum` prints and what the
/// deployment records hold); [`ihos_core::Sha256`] as text.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ihos_core::Sha256::of_bytes(bytes).to_string()
}
