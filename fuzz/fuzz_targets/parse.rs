//! For any bytes: `Document::parse` does not panic; what it accepts renders back to the
//! same bytes; and the edits (server disable/enable in both styles, `if` block
//! disable/enable) on the first few upstreams, servers and `if` blocks return `Ok` or `Err`
//! without panicking, an `Ok` edit's text parsing again to the same bytes.

#![no_main]

use ihos_nginx::{BlockSelector, DisableStyle, Document, Edit, EditError};
use libfuzzer_sys::fuzz_target;

/// How many upstreams, servers per upstream and `if` blocks are edited per input.
const EDITS: usize = 3;

fn check_edit(result: Result<Edit, EditError>) {
    let Ok(edit) = result else { return };
    let text = edit.text();
    let doc = Document::parse(text).expect("an edit's text parses again");
    assert_eq!(doc.render(), text, "an edit's text renders back");
    assert_eq!(edit.document().render(), text);
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = Document::parse(data) else {
        return;
    };
    assert_eq!(doc.render(), data, "render is not lossless");

    for upstream in doc.upstreams().iter().take(EDITS) {
        for server in upstream.servers.iter().take(EDITS) {
            for force in [false, true] {
                for style in [DisableStyle::Comment, DisableStyle::Down] {
                    let disabled =
                        doc.disable_server(&upstream.name, &server.address, style, force);
                    if let Ok(edit) = &disabled {
                        // and back again
                        check_edit(
                            edit.document()
                                .enable_server(&upstream.name, &server.address),
                        );
                    }
                    check_edit(disabled);
                }
            }
            check_edit(doc.enable_server(&upstream.name, &server.address));
        }
    }

    for block in doc.if_blocks().iter().take(EDITS) {
        for selector in [
            BlockSelector::Line(block.line),
            BlockSelector::ConditionContains(block.condition.clone()),
        ] {
            let disabled = doc.disable_block(&selector);
            if let Ok(edit) = &disabled {
                check_edit(
                    edit.document()
                        .enable_block(&BlockSelector::Line(block.line)),
                );
            }
            check_edit(disabled);
            check_edit(doc.enable_block(&selector));
        }
    }
});
