//! [`Change`]: old bytes replaced by new ones, and [`between`], the changes that turn one
//! text into another when they differ in a few small places (a config before and after a
//! rotation change), found in time linear in the text.

/// Old bytes `start..end` replaced by `len` new bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) len: usize,
}

impl Change {
    /// How much longer the text gets.
    pub(crate) fn delta(self) -> isize {
        self.len as isize - (self.end - self.start) as isize
    }
}

/// Bytes skipped on either side, at most, when looking for where two texts agree again.
const WINDOW: usize = 64;
/// Bytes that must agree (or the rest of both texts, equal) to call them aligned again.
const AGREE: usize = 32;

/// Changes, in order and not overlapping, that turn `old` into `new`. Where the texts
/// differ, the smallest skip on the two sides after which they agree again is taken; when
/// none is found within [`WINDOW`], the rest up to the common end is one change. Any result
/// is correct (applying it gives `new`); small ones make an incremental parse cheap.
pub(crate) fn between(old: &[u8], new: &[u8]) -> Vec<Change> {
    let prefix = common_prefix(old, new);
    let suffix = common_suffix(&old[prefix..], &new[prefix..]);
    let (old_end, new_end) = (old.len() - suffix, new.len() - suffix);
    let (old, new) = (&old[..old_end], &new[..new_end]);
    let mut changes = Vec::new();
    let (mut i, mut j) = (prefix, prefix);
    while i < old.len() || j < new.len() {
        match realign(old, new, i, j) {
            Some((di, dj)) => {
                changes.push(Change {
                    start: i,
                    end: i + di,
                    len: dj,
                });
                i += di;
                j += dj;
                let same = common_prefix(&old[i..], &new[j..]);
                i += same;
                j += same;
            }
            None => {
                changes.push(Change {
                    start: i,
                    end: old.len(),
                    len: new.len() - j,
                });
                break;
            }
        }
    }
    changes
}

/// The smallest `(di, dj)` (by `di + dj`, at least 1) after which `old[i + di..]` and
/// `new[j + dj..]` agree on [`AGREE`] bytes or are equal to their ends.
fn realign(old: &[u8], new: &[u8], i: usize, j: usize) -> Option<(usize, usize)> {
    let (a, b) = (&old[i..], &new[j..]);
    for total in 1..=2 * WINDOW {
        for di in total.saturating_sub(WINDOW)..=total.min(WINDOW) {
            let dj = total - di;
            if di > a.len() || dj > b.len() {
                continue;
            }
            let (x, y) = (&a[di..], &b[dj..]);
            let n = AGREE.min(x.len()).min(y.len());
            let agree = if n < AGREE { x == y } else { x[..n] == y[..n] };
            if agree {
                return Some((di, dj));
            }
        }
    }
    None
}

/// Length of the longest common prefix.
pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 64;
    let n = a.len().min(b.len());
    let mut k = 0;
    // Whole chunks first: a slice comparison is a memcmp.
    while k + CHUNK <= n && a[k..k + CHUNK] == b[k..k + CHUNK] {
        k += CHUNK;
    }
    while k < n && a[k] == b[k] {
        k += 1;
    }
    k
}

/// Length of the longest common suffix.
pub(crate) fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 64;
    let n = a.len().min(b.len());
    let (la, lb) = (a.len(), b.len());
    let mut k = 0;
    while k + CHUNK <= n && a[la - k - CHUNK..la - k] == b[lb - k - CHUNK..lb - k] {
        k += CHUNK;
    }
    while k < n && a[la - k - 1] == b[lb - k - 1] {
        k += 1;
    }
    k
}

/// `old` with `changes` made, the new bytes taken from `new` (the text they were found
/// between, or any text the changes lead to).
#[cfg(test)]
fn apply(old: &[u8], new: &[u8], changes: &[Change]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut at, mut shift) = (0usize, 0isize);
    for c in changes {
        out.extend_from_slice(&old[at..c.start]);
        let from = (c.start as isize + shift) as usize;
        out.extend_from_slice(&new[from..from + c.len]);
        shift += c.delta();
        at = c.end;
    }
    out.extend_from_slice(&old[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_changes_far_apart_are_found_one_by_one() {
        let line = |i: usize| format!("    server 10.0.{}.{}:8080;\n", i / 250, i % 250);
        let old: String = (0..400).map(line).collect();
        let mut new = old.clone();
        new = new.replacen("    server 10.0.0.7:8080;", "    #server 10.0.0.7:8080;", 1);
        new = new.replacen("server 10.0.1.99:8080;", "server 10.0.1.99:8080 down;", 1);
        let changes = between(old.as_bytes(), new.as_bytes());
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].len - (changes[0].end - changes[0].start), 1);
        assert_eq!(changes[1].len - (changes[1].end - changes[1].start), 5);
        assert_eq!(
            apply(old.as_bytes(), new.as_bytes(), &changes),
            new.as_bytes()
        );
    }

    #[test]
    fn equal_texts_have_no_change_and_unrelated_ones_one() {
        assert!(between(b"abc", b"abc").is_empty());
        let old = vec![b'a'; 1000];
        let new = vec![b'b'; 900];
        let changes = between(&old, &new);
        assert_eq!(
            changes,
            vec![Change {
                start: 0,
                end: 1000,
                len: 900
            }]
        );
    }

    proptest! {
        #[test]
        fn applying_the_changes_gives_the_new_text(
            old in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n'), any::<u8>()], 0..600),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..8, proptest::collection::vec(any::<u8>(), 0..8)), 0..6),
        ) {
            let mut new = old.clone();
            for (at, del, ins) in edits {
                let at = if new.is_empty() { 0 } else { at.index(new.len() + 1) };
                let del = del.min(new.len() - at);
                new.splice(at..at + del, ins);
            }
            let changes = between(&old, &new);
            prop_assert_eq!(apply(&old, &new, &changes), new);
            for w in changes.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
        }
    }
}
