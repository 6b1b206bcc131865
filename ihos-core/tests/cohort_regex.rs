//! The cohort regexes run with PCRE2 (the regex library nginx uses): the exact regex
//! selects a token if and only if its id starts with one of the cohort's prefixes, for random
//! cohorts, ids and token shapes; and what nginx's case-insensitive `~*` does to it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ihos_core::{Cohort, RegexStyle, decode_token};
use proptest::prelude::*;

/// The regex compiled as nginx compiles an `if` regex: `~` case-sensitive, `~*` caseless.
fn compile(regex: &str, caseless: bool) -> pcre2::bytes::Regex {
    pcre2::bytes::RegexBuilder::new()
        .caseless(caseless)
        .build(regex)
        .unwrap_or_else(|e| panic!("PCRE2 rejects {regex:?}: {e}"))
}

/// How a token is written.
#[derive(Debug, Clone)]
struct Shape {
    url_safe: bool,
    padded: bool,
    /// `Some((header JSON, signature bytes))` for a JWT.
    jwt: Option<(String, Vec<u8>)>,
}

fn b64(bytes: &[u8], url_safe: bool, padded: bool) -> String {
    match (url_safe, padded) {
        (true, true) => URL_SAFE.encode(bytes),
        (true, false) => URL_SAFE_NO_PAD.encode(bytes),
        (false, true) => STANDARD.encode(bytes),
        (false, false) => STANDARD_NO_PAD.encode(bytes),
    }
}

fn token(payload: &[u8], shape: &Shape) -> String {
    let body = b64(payload, shape.url_safe, shape.padded);
    match &shape.jwt {
        None => body,
        Some((header, sig)) => format!(
            "{}.{body}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(sig)
        ),
    }
}

fn payload(id: &str, extra: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}"{extra}}}"#).into_bytes()
}

/// Prefix characters: digits, or alphanumerics.
fn prefix_strategy() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9]{1,4}", "[0-9A-Za-z]{1,4}"]
}

/// Random ids: digits, alphanumerics, any printable ASCII JSON leaves unescaped, non-ASCII.
fn id_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,8}",
        "[0-9A-Za-z]{0,8}",
        "[ !#-\\[\\]-~]{0,8}",
        "[0-9aé中😀]{0,4}",
    ]
}

/// Headers and signatures: typical ones, and ones that themselves encode `{"id":"<prefix>`
/// (the regex must not match there).
fn jwt_strategy(prefixes: Vec<String>) -> impl Strategy<Value = Option<(String, Vec<u8>)>> {
    let n = prefixes.len();
    prop_oneof![
        Just(None),
        (
            any::<bool>(),
            0..n,
            prop::collection::vec(any::<u8>(), 0..48),
            any::<bool>()
        )
            .prop_map(move |(decoy_header, i, sig, decoy_sig)| {
                let header = if decoy_header {
                    format!(r#"{{"id":"{}","alg":"HS256"}}"#, prefixes[i])
                } else {
                    r#"{"alg":"HS256","typ":"JWT"}"#.to_string()
                };
                let sig = if decoy_sig {
                    payload(&prefixes[i], "")
                } else {
                    sig
                };
                Some((header, sig))
            }),
    ]
}

fn case() -> impl Strategy<Value = (Vec<String>, String, Shape, String)> {
    prop::collection::vec(prefix_strategy(), 1..=4).prop_flat_map(|prefixes| {
        let n = prefixes.len();
        let member = (0..n, "[0-9A-Za-z]{0,4}")
            .prop_map({
                let p = prefixes.clone();
                move |(i, suffix)| format!("{}{suffix}", p[i])
            })
            .boxed();
        let id = prop_oneof![member, id_strategy().boxed()];
        let shape = (any::<bool>(), any::<bool>(), jwt_strategy(prefixes.clone())).prop_map(
            |(url_safe, padded, jwt)| Shape {
                url_safe,
                padded,
                jwt,
            },
        );
        let extra = prop_oneof![
            Just(String::new()),
            "[a-z0-9 ]{0,12}".prop_map(|v| format!(r#","name":"{v}","exp":1700000000"#)),
        ];
        (Just(prefixes), id, shape, extra)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn exact_regex_matches_iff_the_id_starts_with_a_prefix(
        (prefixes, id, shape, extra) in case()
    ) {
        let cohort = Cohort::new(prefixes.clone()).unwrap();
        let regex = compile(&cohort.regex(RegexStyle::Exact), false);
        let token = token(&payload(&id, &extra), &shape);
        let expected = prefixes.iter().any(|p| id.starts_with(p.as_str()));
        prop_assert_eq!(
            regex.is_match(token.as_bytes()).unwrap(),
            expected,
            "cohort {} id {:?} token {}", cohort, id, token
        );
        // decode_token and matching_prefix agree with the regex
        let info = decode_token(&token).unwrap();
        prop_assert_eq!(&info.id, &id);
        prop_assert_eq!(info.jwt, shape.jwt.is_some());
        prop_assert_eq!(cohort.matching_prefix(&info.id).is_some(), expected);
    }

    #[test]
    fn regexes_read_back_to_the_cohort(prefixes in prop::collection::vec(prefix_strategy(), 1..=4)) {
        let cohort = Cohort::new(prefixes).unwrap();
        for style in RegexStyle::ALL {
            prop_assert_eq!(Cohort::from_regex(&cohort.regex(style)), Some(cohort.clone()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Near misses of real regexes: a mutation that makes the regex one ihos never writes
    /// reads back as nothing; one that may make another cohort's regex never reads back
    /// as the original cohort.
    #[test]
    fn mutated_regexes_are_not_read_as_a_cohort(
        prefixes in prop::collection::vec(prefix_strategy(), 1..=4),
        style in prop::sample::select(RegexStyle::ALL.to_vec()),
    ) {
        let cohort = Cohort::new(prefixes).unwrap();
        let regex = cohort.regex(style);
        let mutations = mutations(&regex, style);
        prop_assert!(mutations.iter().any(|m| m.kind == Kind::Truncated));
        prop_assert!(mutations.iter().any(|m| m.kind == Kind::FixedChar));
        for m in &mutations {
            prop_assert_ne!(&m.regex, &regex);
            let read = Cohort::from_regex(&m.regex);
            match m.kind {
                Kind::OtherChar => {
                    // possibly another cohort's regex, never this one's
                    if let Some(c) = read {
                        prop_assert_ne!(&c, &cohort, "{:?} {}", m.kind, m.regex);
                        prop_assert_eq!(c.regex(style), m.regex.clone());
                    }
                }
                _ => prop_assert_eq!(read, None, "{:?} of {}: {}", m.kind, regex, m.regex),
            }
        }
    }
}

const BASE64_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_";

/// The base64 of `{"id":` that starts every payload, all of whose bits are fixed.
const FIXED: &str = "eyJpZCI6I";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A class of the prefix's free bits without one of its characters.
    ClassDrop,
    /// A class with one more character.
    ClassAdd,
    /// A character of the fixed `{"id":` part changed.
    FixedChar,
    /// Another base64 character changed (case swapped, or its neighbour in the alphabet).
    OtherChar,
    /// The other style's ending.
    SwappedEnding,
    /// Cut short.
    Truncated,
}

struct Mutation {
    kind: Kind,
    regex: String,
}

/// Every mutation of those kinds of a regex `style` wrote.
fn mutations(regex: &str, style: RegexStyle) -> Vec<Mutation> {
    let chars: Vec<char> = regex.chars().collect();
    let text = |cs: &[char]| cs.iter().collect::<String>();
    let mut out = Vec::new();
    let mut push = |kind, regex: String| out.push(Mutation { kind, regex });

    // Classes of base64 characters (not the `[^.]` and `[.]` of the exact form's ends).
    let mut i = 0;
    let mut literals = Vec::new();
    while i < chars.len() {
        if chars[i] == '[' {
            let end = i + chars[i..].iter().position(|&c| c == ']').unwrap();
            let class = &chars[i + 1..end];
            if class.iter().all(|&c| BASE64_CHARS.contains(c)) {
                for k in 0..class.len() {
                    let mut m = chars.clone();
                    m.remove(i + 1 + k);
                    push(Kind::ClassDrop, text(&m));
                }
                for c in BASE64_CHARS.chars().filter(|c| !class.contains(c)) {
                    let mut m = chars.clone();
                    m.insert(end, c);
                    push(Kind::ClassAdd, text(&m));
                }
            }
            i = end + 1;
        } else {
            let escaped = i > 0 && chars[i - 1] == '\\';
            if chars[i].is_ascii_alphanumeric() && !escaped {
                literals.push(i);
            }
            i += 1;
        }
    }
    let fixed: Vec<usize> = regex
        .match_indices(FIXED)
        .flat_map(|(at, _)| at..at + FIXED.len())
        .collect();
    for &at in &literals {
        let c = chars[at];
        let pos = BASE64_CHARS.find(c).unwrap();
        let mut others = vec![
            BASE64_CHARS.as_bytes()[(pos + 1) % 62] as char,
            BASE64_CHARS.as_bytes()[(pos + 61) % 62] as char,
        ];
        if c.is_ascii_alphabetic() {
            others.push(if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            });
        }
        for other in others {
            let mut m = chars.clone();
            m[at] = other;
            let kind = if fixed.contains(&at) {
                Kind::FixedChar
            } else {
                Kind::OtherChar
            };
            push(kind, text(&m));
        }
    }

    let exact_tail = "[^.]*(?:[.][^.]*)?$";
    let swapped = match style {
        RegexStyle::Exact => format!("{}.*$", regex.strip_suffix(exact_tail).unwrap()),
        RegexStyle::Runbook => regex.replace(".*$", exact_tail),
    };
    push(Kind::SwappedEnding, swapped);
    for len in 0..chars.len() {
        push(Kind::Truncated, text(&chars[..len]));
    }
    out
}

/// Every id of 1 to 4 digits, and 3000 pseudo-random alphanumeric ones of 1 to 6 characters
/// (a fixed linear congruential sequence, so the run is reproducible).
fn enumerated_ids() -> Vec<String> {
    let mut ids = Vec::new();
    for len in 1..=4u32 {
        for n in 0..10u32.pow(len) {
            ids.push(format!("{n:0width$}", width = len as usize));
        }
    }
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut x: u64 = 0x1d05;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize
    };
    for _ in 0..3000 {
        let len = 1 + next() % 6;
        ids.push(
            (0..len)
                .map(|_| char::from(ALNUM[next() % ALNUM.len()]))
                .collect(),
        );
    }
    ids
}

/// The ids whose token (a base64url JWT) `regex` selects though none of `cohort`'s prefixes
/// starts them.
fn false_positives(cohort: &Cohort, regex: &str, caseless: bool) -> Vec<String> {
    let re = compile(regex, caseless);
    let shape = Shape {
        url_safe: true,
        padded: false,
        jwt: Some((r#"{"alg":"HS256","typ":"JWT"}"#.into(), vec![7; 32])),
    };
    enumerated_ids()
        .into_iter()
        .filter(|id| {
            let t = token(&payload(id, r#","exp":1"#), &shape);
            re.is_match(t.as_bytes()).unwrap() && cohort.matching_prefix(id).is_none()
        })
        .collect()
}

/// And the members it misses.
fn misses(cohort: &Cohort, regex: &str, caseless: bool) -> Vec<String> {
    let re = compile(regex, caseless);
    enumerated_ids()
        .into_iter()
        .filter(|id| {
            let t = URL_SAFE_NO_PAD.encode(payload(id, ""));
            cohort.matching_prefix(id).is_some() && !re.is_match(t.as_bytes()).unwrap()
        })
        .collect()
}

/// Every enumerated id, sorted into those `regex` selects wrongly and those it misses.
struct Verdict {
    false_positives: Vec<String>,
    misses: Vec<String>,
}

fn verdict(list: &str, style: RegexStyle, caseless: bool) -> Verdict {
    let cohort = Cohort::parse_list(list).unwrap();
    let regex = cohort.regex(style);
    Verdict {
        false_positives: false_positives(&cohort, &regex, caseless),
        misses: misses(&cohort, &regex, caseless),
    }
}

fn digit_ids_starting_with(c: char) -> Vec<String> {
    enumerated_ids()
        .into_iter()
        .filter(|id| id.starts_with(c) && id.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

#[test]
fn exact_regex_with_tilde_is_exact_on_every_enumerated_id() {
    for list in ["1,3,5,7", "305", "7", "12", "1", "3050", "a,Z9,0"] {
        let v = verdict(list, RegexStyle::Exact, false);
        assert!(
            v.false_positives.is_empty(),
            "{list}: {:?}",
            v.false_positives
        );
        assert!(v.misses.is_empty(), "{list}: {:?}", v.misses);
    }
}

/// The finding behind `~`: nginx's `~*` folds case, and the exact regex's classes then take
/// in characters that encode other ids.
#[test]
fn case_insensitive_matching_selects_other_users() {
    let summary = |list: &str, style, v: &Verdict| {
        eprintln!(
            "{list} {style:?} with ~*: {} other users selected {:?}, {} members missed {:?}",
            v.false_positives.len(),
            &v.false_positives[..v.false_positives.len().min(6)],
            v.misses.len(),
            &v.misses[..v.misses.len().min(6)],
        );
    };

    // `7` -> [cdef]; folded, [CDEF] holds E and F, the characters of `1` followed by
    // anything ASCII: every user whose id starts with 1.
    let seven = verdict("7", RegexStyle::Exact, true);
    summary("7", RegexStyle::Exact, &seven);
    for id in digit_ids_starting_with('1') {
        assert!(
            seven.false_positives.contains(&id),
            "7 ~* should catch {id}"
        );
    }
    // `1` -> [EFGH]; folded, g and h are `8` followed by anything ASCII. So the runbook's
    // cohort 1,3,5,7 written exactly but used with ~* also takes every 8… user.
    let runbook_ids = verdict("1,3,5,7", RegexStyle::Exact, true);
    summary("1,3,5,7", RegexStyle::Exact, &runbook_ids);
    for id in digit_ids_starting_with('8') {
        assert!(
            runbook_ids.false_positives.contains(&id),
            "1,3,5,7 ~* should catch {id}"
        );
    }
    // `305` -> eyJpZCI6IjMwN[Q-f]; folded, [a-f] -> [A-F] is `304` followed by a digit or
    // `"`, and [q-v] / [w-z] are `306`/`307` followed by bytes 0xA0.. / 0x00-0x3F.
    let v305 = verdict("305", RegexStyle::Exact, true);
    summary("305", RegexStyle::Exact, &v305);
    let mut expected: Vec<String> = vec!["304".into(), "307".into()];
    expected.extend((0..10).map(|d| format!("304{d}")));
    expected.extend((0..10).map(|d| format!("307{d}")));
    let digits_only: Vec<String> = v305
        .false_positives
        .iter()
        .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
        .cloned()
        .collect();
    let mut sorted = digits_only.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);
    // Every match is still a real match: folding only adds.
    assert!(v305.misses.is_empty() && seven.misses.is_empty());

    // A prefix that ends on a character boundary has no class: folding finds nobody.
    let v12 = verdict("12", RegexStyle::Exact, true);
    summary("12", RegexStyle::Exact, &v12);
    assert!(v12.false_positives.is_empty(), "{:?}", v12.false_positives);

    // The runbook's own regex: `E` folds to `e`, which encodes a byte >= 0x80 after `7`,
    // so ~* costs it nothing on these ids; but it misses members: after a 1-character
    // prefix its zero padding bits admit only bytes below 0x40 (a letter is missed), and a
    // 3-character prefix leaves 4 zero bits, which no printable byte has: nobody matches.
    let rb = verdict("1,3,5,7", RegexStyle::Runbook, true);
    summary("1,3,5,7", RegexStyle::Runbook, &rb);
    assert!(rb.false_positives.is_empty(), "{:?}", rb.false_positives);
    assert!(rb.misses.contains(&"1b".to_string()), "{:?}", rb.misses);
    assert!(rb.misses.iter().all(|id| id.as_bytes()[1] >= 0x40));
    let rb305 = verdict("305", RegexStyle::Runbook, true);
    summary("305", RegexStyle::Runbook, &rb305);
    for id in ["305", "3051", "3059"] {
        assert!(rb305.misses.contains(&id.to_string()), "{id}");
    }
}
