//! The lossless syntax tree.
//!
//! Every node records the spans of its own bytes and of the trivia (whitespace, comments)
//! before them, so walking the tree in order and writing each span reproduces the source
//! byte for byte. This is toml_edit's `Decor`/`Repr` idea applied to nginx: `leading` is
//! the decor before a node, the token spans are its raw representation.

use crate::span::Span;

/// How a token was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A word without quotes (may contain `\` escapes and `${var}`).
    Bare,
    /// A `"..."` string.
    DoubleQuoted,
    /// A `'...'` string.
    SingleQuoted,
}

/// One token: a directive name or argument, as written (quotes included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The raw bytes, quotes included.
    pub span: Span,
    /// Quoting.
    pub kind: TokenKind,
}

impl Token {
    /// The raw bytes as written, quotes included.
    pub fn raw<'s>(&self, src: &'s [u8]) -> &'s [u8] {
        &src[self.span.range()]
    }

    /// The value nginx sees: quotes removed and `\"`, `\'`, `\\`, `\t`, `\r`, `\n` unescaped
    /// (any other `\x` stays as written, as in `ngx_conf_read_token`).
    pub fn value(&self, src: &[u8]) -> Vec<u8> {
        let raw = self.raw(src);
        let inner = match self.kind {
            TokenKind::Bare => raw,
            _ => &raw[1..raw.len() - 1],
        };
        unescape(inner)
    }

    /// [`Token::value`] as text (invalid UTF-8 replaced).
    pub fn value_string(&self, src: &[u8]) -> String {
        String::from_utf8(self.value(src))
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let Some(first) = memchr::memchr(b'\\', raw) else {
        return raw.to_vec();
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..first]);
    let mut i = first;
    while i < raw.len() {
        let b = raw[i];
        if b == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                b'"' | b'\'' | b'\\' => {
                    out.push(raw[i + 1]);
                    i += 2;
                    continue;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// A directive argument with the trivia before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// Whitespace and comments between the previous token and this one.
    pub leading: Span,
    /// The argument itself.
    pub token: Token,
}

/// The inside of a block: its items and the trivia before the closing `}` (or end of file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Block {
    /// Statements and comments, in order.
    pub items: Vec<Item>,
    /// Whitespace after the last item.
    pub trailing: Span,
}

/// A statement-level node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An active directive.
    Directive(Directive),
    /// A comment that is not a commented-out directive.
    Comment(Comment),
    /// Consecutive comment lines whose text is one directive (`#server a:1;`, or a whole
    /// commented-out block).
    Disabled(DisabledDirective),
}

impl Item {
    /// The whitespace before this item.
    pub fn leading(&self) -> Span {
        match self {
            Item::Directive(d) => d.leading,
            Item::Comment(c) => c.leading,
            Item::Disabled(d) => d.comments[0].leading,
        }
    }

    /// The bytes of the item itself, without its leading whitespace.
    pub fn span(&self) -> Span {
        match self {
            Item::Directive(d) => d.span(),
            Item::Comment(c) => c.span,
            Item::Disabled(d) => d.span(),
        }
    }
}

/// `name args... ;` or `name args... { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Whitespace before the name.
    pub leading: Span,
    /// The directive name.
    pub name: Token,
    /// Arguments with their leading trivia.
    pub args: Vec<Arg>,
    /// Trivia between the last token and the terminator.
    pub before_end: Span,
    /// `;` or a block.
    pub end: DirectiveEnd,
}

/// How a directive ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectiveEnd {
    /// `;` at this span.
    Semicolon(Span),
    /// A `{ ... }` block.
    Block(Box<BlockBody>),
}

/// A `{ ... }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockBody {
    /// The `{`.
    pub open: Span,
    /// The contents.
    pub content: BlockContent,
    /// The `}`.
    pub close: Span,
}

/// What is between a block's braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockContent {
    /// nginx statements.
    Statements(Block),
    /// The raw body of a `*_by_lua_block` directive (Lua code, kept as written).
    Raw(Span),
}

impl Directive {
    /// From the first byte of the name to the `;` or `}` inclusive.
    pub fn span(&self) -> Span {
        let end = match &self.end {
            DirectiveEnd::Semicolon(s) => s.end,
            DirectiveEnd::Block(b) => b.close.end,
        };
        Span {
            start: self.name.span.start,
            end,
        }
    }

    /// The name's raw bytes.
    pub fn name<'s>(&self, src: &'s [u8]) -> &'s [u8] {
        self.name.raw(src)
    }

    /// Whether the name equals `name` (compared on raw bytes).
    pub fn is(&self, src: &[u8], name: &str) -> bool {
        self.name(src) == name.as_bytes()
    }

    /// The nested statements, if this is a block directive with nginx statements inside.
    pub fn block(&self) -> Option<&Block> {
        match &self.end {
            DirectiveEnd::Block(b) => match &b.content {
                BlockContent::Statements(block) => Some(block),
                BlockContent::Raw(_) => None,
            },
            DirectiveEnd::Semicolon(_) => None,
        }
    }

    /// The values of the arguments.
    pub fn arg_values(&self, src: &[u8]) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.token.value_string(src))
            .collect()
    }

    /// The first argument's value.
    pub fn first_arg(&self, src: &[u8]) -> Option<String> {
        self.args.first().map(|a| a.token.value_string(src))
    }
}

/// A `#` comment (to the end of the line, the newline not included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Whitespace before the `#`.
    pub leading: Span,
    /// From `#` to the end of the line.
    pub span: Span,
}

/// A commented-out directive: one or more consecutive comment lines that, with one `#`
/// removed from each, form exactly one directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledDirective {
    /// The comment lines, in order (at least one).
    pub comments: Vec<Comment>,
    /// The directive parsed from the uncommented text.
    pub inner: Box<InnerDirective>,
}

impl DisabledDirective {
    /// From the first `#` to the end of the last comment line.
    pub fn span(&self) -> Span {
        Span {
            start: self.comments[0].span.start,
            end: self.comments[self.comments.len() - 1].span.end,
        }
    }
}

/// The directive inside a [`DisabledDirective`], with its own source text (the comment lines
/// with their `#` removed, joined by `\n`) and the map back to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerDirective {
    /// The uncommented text.
    pub text: Vec<u8>,
    /// The directive; its spans index `text`.
    pub directive: Directive,
    /// For each comment line: where it starts in `text` and the file offset it maps to
    /// (the byte after that line's `#`).
    pub line_map: Vec<(u32, u32)>,
}

impl InnerDirective {
    /// The file offset of `text` offset `offset`.
    pub fn to_file_offset(&self, offset: usize) -> usize {
        let k = self
            .line_map
            .partition_point(|&(s, _)| s as usize <= offset)
            - 1;
        let (text_start, file_start) = self.line_map[k];
        file_start as usize + (offset - text_start as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(src: &[u8], kind: TokenKind) -> Token {
        Token {
            span: Span {
                start: 0,
                end: src.len() as u32,
            },
            kind,
        }
    }

    #[test]
    fn value_unescapes_like_nginx() {
        let t = |s: &[u8]| token(s, TokenKind::Bare).value(s);
        assert_eq!(t(b"plain"), b"plain");
        assert_eq!(t(b"a\\\"b\\'c\\\\d"), b"a\"b'c\\d");
        assert_eq!(t(b"\\t\\r\\n"), b"\t\r\n");
        assert_eq!(t(b"\\x\\"), b"\\x\\");
        let q = b"\"a\\\"b\"";
        assert_eq!(token(q, TokenKind::DoubleQuoted).value(q), b"a\"b");
        let q = b"'x'";
        assert_eq!(token(q, TokenKind::SingleQuoted).value(q), b"x");
    }

    #[test]
    fn value_string_replaces_invalid_utf8() {
        let s = b"a\xffb";
        assert_eq!(token(s, TokenKind::Bare).value_string(s), "a\u{fffd}b");
        let s = "é\\n".as_bytes();
        assert_eq!(token(s, TokenKind::Bare).value_string(s), "é\n");
    }
}
