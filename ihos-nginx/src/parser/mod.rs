//! The statement parser: turns bytes into a [`Block`] tree, or a [`ParseError`] where nginx
//! would refuse the file (`ngx_conf_parse` + `ngx_conf_read_token`).

// A child, not a sibling: grouping commented-out directives finishes every block read
// here, and it parses comment text with `parse_top_items`, so the two depend on each other.
mod disabled;
mod incremental;

use self::disabled::group_disabled;
pub(crate) use self::incremental::reparse;
use crate::error::{ParseError, ParseErrorKind};
use crate::lexer::{self, WordEnd, is_ws};
use crate::lua;
use crate::span::{Span, position_of};
use crate::syntax::{
    Arg, Block, BlockBody, BlockContent, Comment, Directive, DirectiveEnd, Item, Token, TokenKind,
};

/// nginx reads a configuration through a 4096-byte buffer; one token must fit in it.
const NGX_CONF_BUFFER: usize = 4096;

/// Deepest block nesting accepted; real configurations stay far below it.
pub(crate) const MAX_DEPTH: usize = 200;

/// Parses a whole file.
pub(crate) fn parse_block_tree(src: &[u8]) -> Result<Block, ParseError> {
    let mut p = Parser::new(src, Buffers::default())?;
    p.block(None, 0)
}

/// Parses `src` as a file, but leaves its top-level items in `bufs.items` as read, without
/// looking for commented-out directives among them (nested blocks are complete). On error,
/// `bufs.items` may hold some items.
///
/// This is how the text of comment lines is tried as a directive, many times per file: the
/// buffers are reused from one try to the next.
pub(crate) fn parse_top_items(src: &[u8], bufs: &mut Buffers) -> Result<(), ParseError> {
    let mut p = Parser::new(src, std::mem::take(bufs))?;
    let result = p.statements(None, 0).map(|_| ());
    p.args.clear();
    *bufs = Buffers {
        items: p.items,
        args: p.args,
    };
    result
}

/// Vectors a parse grows and empties again, kept to be reused.
#[derive(Default)]
pub(crate) struct Buffers {
    /// The items of every open block, innermost last: a block's items are moved out into a
    /// vector of exactly their number when it closes, so growing happens in this one buffer.
    pub items: Vec<Item>,
    /// The arguments of the directive being read (same reason).
    pub args: Vec<Arg>,
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    /// See [`Buffers::items`].
    items: Vec<Item>,
    /// See [`Buffers::args`].
    args: Vec<Arg>,
    /// The run of comment lines [`group_disabled`] is looking at.
    run: Vec<Comment>,
    /// Buffers for trying comment lines as directives (see [`parse_top_items`]).
    probe: Buffers,
}

/// An open block: the directive that opened it.
struct Opener {
    name: Token,
    open: Span,
}

impl<'a> Parser<'a> {
    fn new(src: &'a [u8], bufs: Buffers) -> Result<Self, ParseError> {
        if src.len() > u32::MAX as usize {
            return Err(ParseError {
                position: position_of(src, 0),
                kind: ParseErrorKind::TooLarge,
            });
        }
        Ok(Parser {
            src,
            pos: 0,
            items: bufs.items,
            args: bufs.args,
            run: Vec::new(),
            probe: Buffers::default(),
        })
    }

    fn err(&self, at: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            position: position_of(self.src, at),
            kind,
        }
    }

    fn name_of(&self, t: &Token) -> String {
        String::from_utf8_lossy(t.raw(self.src)).into_owned()
    }

    /// nginx fails when it must read byte `start + 4096` while one token (or comment) that
    /// began at `start` is still being read; `last` is the last byte it reads for it.
    fn check_len(
        &self,
        start: usize,
        last: usize,
        quoted_until: Option<(u8, usize)>,
    ) -> Result<(), ParseError> {
        let last = last.min(self.src.len().saturating_sub(1));
        let limit = start + NGX_CONF_BUFFER;
        if last < limit {
            return Ok(());
        }
        let kind = match quoted_until {
            Some((quote, close)) if limit <= close => ParseErrorKind::TooLongQuoted {
                quote,
                started: position_of(self.src, start.saturating_sub(1)),
            },
            _ => ParseErrorKind::TooLong {
                started: position_of(self.src, start),
            },
        };
        Err(self.err(start, kind))
    }

    fn skip_ws(&mut self) -> Span {
        let start = self.pos;
        let (rest, _) = lexer::whitespace(&self.src[self.pos..]).unwrap_or((&[], &[]));
        self.pos = self.src.len() - rest.len();
        Span::new(start, self.pos)
    }

    /// Whitespace and comments between tokens of a directive.
    fn skip_trivia(&mut self) -> Result<Span, ParseError> {
        let start = self.pos;
        loop {
            self.skip_ws();
            if self.src.get(self.pos) == Some(&b'#') {
                self.comment()?;
            } else {
                return Ok(Span::new(start, self.pos));
            }
        }
    }

    fn comment(&mut self) -> Result<Span, ParseError> {
        let start = self.pos;
        let (rest, _) = lexer::comment(&self.src[start..])
            .map_err(|_| self.err(start, ParseErrorKind::UnbalancedClose))?;
        self.pos = self.src.len() - rest.len();
        // nginx also reads the LF that ends the comment with the comment's start.
        self.check_len(start, self.pos, None)?;
        Ok(Span::new(start, self.pos))
    }

    /// Statements until `}` (when `opener` is set) or the end of input.
    fn block(&mut self, opener: Option<&Opener>, depth: usize) -> Result<Block, ParseError> {
        let base = self.items.len();
        let trailing = self.statements(opener, depth)?;
        let items = group_disabled(
            self.src,
            &mut self.items,
            base,
            depth == 0,
            &mut self.run,
            &mut self.probe,
        );
        Ok(Block { items, trailing })
    }

    /// Reads statements until `}` (when `opener` is set) or the end of input, pushing them
    /// on `self.items`. Returns the whitespace after the last one.
    fn statements(&mut self, opener: Option<&Opener>, depth: usize) -> Result<Span, ParseError> {
        loop {
            let leading = self.skip_ws();
            let Some(&b) = self.src.get(self.pos) else {
                if let Some(o) = opener {
                    return Err(self.err(
                        self.pos,
                        ParseErrorKind::EofInBlock {
                            name: self.name_of(&o.name),
                            opened: position_of(self.src, o.open.start as usize),
                        },
                    ));
                }
                return Ok(leading);
            };
            match b {
                b'}' => {
                    if opener.is_none() {
                        return Err(self.err(self.pos, ParseErrorKind::UnbalancedClose));
                    }
                    return Ok(leading);
                }
                b'#' => {
                    let span = self.comment()?;
                    self.items.push(Item::Comment(Comment { leading, span }));
                }
                b';' | b'{' => return Err(self.err(self.pos, ParseErrorKind::MissingName(b))),
                _ => {
                    let d = self.directive(leading, depth)?;
                    self.items.push(Item::Directive(d));
                }
            }
        }
    }

    /// One token at `self.pos` (not whitespace, `#`, `;`, `{` or `}`).
    ///
    /// Always inlined: returned through memory, the token was read back by the caller
    /// before the stores had landed (a store-forwarding stall per token, ~10% of the parse).
    #[inline(always)]
    fn token(&mut self) -> Result<Token, ParseError> {
        let start = self.pos;
        let b = self.src[start];
        if b == b'"' || b == b'\'' {
            let (_, s) = lexer::quoted(&self.src[start..])
                .map_err(|_| self.err(start, ParseErrorKind::UnbalancedClose))?;
            let Some(s) = s else {
                // missing closing quote: nginx reads to the end of the file first
                self.check_len(start + 1, self.src.len(), Some((b, self.src.len())))?;
                self.pos = self.src.len();
                return Ok(Token {
                    span: Span::new(start, start),
                    kind: TokenKind::Bare,
                });
            };
            let close = start + s.len() - 1;
            let after = close + 1;
            // After the closing quote nginx needs whitespace, `;`, `{` or `)`; the byte after
            // whitespace is still read with the string's start.
            let last = match self.src.get(after) {
                Some(&c) if is_ws(c) => after + 1,
                _ => after,
            };
            self.check_len(start + 1, last, Some((b, close)))?;
            match self.src.get(after) {
                None => {}
                Some(&c) if is_ws(c) || c == b';' || c == b'{' || c == b')' => {}
                Some(&c) => return Err(self.err(after, ParseErrorKind::AfterQuote(c))),
            }
            self.pos = after;
            let kind = if b == b'"' {
                TokenKind::DoubleQuoted
            } else {
                TokenKind::SingleQuoted
            };
            return Ok(Token {
                span: Span::new(start, after),
                kind,
            });
        }
        let (_, (word, end)) = lexer::bare_word(&self.src[start..])
            .map_err(|_| self.err(start, ParseErrorKind::UnbalancedClose))?;
        let e = start + word.len();
        let last = match end {
            WordEnd::Eof => self.src.len(),
            WordEnd::Delimiter if is_ws(self.src[e]) => e + 1,
            WordEnd::Delimiter => e,
        };
        self.check_len(start, last, None)?;
        self.pos = e;
        Ok(Token {
            span: Span::new(start, e),
            kind: TokenKind::Bare,
        })
    }

    fn directive(&mut self, leading: Span, depth: usize) -> Result<Directive, ParseError> {
        let name = self.token()?;
        let args_base = self.args.len();
        loop {
            let trivia = self.skip_trivia()?;
            let Some(&b) = self.src.get(self.pos) else {
                return Err(self.err(
                    self.pos,
                    ParseErrorKind::EofInDirective {
                        name: self.name_of(&name),
                        started: position_of(self.src, name.span.start as usize),
                    },
                ));
            };
            match b {
                b';' => {
                    let semi = Span::new(self.pos, self.pos + 1);
                    self.pos += 1;
                    return Ok(Directive {
                        leading,
                        name,
                        args: self.args.drain(args_base..).collect(),
                        before_end: trivia,
                        end: DirectiveEnd::Semicolon(semi),
                    });
                }
                b'{' => {
                    let open = Span::new(self.pos, self.pos + 1);
                    self.pos += 1;
                    // Taken before the body is read: its directives use the same buffer.
                    let args: Vec<Arg> = self.args.drain(args_base..).collect();
                    let content = if is_lua_block(self.src, &name) {
                        let body_start = self.pos;
                        let close = lua::find_block_end(self.src, body_start).ok_or_else(|| {
                            self.err(
                                self.src.len(),
                                ParseErrorKind::EofInLuaBlock {
                                    name: self.name_of(&name),
                                    opened: position_of(self.src, open.start as usize),
                                },
                            )
                        })?;
                        self.pos = close;
                        BlockContent::Raw(Span::new(body_start, close))
                    } else {
                        if depth + 1 > MAX_DEPTH {
                            return Err(
                                self.err(open.start as usize, ParseErrorKind::TooDeep(MAX_DEPTH))
                            );
                        }
                        let opener = Opener { name, open };
                        BlockContent::Statements(self.block(Some(&opener), depth + 1)?)
                    };
                    // self.pos is at the closing brace
                    let close = Span::new(self.pos, self.pos + 1);
                    self.pos += 1;
                    let body = BlockBody {
                        open,
                        content,
                        close,
                    };
                    return Ok(Directive {
                        leading,
                        name,
                        args,
                        before_end: trivia,
                        end: DirectiveEnd::Block(Box::new(body)),
                    });
                }
                b'}' => {
                    return Err(self.err(
                        self.pos,
                        ParseErrorKind::CloseInDirective {
                            name: self.name_of(&name),
                        },
                    ));
                }
                _ => {
                    let token = self.token()?;
                    if token.span.is_empty() {
                        // unterminated string running to the end of input
                        return Err(self.err(
                            self.pos,
                            ParseErrorKind::EofInDirective {
                                name: self.name_of(&name),
                                started: position_of(self.src, name.span.start as usize),
                            },
                        ));
                    }
                    self.args.push(Arg {
                        leading: trivia,
                        token,
                    });
                }
            }
        }
    }
}

/// Whether the directive `name` has a raw Lua body (its value ends with `_by_lua_block`).
fn is_lua_block(src: &[u8], name: &Token) -> bool {
    const SUFFIX: &[u8] = b"_by_lua_block";
    let raw = name.raw(src);
    if memchr::memchr(b'\\', raw).is_some() {
        // escapes change the value: compare the unescaped value
        return name.value(src).ends_with(SUFFIX);
    }
    let value = match name.kind {
        TokenKind::Bare => raw,
        _ => &raw[1..raw.len() - 1],
    };
    value.ends_with(SUFFIX)
}
