//! Random nginx configurations for property tests: directives with quoted and escaped
//! arguments, comments, nested blocks, and upstreams with servers in and out of rotation.

use proptest::prelude::*;

pub fn newline() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just("\n"), 1 => Just("\r\n")]
}

pub fn blank() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("  ".to_string()),
        Just(" \t ".to_string())
    ]
}

pub fn bare_word() -> impl Strategy<Value = String> {
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

pub fn quoted() -> impl Strategy<Value = String> {
    prop_oneof![
        "\"[a-z {};#'$]{0,10}\"",
        "\"[a-z]{0,4}\\\\\"[a-z]{0,4}\"",
        "'[a-z {};#\"$]{0,10}'",
        "\"[a-z]{0,5}\n[a-z]{0,5}\"",
    ]
}

pub fn arg() -> impl Strategy<Value = String> {
    prop_oneof![3 => bare_word(), 1 => quoted()]
}

pub fn comment() -> impl Strategy<Value = String> {
    prop_oneof![
        "#[a-z {};\"'$#]{0,20}",
        "# ?server [a-z0-9.]{1,8}:[0-9]{2,5};",
        "#[a-z_]{2,8} [a-z]{1,5};"
    ]
}

/// Trivia between tokens: blanks, sometimes a newline, sometimes a comment then newline.
pub fn sep() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => blank(),
        1 => (blank(), newline(), blank()).prop_map(|(a, n, b)| format!("{a}{n}{b}")),
        1 => (blank(), comment(), newline(), blank()).prop_map(|(a, c, n, b)| format!("{a}{c}{n}{b}")),
    ]
}

pub fn simple_directive() -> impl Strategy<Value = String> {
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

pub fn statement(depth: u32) -> BoxedStrategy<String> {
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

pub fn body(depth: u32) -> BoxedStrategy<String> {
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
pub fn upstream() -> impl Strategy<Value = (String, Vec<(String, bool)>)> {
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
pub type UpstreamList = Vec<(String, Vec<(String, bool)>)>;

pub fn config() -> impl Strategy<Value = (String, UpstreamList)> {
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
