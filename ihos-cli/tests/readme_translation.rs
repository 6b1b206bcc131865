//! README.md and README.zh-CN.md kept in step: the same sections, in the same order and at
//! the same levels (headings outside code blocks), each linking to the other, and the
//! same code blocks' commands (a command documented in one is documented in the other).

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Each line with whether it is inside a fenced code block (fence lines left out).
fn lines(text: &str) -> Vec<(bool, &str)> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        out.push((in_code, line));
    }
    assert!(!in_code, "an unclosed code block");
    out
}

/// The heading levels outside fenced code blocks, with their text.
fn headings(text: &str) -> Vec<(usize, String)> {
    lines(text)
        .into_iter()
        .filter(|(in_code, _)| !in_code)
        .filter_map(|(_, line)| {
            let level = line.bytes().take_while(|b| *b == b'#').count();
            (level > 0 && line[level..].starts_with(' '))
                .then(|| (level, line[level + 1..].trim().to_string()))
        })
        .collect()
}

/// The lines of code blocks that run `ihos` (comments left out: those are translated).
fn ihos_commands(text: &str) -> Vec<String> {
    lines(text)
        .into_iter()
        .filter(|(in_code, _)| *in_code)
        .map(|(_, line)| line.split(" #").next().unwrap_or_default().trim_end())
        .filter(|command| command.trim_start().starts_with("ihos "))
        .map(str::to_string)
        .collect()
}

#[test]
fn both_readmes_have_the_same_sections_in_the_same_order() {
    let (en, zh) = (read("README.md"), read("README.zh-CN.md"));
    let (he, hz) = (headings(&en), headings(&zh));
    let levels = |h: &[(usize, String)]| h.iter().map(|(l, _)| *l).collect::<Vec<_>>();
    assert_eq!(
        levels(&he),
        levels(&hz),
        "sections differ:\nEN {:#?}\nZH {:#?}",
        he,
        hz
    );
    assert!(he.len() >= 10, "{he:?}");
    // The translated headings are translated (not left in English), code names aside.
    let untranslated: Vec<_> = he
        .iter()
        .zip(&hz)
        .filter(|((_, e), (_, z))| {
            e == z && e.chars().any(|c| c.is_ascii_lowercase()) && e.contains(' ')
        })
        .collect();
    assert!(untranslated.is_empty(), "{untranslated:?}");
    assert!(
        he.iter().any(|(_, t)| t == "From the runbook to ihos"),
        "{he:?}"
    );
    assert!(
        hz.iter().any(|(_, t)| t == "从手工运维手册到 ihos"),
        "{hz:?}"
    );
}

#[test]
fn each_links_to_the_other_and_documents_the_same_commands() {
    let (en, zh) = (read("README.md"), read("README.zh-CN.md"));
    assert!(en.contains("[简体中文](README.zh-CN.md)"));
    assert!(zh.contains("[English](README.md)"));
    assert_eq!(ihos_commands(&en), ihos_commands(&zh));
    assert!(ihos_commands(&en).len() > 10);
}
