//! Commenting a directive out line by line and back in, for server and `if` block edits
//! alike.

use super::patch::Patch;
use crate::document::Document;
use crate::query::Place;
use crate::syntax::{DisabledDirective, Item};

/// Indentation (spaces and tabs) of the line containing `offset`.
fn line_indent(src: &[u8], offset: usize) -> Vec<u8> {
    let start = memchr::memrchr(b'\n', &src[..offset]).map_or(0, |n| n + 1);
    src[start..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .copied()
        .collect()
}

/// Start offsets of the lines from the one holding `start` through the one holding `end - 1`,
/// the first being `start` itself.
fn line_starts_within(src: &[u8], start: usize, end: usize) -> Vec<usize> {
    let mut v = vec![start];
    v.extend(
        memchr::memchr_iter(b'\n', &src[start..end.saturating_sub(1).max(start)])
            .map(|n| start + n + 1),
    );
    v
}

impl Document {
    /// Patches that comment out the active directive at `place`, each of its lines getting a
    /// `#` before its first non-blank byte. If the directive shares a line with other
    /// statements it is first moved onto lines of its own.
    pub(super) fn comment_out(&self, place: Place<'_>) -> Vec<Patch> {
        let src = self.source();
        let Item::Directive(d) = place.item() else {
            return Vec::new();
        };
        let start = d.name.span.start as usize;
        let end = d.span().end as usize;
        let mut patches = Vec::new();
        let own_line_start = src[d.leading.range()].contains(&b'\n')
            || (place.parent.is_none() && d.leading.start == 0);
        let mut indent = line_indent(src, start);
        if !own_line_start {
            if place.index == 0 && place.parent.is_some() {
                // first statement right after `{`: one level deeper than the opening line
                indent.extend_from_slice(b"    ");
            }
            let mut replacement = b"\n".to_vec();
            replacement.extend_from_slice(&indent);
            patches.push(Patch {
                start: d.leading.start as usize,
                end: d.leading.end as usize,
                insert: replacement,
            });
        }
        // Whatever follows on the directive's last line moves to a line of its own, except a
        // trailing comment, which is commented out along with it.
        match place.block.items.get(place.index + 1) {
            Some(next) => {
                let lead = next.leading();
                if !src[lead.range()].contains(&b'\n') && !matches!(next, Item::Comment(_)) {
                    let mut replacement = b"\n".to_vec();
                    replacement.extend_from_slice(&indent);
                    patches.push(Patch {
                        start: lead.start as usize,
                        end: lead.end as usize,
                        insert: replacement,
                    });
                }
            }
            None => {
                let trailing = place.block.trailing;
                if let Some(parent) = place.parent {
                    if !src[trailing.range()].contains(&b'\n') {
                        let mut replacement = b"\n".to_vec();
                        replacement
                            .extend_from_slice(&line_indent(src, parent.name.span.start as usize));
                        patches.push(Patch {
                            start: trailing.start as usize,
                            end: trailing.end as usize,
                            insert: replacement,
                        });
                    }
                }
            }
        }
        for (k, line_start) in line_starts_within(src, start, end).into_iter().enumerate() {
            let at = if k == 0 {
                start
            } else {
                line_start
                    + src[line_start..]
                        .iter()
                        .take_while(|&&b| b == b' ' || b == b'\t')
                        .count()
            };
            patches.push(Patch::insert(at, b"#"));
        }
        patches
    }

    /// Patches that remove one `#` from each line of a disabled directive. When the `#` is
    /// followed by exactly one space and then text (`# server ...`), the space goes too.
    pub(super) fn uncomment(&self, dd: &DisabledDirective) -> Vec<Patch> {
        let src = self.source();
        dd.comments
            .iter()
            .map(|c| {
                let at = c.span.start as usize;
                let after = &src[at + 1..c.span.end as usize];
                let single_space =
                    after.len() >= 2 && after[0] == b' ' && !crate::lexer::is_ws(after[1]);
                Patch::delete(at, at + 1 + usize::from(single_space))
            })
            .collect()
    }
}
