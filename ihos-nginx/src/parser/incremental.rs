//! Parsing a changed file again only where it changed: the items around each change are
//! read again from the new bytes, and the rest of the tree is the old one with its offsets
//! moved. A rotation change turns a few `server` lines of a file that may hold thousands;
//! parsing it all again made every wave of a fleet-wide rollout cost a whole parse.
//!
//! Why the result is the tree a whole parse gives: a region read again starts right after
//! an active directive (or at its block's start) and ends right before one (or at its
//! block's end). The parser reads a directive up to its `;` or `}` and looks no further,
//! so everything before a region reads as before; the region is read from the state a
//! whole parse would be in there (the position, the block depth); and when its last item
//! ends exactly where the untouched directive after it begins, what follows is the same
//! bytes read from the same state. Commented-out directives are grouped out of runs of
//! comment lines, which an active directive always ends, so every run is inside one
//! region, whole. Anything else (a region that does not end on its boundary, an error, a
//! file over the size limit) gives `None`: the caller parses the whole file, which also
//! words its errors.

use super::{Buffers, Opener, Parser, group_disabled};
use crate::changes::Change;
use crate::span::Span;
use crate::syntax::{Block, BlockContent, Directive, DirectiveEnd, Item, Token, TokenKind};

/// Items of one block to read again.
#[derive(Debug)]
struct Region {
    /// Item indices of the block directives leading from the root to the block.
    path: Vec<usize>,
    /// Old items `first..last` are replaced.
    first: usize,
    last: usize,
    /// Whether the block's trailing whitespace is replaced too (the region reaches the
    /// block's `}`, or the end of the file).
    to_end: bool,
    /// Old bytes `start..end`.
    start: usize,
    end: usize,
    /// How much longer the region gets.
    delta: isize,
}

/// The tree of `new`, which is `old` (parsed as `root`) with `changes` made (in order, not
/// overlapping); `None` when it must be parsed whole.
pub(crate) fn reparse(root: &Block, new: &[u8], changes: &[Change]) -> Option<Block> {
    if new.len() > u32::MAX as usize || changes.is_empty() {
        return None;
    }
    let mut regions: Vec<Region> = changes
        .iter()
        .map(|c| locate(root, *c))
        .collect::<Option<_>>()?;
    regions.sort_by_key(|r| (r.start, r.path.len()));
    let mut regions = merge(regions)?;
    // Each change belongs to exactly one region.
    let mut k = 0;
    for c in changes {
        while k < regions.len() && regions[k].end < c.end {
            k += 1;
        }
        let r = regions.get_mut(k).filter(|r| r.start <= c.start)?;
        r.delta += c.delta();
    }
    let shift = Shift::new(&regions);
    let mut read = Vec::with_capacity(regions.len());
    let mut before = 0isize;
    for r in &regions {
        let start = (r.start as isize + before) as usize;
        let end = (r.end as isize + before + r.delta) as usize;
        read.push(read_region(new, r, start, end)?);
        before += r.delta;
    }
    let mut tree = root.clone();
    shift.block(&mut tree);
    // Last first: splicing changes the indices of the items after it, and of nothing before.
    for (r, (items, trailing)) in regions.iter().zip(read).rev() {
        let block = block_at(&mut tree, &r.path)?;
        block.items.splice(r.first..r.last, items);
        if let Some(t) = trailing {
            block.trailing = t;
        }
    }
    Some(tree)
}

/// The region a change needs read again: in the innermost block holding it, the items it
/// touches (closed ranges: an insertion at an item's edge touches it), widened to active
/// directives on both sides.
fn locate(root: &Block, c: Change) -> Option<Region> {
    let mut block = root;
    let mut path = Vec::new();
    loop {
        let items = &block.items;
        let first = items.partition_point(|i| (i.span().end as usize) < c.start);
        let mut last = first;
        while last < items.len() && items[last].leading().start as usize <= c.end {
            last += 1;
        }
        let t = block.trailing;
        let mut to_end = c.end >= t.start as usize && c.start <= t.end as usize;
        // One item, with the change inside its braces: the region is in its block.
        let inner = (last == first + 1 && !to_end)
            .then(|| inner_block(&items[first], c))
            .flatten();
        if let Some(inner) = inner {
            path.push(first);
            block = inner;
            continue;
        }
        let mut first = first;
        while first > 0 && !matches!(items[first - 1], Item::Directive(_)) {
            first -= 1;
        }
        if to_end {
            last = items.len();
        }
        while last < items.len() && !matches!(items[last], Item::Directive(_)) {
            last += 1;
        }
        to_end |= last == items.len();
        let start = items.get(first).map_or(t.start, |i| i.leading().start) as usize;
        let end = if to_end {
            t.end as usize
        } else {
            items[last].leading().start as usize
        };
        return Some(Region {
            path,
            first,
            last,
            to_end,
            start,
            end,
            delta: 0,
        });
    }
}

/// The statements block of `item` when the change is inside its braces.
fn inner_block(item: &Item, c: Change) -> Option<&Block> {
    let Item::Directive(Directive {
        end: DirectiveEnd::Block(body),
        ..
    }) = item
    else {
        return None;
    };
    let BlockContent::Statements(inner) = &body.content else {
        return None;
    };
    (c.start >= body.open.end as usize && c.end <= body.close.start as usize).then_some(inner)
}

/// Regions sorted by start (outer first at the same start), with those of one block that
/// meet made one and those inside another's items dropped. `None`: two overlap otherwise
/// (not expected; the caller parses whole).
fn merge(sorted: Vec<Region>) -> Option<Vec<Region>> {
    let mut out: Vec<Region> = Vec::with_capacity(sorted.len());
    for r in sorted {
        let last = out.last_mut().filter(|l| r.start <= l.end);
        if let Some(l) = last {
            if r.path == l.path {
                l.last = l.last.max(r.last);
                l.to_end |= r.to_end;
                l.end = l.end.max(r.end);
                continue;
            }
            let inside = r.path.len() > l.path.len()
                && r.path.starts_with(&l.path)
                && (l.first..l.last).contains(&r.path[l.path.len()]);
            if inside {
                continue;
            }
            return None;
        }
        out.push(r);
    }
    Some(out)
}

/// Reads the new bytes `start..end` of a region as the items of its block: the items, and
/// the block's trailing whitespace when the region reaches its end.
fn read_region(
    new: &[u8],
    r: &Region,
    start: usize,
    end: usize,
) -> Option<(Vec<Item>, Option<Span>)> {
    let mut p = Parser::new(new, Buffers::default()).ok()?;
    p.pos = start;
    let depth = r.path.len();
    let trailing = if r.to_end {
        // Only whether there is an opener matters (`}` ends a block, not the file); an
        // error is worded by the whole parse.
        let opener = Opener {
            name: Token {
                span: Span::default(),
                kind: TokenKind::Bare,
            },
            open: Span::default(),
        };
        let t = p.statements((depth > 0).then_some(&opener), depth).ok()?;
        (p.pos == end).then_some(Some(t))?
    } else {
        p.statements_until(depth, end)?;
        None
    };
    let items = group_disabled(new, &mut p.items, 0, depth == 0, &mut p.run, &mut p.probe);
    Some((items, trailing))
}

impl Parser<'_> {
    /// Reads statements up to exactly `stop`, where an untouched directive's leading
    /// whitespace begins. `None`: an error, a `}`, or an item running past `stop`.
    fn statements_until(&mut self, depth: usize, stop: usize) -> Option<()> {
        while self.pos < stop {
            let leading = self.skip_ws();
            match *self.src.get(self.pos)? {
                b'}' | b';' | b'{' => return None,
                b'#' => {
                    let span = self.comment().ok()?;
                    self.items
                        .push(Item::Comment(crate::syntax::Comment { leading, span }));
                }
                _ => {
                    let d = self.directive(leading, depth).ok()?;
                    self.items.push(Item::Directive(d));
                }
            }
        }
        (self.pos == stop).then_some(())
    }
}

/// The block at `path` (item indices of block directives from the root).
fn block_at<'a>(root: &'a mut Block, path: &[usize]) -> Option<&'a mut Block> {
    let mut block = root;
    for &i in path {
        let Item::Directive(d) = block.items.get_mut(i)? else {
            return None;
        };
        let DirectiveEnd::Block(body) = &mut d.end else {
            return None;
        };
        let BlockContent::Statements(inner) = &mut body.content else {
            return None;
        };
        block = inner;
    }
    Some(block)
}

/// Old offsets to new ones, outside the regions: moved by the growth of every region that
/// ends before them. A span starting where a region ends is after it; one ending there is
/// inside it (or before it, for an empty region), so the two ends use `<=` and `<`.
struct Shift {
    ends: Vec<u32>,
    /// `moved[k]`: the growth of the regions before region `k` (one more entry: all).
    moved: Vec<isize>,
}

impl Shift {
    fn new(regions: &[Region]) -> Self {
        let mut moved = Vec::with_capacity(regions.len() + 1);
        let mut total = 0;
        moved.push(0);
        for r in regions {
            total += r.delta;
            moved.push(total);
        }
        Shift {
            ends: regions.iter().map(|r| r.end as u32).collect(),
            moved,
        }
    }

    fn at(&self, offset: u32, regions_before: usize) -> u32 {
        (offset as isize + self.moved[regions_before]) as u32
    }

    fn start(&self, offset: u32) -> u32 {
        self.at(offset, self.ends.partition_point(|&e| e <= offset))
    }

    fn span(&self, s: &mut Span) {
        if s.is_empty() {
            let at = self.start(s.start);
            *s = Span { start: at, end: at };
        } else {
            s.start = self.start(s.start);
            s.end = self.at(s.end, self.ends.partition_point(|&e| e < s.end));
        }
    }

    fn block(&self, b: &mut Block) {
        for item in &mut b.items {
            match item {
                Item::Directive(d) => self.directive(d),
                Item::Comment(c) => {
                    self.span(&mut c.leading);
                    self.span(&mut c.span);
                }
                Item::Disabled(d) => {
                    for c in &mut d.comments {
                        self.span(&mut c.leading);
                        self.span(&mut c.span);
                    }
                    // The inner directive's spans index its own text; only its map to
                    // the file moves.
                    for (_, file) in &mut d.inner.line_map {
                        *file = self.start(*file);
                    }
                }
            }
        }
        self.span(&mut b.trailing);
    }

    fn directive(&self, d: &mut Directive) {
        self.span(&mut d.leading);
        self.span(&mut d.name.span);
        for a in &mut d.args {
            self.span(&mut a.leading);
            self.span(&mut a.token.span);
        }
        self.span(&mut d.before_end);
        match &mut d.end {
            DirectiveEnd::Semicolon(s) => self.span(s),
            DirectiveEnd::Block(body) => {
                self.span(&mut body.open);
                match &mut body.content {
                    BlockContent::Statements(inner) => self.block(inner),
                    BlockContent::Raw(s) => self.span(s),
                }
                self.span(&mut body.close);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::between;
    use crate::parser::parse_block_tree;

    fn fleet(n: usize) -> String {
        let mut s = String::from("worker_processes 2;\nhttp {\n    upstream app {\n");
        for i in 0..n {
            s.push_str(&format!(
                "        server 10.0.{}.{}:8080 max_fails=3;\n",
                i / 200,
                i % 200
            ));
        }
        s.push_str("    }\n    server {\n        listen 80;\n        location / { proxy_pass http://app; }\n    }\n}\n");
        s
    }

    /// The incremental tree, asserting it was made incrementally and equals a whole parse.
    fn incremental(old: &str, new: &str) -> Block {
        let root = parse_block_tree(old.as_bytes()).unwrap();
        let changes = between(old.as_bytes(), new.as_bytes());
        let tree = reparse(&root, new.as_bytes(), &changes).expect("made incrementally");
        assert_eq!(tree, parse_block_tree(new.as_bytes()).unwrap());
        tree
    }

    #[test]
    fn rotation_changes_in_a_large_upstream_are_read_where_they_are() {
        let old = fleet(1000);
        let mut new = old.clone();
        for i in [3, 250, 251, 252, 999] {
            let line = format!("        server 10.0.{}.{}:8080", i / 200, i % 200);
            new = new.replacen(
                &line,
                &format!("        #server 10.0.{}.{}:8080", i / 200, i % 200),
                1,
            );
        }
        new = new.replacen(
            "server 10.0.2.100:8080 max_fails=3;",
            "server 10.0.2.100:8080 max_fails=3 down;",
            1,
        );
        incremental(&old, &new);
        // And back again, from the commented run.
        incremental(&new, &old);
    }

    #[test]
    fn a_change_at_the_edges_of_a_block_or_the_file_is_read_with_them() {
        let old = fleet(5);
        incremental(&old, &format!("{old}# end\n"));
        incremental(&old, &format!("# start\n{old}"));
        incremental(
            &old,
            &old.replacen(
                "upstream app {\n",
                "upstream app {\n        server z:1;\n",
                1,
            ),
        );
        incremental(
            &old,
            &old.replacen(
                "max_fails=3;\n    }",
                "max_fails=3;\n        #server z:1;\n    }",
                1,
            ),
        );
        incremental(
            &old,
            &old.replacen("location / { proxy_pass", "location / {  proxy_pass", 1),
        );
    }

    #[test]
    fn a_change_that_moves_a_boundary_is_left_to_the_whole_parse() {
        let old = fleet(5);
        let root = parse_block_tree(old.as_bytes()).unwrap();
        for new in [
            // the upstream's `}` now closes it early
            old.replacen(
                "server 10.0.0.2:8080 max_fails=3;",
                "server 10.0.0.2:8080 max_fails=3;}",
                1,
            ),
            // a quote that runs on
            old.replacen("server 10.0.0.2:8080", "server \"10.0.0.2:8080", 1),
        ] {
            let changes = between(old.as_bytes(), new.as_bytes());
            assert!(reparse(&root, new.as_bytes(), &changes).is_none(), "{new}");
        }
    }
}
