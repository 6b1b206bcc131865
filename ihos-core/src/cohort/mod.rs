//! Canary cohorts: the users the canary rule sends to the canary instance, and the nginx
//! regex that selects them.
//!
//! The runbook routes a cohort with an `if` block in the site file:
//!
//! ```text
//! if ($http_x_pep_token ~* "(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)") { set $a 1; }
//! ```
//!
//! The `x-pep-token` header carries a token whose base64 payload starts with
//! `{"id":"<user id>`; a [`Cohort`] is a list of id prefixes (`1,3,5,7`, `12`, `305`), and
//! [`Cohort::regex`] writes the regex that selects exactly the tokens of its users.
//!
//! # The encoding
//!
//! Base64 writes 6 bits per character. `{"id":"` is 7 bytes = 56 bits: 9 characters
//! (`eyJpZCI6I`) and 2 bits left over, which the next character shares with the id's first
//! byte. So the characters of `{"id":"<prefix>` are fixed as long as 6 bits of the prefix
//! fill them; when the prefix ends inside a character, that character has only its top 2
//! or 4 bits fixed and the rest come from the byte after the prefix, which is unknown: it
//! becomes a class of the 16 or 4 characters with those top bits.
//!
//! | prefix | bytes | exact part | why |
//! |---|---|---|---|
//! | `1` | 8 | `eyJpZCI6Ij[EFGH]` | 64 bits = 10 characters + 4 bits (`0001`), 2 free |
//! | `12` | 9 | `eyJpZCI6IjEy` | 72 bits = 12 characters exactly |
//! | `305` | 10 | `eyJpZCI6IjMwN[QRSTUVWXYZabcdef]` | 80 bits = 13 characters + 2 bits (`01`), 4 free |
//! | `?` | 8 | `eyJpZCI6Ij[89+/_-]` | values 62 and 63 are `+`/`-` and `/`/`_` in the two alphabets |
//!
//! A class lists both alphabets' characters for the values 62 and 63, so the regex takes a
//! standard base64 or a base64url payload. The exact regex is
//! `^(?:[^.]*[.])?` (an optional JWT header and its dot), the common characters, one
//! alternative per prefix, then `[^.]*(?:[.][^.]*)?$` (the rest of the payload and an
//! optional signature). Anchored so, it matches the payload of a `header.payload.signature`
//! JWT or a payload alone, never the header or signature of such a JWT that happens to
//! encode `{"id":"...` (a header is followed by two more dots, which the tail refuses;
//! two-part values are below). It uses
//! `[.]` rather than `\.` so it reads the same inside nginx's quotes.
//!
//! # Why `~` and not the runbook's `~*`
//!
//! nginx's `~*` matches case-insensitively, but base64 is case-sensitive: `E` and `e` are
//! different values. With `~*`, a class takes in the other case of its letters, and those
//! encode other ids. Enumerating every id of 1 to 4 digits and 3000 random alphanumeric
//! ones (the `cohort_regex` test, PCRE2 as in nginx; the `cohort_nginx` test shows the same
//! in a real nginx) gives, for the exact regex under `~*`:
//!
//! - cohort `7` (`[cdef]`) also selects **every id starting with `1`** (`E`, `F` are `1`
//!   followed by any ASCII byte);
//! - cohort `1` (`[EFGH]`), so the runbook's `1,3,5,7`, also selects **every id starting
//!   with `8`** (`g`, `h`);
//! - cohort `305` also selects `304`, `307`, `3040`–`3049` and `3070`–`3079`;
//! - cohort `12` (no class) selects nobody else.
//!
//! So the exact regex is meant for the case-sensitive `~` ([`RegexStyle::operator`]), with
//! which it selected no other user and missed none. The runbook's own regex gets away with
//! `~*` on these ids (its `E` folds to `e`, which stands for a byte of 0x80 or more after a
//! `7`), but it is not exact either way: its zero padding bits admit after `1` only a byte
//! below 0x40 (so it misses `1b`), and after a 3-character prefix only a byte below 0x10
//! (cohort `305` in its form selects nobody). [`RegexStyle::Runbook`] reproduces it
//! byte for byte for comparison and for reading the live rule back
//! ([`Cohort::from_regex`]).
//!
//! # Tokens
//!
//! [`decode_token`] reads a sample token as the regex does (JWT or payload alone, either
//! alphabet, padded or not) and gives the user id, or says why no cohort regex can apply
//! (its payload does not start with `{"id":"`, or the id is written with JSON escapes).
//!
//! **Two dot-separated parts.** The exact regex's header and signature are optional each on
//! its own, so it also reads `a.b` as `payload.signature` or as `header.payload`: nginx sends
//! such a value to the canary when either part is the payload of a cohort member. ihos keeps
//! it so (ruling two parts out would write every prefix's alternative twice, or need a
//! look-ahead) because such a value is no token: neither a JWT nor a payload alone, and
//! the id it stands for cannot be told. [`decode_token`] therefore refuses it
//! ([`TokenError::Parts`]) rather than guess a part, and `ihos canary check` reports what
//! the rule does with it ([`rule_matches`]) and then that refusal (exit 2).
//!
//! # The live rule
//!
//! What nginx does with a token is decided by the rule in the site file, with its own
//! operator: [`rule_matches`] evaluates it as nginx's PCRE does, so a live rule that is not
//! exact (the runbook's form, or any regex under `~*`; see [`is_exact_rule`]) is judged by
//! what it does, not by the cohort [`Cohort::from_regex`] reads back from it.

mod encoding;
mod live;
mod prefix_list;
mod read_back;
mod regex;
mod style;
mod token;

pub use live::{RuleMatchError, is_exact_rule, rule_matches};
pub use prefix_list::{Cohort, CohortError, MAX_REGEX_LEN};
pub use style::RegexStyle;
pub use token::{Base64Alphabet, TokenError, TokenInfo, decode_token};
