//! Unified-diff text for an edit: the changed lines with three lines of context.

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
pub(crate) fn unified(label: &str, old: &[u8], new: &[u8]) -> String {
    if old == new {
        return String::new();
    }
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
