//! [`Document`]: a parsed configuration file that owns its bytes.

use std::sync::OnceLock;

use crate::error::ParseError;
use crate::parser::parse_block_tree;
use crate::span::{LineIndex, Position, Span};
use crate::syntax::{Block, BlockContent, Directive, DirectiveEnd, Item};

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
    pub fn parse(src: impl Into<Vec<u8>>) -> Result<Self, ParseError> {
        let src = src.into();
        let root = parse_block_tree(&src)?;
        Ok(Document {
            src,
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
        render_block(&self.src, &self.root, out);
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

fn render_block(src: &[u8], block: &Block, out: &mut Vec<u8>) {
    for item in &block.items {
        match item {
            Item::Directive(d) => render_directive(src, d, out),
            Item::Comment(c) => {
                out.extend_from_slice(&src[c.leading.range()]);
                out.extend_from_slice(&src[c.span.range()]);
            }
            Item::Disabled(d) => {
                for c in &d.comments {
                    out.extend_from_slice(&src[c.leading.range()]);
                    out.extend_from_slice(&src[c.span.range()]);
                }
            }
        }
    }
    out.extend_from_slice(&src[block.trailing.range()]);
}

fn render_directive(src: &[u8], d: &Directive, out: &mut Vec<u8>) {
    out.extend_from_slice(&src[d.leading.range()]);
    out.extend_from_slice(&src[d.name.span.range()]);
    for a in &d.args {
        out.extend_from_slice(&src[a.leading.range()]);
        out.extend_from_slice(&src[a.token.span.range()]);
    }
    out.extend_from_slice(&src[d.before_end.range()]);
    match &d.end {
        DirectiveEnd::Semicolon(s) => out.extend_from_slice(&src[s.range()]),
        DirectiveEnd::Block(b) => {
            out.extend_from_slice(&src[b.open.range()]);
            match &b.content {
                BlockContent::Statements(inner) => render_block(src, inner, out),
                BlockContent::Raw(s) => out.extend_from_slice(&src[s.range()]),
            }
            out.extend_from_slice(&src[b.close.range()]);
        }
    }
}
