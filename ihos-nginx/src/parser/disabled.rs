//! Recognizes commented-out directives: consecutive own-line comments whose text, with one
//! `#` removed from each line, is exactly one directive (`#server a:1;`, or a whole block
//! commented line by line, like the runbook's canary `if` block).

use super::{Buffers, parse_top_items};
use crate::syntax::{Comment, Directive, InnerDirective, Item};

/// A continuation of a one-line directive over more comment lines is accepted only this far.
const MAX_SIMPLE_LINES: usize = 16;
/// A commented-out block is looked for over at most this many lines.
const MAX_BLOCK_LINES: usize = 4000;

/// Moves the items `stack[base..]` of a block out, replacing runs of comments that form
/// directives by [`Item::Disabled`]. `run` (left empty) and `bufs` are reused buffers.
pub(crate) fn group_disabled(
    src: &[u8],
    stack: &mut Vec<Item>,
    base: usize,
    top_level: bool,
    run: &mut Vec<Comment>,
    bufs: &mut Buffers,
) -> Vec<Item> {
    if !stack[base..]
        .iter()
        .any(|i| matches!(i, Item::Comment(c) if is_candidate(src, c)))
    {
        return stack.drain(base..).collect();
    }
    let mut out = Vec::with_capacity(stack.len() - base);
    run.clear();
    for item in stack.drain(base..) {
        match item {
            Item::Comment(c) if own_line(src, &c, top_level) => {
                if !run.is_empty() && !next_line(src, &c) {
                    flush(src, run, &mut out, bufs);
                }
                run.push(c);
            }
            other => {
                flush(src, run, &mut out, bufs);
                out.push(other);
            }
        }
    }
    flush(src, run, &mut out, bufs);
    out
}

/// A comment alone on its line (only whitespace before it).
fn own_line(src: &[u8], c: &Comment, top_level: bool) -> bool {
    memchr::memchr(b'\n', &src[c.leading.range()]).is_some() || (top_level && c.leading.start == 0)
}

/// A comment on the line right after the previous one (no blank line between).
fn next_line(src: &[u8], c: &Comment) -> bool {
    memchr::memchr_iter(b'\n', &src[c.leading.range()]).count() == 1
}

/// The text after the `#`.
fn body<'s>(src: &'s [u8], c: &Comment) -> &'s [u8] {
    &src[c.span.start as usize + 1..c.span.end as usize]
}

/// Whether a comment could start a directive: after `#` and blanks, a name-like byte.
fn is_candidate(src: &[u8], c: &Comment) -> bool {
    let b = body(src, c);
    b.iter()
        .find(|&&x| x != b' ' && x != b'\t')
        .is_some_and(|&x| x.is_ascii_alphabetic() || x == b'_')
}

/// Column (in bytes from the line start) of the first non-blank byte after the `#`.
fn content_column(src: &[u8], c: &Comment) -> usize {
    let line_start = memchr::memrchr(b'\n', &src[..c.span.start as usize]).map_or(0, |n| n + 1);
    let b = body(src, c);
    let blanks = b.iter().take_while(|&&x| x == b' ' || x == b'\t').count();
    c.span.start as usize + 1 + blanks - line_start
}

fn flush(src: &[u8], run: &mut Vec<Comment>, out: &mut Vec<Item>, bufs: &mut Buffers) {
    let mut i = 0;
    while i < run.len() {
        match find_directive(src, run, i, bufs) {
            Some((j, inner)) => {
                let comments = run[i..=j].to_vec();
                out.push(Item::Disabled(crate::syntax::DisabledDirective {
                    comments,
                    inner: Box::new(inner),
                }));
                i = j + 1;
            }
            None => {
                out.push(Item::Comment(run[i].clone()));
                i += 1;
            }
        }
    }
    run.clear();
}

enum Probe {
    Directive(InnerDirective),
    /// The text ends inside a statement; `in_block` if inside braces.
    Incomplete {
        in_block: bool,
    },
    Not,
}

fn probe(src: &[u8], lines: &[Comment], bufs: &mut Buffers) -> Probe {
    if let [c] = lines {
        // One line (the common case): parse the comment's text where it is, and copy it only
        // for a directive.
        let text = body(src, c);
        if cannot_complete(text) {
            return Probe::Incomplete { in_block: false };
        }
        return match judge(text, bufs) {
            Ok(directive) => Probe::Directive(InnerDirective {
                text: text.to_vec(),
                directive,
                line_map: vec![(0, c.span.start + 1)],
            }),
            Err(probe) => probe,
        };
    }
    let len = lines.iter().map(|c| c.span.len()).sum::<usize>();
    let mut text = Vec::with_capacity(len);
    let mut line_map = Vec::with_capacity(lines.len());
    for (k, c) in lines.iter().enumerate() {
        if k > 0 {
            text.push(b'\n');
        }
        line_map.push((text.len() as u32, c.span.start + 1));
        text.extend_from_slice(body(src, c));
    }
    match judge(&text, bufs) {
        Ok(directive) => Probe::Directive(InnerDirective {
            text,
            directive,
            line_map,
        }),
        Err(probe) => probe,
    }
}

/// Whether one comment line's `text` surely parses to an unfinished first statement (what
/// [`judge`] would find slower): it starts with a name, is shorter than any token limit and
/// has no byte that could end a statement, open a block or string, or escape.
fn cannot_complete(text: &[u8]) -> bool {
    text.len() < 4096
        && text
            .iter()
            .find(|&&x| x != b' ' && x != b'\t')
            .is_some_and(|&x| x.is_ascii_alphabetic() || x == b'_')
        && !text
            .iter()
            .any(|&x| matches!(x, b';' | b'{' | b'}' | b'"' | b'\'' | b'\\'))
}

/// Parses uncommented `text`: its one directive (only a trailing comment on the
/// directive's last line may follow it), or why not.
fn judge(text: &[u8], bufs: &mut Buffers) -> Result<Directive, Probe> {
    // The top-level items are not grouped into commented-out directives: that could only
    // turn comments on lines of their own, which already disqualify the text, into others
    // that do too.
    let parsed = parse_top_items(text, bufs);
    let mut items = bufs.items.drain(..);
    let judged = match parsed {
        Ok(()) => match items.next() {
            Some(Item::Directive(directive)) => {
                // Only a trailing comment on the directive's last line may follow it.
                let trailing_comment_only = items.all(
                    |rest| matches!(rest, Item::Comment(c) if !text[c.leading.range()].contains(&b'\n')),
                );
                if trailing_comment_only {
                    Ok(directive)
                } else {
                    Err(Probe::Not)
                }
            }
            _ => Err(Probe::Not),
        },
        Err(e) => Err(match e.kind {
            crate::error::ParseErrorKind::EofInBlock { .. } => Probe::Incomplete { in_block: true },
            // Still inside the first statement (no block opened yet) or inside a nested one.
            crate::error::ParseErrorKind::EofInDirective { started, .. } => Probe::Incomplete {
                in_block: started.line > 1,
            },
            _ => Probe::Not,
        }),
    };
    drop(items);
    judged
}

/// Whether `c` alone reads as a complete directive with a plausible name (`weight=5;` is
/// not one, `backup;` is).
fn starts_own_statement(src: &[u8], c: &Comment, bufs: &mut Buffers) -> bool {
    if !is_candidate(src, c) {
        return false;
    }
    let b = body(src, c);
    b.iter()
        .skip_while(|&&x| x == b' ' || x == b'\t')
        .take_while(|&&x| !crate::lexer::is_ws(x) && x != b';' && x != b'{')
        .all(|&x| x.is_ascii_alphanumeric() || x == b'_')
        && matches!(
            probe(src, std::slice::from_ref(c), bufs),
            Probe::Directive(_)
        )
}

/// The last line `j` such that `run[i..=j]` is one directive, with that directive.
fn find_directive(
    src: &[u8],
    run: &[Comment],
    i: usize,
    bufs: &mut Buffers,
) -> Option<(usize, InnerDirective)> {
    if !is_candidate(src, &run[i]) {
        return None;
    }
    let mut j = i;
    let first_column = content_column(src, &run[i]);
    let mut in_block = match probe(src, &run[i..=i], bufs) {
        Probe::Directive(d) => return Some((i, d)),
        Probe::Not => return None,
        Probe::Incomplete { in_block } => in_block,
    };
    loop {
        j += 1;
        if j >= run.len()
            || j - i
                >= if in_block {
                    MAX_BLOCK_LINES
                } else {
                    MAX_SIMPLE_LINES
                }
        {
            return None;
        }
        let line = &run[j];
        if !in_block
            && content_column(src, line) <= first_column
            && starts_own_statement(src, line, bufs)
        {
            // Prose followed by a real commented directive: the directive wins.
            return None;
        }
        let line_body = body(src, line);
        // A block can only complete on a line with `}`; a statement on one with `;` or `{`.
        if !line_body
            .iter()
            .any(|&x| x == b'}' || x == b';' || x == b'{')
        {
            continue;
        }
        match probe(src, &run[i..=j], bufs) {
            Probe::Directive(d)
                if in_block || line_body.trim_ascii() == b"{" || !line_body.contains(&b'{') =>
            {
                return Some((j, d));
            }
            Probe::Incomplete { in_block: true } if !in_block => {
                // A block continued from prose (`#id ...` above `#if (...) {`) is not one
                // directive; only a brace alone on its line may open it (Allman style).
                if line_body.trim_ascii() != b"{" {
                    return None;
                }
                in_block = true;
            }
            Probe::Incomplete { in_block: b } => in_block = b,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut for one comment line agrees with parsing the line.
    #[test]
    fn cannot_complete_agrees_with_judge() {
        let lines: &[&[u8]] = &[
            b"upstream pool 1",
            b" upstream pool 1",
            b"\tsee the docs at http://example.com/x",
            b"_x",
            b"a #b",
            b"a\r",
            b"a \xff b",
            b"server a:1",
            b"keepalive 32 # per worker",
        ];
        for &text in lines {
            assert!(cannot_complete(text), "{:?}", String::from_utf8_lossy(text));
            let mut bufs = Buffers::default();
            assert!(
                matches!(
                    judge(text, &mut bufs),
                    Err(Probe::Incomplete { in_block: false })
                ),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        // Any byte that can end, open, quote or escape disables the shortcut.
        for &text in &[
            &b"server a:1;"[..],
            b"if ($a) {",
            b"}",
            b"a \"b",
            b"a 'b",
            b"a \\",
            b"1a",
            b" ",
            b"",
        ] {
            assert!(
                !cannot_complete(text),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        assert!(!cannot_complete(&[b'a'; 4096]));
    }

    /// Reused buffers are left empty between tries, whatever the outcome.
    #[test]
    fn judge_leaves_buffers_empty() {
        let mut bufs = Buffers::default();
        for text in [
            &b"server a:1 weight=2;"[..],
            b"if ($a) {\n  return 1;\n}",
            b"if ($a) {\n  return 1;",
            b"a b c",
            b"a;\nb;",
            b"}",
        ] {
            let _ = judge(text, &mut bufs);
            assert!(bufs.items.is_empty() && bufs.args.is_empty());
        }
        assert!(judge(b"server a:1 weight=2; # why", &mut bufs).is_ok());
        assert!(matches!(judge(b"a;\n# b", &mut bufs), Err(Probe::Not)));
    }
}
