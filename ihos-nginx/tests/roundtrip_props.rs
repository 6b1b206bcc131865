//! Property tests: random configurations and random bytes round-trip byte for byte; random
//! server toggles restore the original bytes exactly.

use ihos_nginx::{DisableStyle, Document, ServerState};
use proptest::prelude::*;

fn newline() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just("\n"), 1 => Just("\r\n")]
}

fn blank() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("  ".to_string()),
        Just(" \t ".to_string())
    ]
}

fn bare_word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_./:=-]{0,12}",
        "\\$[a-z_]{1,8}",
        "\\$\\{[a-z_]{1,8}\\}[a-z/]{0,4}",
        "[a-z]{1,4}\\\\;[a-z]{0,3}",
        "[a-z]{1,3}[}#\"'][a-z]{0,3}",
        "\\^/[a-z]{1,5}\\(\\.\\*\\)\\$",
        "[\\u{4e00}-\\u{4e10}]{1,4}",
    ]
}

fn quoted() -> impl Strategy<Value = String> {
    prop_oneof![
        "\"[a-z {};#'$]{0,10}\"",
        "\"[a-z]{0,4}\\\\\"[a-z]{0,4}\"",
        "'[a-z {};#\"$]{0,10}'",
        "\"[a-z]{0,5}\n[a-z]{0,5}\"",
    ]
}

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![3 => bare_word(), 1 => quoted()]
}

fn comment() -> impl Strategy<Value = String> {
    prop_oneof![
        "#[a-z {};\"'$#]{0,20}",
        "# ?server [a-z0-9.]{1,8}:[0-9]{2,5};",
        "#[a-z_]{2,8} [a-z]{1,5};"
    ]
}

/// Trivia between tokens: blanks, sometimes a newline, sometimes a comment then newline.
fn sep() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => blank(),
        1 => (blank(), newline(), blank()).prop_map(|(a, n, b)| format!("{a}{n}{b}")),
        1 => (blank(), comment(), newline(), blank()).prop_map(|(a, c, n, b)| format!("{a}{c}{n}{b}")),
    ]
}

fn simple_directive() -> impl Strategy<Value = String> {
    (
        "[a-z_]{1,10}",
        prop::collection::vec((sep(), arg()), 0..4),
        prop_oneof![Just(""), Just(" ")],
    )
        .prop_map(|(name, args, before)| {
            let mut s = name;
            for (sep, a) in args {
                s.push_str(&sep);
                s.push_str(&a);
            }
            s.push_str(before);
            s.push(';');
            s
        })
}

fn statement(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![4 => simple_directive(), 1 => comment()].boxed();
    if depth == 0 {
        return leaf;
    }
    prop_oneof![
        3 => leaf,
        1 => ("[a-z_]{1,8}", prop::collection::vec(arg(), 0..3), body(depth - 1)).prop_map(|(name, args, body)| {
            let mut s = name;
            for a in args {
                s.push(' ');
                s.push_str(&a);
            }
            s.push_str(" {");
            s.push_str(&body);
            s.push('}');
            s
        }),
    ]
    .boxed()
}

fn body(depth: u32) -> BoxedStrategy<String> {
    prop::collection::vec((newline(), blank(), statement(depth)), 0..5)
        .prop_map(|items| {
            let mut s = String::new();
            for (nl, indent, st) in items {
                s.push_str(nl);
                s.push_str(&indent);
                s.push_str(&st);
            }
            s.push('\n');
            s
        })
        .boxed()
}

/// An upstream block with servers on their own lines, some with parameters, some commented.
fn upstream() -> impl Strategy<Value = (String, Vec<(String, bool)>)> {
    (
        "[a-z]{1,6}(_[a-z]{1,4})?",
        prop::collection::vec(
            (
                "[a-z0-9.]{1,10}",
                1u16..65535,
                "( max_fails=[0-9]| weight=[0-9]| backup)?",
                any::<bool>(),
                blank(),
            ),
            1..6,
        ),
        newline(),
    )
        .prop_map(|(name, servers, nl)| {
            let mut s = format!("upstream {name} {{{nl}");
            let mut seen = std::collections::HashSet::new();
            let mut list = Vec::new();
            for (host, port, params, commented, indent) in servers {
                let addr = format!("{host}:{port}");
                if !seen.insert(addr.clone()) {
                    continue;
                }
                let hash = if commented { "#" } else { "" };
                s.push_str(&format!("{indent}{hash}server {addr}{params};{nl}"));
                list.push((addr, !commented));
            }
            s.push_str(&format!("}}{nl}"));
            (s, list)
        })
}

/// Upstream name → its servers (address, enabled).
type UpstreamList = Vec<(String, Vec<(String, bool)>)>;

fn config() -> impl Strategy<Value = (String, UpstreamList)> {
    (body(3), prop::collection::vec(upstream(), 1..4), body(2)).prop_map(|(before, ups, after)| {
        let mut s = before;
        let mut list = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (text, servers) in ups {
            let name = text
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            if !names.insert(name.clone()) {
                continue;
            }
            s.push_str(&text);
            list.push((name, servers));
        }
        s.push_str(&after);
        (s, list)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_configs_round_trip((text, _) in config()) {
        let doc = Document::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(doc.render(), text.as_bytes());
    }

    #[test]
    fn toggling_a_server_restores_the_bytes(
        (text, ups) in config(),
        pick in any::<prop::sample::Index>(),
        down in any::<bool>(),
    ) {
        let doc = Document::parse(text.as_bytes()).unwrap();
        let (name, servers) = &ups[pick.index(ups.len())];
        let (addr, enabled) = &servers[pick.index(servers.len())];
        let style = if down { DisableStyle::Down } else { DisableStyle::Comment };
        let before = doc.upstream(name).unwrap();
        if *enabled {
            let off = doc.disable_server(name, addr, style, true).unwrap();
            prop_assert!(off.is_changed());
            let after = off.document().upstream(name).unwrap();
            for (b, a) in before.servers.iter().zip(&after.servers) {
                if &b.address == addr {
                    prop_assert_ne!(a.state, ServerState::Enabled);
                } else {
                    prop_assert_eq!(a.state, b.state, "other servers keep their state");
                }
            }
            let on = off.document().enable_server(name, addr).unwrap();
            prop_assert_eq!(on.text(), text.as_bytes());
        } else {
            let on = doc.enable_server(name, addr).unwrap();
            prop_assert!(on.document().upstream(name).unwrap().servers_at(addr).any(|s| s.state.is_enabled()));
            let off = on.document().disable_server(name, addr, DisableStyle::Comment, true).unwrap();
            prop_assert_eq!(off.text(), text.as_bytes());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(doc) = Document::parse(bytes.clone()) {
            prop_assert_eq!(doc.render(), bytes);
        }
    }

    #[test]
    fn nginx_alphabet_soup_never_panics_and_round_trips(
        bytes in prop::collection::vec(prop::sample::select(b"{};#\"'\\$() \t\r\nab=".to_vec()), 0..400)
    ) {
        match Document::parse(bytes.clone()) {
            Ok(doc) => {
                prop_assert_eq!(doc.render(), bytes);
                for u in doc.upstreams() {
                    for s in &u.servers {
                        let _ = doc.disable_server(&u.name, &s.address, DisableStyle::Comment, true);
                        let _ = doc.enable_server(&u.name, &s.address);
                    }
                }
            }
            Err(e) => {
                prop_assert!(e.position.line >= 1 && e.position.column >= 1);
            }
        }
    }
}
