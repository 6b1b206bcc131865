//! Evaluating a live canary rule as nginx does: the `if` condition's operator and regex
//! against the value of the request variable it tests (the `x-pep-token` header).
//!
//! nginx compiles an `if` regex with PCRE, without its UTF mode: the regex runs on the
//! value's bytes, `~` case-sensitive, `~*` caseless (ASCII letters fold, nothing else),
//! `!~` and `!~*` their negations. [`rule_matches`] runs it with the `regex` crate in the
//! same mode, whose syntax and semantics are PCRE's for what cohort rules use (classes,
//! groups, alternation, `.*`, anchors). What it does not share is refused rather than
//! guessed: look-around and back-references do not compile
//! ([`RuleMatchError::Regex`]). PCRE's `$` also matches before a final line break, which a
//! header value never holds.

use regex::bytes::RegexBuilder;

use super::prefix_list::Cohort;
use super::style::RegexStyle;

/// Why a live rule cannot be evaluated against a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleMatchError {
    /// The operator is not one of nginx's regex match operators.
    #[error("the operator {operator:?} is not a regex match (~, ~*, !~ or !~*)")]
    Operator {
        /// The operator as written in the rule.
        operator: String,
    },
    /// The regex does not compile here: invalid, or it uses a PCRE feature the `regex`
    /// crate lacks (look-around, back-references), so ihos cannot say what nginx does.
    #[error("cannot evaluate the regex {regex:?} as nginx does: {reason}")]
    Regex {
        /// The regex.
        regex: String,
        /// The compiler's message.
        reason: String,
    },
}

/// Whether nginx's `if (VALUE OPERATOR "REGEX")` is true: `regex` searched in `value` (a
/// match anywhere, unless the regex anchors itself), case-sensitively for `~` and `!~`,
/// ignoring ASCII case for `~*` and `!~*`, negated for `!~` and `!~*`.
///
/// ```
/// use ihos_core::rule_matches;
///
/// // {"id":"1b"}: the runbook's regex for ids starting with 1 misses it, even with `~*`.
/// let token = "eyJpZCI6IjFiIn0";
/// assert!(!rule_matches("~*", "(eyJpZCI6IjE.*$)", token)?);
/// // The exact regex for ids starting with 1, with `~`, takes it.
/// assert!(rule_matches("~", "^(?:[^.]*[.])?eyJpZCI6Ij[EFGH][^.]*(?:[.][^.]*)?$", token)?);
/// assert!(rule_matches("!~", "^xyz", token)?);
/// assert!(rule_matches("=", "x", token).is_err());
/// # Ok::<(), ihos_core::RuleMatchError>(())
/// ```
pub fn rule_matches(operator: &str, regex: &str, value: &str) -> Result<bool, RuleMatchError> {
    let (negated, caseless) = match operator {
        "~" => (false, false),
        "~*" => (false, true),
        "!~" => (true, false),
        "!~*" => (true, true),
        other => {
            return Err(RuleMatchError::Operator {
                operator: other.to_string(),
            });
        }
    };
    let compiled = RegexBuilder::new(regex)
        // PCRE without UTF mode: bytes, `.` any byte but a newline, ASCII-only classes.
        .unicode(false)
        .case_insensitive(caseless)
        .build()
        .map_err(|e| RuleMatchError::Regex {
            regex: regex.to_string(),
            reason: e.to_string(),
        })?;
    Ok(compiled.is_match(value.as_bytes()) != negated)
}

/// Whether a rule selects exactly a cohort: its regex is one [`Cohort::regex`] writes in the
/// [`RegexStyle::Exact`] style, under the case-sensitive `~`. Any other rule (the runbook's
/// form, the `~*` operator, a hand-written regex) may miss members or take in other users.
///
/// ```
/// use ihos_core::{Cohort, RegexStyle, is_exact_rule};
///
/// let cohort = Cohort::parse_list("1,3,5,7")?;
/// assert!(is_exact_rule("~", &cohort.regex(RegexStyle::Exact)));
/// assert!(!is_exact_rule("~*", &cohort.regex(RegexStyle::Exact)));
/// assert!(!is_exact_rule("~*", &cohort.regex(RegexStyle::Runbook)));
/// # Ok::<(), ihos_core::CohortError>(())
/// ```
pub fn is_exact_rule(operator: &str, regex: &str) -> bool {
    operator == RegexStyle::Exact.operator()
        && Cohort::from_regex(regex).is_some_and(|c| c.regex(RegexStyle::Exact) == regex)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use proptest::prelude::*;

    use super::*;

    /// A base64url JWT whose payload is `{"id":"<id>","exp":1}`.
    fn jwt(id: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(format!(r#"{{"id":"{id}","exp":1}}"#)),
            URL_SAFE_NO_PAD.encode([0xA5u8; 32])
        )
    }

    fn cohort(list: &str) -> Cohort {
        Cohort::parse_list(list).unwrap()
    }

    #[test]
    fn the_runbook_rule_with_tilde_star_misses_1b() {
        let runbook = cohort("1,3,5,7").regex(RegexStyle::Runbook);
        // Today's production rule: `1b` is in the cohort by prefix, not by the rule.
        assert_eq!(cohort("1,3,5,7").matching_prefix("1b"), Some("1"));
        assert!(!rule_matches("~*", &runbook, &jwt("1b")).unwrap());
        assert!(!rule_matches("~*", &runbook, &STANDARD.encode(r#"{"id":"1b"}"#)).unwrap());
        // ... while an id whose second byte is below 0x40 is taken, and outsiders are not.
        assert!(rule_matches("~*", &runbook, &jwt("12")).unwrap());
        assert!(rule_matches("~*", &runbook, &jwt("7")).unwrap());
        assert!(!rule_matches("~*", &runbook, &jwt("42")).unwrap());
        assert!(!is_exact_rule("~*", &runbook));
        assert!(!is_exact_rule("~", &runbook));
    }

    #[test]
    fn the_exact_rule_with_tilde_star_lets_outsiders_in() {
        // `7` is [cdef]; folded, E and F are `1` followed by any ASCII byte.
        let exact = cohort("7").regex(RegexStyle::Exact);
        assert!(rule_matches("~*", &exact, &jwt("1x")).unwrap());
        assert!(!rule_matches("~", &exact, &jwt("1x")).unwrap());
        assert!(rule_matches("~", &exact, &jwt("7x")).unwrap());
        assert!(is_exact_rule("~", &exact));
        assert!(!is_exact_rule("~*", &exact));
        assert!(!is_exact_rule("!~", &exact));
    }

    #[test]
    fn negations_and_refusals() {
        let exact = cohort("7").regex(RegexStyle::Exact);
        assert!(rule_matches("!~", &exact, &jwt("1x")).unwrap());
        assert!(!rule_matches("!~", &exact, &jwt("7x")).unwrap());
        assert!(!rule_matches("!~*", &exact, &jwt("1x")).unwrap());
        for op in ["", "=", "!=", "~~", "*~", "-f"] {
            assert_eq!(
                rule_matches(op, &exact, "x"),
                Err(RuleMatchError::Operator {
                    operator: op.into()
                })
            );
        }
        // PCRE features the regex crate lacks are refused, not guessed.
        for regex in ["(?=eyJ)eyJ", r"(a)\1", "(eyJ", "[z-a]"] {
            let e = rule_matches("~", regex, "eyJ").unwrap_err();
            assert!(
                matches!(&e, RuleMatchError::Regex { regex: r, .. } if r == regex),
                "{regex}: {e:?}"
            );
            assert!(e.to_string().contains(regex), "{e}");
        }
        assert!(!is_exact_rule("~", "^/api/"));
    }

    /// The documented choice for two parts: the exact regex reads either part as the
    /// payload, and decode_token reads no id from them.
    #[test]
    fn two_part_values_are_matched_by_either_part_but_not_decoded() {
        let token = jwt("305");
        let parts: Vec<&str> = token.split('.').collect();
        let exact = cohort("3").regex(RegexStyle::Exact);
        for value in [
            format!("{}.{}", parts[1], parts[2]),
            format!("{}.{}", parts[0], parts[1]),
        ] {
            assert!(rule_matches("~", &exact, &value).unwrap(), "{value}");
            assert!(!rule_matches("~", &cohort("4").regex(RegexStyle::Exact), &value).unwrap());
            assert_eq!(
                crate::cohort::decode_token(&value),
                Err(crate::cohort::TokenError::Parts { parts: 2 })
            );
        }
        // Four parts are not matched: the tail allows one more dot at most.
        assert!(!rule_matches("~", &exact, &format!("{token}.x")).unwrap());
    }

    #[test]
    fn bytes_not_characters_and_ascii_case_only() {
        // Without UTF mode `.` is one byte: `é` is two.
        assert!(rule_matches("~", "^a..b$", "aéb").unwrap());
        assert!(!rule_matches("~", "^a.b$", "aéb").unwrap());
        assert!(rule_matches("~*", "^ABC$", "abc").unwrap());
        assert!(!rule_matches("~*", "^É$", "é").unwrap());
    }

    /// The value nginx would test: JWTs, payloads alone, and arbitrary printable strings.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9A-Za-z]{0,6}".prop_map(|id| jwt(&id)),
            "[ -~]{0,6}".prop_map(|id| STANDARD.encode(format!(r#"{{"id":"{id}"}}"#))),
            "[ -~]{0,40}",
        ]
    }

    fn operator() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["~", "~*", "!~", "!~*"])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

        /// The same answer as PCRE2 compiled as nginx compiles an `if` regex.
        #[test]
        fn agrees_with_pcre(
            prefixes in prop::collection::vec("[0-9A-Za-z]{1,4}", 1..=4),
            style in prop::sample::select(RegexStyle::ALL.to_vec()),
            op in operator(),
            value in value(),
        ) {
            let regex = Cohort::new(prefixes).unwrap().regex(style);
            let pcre = pcre2::bytes::RegexBuilder::new()
                .caseless(op.ends_with('*'))
                .build(&regex)
                .unwrap();
            let expected = pcre.is_match(value.as_bytes()).unwrap() != op.starts_with('!');
            prop_assert_eq!(rule_matches(op, &regex, &value).unwrap(), expected, "{} {} {}", op, regex, value);
        }

        /// The exact rule with `~` sends a token to the canary iff its id has a prefix.
        #[test]
        fn the_exact_rule_with_tilde_matches_iff_a_prefix_does(
            prefixes in prop::collection::vec("[0-9A-Za-z]{1,3}", 1..=4),
            id in "[0-9A-Za-z]{0,6}",
        ) {
            let c = Cohort::new(prefixes).unwrap();
            let regex = c.regex(RegexStyle::Exact);
            prop_assert!(is_exact_rule("~", &regex));
            prop_assert_eq!(
                rule_matches("~", &regex, &jwt(&id)).unwrap(),
                c.matching_prefix(&id).is_some(),
                "{} {}", c, id
            );
        }
    }
}
