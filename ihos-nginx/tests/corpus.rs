//! Every file of the shared real-world corpus either round-trips byte for byte or is
//! rejected with a position; the deliberately broken ones are rejected.

mod common;

use common::corpus;
use ihos_nginx::Document;

/// Files that nginx's tokenizer rejects (unbalanced braces, premature end, missing `;`).
const BROKEN: &[&str] = &[
    "braces/missing-brace.conf",
    "braces/extra-brace.conf",
    "premature-eof/nginx.conf",
    "missing-semicolon/broken-above.conf",
    "missing-semicolon/broken-below.conf",
    "missing-semicolon-above/nginx.conf",
    "missing-semicolon-below/nginx.conf",
    // text after a closing quote: nginx says `unexpected "-"`
    "quote-behavior/nginx.conf",
    // decoys that "should never be included": a lone word at end of file
    "includes-regular/conf.d/bar.conf",
    "includes-regular/conf.d/foo.conf",
    "includes-globbed/servers/locations/not-included.conf",
];

#[test]
fn corpus_round_trips_or_is_rejected_with_a_position() {
    let Some(dir) = corpus::dir() else {
        eprintln!("SKIPPED: ../shared/nginx-corpus is not present");
        return;
    };
    let all = corpus::files(&dir);
    assert!(
        all.len() > 300,
        "corpus looks incomplete: {} files",
        all.len()
    );
    let (mut ok, mut rejected) = (0, 0);
    let mut failures = Vec::new();
    for path in &all {
        let bytes = std::fs::read(path).unwrap();
        let rel = path
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let expect_broken = BROKEN.iter().any(|b| rel.ends_with(b));
        match Document::parse(bytes.clone()) {
            Ok(doc) => {
                if doc.render() != bytes {
                    failures.push(format!("{rel}: round trip differs"));
                }
                if expect_broken {
                    failures.push(format!("{rel}: deliberately broken but accepted"));
                }
                ok += 1;
            }
            Err(e) => {
                assert!(e.position.line >= 1 && e.position.column >= 1);
                eprintln!("rejected {rel}: {e}");
                if !expect_broken {
                    failures.push(format!("{rel}: rejected: {e}"));
                }
                rejected += 1;
            }
        }
    }
    eprintln!(
        "corpus: {} files, {ok} round-trip byte for byte, {rejected} rejected with a position",
        all.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
