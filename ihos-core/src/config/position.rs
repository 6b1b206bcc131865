//! Where a key of the topology is written, so that an error on a value that parses but
//! cannot be right (`instances[2].backend`) points at its line and column as a syntax
//! error does: the key's own place, else (a key that is missing) the table it belongs in.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The 1-based line and column of `key` (`hosts.h101.defaults.webapps`,
/// `instances[2].health.url`) in `text`, or of the nearest table that holds it.
pub(super) fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let root = DeTable::parse(text).ok()?;
    let parts = split(key);
    let mut at: Option<usize> = None;
    let mut table: &DeTable<'_> = root.get_ref();
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    let mut i = 0;
    while i < parts.len() {
        match (&parts[i], value.map(Spanned::get_ref)) {
            (Part::Index(n), Some(DeValue::Array(items))) => {
                let item = items.get(*n)?;
                at = Some(item.span().start);
                value = Some(item);
                if let DeValue::Table(t) = item.get_ref() {
                    table = t;
                }
                i += 1;
            }
            (Part::Name(_), _) => {
                // A name may itself hold dots (a host named `h1.example`): the longest
                // run of parts that is a key of this table.
                let found = (i + 1..=parts.len()).rev().find_map(|end| {
                    let name = names(&parts[i..end])?;
                    let (k, v) = table.get_key_value(name.as_str())?;
                    Some((end, k.span().start, v))
                });
                let Some((end, key_at, v)) = found else { break };
                at = Some(key_at);
                value = Some(v);
                if let DeValue::Table(t) = v.get_ref() {
                    table = t;
                }
                i = end;
            }
            _ => break,
        }
    }
    at.map(|offset| line_col(text, offset))
}

enum Part {
    Name(String),
    Index(usize),
}

/// `instances[2].health.url` -> instances, 2, health, url.
fn split(key: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    for segment in key.split('.') {
        let (name, mut rest) = segment
            .split_once('[')
            .map_or((segment, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            parts.push(Part::Name(name.to_string()));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(n) = index.parse() {
                parts.push(Part::Index(n));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    parts
}

/// The parts joined with dots, when they are all names.
fn names(parts: &[Part]) -> Option<String> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Part::Name(n) => out.push(n.as_str()),
            Part::Index(_) => return None,
        }
    }
    Some(out.join("."))
}

/// 1-based line and column of byte `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    // Back to a character boundary: a span inside a multi-byte character must not panic.
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = r#"[hosts.h101]
address = "a"

[hosts."h1.example"]
address = "b"

[hosts.h101.defaults]
webapps = "/x"

[[instances]]
name = "one"
health = { url = "u" }

[[instances]]
name = "two"
  backend = "b"
"#;

    #[test]
    fn keys_are_found_where_written_and_missing_ones_at_their_table() {
        assert_eq!(locate(TEXT, "hosts.h101.address"), Some((2, 1)));
        assert_eq!(locate(TEXT, "hosts.h1.example.address"), Some((5, 1)));
        assert_eq!(locate(TEXT, "hosts.h101.defaults.webapps"), Some((8, 1)));
        assert_eq!(locate(TEXT, "instances[0].health.url"), Some((12, 12)));
        assert_eq!(locate(TEXT, "instances[1].backend"), Some((16, 3)));
        // Missing: the nearest table that holds it.
        let (line, _) = locate(TEXT, "instances[1].webapps").unwrap();
        assert!((14..=15).contains(&line), "{line}");
        assert_eq!(locate(TEXT, "hosts.h101.port").map(|p| p.0), Some(1));
        // Nothing to point at.
        assert_eq!(locate(TEXT, "policy.max_unavailable"), None);
        assert_eq!(locate(TEXT, "instances[9].name").map(|p| p.0), None);
        assert_eq!(locate("not toml [", "a"), None);
        assert_eq!(locate(TEXT, ""), None);
        // A malformed key: as far as it names something.
        assert_eq!(locate(TEXT, "instances[x].]]["), Some((10, 3)));
    }
}
