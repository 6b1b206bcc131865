//! Byte replacements: every edit is a list of them, applied to the source at once.

use crate::changes::Change;
use crate::syntax::InnerDirective;

/// A replacement of `src[start..end]` by `insert`.
#[derive(Debug, Clone)]
pub(super) struct Patch {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) insert: Vec<u8>,
}

impl Patch {
    pub(super) fn insert(at: usize, bytes: &[u8]) -> Self {
        Patch {
            start: at,
            end: at,
            insert: bytes.to_vec(),
        }
    }
    pub(super) fn delete(start: usize, end: usize) -> Self {
        Patch {
            start,
            end,
            insert: Vec::new(),
        }
    }
}

/// `src` with every patch applied; patches must not overlap.
pub(super) fn apply(src: &[u8], patches: Vec<Patch>) -> Vec<u8> {
    apply_with_changes(src, patches).0
}

/// [`apply`], and the changes it made (for [`Document::patched`](crate::Document)).
pub(super) fn apply_with_changes(src: &[u8], mut patches: Vec<Patch>) -> (Vec<u8>, Vec<Change>) {
    patches.sort_by_key(|p| (p.start, p.end));
    let changes = patches
        .iter()
        .filter(|p| p.start != p.end || !p.insert.is_empty())
        .map(|p| Change {
            start: p.start,
            end: p.end,
            len: p.insert.len(),
        })
        .collect();
    let mut out = Vec::with_capacity(src.len() + 64);
    let mut at = 0;
    for p in patches {
        debug_assert!(p.start >= at, "overlapping patches");
        out.extend_from_slice(&src[at..p.start]);
        out.extend_from_slice(&p.insert);
        at = p.end;
    }
    out.extend_from_slice(&src[at..]);
    (out, changes)
}

/// Which text a directive's spans index: the file, or a disabled directive's inner text.
#[derive(Clone, Copy)]
pub(super) enum Origin<'a> {
    File,
    Inner(&'a InnerDirective),
}

impl Origin<'_> {
    /// The file offset of an offset in that text.
    pub(super) fn map(self, offset: usize) -> usize {
        match self {
            Origin::File => offset,
            Origin::Inner(inner) => inner.to_file_offset(offset),
        }
    }
}
