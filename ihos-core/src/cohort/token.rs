//! Decoding a sample token: which user id it carries, as the cohort regex sees it.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::encoding::ID_PREFIX;

/// Which base64 alphabet a token's payload uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Base64Alphabet {
    /// Standard (RFC 4648 section 4): the payload holds `+` or `/`.
    Standard,
    /// URL-safe (RFC 4648 section 5, what JWTs use): the payload holds `-` or `_`.
    UrlSafe,
    /// Only characters both alphabets share: it decodes the same either way.
    Shared,
}

impl std::fmt::Display for Base64Alphabet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Base64Alphabet::Standard => "standard base64",
            Base64Alphabet::UrlSafe => "base64url",
            Base64Alphabet::Shared => "base64 (characters common to both alphabets)",
        })
    }
}

/// What [`decode_token`] found in a token. Holds no part of the token but the id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// The user id: the JSON string value of the payload's leading `"id"`.
    pub id: String,
    /// Whether the token is a JWT (`header.payload.signature`) rather than the payload alone.
    pub jwt: bool,
    /// The payload's base64 alphabet.
    pub alphabet: Base64Alphabet,
    /// Whether the payload ends with `=` padding.
    pub padded: bool,
    /// The decoded payload's length in bytes.
    pub payload_len: usize,
}

/// Why a token cannot be routed by a cohort regex. Never shows the whole token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is empty.
    #[error("the token is empty")]
    Empty,
    /// Neither a payload alone (no dot) nor a JWT (three dot-separated parts). Two parts
    /// are refused too, although the exact regex matches them when either part is a
    /// cohort member's payload: which part holds the id cannot be told (see the `cohort`
    /// module's "Two dot-separated parts").
    #[error(
        "the token has {parts} dot-separated parts; expected a JWT (header.payload.signature: 3) or a payload alone (1)"
    )]
    Parts {
        /// How many parts it has.
        parts: usize,
    },
    /// The payload part is empty.
    #[error("the token's payload part is empty")]
    EmptyPayload,
    /// The payload mixes the two base64 alphabets (`+`/`/` and `-`/`_`).
    #[error("the payload mixes standard base64 (+ /) and base64url (- _) characters")]
    MixedAlphabet,
    /// The payload is not valid base64.
    #[error("the payload is not valid {alphabet}: {reason}")]
    Base64 {
        /// The alphabet tried.
        alphabet: Base64Alphabet,
        /// The decoder's message.
        reason: String,
    },
    /// The decoded payload does not start with `{"id":"`, so no cohort regex can apply.
    #[error(
        "the payload does not start with {{\"id\":\", so a cohort regex (the base64 of {{\"id\":\"<id prefix>) cannot apply to it; it starts with: {starts_with}"
    )]
    NotIdPayload {
        /// The first bytes of the decoded payload, bytes outside printable ASCII as `\xNN`.
        starts_with: String,
    },
    /// The id string has no closing quote.
    #[error("the payload's id string has no closing quote")]
    UnterminatedId,
    /// The id is written with a JSON escape.
    #[error(
        "the id is written with the JSON escape {escape:?}; the cohort regex sees the escaped text, not the id, so ihos cannot route such ids"
    )]
    EscapedId {
        /// The escape sequence as written (e.g. `\u0031`).
        escape: String,
    },
    /// The id string holds a control character or is not UTF-8 (invalid JSON).
    #[error("the payload's id string is not valid JSON text: {reason}")]
    InvalidId {
        /// What is wrong.
        reason: &'static str,
    },
}

/// How many decoded bytes a [`TokenError::NotIdPayload`] shows.
const PREVIEW_LEN: usize = 24;

/// Decodes a token as the cohort regex reads it: the payload is the middle part of a
/// three-part JWT, else the whole value; base64url or standard base64, padded or not. The
/// payload must start with `{"id":"`; the id is that JSON string's value.
///
/// ```
/// use ihos_core::{Base64Alphabet, decode_token};
///
/// // {"id":"305123","exp":1} as base64url, in a JWT
/// let info = decode_token("eyJhbGciOiJIUzI1NiJ9.eyJpZCI6IjMwNTEyMyIsImV4cCI6MX0.c2ln")?;
/// assert_eq!(info.id, "305123");
/// assert!(info.jwt);
/// assert_eq!(info.alphabet, Base64Alphabet::Shared);
///
/// // {"sub":"1"}: not a payload a cohort regex can route
/// let err = decode_token("eyJzdWIiOiIxIn0").unwrap_err();
/// assert!(err.to_string().contains(r#"does not start with {"id":""#));
/// # Ok::<(), ihos_core::TokenError>(())
/// ```
pub fn decode_token(token: &str) -> Result<TokenInfo, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let (payload, jwt) = match parts[..] {
        [whole] => (whole, false),
        [_, payload, _] => (payload, true),
        _ => return Err(TokenError::Parts { parts: parts.len() }),
    };
    if payload.is_empty() {
        return Err(TokenError::EmptyPayload);
    }
    let alphabet = detect_alphabet(payload)?;
    let decoded = engine(alphabet)
        .decode(payload)
        .map_err(|e| TokenError::Base64 {
            alphabet,
            reason: e.to_string(),
        })?;
    let Some(rest) = decoded.strip_prefix(ID_PREFIX) else {
        return Err(TokenError::NotIdPayload {
            starts_with: preview(&decoded),
        });
    };
    Ok(TokenInfo {
        id: json_string(rest)?,
        jwt,
        alphabet,
        padded: payload.ends_with('='),
        payload_len: decoded.len(),
    })
}

fn detect_alphabet(payload: &str) -> Result<Base64Alphabet, TokenError> {
    let standard = payload.contains(['+', '/']);
    let url_safe = payload.contains(['-', '_']);
    match (standard, url_safe) {
        (true, true) => Err(TokenError::MixedAlphabet),
        (true, false) => Ok(Base64Alphabet::Standard),
        (false, true) => Ok(Base64Alphabet::UrlSafe),
        (false, false) => Ok(Base64Alphabet::Shared),
    }
}

/// A decoder that takes padding or not and ignores the unused low bits of the last
/// character, as lenient token libraries do (the regex does not look at them either).
fn engine(alphabet: Base64Alphabet) -> GeneralPurpose {
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let a = match alphabet {
        Base64Alphabet::UrlSafe => &alphabet::URL_SAFE,
        Base64Alphabet::Standard | Base64Alphabet::Shared => &alphabet::STANDARD,
    };
    GeneralPurpose::new(a, config)
}

/// The value of the JSON string whose body starts `bytes` (after the opening quote).
fn json_string(bytes: &[u8]) -> Result<String, TokenError> {
    let end = bytes
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .ok_or(TokenError::UnterminatedId)?;
    match bytes[end] {
        b'"' => String::from_utf8(bytes[..end].to_vec()).map_err(|_| TokenError::InvalidId {
            reason: "it is not UTF-8",
        }),
        b'\\' => {
            let escape = &bytes[end..];
            let len = if escape.get(1) == Some(&b'u') { 6 } else { 2 };
            Err(TokenError::EscapedId {
                escape: String::from_utf8_lossy(&escape[..len.min(escape.len())]).into_owned(),
            })
        }
        _ => Err(TokenError::InvalidId {
            reason: "it holds a control character",
        }),
    }
}

/// The first bytes of `decoded`: printable ASCII as is, other bytes as `\xNN`.
fn preview(decoded: &[u8]) -> String {
    let head = &decoded[..decoded.len().min(PREVIEW_LEN)];
    let mut s = String::with_capacity(head.len());
    for &b in head {
        if (0x20..0x7f).contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    if decoded.len() > PREVIEW_LEN {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    #[test]
    fn payload_alone_and_jwt() {
        let payload = br#"{"id":"1234","n":"xy"}"#; // 22 bytes: padded
        let info = decode_token(&STANDARD.encode(payload)).unwrap();
        assert_eq!(info.id, "1234");
        assert!(!info.jwt);
        assert!(info.padded);
        assert_eq!(info.payload_len, payload.len());

        let jwt = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(payload),
            "sig-_"
        );
        let info = decode_token(&jwt).unwrap();
        assert_eq!(info.id, "1234");
        assert!(info.jwt);
        assert!(!info.padded);
    }

    #[test]
    fn alphabets_are_detected() {
        // `{"id":"?>?"}` encodes to characters 62/63
        let p = br#"{"id":"??>>"}"#;
        let std = STANDARD.encode(p);
        let url = URL_SAFE_NO_PAD.encode(p);
        assert!(std.contains(['+', '/']), "{std}");
        assert_eq!(
            decode_token(&std).unwrap().alphabet,
            Base64Alphabet::Standard
        );
        assert_eq!(
            decode_token(&url).unwrap().alphabet,
            Base64Alphabet::UrlSafe
        );
        assert_eq!(decode_token(&url).unwrap().id, "??>>");
        let mixed = format!("{std}_");
        assert_eq!(decode_token(&mixed), Err(TokenError::MixedAlphabet));
    }

    #[test]
    fn refusals() {
        assert_eq!(decode_token(""), Err(TokenError::Empty));
        assert_eq!(decode_token("a.b"), Err(TokenError::Parts { parts: 2 }));
        assert_eq!(decode_token("a.b.c.d"), Err(TokenError::Parts { parts: 4 }));
        assert_eq!(decode_token("a..c"), Err(TokenError::EmptyPayload));
        assert!(matches!(
            decode_token("eyJ!"),
            Err(TokenError::Base64 { .. })
        ));
        let e = decode_token(&STANDARD.encode(br#"{"sub":"1","id":"2"}"#)).unwrap_err();
        assert_eq!(
            e,
            TokenError::NotIdPayload {
                starts_with: r#"{"sub":"1","id":"2"}"#.into()
            }
        );
        // a number id is not a string: the regex (base64 of {"id":") cannot apply
        assert!(matches!(
            decode_token(&STANDARD.encode(br#"{"id":17}"#)),
            Err(TokenError::NotIdPayload { .. })
        ));
        assert_eq!(
            decode_token(&STANDARD.encode(br#"{"id":"12"#)),
            Err(TokenError::UnterminatedId)
        );
        assert_eq!(
            decode_token(&STANDARD.encode(br#"{"id":"\u0031"}"#)),
            Err(TokenError::EscapedId {
                escape: r"\u0031".into()
            })
        );
        assert_eq!(
            decode_token(&STANDARD.encode(br#"{"id":"1\/2"}"#)),
            Err(TokenError::EscapedId {
                escape: r"\/".into()
            })
        );
        assert!(matches!(
            decode_token(&STANDARD.encode(b"{\"id\":\"1\n\"}")),
            Err(TokenError::InvalidId { .. })
        ));
        assert!(matches!(
            decode_token(&STANDARD.encode(b"{\"id\":\"\xff\"}")),
            Err(TokenError::InvalidId { .. })
        ));
    }

    #[test]
    fn previews_escape_bytes_outside_printable_ascii() {
        let e = decode_token(&STANDARD.encode(b"\x00\xff{\"")).unwrap_err();
        assert_eq!(
            e,
            TokenError::NotIdPayload {
                starts_with: r#"\x00\xff{""#.into()
            }
        );
        assert!(
            e.to_string().ends_with(r#"it starts with: \x00\xff{""#),
            "{e}"
        );
    }

    #[test]
    fn long_previews_are_cut() {
        let e = decode_token(&STANDARD.encode([b'x'; 100])).unwrap_err();
        let TokenError::NotIdPayload { starts_with } = e else {
            panic!("{e:?}");
        };
        assert_eq!(starts_with, format!("{}…", "x".repeat(PREVIEW_LEN)));
    }
}
