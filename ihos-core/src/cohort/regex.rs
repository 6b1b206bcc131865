//! Writing a cohort's regex in either [`RegexStyle`], and the nginx `if` condition around it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::encoding::{Digits, chars, positions};
use super::prefix_list::Cohort;
use super::style::RegexStyle;

/// What the exact regex has before the payload: an optional JWT header and its dot.
/// `[.]` rather than `\.`, so the regex reads the same inside and outside nginx quotes.
pub(crate) const EXACT_HEAD: &str = "^(?:[^.]*[.])?";
/// What the exact regex has after the id's start: the rest of the payload and an optional
/// signature, to the end. This keeps the match to the payload: a JWT header that happened
/// to start like a payload is followed by two more dots, which this refuses.
pub(crate) const EXACT_TAIL: &str = "[^.]*(?:[.][^.]*)?$";
/// What ends each alternative of the runbook's regex.
pub(crate) const RUNBOOK_TAIL: &str = ".*$";

impl Cohort {
    /// The regex that selects this cohort's tokens, in `style`; use it with
    /// [`RegexStyle::operator`].
    ///
    /// [`RegexStyle::Exact`] gives `^(?:[^.]*[.])?` (an optional JWT header), the
    /// characters of `{"id":"<prefix>` common to all prefixes, one alternative per prefix
    /// in a `(?:...|...)` group (no group for a single prefix), then `[^.]*(?:[.][^.]*)?$`
    /// (the rest of the payload and an optional signature). A position whose bits the
    /// prefix fixes only in part is a class of every character with those top bits, in both
    /// alphabets.
    ///
    /// ```
    /// use ihos_core::{Cohort, RegexStyle};
    ///
    /// let c = Cohort::parse_list("1,3,5,7")?;
    /// assert_eq!(
    ///     c.regex(RegexStyle::Exact),
    ///     "^(?:[^.]*[.])?eyJpZCI6Ij(?:[EFGH]|[MNOP]|[UVWX]|[cdef])[^.]*(?:[.][^.]*)?$"
    /// );
    /// assert_eq!(
    ///     Cohort::parse_list("305")?.regex(RegexStyle::Exact),
    ///     "^(?:[^.]*[.])?eyJpZCI6IjMwN[QRSTUVWXYZabcdef][^.]*(?:[.][^.]*)?$"
    /// );
    /// # Ok::<(), ihos_core::CohortError>(())
    /// ```
    pub fn regex(&self, style: RegexStyle) -> String {
        match style {
            RegexStyle::Exact => self.exact_regex(),
            RegexStyle::Runbook => self.runbook_regex(),
        }
    }

    /// The whole `if` condition for the request variable `variable` (e.g.
    /// `$http_x_pep_token`): `(VARIABLE OP "REGEX")`, the regex quoted as nginx reads it.
    ///
    /// ```
    /// use ihos_core::{Cohort, RegexStyle};
    ///
    /// let c = Cohort::parse_list("1,3,5,7")?;
    /// assert_eq!(
    ///     c.condition(RegexStyle::Runbook, "$http_x_pep_token"),
    ///     r#"($http_x_pep_token ~* "(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)")"#
    /// );
    /// # Ok::<(), ihos_core::CohortError>(())
    /// ```
    pub fn condition(&self, style: RegexStyle, variable: &str) -> String {
        let mut quoted = String::from("\"");
        for c in self.regex(style).chars() {
            // nginx unescapes `\\` and `\"` inside a quoted string
            if c == '\\' || c == '"' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        format!("({variable} {} {quoted})", style.operator())
    }

    fn exact_regex(&self) -> String {
        let seqs: Vec<Vec<Digits>> = self.payload_starts().map(|b| positions(&b)).collect();
        let common = common_len(&seqs);
        let mut out = String::from(EXACT_HEAD);
        if let Some(first) = seqs.first() {
            push_positions(&mut out, &first[..common]);
        }
        if seqs.len() > 1 {
            out.push_str("(?:");
            for (i, seq) in seqs.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                push_positions(&mut out, &seq[common..]);
            }
            out.push(')');
        }
        out.push_str(EXACT_TAIL);
        out
    }

    fn runbook_regex(&self) -> String {
        let alternatives: Vec<String> = self
            .payload_starts()
            .map(|b| {
                // `+` is a quantifier outside a class; `/` needs no escape
                STANDARD_NO_PAD.encode(b).replace('+', "\\+") + RUNBOOK_TAIL
            })
            .collect();
        format!("({})", alternatives.join("|"))
    }
}

/// How many leading positions all sequences share; with several sequences, at least one
/// position is left to each so no alternative is empty.
fn common_len(seqs: &[Vec<Digits>]) -> usize {
    let Some((first, rest)) = seqs.split_first() else {
        return 0;
    };
    if rest.is_empty() {
        return first.len();
    }
    let shortest = seqs.iter().map(Vec::len).min().unwrap_or(0);
    (0..shortest.saturating_sub(1))
        .take_while(|&k| rest.iter().all(|s| s[k] == first[k]))
        .count()
}

/// Appends each position: its one character, or a class of its characters.
fn push_positions(out: &mut String, seq: &[Digits]) {
    for &d in seq {
        let cs = chars(d);
        if let [one] = cs[..] {
            out.push(char::from(one));
        } else {
            out.push('[');
            out.extend(cs.iter().map(|&c| char::from(c)));
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(list: &str) -> String {
        Cohort::parse_list(list).unwrap().regex(RegexStyle::Exact)
    }

    #[test]
    fn runbook_regex_is_the_runbooks() {
        let c = Cohort::parse_list("1,3,5,7").unwrap();
        assert_eq!(
            c.regex(RegexStyle::Runbook),
            "(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)"
        );
    }

    #[test]
    fn runbook_escapes_plus() {
        // `{"id":"1>` = ...IjE+: index 62 in the standard alphabet
        let r = Cohort::parse_list("1>").unwrap().regex(RegexStyle::Runbook);
        assert_eq!(r, "(eyJpZCI6IjE\\+.*$)");
    }

    #[test]
    fn exact_factors_common_positions() {
        assert_eq!(
            exact("1,12"),
            "^(?:[^.]*[.])?eyJpZCI6Ij(?:[EFGH]|Ey)[^.]*(?:[.][^.]*)?$"
        );
        // `12` is a prefix of `123` in positions too: one position stays in each alternative
        assert_eq!(
            exact("12,123"),
            "^(?:[^.]*[.])?eyJpZCI6IjE(?:y|yM[wxyz0123456789+/_-])[^.]*(?:[.][^.]*)?$"
        );
        assert_eq!(exact("12"), "^(?:[^.]*[.])?eyJpZCI6IjEy[^.]*(?:[.][^.]*)?$");
    }

    #[test]
    fn condition_quotes_for_nginx() {
        let c = Cohort::parse_list("1>").unwrap();
        assert_eq!(
            c.condition(RegexStyle::Runbook, "$http_x"),
            "($http_x ~* \"(eyJpZCI6IjE\\\\+.*$)\")"
        );
        assert_eq!(
            Cohort::parse_list("7")
                .unwrap()
                .condition(RegexStyle::Exact, "$v"),
            "($v ~ \"^(?:[^.]*[.])?eyJpZCI6Ij[cdef][^.]*(?:[.][^.]*)?$\")"
        );
    }
}
