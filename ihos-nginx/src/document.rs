//! [`Document`]: a parsed configuration file that owns its bytes.

use std::sync::OnceLock;

use crate::changes::{self, Change};
use crate::error::ParseError;
use crate::parser::{self, parse_block_tree};
use crate::span::{LineIndex, Position, Span};
use crate::syntax::{Block, BlockContent, Directive, DirectiveEnd, Item};

/// Up to this size, in builds with debug assertions, an incremental parse is checked
/// against a whole one.
const CROSS_CHECK_UP_TO: usize = 1 << 16;

/// A parsed nginx configuration. Owns the source bytes; the tree's spans index them.
///
/// `Document::parse(s)?.render() == s` for every `s` it accepts.
#[derive(Debug, Clone)]
pub struct Document {
    src: Vec<u8>,
    root: Block,
    lines: OnceLock<LineIndex>,
}

impl Document {
    /// Parses a configuration. Input is bytes; it need not be UTF-8.
    ///
    /// Rendering gives the input back byte for byte; text nginx would reject is a
    /// [`ParseError`] with the line and column where nginx would stop.
    ///
    /// ```
    /// use ihos_nginx::Document;
    ///
    /// let src = "upstream app {\n    server 10.0.0.1:8080;  # main\n    #server 10.0.0.2:8080;\n}\n";
    /// let doc = Document::parse(src)?;
    /// assert_eq!(doc.render(), src.as_bytes());
    /// let app = doc.upstream("app")?;
    /// assert_eq!(app.servers.len(), 2); // the commented-out one too
    /// assert_eq!(app.enabled_count(), 1);
    ///
    /// let err = Document::parse("upstream app {\n    server 10.0.0.1:8080;\n").unwrap_err();
    /// assert_eq!(err.position.line, 3); // unexpected end of file: `}` missing
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(src: impl Into<Vec<u8>>) -> Result<Self, ParseError> {
        let src = src.into();
        let root = parse_block_tree(&src)?;
        Ok(Document {
            src,
            root,
            lines: OnceLock::new(),
        })
    }

    /// Parses `new`, a later version of this document's source: only the statements around
    /// the bytes that differ are read again (a few changed lines of a large file cost about
    /// a comparison of the two texts, not a whole parse). The result is exactly
    /// [`Document::parse`]'s, errors included.
    ///
    /// ```
    /// use ihos_nginx::Document;
    ///
    /// let old = Document::parse("upstream u {\n    server a:1;\n    server b:1;\n}\n")?;
    /// let new = old.reparse("upstream u {\n    #server a:1;\n    server b:1;\n}\n")?;
    /// assert_eq!(new.upstream("u")?.enabled_count(), 1);
    /// assert!(old.reparse("upstream u {\n    server a:1;\n").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reparse(&self, new: impl Into<Vec<u8>>) -> Result<Self, ParseError> {
        let new = new.into();
        if new == self.src {
            return Ok(self.clone());
        }
        let changes = changes::between(&self.src, &new);
        self.patched(new, &changes)
    }

    /// The document of `new`, which is this one's source with `changes` made (in order,
    /// not overlapping).
    pub(crate) fn patched(&self, new: Vec<u8>, changes: &[Change]) -> Result<Self, ParseError> {
        let Some(root) = parser::reparse(&self.root, &new, changes) else {
            return Document::parse(new);
        };
        // Small files (every test's) are parsed whole too, and the two must agree.
        if cfg!(debug_assertions) && new.len() <= CROSS_CHECK_UP_TO {
            let whole = parse_block_tree(&new);
            assert_eq!(
                whole.as_ref().ok(),
                Some(&root),
                "the incremental parse disagrees with a whole one"
            );
        }
        Ok(Document {
            src: new,
            root,
            lines: OnceLock::new(),
        })
    }

    /// The source bytes.
    pub fn source(&self) -> &[u8] {
        &self.src
    }

    /// The top-level statements.
    pub fn root(&self) -> &Block {
        &self.root
    }

    /// Writes the tree back out by walking every node: the same bytes as the source.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.src.len());
        self.render_into(&mut out);
        out
    }

    /// [`Document::render`] into a buffer.
    pub fn render_into(&self, out: &mut Vec<u8>) {
        let mut sink = Sink {
            src: &self.src,
            out,
            start: 0,
            end: 0,
        };
        render_block(&mut sink, &self.root);
        sink.flush();
    }

    /// Line index of the source, built on first use.
    pub fn line_index(&self) -> &LineIndex {
        self.lines.get_or_init(|| LineIndex::new(&self.src))
    }

    /// Line and column of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        self.line_index().position(&self.src, offset)
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> u32 {
        self.line_index().line_of(offset) as u32 + 1
    }

    /// The bytes of a span.
    pub fn text(&self, span: Span) -> &[u8] {
        &self.src[span.range()]
    }

    /// Every active directive, depth first, with its nesting path of block names.
    pub fn walk<'d>(&'d self, mut visit: impl FnMut(&'d Directive, &[&'d Directive])) {
        fn go<'d>(
            block: &'d Block,
            path: &mut Vec<&'d Directive>,
            visit: &mut impl FnMut(&'d Directive, &[&'d Directive]),
        ) {
            for item in &block.items {
                if let Item::Directive(d) = item {
                    visit(d, path);
                    if let Some(inner) = d.block() {
                        path.push(d);
                        go(inner, path, visit);
                        path.pop();
                    }
                }
            }
        }
        go(&self.root, &mut Vec::new(), &mut visit);
    }
}

/// Output of a render: the spans written, in order. Spans that continue where the previous
/// one ended (every span of an unedited tree) are joined, so writing costs one copy per run
/// of contiguous spans instead of one per node.
struct Sink<'a> {
    src: &'a [u8],
    out: &'a mut Vec<u8>,
    start: usize,
    end: usize,
}

impl Sink<'_> {
    #[inline]
    fn span(&mut self, s: Span) {
        let (start, end) = (s.start as usize, s.end as usize);
        if start == self.end {
            self.end = end;
        } else {
            self.flush();
            self.start = start;
            self.end = end;
        }
    }

    fn flush(&mut self) {
        self.out.extend_from_slice(&self.src[self.start..self.end]);
        self.start = self.end;
    }
}

fn render_block(sink: &mut Sink<'_>, block: &Block) {
    for item in &block.items {
        match item {
            Item::Directive(d) => render_directive(sink, d),
            Item::Comment(c) => {
                sink.span(c.leading);
                sink.span(c.span);
            }
            Item::Disabled(d) => {
                for c in &d.comments {
                    sink.span(c.leading);
                    sink.span(c.span);
                }
            }
        }
    }
    sink.span(block.trailing);
}

fn render_directive(sink: &mut Sink<'_>, d: &Directive) {
    sink.span(d.leading);
    sink.span(d.name.span);
    for a in &d.args {
        sink.span(a.leading);
        sink.span(a.token.span);
    }
    sink.span(d.before_end);
    match &d.end {
        DirectiveEnd::Semicolon(s) => sink.span(*s),
        DirectiveEnd::Block(b) => {
            sink.span(b.open);
            match &b.content {
                BlockContent::Statements(inner) => render_block(sink, inner),
                BlockContent::Raw(s) => sink.span(*s),
            }
            sink.span(b.close);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_into_appends_the_source() {
        let src = "# top\nuser nginx;\nhttp {\n  upstream u { server a:1; #server b:2;\n }\n  x_by_lua_block { a = '}' }\n}\n";
        let doc = Document::parse(src).unwrap();
        let mut out = b"prefix".to_vec();
        doc.render_into(&mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..], src.as_bytes());
        assert_eq!(doc.render(), src.as_bytes());
    }
}
