//! Unified-diff text for an edit: the changed lines with three lines of context.

use crate::changes::{common_prefix, common_suffix};

/// Lines of context around a change.
const CONTEXT: usize = 3;

fn lines(text: &[u8]) -> Vec<&[u8]> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut v: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    if v.is_empty() {
        v.push(text);
    }
    v
}

/// A unified diff of `old` → `new` labelled `label`, as one hunk around the changed region
/// (edits are local to one statement). Empty when the texts are equal.
///
/// Only the changed lines and their context are split into lines: the equal lines before
/// and after them are skipped at the speed of a byte comparison (a rotation change of a
/// file with thousands of servers makes one of these per instance). The result is the
/// hunk of the whole texts, line numbers included.
pub(crate) fn unified(label: &str, old: &[u8], new: &[u8]) -> String {
    if old == new {
        return String::new();
    }
    // Whole lines the texts start with.
    let common = common_prefix(old, new);
    let prefix_end = memchr::memrchr(b'\n', &old[..common]).map_or(0, |i| i + 1);
    let prefix_lines = memchr::memchr_iter(b'\n', &old[..prefix_end]).count();
    // Lines the texts end with, after those: the one the common bytes start in may be
    // only partly common, so it is not counted.
    let (ra, rb) = (&old[prefix_end..], &new[prefix_end..]);
    let same_end = common_suffix(ra, rb);
    let suffix_lines = memchr::memchr_iter(b'\n', &ra[ra.len() - same_end..])
        .count()
        .saturating_sub(1);
    // Everything but the context is skipped.
    let (skip, skipped_lines) = match prefix_lines.checked_sub(CONTEXT) {
        Some(n) if n > 0 => {
            let at = memchr::memrchr_iter(b'\n', &old[..prefix_end])
                .nth(CONTEXT)
                .map_or(0, |i| i + 1);
            (at, n)
        }
        _ => (0, 0),
    };
    let tail = last_lines_len(ra, suffix_lines.saturating_sub(CONTEXT + 1));
    hunk(
        label,
        &old[skip..old.len() - tail],
        &new[skip..new.len() - tail],
        skipped_lines,
    )
}

/// Bytes of the last `n` lines of `text`.
fn last_lines_len(text: &[u8], n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // The newline that ends the text ends its last line; it does not start one.
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    memchr::memrchr_iter(b'\n', body)
        .nth(n - 1)
        .map_or(text.len(), |i| text.len() - i - 1)
}

/// The hunk of `old` → `new` (which differ), numbering lines from `first_line + 1`.
fn hunk(label: &str, old: &[u8], new: &[u8], first_line: usize) -> String {
    let a = lines(old);
    let b = lines(new);
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let ctx_start = prefix.saturating_sub(CONTEXT);
    let a_end = (a.len() - suffix + CONTEXT).min(a.len());
    let b_end = (b.len() - suffix + CONTEXT).min(b.len());
    let mut out = format!("--- a/{label}\n+++ b/{label}\n");
    let range = |start: usize, end: usize| {
        let n = end - start;
        let start = start + first_line;
        let first = if n == 0 { start } else { start + 1 };
        format!("{first},{n}")
    };
    out.push_str(&format!(
        "@@ -{} +{} @@\n",
        range(ctx_start, a_end),
        range(ctx_start, b_end)
    ));
    let mut push = |mark: char, line: &[u8]| {
        out.push(mark);
        let text = String::from_utf8_lossy(line);
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    };
    for l in &a[ctx_start..prefix] {
        push(' ', l);
    }
    for l in &a[prefix..a.len() - suffix] {
        push('-', l);
    }
    for l in &b[prefix..b.len() - suffix] {
        push('+', l);
    }
    for l in &a[a.len() - suffix..a_end] {
        push(' ', l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(lines: &[u8], last_newline: bool) -> Vec<u8> {
        let mut t: Vec<u8> = lines
            .iter()
            .flat_map(|l| format!("line {l}\n").into_bytes())
            .collect();
        if !last_newline && !t.is_empty() {
            t.pop();
        }
        t
    }

    proptest! {
        /// The skipping diff is the diff of the whole texts: few distinct lines make
        /// repeated ones, where the common start and end overlap.
        #[test]
        fn skipping_equal_lines_changes_nothing(
            old in prop::collection::vec(0u8..4, 0..40),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..3, prop::collection::vec(0u8..5, 0..3)), 1..3),
            old_nl in any::<bool>(),
            new_nl in any::<bool>(),
        ) {
            let mut new = old.clone();
            for (at, del, ins) in edits {
                let at = at.index(new.len() + 1);
                let del = del.min(new.len() - at);
                new.splice(at..at + del, ins);
            }
            let (a, b) = (text(&old, old_nl), text(&new, new_nl));
            let whole = if a == b { String::new() } else { hunk("f", &a, &b, 0) };
            prop_assert_eq!(unified("f", &a, &b), whole);
        }
    }

    #[test]
    fn a_change_deep_in_a_long_file_is_numbered_as_in_the_file() {
        let old: Vec<u8> = (0..1000)
            .flat_map(|i| format!("server s{i}:1;\n").into_bytes())
            .collect();
        let new = String::from_utf8(old.clone()).unwrap().replacen(
            "server s500:1;",
            "#server s500:1;",
            1,
        );
        let d = unified("nginx.conf", &old, new.as_bytes());
        assert!(d.contains("@@ -498,7 +498,7 @@\n server s497:1;\n"), "{d}");
        assert!(d.contains("-server s500:1;\n+#server s500:1;\n"), "{d}");
    }
}
