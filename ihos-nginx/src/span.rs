//! Byte ranges into a source buffer and their line/column positions.

use std::ops::Range;

/// A half-open byte range `[start, end)` into the source a node was parsed from.
///
/// Offsets are `u32`: configurations larger than 4 GiB are rejected by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte of the range.
    pub start: u32,
    /// One past the last byte of the range.
    pub end: u32,
}

impl Span {
    /// Makes a span from `start..end`.
    pub(crate) fn new(start: usize, end: usize) -> Self {
        debug_assert!(start <= end);
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The span as a `usize` range, for slicing.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the span covers no byte.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// A 1-based line and column. The column counts characters (UTF-8 sequences count once,
/// any other byte counts once), so it matches what an editor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Position {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Offsets of line starts, to turn byte offsets into [`Position`]s.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    /// Indexes the line starts of `src`.
    pub fn new(src: &[u8]) -> Self {
        let mut starts = Vec::with_capacity(src.len() / 32 + 1);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', src).map(|i| i as u32 + 1));
        LineIndex { starts }
    }

    /// 0-based line number of the byte at `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s as usize <= offset) - 1
    }

    /// Byte offset where 0-based line `line` starts.
    pub fn line_start(&self, line: usize) -> usize {
        self.starts[line] as usize
    }

    /// Number of lines (a final line without a newline counts).
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// Position of the byte at `offset` in `src` (the source this index was built from).
    pub fn position(&self, src: &[u8], offset: usize) -> Position {
        let line = self.line_of(offset);
        let start = self.line_start(line);
        Position {
            line: line as u32 + 1,
            column: column_of(&src[start..offset.min(src.len())]),
        }
    }
}

/// Position of `offset` in `src`, without a prebuilt index (for one-off error reports).
pub(crate) fn position_of(src: &[u8], offset: usize) -> Position {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = memchr::memchr_iter(b'\n', before).count() as u32 + 1;
    let start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    Position {
        line,
        column: column_of(&src[start..offset]),
    }
}

/// 1-based column after the bytes `line_prefix`: UTF-8 continuation bytes do not count.
fn column_of(line_prefix: &[u8]) -> u32 {
    line_prefix.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u32 + 1
}
