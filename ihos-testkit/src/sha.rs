//! SHA-256 as `sha256sum` prints it, for the fake hosts and for tests that check what a
//! host holds.

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` as 64 lowercase hex digits (what `sha256sum` prints and what
/// `ihos_core::Uploaded::sha256` and the deployment records hold).
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_digests() {
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
