//! `Document::reparse` (parsing a changed file again only around its changes) gives exactly
//! what parsing the new text whole gives: the same tree, or the same error. Tried with the
//! changes that break an incremental parser: braces and quotes added or removed, comment
//! marks that merge or split runs of commented-out lines, changes at the edges of blocks
//! and of the file, several changes at once, and every file of the real-world corpus.

mod common;

use common::corpus;
use common::generate::config;
use ihos_nginx::Document;
use proptest::prelude::*;

/// Reparses `new` from `old` and parses it whole: both must say the same.
fn same_as_whole(old: &Document, new: &[u8]) -> Result<(), String> {
    let whole = Document::parse(new.to_vec());
    let incremental = old.reparse(new.to_vec());
    match (&whole, &incremental) {
        (Ok(w), Ok(i)) if w.root() == i.root() && i.source() == new => Ok(()),
        (Err(w), Err(i)) if w == i => Ok(()),
        _ => Err(format!(
            "old:\n{}\nnew:\n{}\nwhole: {:?}\nincremental: {:?}",
            String::from_utf8_lossy(old.source()),
            String::from_utf8_lossy(new),
            whole.as_ref().map(|d| d.root().clone()),
            incremental.as_ref().map(|d| d.root().clone()),
        )),
    }
}

/// A change of the text: where (a fraction of its length), what.
#[derive(Debug, Clone)]
enum Mutation {
    /// `#` at the start of the line (after its indentation).
    CommentLine(prop::sample::Index),
    /// The line's first `#` removed.
    UncommentLine(prop::sample::Index),
    /// Bytes inserted.
    Insert(prop::sample::Index, String),
    /// Bytes removed.
    Delete(prop::sample::Index, usize),
    /// A line deleted whole.
    DeleteLine(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        Just("#".to_string()),
        Just("}".to_string()),
        Just("{".to_string()),
        Just(";".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("\n".to_string()),
        Just(" down".to_string()),
        Just("\n    server x:1;".to_string()),
        Just("\n#server y:2;".to_string()),
        Just("if ($a) {\n".to_string()),
        Just("\n}\n".to_string()),
        Just(" ".to_string()),
        "[a-z;{}#\"' \n]{1,6}",
    ];
    prop_oneof![
        3 => any::<prop::sample::Index>().prop_map(Mutation::CommentLine),
        3 => any::<prop::sample::Index>().prop_map(Mutation::UncommentLine),
        3 => (any::<prop::sample::Index>(), snippet).prop_map(|(i, s)| Mutation::Insert(i, s)),
        1 => (any::<prop::sample::Index>(), 1usize..6).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::DeleteLine),
    ]
}

/// Line starts of `text` (0 for an empty one).
fn line_starts(text: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            text.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1)
                .filter(|&i| i < text.len()),
        )
        .collect()
}

fn line_end(text: &[u8], start: usize) -> usize {
    text[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |n| start + n)
}

fn mutate(text: &mut Vec<u8>, m: &Mutation) {
    let lines = line_starts(text);
    match m {
        Mutation::CommentLine(i) => {
            let start = lines[i.index(lines.len())];
            let indent = text[start..]
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
            text.insert(start + indent, b'#');
        }
        Mutation::UncommentLine(i) => {
            let start = lines[i.index(lines.len())];
            let end = line_end(text, start);
            if let Some(k) = text[start..end].iter().position(|&b| b == b'#') {
                text.remove(start + k);
            }
        }
        Mutation::Insert(i, s) => {
            let at = i.index(text.len() + 1);
            text.splice(at..at, s.bytes());
        }
        Mutation::Delete(i, n) => {
            if !text.is_empty() {
                let at = i.index(text.len());
                let end = (at + n).min(text.len());
                text.drain(at..end);
            }
        }
        Mutation::DeleteLine(i) => {
            let start = lines[i.index(lines.len())];
            let end = (line_end(text, start) + 1).min(text.len());
            text.drain(start..end);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn reparse_equals_a_whole_parse(
        (text, _) in config(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let old = Document::parse(text.as_bytes()).unwrap();
        let mut new = text.into_bytes();
        for m in &mutations {
            mutate(&mut new, m);
        }
        same_as_whole(&old, &new).map_err(TestCaseError::fail)?;
    }

    /// A chain of edits, each reparsed from the last document that parsed (as NginxLb and
    /// the fake nginx keep theirs): every step says what a whole parse says.
    #[test]
    fn reparse_after_reparse_equals_a_whole_parse(
        (text, _) in config(),
        steps in prop::collection::vec(prop::collection::vec(mutation(), 1..3), 1..4),
    ) {
        let mut doc = Document::parse(text.as_bytes()).unwrap();
        let mut new = text.into_bytes();
        for step in &steps {
            for m in step {
                mutate(&mut new, m);
            }
            same_as_whole(&doc, &new).map_err(TestCaseError::fail)?;
            if let Ok(next) = doc.reparse(new.clone()) {
                doc = next;
            }
        }
    }
}

/// Every line of every real-world file that parses, commented out and (when commented)
/// uncommented, one at a time.
#[test]
fn every_corpus_line_toggled_reparses_as_whole() {
    let Some(dir) = corpus::dir() else {
        eprintln!("SKIPPED: ../shared/nginx-corpus is not present");
        return;
    };
    let files = corpus::files(&dir);
    let mut tried = 0;
    for path in &files {
        let text = std::fs::read(path).unwrap();
        let Ok(doc) = Document::parse(text.clone()) else {
            continue;
        };
        for start in line_starts(&text) {
            let mut new = text.clone();
            let indent = new[start..]
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
            if new.get(start + indent) == Some(&b'#') {
                new.remove(start + indent);
            } else {
                new.insert(start + indent, b'#');
            }
            if let Err(e) = same_as_whole(&doc, &new) {
                panic!("{}: line at byte {start}:\n{e}", path.display());
            }
            tried += 1;
        }
    }
    assert!(
        tried > 1000,
        "only {tried} lines tried: is the corpus there?"
    );
}
