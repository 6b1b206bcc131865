//! Errors: [`ParseError`] for text nginx would reject, [`EditError`] for refused edits.

use crate::span::Position;

/// The configuration is not one nginx's tokenizer accepts.
///
/// Carries where (1-based line and column) and what was found and expected. Display gives
/// `LINE:COL: message`; prefix the file name for the `FILE:LINE:COL: message` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{position}: {kind}")]
pub struct ParseError {
    /// Where nginx would stop reading.
    pub position: Position,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// What kind of syntax error was found. Messages follow nginx's own wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A character that may not follow a closing quote.
    #[error("unexpected \"{}\" after a quoted string, expected whitespace, \";\", \"{{\" or \")\"", char_repr(*.0))]
    AfterQuote(u8),
    /// `;` or `{` with no directive name before it.
    #[error("unexpected \"{}\", expected a directive name", char_repr(*.0))]
    MissingName(u8),
    /// `}` inside a directive's arguments (usually a missing `;`).
    #[error("unexpected \"}}\", expected \";\" to end directive \"{name}\" (missing semicolon?)")]
    CloseInDirective {
        /// The directive being read.
        name: String,
    },
    /// `}` with no block open.
    #[error("unexpected \"}}\", no block is open")]
    UnbalancedClose,
    /// End of input inside a directive.
    #[error(
        "unexpected end of file, expecting \";\" or \"}}\" (directive \"{name}\" starts at {started})"
    )]
    EofInDirective {
        /// The directive being read.
        name: String,
        /// Where it starts.
        started: Position,
    },
    /// End of input inside a block.
    #[error("unexpected end of file, expecting \"}}\" (block \"{name}\" opened at {opened})")]
    EofInBlock {
        /// The block directive's name.
        name: String,
        /// Where its `{` is.
        opened: Position,
    },
    /// A token longer than nginx's 4096-byte read buffer.
    #[error(
        "too long parameter (nginx reads at most 4096 bytes of one token), started at {started}"
    )]
    TooLong {
        /// Where the token starts.
        started: Position,
    },
    /// A quoted string longer than the read buffer: usually a missing closing quote.
    #[error("too long parameter, probably missing terminating '{}' character (opened at {started})", *quote as char)]
    TooLongQuoted {
        /// `"` or `'`.
        quote: u8,
        /// Where the string starts.
        started: Position,
    },
    /// A `*_by_lua_block` body that never closes.
    #[error("unexpected end of file in Lua block \"{name}\" opened at {opened}, expecting \"}}\"")]
    EofInLuaBlock {
        /// The directive name.
        name: String,
        /// Where its `{` is.
        opened: Position,
    },
    /// Blocks nested deeper than the parser supports.
    #[error("blocks nested more than {0} levels deep")]
    TooDeep(usize),
    /// The input is larger than 4 GiB.
    #[error("configuration larger than 4 GiB")]
    TooLarge,
}

fn char_repr(b: u8) -> String {
    if b.is_ascii_graphic() {
        (b as char).to_string()
    } else {
        format!("\\x{b:02x}")
    }
}

/// An edit the editor refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// No upstream block has that name.
    #[error(
        "no upstream named \"{name}\"; upstreams in this file: {}",
        list_or_none(available)
    )]
    UnknownUpstream {
        /// The name asked for.
        name: String,
        /// The upstream names that exist.
        available: Vec<String>,
    },
    /// More than one upstream block has that name.
    #[error("upstream \"{name}\" is defined {count} times (lines {lines:?}); refusing to guess")]
    AmbiguousUpstream {
        /// The name asked for.
        name: String,
        /// How many blocks have it.
        count: usize,
        /// Their lines.
        lines: Vec<u32>,
    },
    /// The upstream has no server with that address.
    #[error(
        "upstream \"{upstream}\" has no server \"{server}\"; its servers: {}",
        list_or_none(available)
    )]
    UnknownServer {
        /// The upstream searched.
        upstream: String,
        /// The address asked for.
        server: String,
        /// The addresses that exist.
        available: Vec<String>,
    },
    /// The address matches several commented-out servers and none is active.
    #[error(
        "server \"{server}\" of upstream \"{upstream}\" is commented out on several lines ({lines:?}); enable one by hand"
    )]
    AmbiguousServer {
        /// The upstream.
        upstream: String,
        /// The address.
        server: String,
        /// Lines of the candidates.
        lines: Vec<u32>,
    },
    /// Disabling would leave the upstream with no enabled server.
    #[error(
        "refusing to disable \"{server}\": it is the last enabled server of upstream \"{upstream}\" (use force to override)"
    )]
    LastEnabledServer {
        /// The upstream.
        upstream: String,
        /// The address.
        server: String,
    },
    /// No block matches the selector.
    #[error(
        "no \"{directive}\" block matches {selector:?}; candidates: {}",
        list_or_none(available)
    )]
    UnknownBlock {
        /// The block directive searched (e.g. `if`).
        directive: String,
        /// The selector used.
        selector: String,
        /// Descriptions of the blocks that exist.
        available: Vec<String>,
    },
    /// Several blocks match the selector.
    #[error("{} \"{directive}\" blocks match {selector:?}: {}; use a more specific selector", matches.len(), matches.join(", "))]
    AmbiguousBlock {
        /// The block directive searched.
        directive: String,
        /// The selector used.
        selector: String,
        /// Descriptions of the matches.
        matches: Vec<String>,
    },
    /// The block's condition has no regex operand (`~`, `~*`, `!~`, `!~*`).
    #[error("the condition {condition:?} at line {line} has no regex match operator")]
    NoRegexInCondition {
        /// The condition text.
        condition: String,
        /// Its line.
        line: u32,
    },
    /// A value that cannot be written into nginx syntax.
    #[error("invalid value {value:?}: {reason}")]
    InvalidValue {
        /// The value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// The edited text did not parse again (a bug in the editor; nothing was written).
    #[error("internal error: the edited configuration does not parse ({0}); nothing was changed")]
    Reparse(ParseError),
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}
