//! `x-pep-token` values for given user ids.
//!
//! The runbook's canary rule (DESIGN.md §1) matches the header against base64 prefixes of
//! `{"id":"<id>`: `eyJpZCI6IjE` is base64 of `{"id":"1`. A token here is the base64 of the JSON
//! payload `{"id":"<id>","n":<n>}` ([`TokenFormat::Plain`]), or a JWT-like
//! `header.payload.signature` whose payload is that JSON in unpadded base64url
//! ([`TokenFormat::Jwt`]); both contain the prefix the rule looks for.

use serde::{Deserialize, Serialize};

/// How a token is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// Standard base64 (with padding) of the JSON payload.
    #[default]
    Plain,
    /// `base64url(header).base64url(payload).signature`, unpadded, like a JWT.
    Jwt,
}

/// A token format name other than `plain` or `jwt` (from [`TokenFormat`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token format {given:?} (plain or jwt)")]
pub struct UnknownTokenFormat {
    /// The name given.
    pub given: String,
}

impl std::str::FromStr for TokenFormat {
    type Err = UnknownTokenFormat;
    fn from_str(s: &str) -> Result<Self, UnknownTokenFormat> {
        match s {
            "plain" => Ok(TokenFormat::Plain),
            "jwt" => Ok(TokenFormat::Jwt),
            other => Err(UnknownTokenFormat {
                given: other.to_string(),
            }),
        }
    }
}

/// Standard base64 with padding.
pub fn base64_std(input: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(input)
}

/// base64url without padding (as in JWTs).
pub fn base64_url(input: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(input)
}

/// Whether `id` may be put into a token: 1–64 bytes of `[A-Za-z0-9_.-]` (no quoting needed).
pub fn valid_user_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// The JSON payload of a token: `{"id":"<id>","n":<n>}`.
pub fn payload(id: &str, n: u64) -> String {
    format!("{{\"id\":\"{id}\",\"n\":{n}}}")
}

/// The token of user `id` (`n` is a free number, e.g. the client's index).
pub fn token(id: &str, n: u64, format: TokenFormat) -> String {
    let p = payload(id, n);
    match format {
        TokenFormat::Plain => base64_std(p.as_bytes()),
        TokenFormat::Jwt => format!(
            "{}.{}.{}",
            base64_url(br#"{"alg":"HS256","typ":"JWT"}"#),
            base64_url(p.as_bytes()),
            base64_url(b"ihos-sandbox-not-a-signature")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        // RFC 4648 test vectors.
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_std(i.as_bytes()), o);
            assert_eq!(base64_url(i.as_bytes()), o.trim_end_matches('='));
        }
        assert_eq!(base64_std(&[0xfb, 0xff]), "+/8=");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn the_runbooks_prefix() {
        assert_eq!(base64_std(br#"{"id":"1"#), "eyJpZCI6IjE=");
        for (id, prefix) in [
            ("1", "eyJpZCI6IjE"),
            ("13", "eyJpZCI6IjE"),
            ("3", "eyJpZCI6IjM"),
            ("5", "eyJpZCI6IjU"),
            ("7", "eyJpZCI6Ijc"),
            ("2", "eyJpZCI6IjI"),
        ] {
            let t = token(id, 4, TokenFormat::Plain);
            assert!(t.starts_with(prefix), "{id}: {t}");
            let j = token(id, 4, TokenFormat::Jwt);
            let parts: Vec<&str> = j.split('.').collect();
            assert_eq!(parts.len(), 3, "{j}");
            assert!(parts[1].starts_with(prefix), "{id}: {j}");
            assert!(!j.contains('='), "{j}");
        }
        assert_eq!(
            token("1", 0, TokenFormat::Plain),
            base64_std(br#"{"id":"1","n":0}"#)
        );
    }

    /// The runbook's rule as nginx applies it (`~*`: case-insensitive, unanchored), with a
    /// hand-written matcher for its four alternatives.
    #[test]
    fn canary_rule_selects_ids_starting_with_1_3_5_7() {
        let alts = ["eyjpzci6ije", "eyjpzci6ijm", "eyjpzci6iju", "eyjpzci6ijc"];
        let matches = |t: &str| {
            let l = t.to_ascii_lowercase();
            alts.iter().any(|a| l.contains(a))
        };
        for fmt in [TokenFormat::Plain, TokenFormat::Jwt] {
            for id in ["1", "10", "123", "3", "5", "59", "7", "777"] {
                assert!(matches(&token(id, 1, fmt)), "{id} {fmt:?}");
            }
            for id in ["2", "4", "6", "8", "9", "0", "21", "a1", "x"] {
                assert!(!matches(&token(id, 1, fmt)), "{id} {fmt:?}");
            }
        }
    }

    #[test]
    fn user_ids_and_formats() {
        assert!(valid_user_id("17"));
        assert!(valid_user_id("user-1.x_y"));
        assert!(!valid_user_id(""));
        assert!(!valid_user_id("a\"b"));
        assert!(!valid_user_id(&"1".repeat(65)));
        assert_eq!("jwt".parse::<TokenFormat>().unwrap(), TokenFormat::Jwt);
        assert!("x".parse::<TokenFormat>().is_err());
    }
}
