//! Differential test against the real nginx tokenizer.
//!
//! Statements are generated inside `types { ... }`, whose handler accepts any words, so
//! nginx's verdict there depends on tokenizing alone: it and ihos-nginx must agree on
//! accept/reject and on the line of the error.

mod common;

use ihos_nginx::Document;
use proptest::prelude::*;

const HEAD: &str = "events {}\nhttp {\n    types {\n";
const TAIL: &str = "\n    }\n}\n";

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9/._=-]{1,8}",
        1 => "[a-z]{1,3}[}#\"'()][a-z]{0,3}",
        1 => "[#\"'()][a-z]{0,3}",
        1 => "\\$\\{[a-z]{1,5}\\}?[a-z]{0,3}",
        1 => "[a-z]{1,3}\\\\[ ;{}\"'a-z]",
        2 => "\"[a-z ;{}#'\\\\]{0,8}\"[ ;)\n\ta-z\"]",
        1 => "'[a-z ;{}#\"]{0,8}'[ ;)\na-z]",
        1 => "#[a-z ;{}\"']{0,10}\n",
        1 => Just("\r\n".to_string()),
        1 => (4080usize..4110).prop_map(|n| format!("x{}", "a".repeat(n))),
        1 => (4080usize..4110).prop_map(|n| format!("\"{}\" ", "b".repeat(n))),
        1 => (4080usize..4110).prop_map(|n| format!("#{}\n", "c".repeat(n))),
    ]
}

fn sep() -> impl Strategy<Value = &'static str> {
    prop_oneof![6 => Just(" "), 1 => Just("\t"), 2 => Just("\n"), 1 => Just(";"), 1 => Just(" ;\n")]
}

fn body() -> impl Strategy<Value = String> {
    prop::collection::vec((piece(), sep()), 0..12).prop_map(|v| {
        let mut s = String::from("text/plain");
        for (p, sep) in v {
            s.push(' ');
            s.push_str(&p);
            s.push_str(sep);
        }
        s.push(';');
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn tokenizer_agrees_with_nginx(body in body()) {
        let Some(nginx) = common::nginx() else { return Ok(()) };
        // Words that change the handler's behaviour are not tokenizer questions.
        prop_assume!(!body.contains("include"));
        let conf = format!("{HEAD}{body}{TAIL}");
        let ours = Document::parse(conf.as_bytes());
        let theirs = common::nginx_t(&nginx, &[("nginx.conf", conf.as_bytes())]);
        // A `}` at a token start closes `types` early and nginx then judges directives, not
        // tokens; such cases say nothing about the tokenizer.
        prop_assume!(theirs.ok || theirs.lexical_error());
        match &ours {
            Ok(_) => prop_assert!(theirs.ok, "we accept, nginx rejects:\n{}\n---\n{conf}", theirs.output),
            Err(e) => {
                prop_assert!(!theirs.ok, "we reject ({e}), nginx accepts:\n{conf}");
                // A `{` that the tokenizer accepts but `types` refuses is not ours to judge;
                // otherwise the lines must match.
                if !theirs.output.contains("unexpected \"{\"") {
                    prop_assert_eq!(Some(e.position.line), theirs.emerg_line(), "ours: {}\nnginx: {}\n---\n{}", e, theirs.output, conf);
                }
            }
        }
    }
}
