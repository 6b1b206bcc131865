//! The signatures of signed robots, each exactly as its service documents it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length (RFC 2104 hashes a long one): this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Everything but RFC 3986's unreserved characters is percent-encoded: `+`, `/` and `=`
/// of base64 included (DingTalk's Python sample uses `quote_plus`, its Java sample
/// `URLEncoder.encode`; both encode these three).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// DingTalk's "加签": HmacSHA256 keyed with the secret over `timestamp + "\n" + secret`
/// (timestamp in milliseconds), base64; returned URL-encoded, ready for `&sign=`.
/// Source: DingTalk's custom robot guide, "安全设置 / 加签".
pub(super) fn dingtalk(secret: &str, timestamp_ms: i64) -> String {
    let string_to_sign = format!("{timestamp_ms}\n{secret}");
    let mac = hmac_sha256(secret.as_bytes(), string_to_sign.as_bytes());
    utf8_percent_encode(&STANDARD.encode(mac), QUERY_VALUE).to_string()
}

/// Feishu's "签名校验": `timestamp + "\n" + secret` (timestamp in seconds) is the HMAC's
/// KEY and the message is empty, base64. Source: Feishu's custom bot guide, its Java
/// (`mac.doFinal(new byte[]{})`) and Go samples.
pub(super) fn feishu(secret: &str, timestamp_s: i64) -> String {
    let string_to_sign = format!("{timestamp_s}\n{secret}");
    STANDARD.encode(hmac_sha256(string_to_sign.as_bytes(), b""))
}

/// A webhook's body signature, as GitHub's `X-Hub-Signature-256`: `sha256=` and the hex
/// HMAC-SHA256 of the body keyed with the secret.
pub(super) fn webhook(secret: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), body);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // No service publishes an expected signature: these were computed with Python's hmac
    // following each service's own sample code (DingTalk's Python sample with quote_plus,
    // Feishu's with the string as the key and an empty message) and checked with
    // `openssl dgst -sha256 -hmac`.

    #[test]
    fn dingtalk_signs_timestamp_newline_secret_and_encodes_every_base64_symbol() {
        assert_eq!(
            dingtalk("SEC0123456789abcdef", 1_700_000_000_000),
            "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
        );
        // A signature with a `+` in its base64: encoded, never left to be read as a space.
        assert_eq!(
            dingtalk("SEC0123456789abcdef", 1_700_000_000_002),
            "VGvd0brDJp%2FnMZtR%2BXnA3yBIlhowT%2BTwkRPua0q1%2Fjg%3D"
        );
    }

    #[test]
    fn feishu_keys_the_hmac_with_the_string_and_signs_nothing() {
        assert_eq!(
            feishu("abc123", 1_700_000_000),
            "J0suvZQ7pBIXibHw5hyQvuZiXVa3ct5lilLN472FoLk="
        );
        // Feishu's own sample's inputs (secret "demo", 1599360473).
        assert_eq!(
            feishu("demo", 1_599_360_473),
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
        // DingTalk's way (secret as key, the string as message) on the same inputs gives
        // Python's other value: the two rules really differ on these inputs.
        let dingtalk_way = STANDARD.encode(hmac_sha256(b"abc123", b"1700000000\nabc123"));
        assert_eq!(dingtalk_way, "EOUQKI2ZpzeBOmvrzdQAE+1DFiZ07TgMbfe6W1Sj8Nw=");
    }

    #[test]
    fn webhook_signature_is_rfc_4231_hmac_sha256_in_hex() {
        // RFC 4231 test case 2: key "Jefe", "what do ya want for nothing?".
        assert_eq!(
            webhook("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
