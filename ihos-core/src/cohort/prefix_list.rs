//! [`Cohort`]: the validated list of user-id prefixes a canary rule selects.

use super::encoding::ID_PREFIX;
use super::style::RegexStyle;

/// The longest regex a cohort may produce. nginx reads at most 4096 bytes of one token of
/// its configuration; this leaves room for the quotes and escapes around it.
pub const MAX_REGEX_LEN: usize = 4000;

/// A validated, deduplicated list of user-id prefixes (`1`, `12`, `305`, ...), in the order
/// given. A user is in the cohort when their id starts with one of them.
///
/// ```
/// use ihos_core::{Cohort, RegexStyle};
///
/// let cohort = Cohort::parse_list("1,3,5,7")?;
/// assert_eq!(cohort.prefixes(), ["1", "3", "5", "7"]);
/// assert_eq!(cohort.matching_prefix("305"), Some("3"));
/// assert_eq!(cohort.matching_prefix("42"), None);
/// assert_eq!(
///     cohort.regex(RegexStyle::Runbook),
///     "(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)"
/// );
/// assert_eq!(Cohort::from_regex(&cohort.regex(RegexStyle::Exact)), Some(cohort));
/// # Ok::<(), ihos_core::CohortError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohort {
    prefixes: Vec<String>,
}

/// A cohort that cannot be built. Names the prefix at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CohortError {
    /// No prefix was given.
    #[error("a cohort needs at least one id prefix (e.g. 1,3,5,7)")]
    Empty,
    /// One of the prefixes is empty (e.g. `1,,3`), which would select every user.
    #[error("id prefix number {position} is empty (it would select every user); give e.g. 1,3,5,7")]
    EmptyPrefix {
        /// Its 1-based position in the list.
        position: usize,
    },
    /// A prefix holds a character JSON would escape, so the token's bytes never contain it
    /// as written.
    #[error(
        "id prefix {prefix:?} contains {character:?}, which JSON writes escaped; a token's bytes never contain it as written, so no regex on them can select it"
    )]
    Escaped {
        /// The prefix.
        prefix: String,
        /// The offending character.
        character: char,
    },
    /// The cohort's regex would be longer than nginx reads in one configuration token.
    #[error(
        "the cohort's regex would be {len} bytes long, more than the {max} nginx accepts; use fewer or shorter prefixes"
    )]
    TooLong {
        /// The length of the longer of its regexes.
        len: usize,
        /// [`MAX_REGEX_LEN`].
        max: usize,
    },
}

impl Cohort {
    /// A cohort of these prefixes, in this order, duplicates dropped.
    ///
    /// Refuses an empty list, an empty prefix, and a prefix holding a character JSON
    /// escapes (`"`, `\`, control characters).
    pub fn new<I, S>(prefixes: I) -> Result<Cohort, CohortError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out: Vec<String> = Vec::new();
        for (i, p) in prefixes.into_iter().enumerate() {
            let p: String = p.into();
            if p.is_empty() {
                return Err(CohortError::EmptyPrefix { position: i + 1 });
            }
            if let Some(character) = p.chars().find(|&c| c == '"' || c == '\\' || c < ' ') {
                return Err(CohortError::Escaped {
                    prefix: p,
                    character,
                });
            }
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if out.is_empty() {
            return Err(CohortError::Empty);
        }
        let cohort = Cohort { prefixes: out };
        let len = RegexStyle::ALL
            .iter()
            .map(|&s| cohort.regex(s).len())
            .max()
            .unwrap_or(0);
        if len > MAX_REGEX_LEN {
            return Err(CohortError::TooLong {
                len,
                max: MAX_REGEX_LEN,
            });
        }
        Ok(cohort)
    }

    /// A cohort from a comma-separated list (`1,3,5,7`); blanks around each prefix are
    /// ignored.
    pub fn parse_list(list: &str) -> Result<Cohort, CohortError> {
        if list.trim().is_empty() {
            return Err(CohortError::Empty);
        }
        Cohort::new(list.split(',').map(str::trim))
    }

    /// The prefixes, in the order given.
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// The longest prefix `id` starts with, or `None` when the user is not in the cohort.
    pub fn matching_prefix(&self, id: &str) -> Option<&str> {
        self.prefixes
            .iter()
            .filter(|p| id.starts_with(p.as_str()))
            .max_by_key(|p| p.len())
            .map(String::as_str)
    }

    /// The payload start each prefix stands for: `{"id":"<prefix>`.
    pub(crate) fn payload_starts(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.prefixes
            .iter()
            .map(|p| [ID_PREFIX, p.as_bytes()].concat())
    }
}

impl std::fmt::Display for Cohort {
    /// The prefixes, comma-separated (what [`Cohort::parse_list`] reads).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.prefixes.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_list_trims_and_dedups() {
        let c = Cohort::parse_list(" 1, 3 ,1,305").unwrap();
        assert_eq!(c.prefixes(), ["1", "3", "305"]);
        assert_eq!(c.to_string(), "1,3,305");
    }

    #[test]
    fn refusals_name_the_prefix() {
        assert_eq!(Cohort::parse_list(""), Err(CohortError::Empty));
        assert_eq!(Cohort::new(Vec::<String>::new()), Err(CohortError::Empty));
        assert_eq!(
            Cohort::parse_list("1,,3"),
            Err(CohortError::EmptyPrefix { position: 2 })
        );
        let e = Cohort::parse_list("1,a\"b").unwrap_err();
        assert_eq!(
            e,
            CohortError::Escaped {
                prefix: "a\"b".into(),
                character: '"'
            }
        );
        assert!(e.to_string().contains("\"a\\\"b\""), "{e}");
        assert!(matches!(
            Cohort::new(["x\\"]),
            Err(CohortError::Escaped {
                character: '\\',
                ..
            })
        ));
        assert!(matches!(
            Cohort::new(["x\ty"]),
            Err(CohortError::Escaped {
                character: '\t',
                ..
            })
        ));
    }

    #[test]
    fn too_long_is_refused() {
        let many: Vec<String> = (0..400).map(|i| format!("{i:04}")).collect();
        let e = Cohort::new(many).unwrap_err();
        assert!(
            matches!(e, CohortError::TooLong { len, max } if len > max && max == MAX_REGEX_LEN),
            "{e}"
        );
    }

    #[test]
    fn matching_prefix_prefers_the_longest() {
        let c = Cohort::parse_list("1,12,3").unwrap();
        assert_eq!(c.matching_prefix("123"), Some("12"));
        assert_eq!(c.matching_prefix("13"), Some("1"));
        assert_eq!(c.matching_prefix("31"), Some("3"));
        assert_eq!(c.matching_prefix("2"), None);
        assert_eq!(c.matching_prefix(""), None);
    }
}
