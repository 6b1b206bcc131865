//! Reading a cohort back from a regex that [`Cohort::regex`] wrote (either style), e.g. the
//! one in the live nginx rule.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::encoding::{Digits, ID_PREFIX, bytes_of, value_of};
use super::prefix_list::Cohort;
use super::regex::{EXACT_HEAD, EXACT_TAIL, RUNBOOK_TAIL};
use super::style::RegexStyle;

impl Cohort {
    /// The cohort whose regex, in one of the styles, is exactly `regex`; `None` for any other
    /// regex (hand-edited, another form, not a cohort rule).
    ///
    /// ```
    /// use ihos_core::Cohort;
    ///
    /// let live = "(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)";
    /// let cohort = Cohort::from_regex(live).expect("the runbook's rule");
    /// assert_eq!(cohort.prefixes(), ["1", "3", "5", "7"]);
    /// assert_eq!(Cohort::from_regex("^/api/"), None);
    /// ```
    pub fn from_regex(regex: &str) -> Option<Cohort> {
        let (style, prefixes) = match regex.strip_prefix(EXACT_HEAD) {
            Some(body) => (RegexStyle::Exact, exact_prefixes(body)?),
            None => (RegexStyle::Runbook, runbook_prefixes(regex)?),
        };
        let cohort = Cohort::new(prefixes).ok()?;
        // Only what this module writes is read back: anything else may select other users.
        (cohort.regex(style) == regex).then_some(cohort)
    }
}

/// The prefixes of an exact regex's body (after [`EXACT_HEAD`]).
fn exact_prefixes(body: &str) -> Option<Vec<String>> {
    let body = body.strip_suffix(EXACT_TAIL)?;
    let (common, alternatives) = match body.find("(?:") {
        Some(at) => {
            let group = body[at..].strip_prefix("(?:")?.strip_suffix(')')?;
            (&body[..at], group.split('|').collect())
        }
        None => (body, vec![""]),
    };
    let common = parse_positions(common)?;
    alternatives
        .into_iter()
        .map(|alt| {
            let seq = [common.clone(), parse_positions(alt)?].concat();
            prefix_of(&bytes_of(&seq)?)
        })
        .collect()
}

/// The prefixes of a runbook-style regex: `(B64.*$|B64.*$|...)`.
fn runbook_prefixes(regex: &str) -> Option<Vec<String>> {
    let inner = regex.strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split('|')
        .map(|alt| {
            let b64 = alt.strip_suffix(RUNBOOK_TAIL)?.replace("\\+", "+");
            prefix_of(&STANDARD_NO_PAD.decode(b64).ok()?)
        })
        .collect()
}

/// The prefix a payload start `{"id":"<prefix>` stands for.
fn prefix_of(payload_start: &[u8]) -> Option<String> {
    let rest = payload_start.strip_prefix(ID_PREFIX)?;
    String::from_utf8(rest.to_vec()).ok()
}

/// Digit sets of a sequence of base64 characters and `[...]` classes.
fn parse_positions(text: &str) -> Option<Vec<Digits>> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'[' {
            let mut set = Digits::EMPTY;
            loop {
                let c = bytes.next()?;
                if c == b']' {
                    break;
                }
                set = set.with(value_of(c)?);
            }
            out.push(set);
        } else {
            out.push(Digits::single(value_of(b)?));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_both_styles() {
        for list in ["1,3,5,7", "305", "12,123", "1", "a,Zz,?x", "1>,~"] {
            let c = Cohort::parse_list(list).unwrap();
            for style in RegexStyle::ALL {
                assert_eq!(
                    Cohort::from_regex(&c.regex(style)).as_ref(),
                    Some(&c),
                    "{list} {style}"
                );
            }
        }
    }

    #[test]
    fn refuses_what_it_did_not_write() {
        for regex in [
            "",
            "^/api/",
            "(eyJpZCI6IjE.*$",
            "(eyJpZCI6IjE.*)",
            // a class that is not "every character with these top bits"
            "^(?:[^.]*[.])?eyJpZCI6Ij[EFG][^.]*(?:[.][^.]*)?$",
            // the same without the URL-safe characters: would miss base64url tokens
            "^(?:[^.]*[.])?eyJpZCI6Ij[89+/][^.]*(?:[.][^.]*)?$",
            // a valid prefix but no tail
            "^(?:[^.]*[.])?eyJpZCI6Ij[EFGH]",
            // base64 of something other than {"id":"
            "(eyJzdWIiOiIx.*$)",
            // an alternative with nothing
            "^(?:[^.]*[.])?eyJpZCI6Ij(?:[EFGH]|)[^.]*(?:[.][^.]*)?$",
        ] {
            assert_eq!(Cohort::from_regex(regex), None, "{regex:?}");
        }
        // ... and accepts the right class for `?`
        assert!(
            Cohort::from_regex("^(?:[^.]*[.])?eyJpZCI6Ij[89+/_-][^.]*(?:[.][^.]*)?$").is_some()
        );
    }
}
