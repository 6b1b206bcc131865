//! [`RegexStyle`]: which form of cohort regex to write, and the nginx operator it needs.

/// The form of a cohort's regex (see [`Cohort::regex`](super::Cohort::regex)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegexStyle {
    /// Matches exactly the tokens whose id starts with a prefix: both base64 alphabets, JWT
    /// or payload alone, anchored to the payload. For nginx's case-sensitive `~` only:
    /// base64 is case-sensitive, and under `~*` its character classes take in other ids
    /// (cohort `7` would also select every id starting with `1`, cohort `1` every id
    /// starting with `8`, cohort `305` the ids `304`, `307`, `3040`–`3049`, ...).
    #[default]
    Exact,
    /// The runbook's hand-written form, `(eyJpZCI6IjE.*$|...)` with `~*`: the padding-less
    /// standard base64 of `{"id":"<prefix>`, unanchored. Only as good as the runbook's: the
    /// zero bits that end the encoding must match the next byte, so after a prefix of 1, 4,
    /// 7, ... characters only a byte below 0x40 may follow (`1` selects `12` but not `1b`),
    /// after 3, 6, ... characters only a byte below 0x10 (`305` selects no id at all), and
    /// it can match inside a JWT's header or signature.
    Runbook,
}

impl RegexStyle {
    /// Both styles.
    pub const ALL: [RegexStyle; 2] = [RegexStyle::Exact, RegexStyle::Runbook];

    /// The nginx `if` operator this style is meant for: `~` (case-sensitive) for
    /// [`RegexStyle::Exact`], the runbook's `~*` (case-insensitive) for
    /// [`RegexStyle::Runbook`].
    pub fn operator(self) -> &'static str {
        match self {
            RegexStyle::Exact => "~",
            RegexStyle::Runbook => "~*",
        }
    }

    /// The style's name: `exact` or `runbook`.
    pub fn name(self) -> &'static str {
        match self {
            RegexStyle::Exact => "exact",
            RegexStyle::Runbook => "runbook",
        }
    }
}

impl std::fmt::Display for RegexStyle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
