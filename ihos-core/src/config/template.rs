//! Placeholders in an instance's settings, so that `[defaults]` can say once what differs
//! between instances only by their name or port: `{name}` (the instance's name), `{app}`
//! (its `app`, by default its name), `{host}` (the name of its host in `[hosts]`) and
//! `{port}` (the port of its `backend`). `{{` and `}}` stand for a literal brace; any other
//! brace is an error, so that a typo never reaches a path on a server.

/// The placeholders a template may use, in the order they are documented.
pub(crate) const PLACEHOLDERS: [&str; 4] = ["name", "app", "host", "port"];

/// What the placeholders of one instance stand for.
pub(crate) struct Vars<'a> {
    pub(crate) name: &'a str,
    pub(crate) app: &'a str,
    pub(crate) host: &'a str,
    /// `None` when the backend has no port (the backend's own check says why).
    pub(crate) port: Option<&'a str>,
}

/// One piece of a template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Brace(char),
    Var(&'static str),
}

/// Reads a template into pieces; the error says what is wrong, for a message naming the key.
fn pieces(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        if at > 0 {
            out.push(Piece::Text(&rest[..at]));
        }
        let brace = rest.as_bytes()[at];
        // 1-based, in characters, as a person counts along the value.
        let place = template[..template.len() - rest.len() + at].chars().count() + 1;
        let after = &rest[at + 1..];
        if after.as_bytes().first() == Some(&brace) {
            out.push(Piece::Brace(brace as char));
            rest = &after[1..];
            continue;
        }
        if brace == b'}' {
            return Err(format!(
                "a lone '}}' at character {place} (write '}}}}' for a literal one)"
            ));
        }
        let Some(close) = after.find('}') else {
            return Err(format!(
                "'{{' at character {place} is never closed (write '{{{{' for a literal one)"
            ));
        };
        let word = &after[..close];
        let Some(known) = PLACEHOLDERS.iter().find(|p| **p == word) else {
            return Err(format!(
                "unknown placeholder {{{}}} (known: {}; '{{{{' and '}}}}' for literal braces)",
                word.escape_debug(),
                known_list()
            ));
        };
        out.push(Piece::Var(known));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// `{name}, {app}, {host}, {port}`.
pub(crate) fn known_list() -> String {
    PLACEHOLDERS
        .iter()
        .map(|p| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that `template` is well formed.
pub(crate) fn check(template: &str) -> Result<(), String> {
    pieces(template).map(drop)
}

/// Whether `template` uses a placeholder or an escaped brace (its value then differs from
/// its text).
pub(crate) fn is_template(template: &str) -> bool {
    template.contains(['{', '}'])
}

/// The template with its placeholders replaced.
pub(crate) fn expand(template: &str, vars: &Vars<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Brace(c) => out.push(c),
            Piece::Var("name") => out.push_str(vars.name),
            Piece::Var("app") => out.push_str(vars.app),
            Piece::Var("host") => out.push_str(vars.host),
            Piece::Var(_) => match vars.port {
                Some(p) => out.push_str(p),
                None => return Err("uses {port}, but the backend has no port".into()),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars<'static> {
        Vars {
            name: "101-pep1",
            app: "pep1",
            host: "h101",
            port: Some("39091"),
        }
    }

    #[test]
    fn placeholders_and_escaped_braces_expand() {
        let v = vars();
        assert_eq!(
            expand("/opt/{app}/{name}@{host}:{port}", &v).unwrap(),
            "/opt/pep1/101-pep1@h101:39091"
        );
        assert_eq!(expand("{{app}} }}{{", &v).unwrap(), "{app} }{");
        assert_eq!(expand("plain", &v).unwrap(), "plain");
        assert_eq!(expand("", &v).unwrap(), "");
        assert_eq!(expand("{port}{port}", &v).unwrap(), "3909139091");
        assert_eq!(expand("é{app}ü", &v).unwrap(), "épep1ü");
    }

    #[test]
    fn every_malformed_brace_is_refused_with_its_place() {
        for (t, says) in [
            ("/opt/{nmae}/x", "unknown placeholder {nmae}"),
            ("/opt/{}/x", "unknown placeholder {}"),
            ("/opt/{ name }/x", "unknown placeholder { name }"),
            ("/opt/{NAME}", "unknown placeholder {NAME}"),
            ("/opt/{name", "'{' at character 6 is never closed"),
            ("/opt/name}", "a lone '}' at character 10"),
            ("{{x}}é}", "a lone '}' at character 7"),
            ("{", "never closed"),
            ("}", "a lone '}'"),
            ("{{{", "never closed"),
            ("{\u{1b}[31m}", "unknown placeholder {\\u{1b}[31m}"),
        ] {
            let e = check(t).unwrap_err();
            assert!(e.contains(says), "{t:?}: {e}");
            assert_eq!(expand(t, &vars()).unwrap_err(), e);
        }
    }

    #[test]
    fn a_port_that_is_not_there_is_an_error_only_when_used() {
        let v = Vars {
            port: None,
            ..vars()
        };
        assert_eq!(expand("/opt/{app}", &v).unwrap(), "/opt/pep1");
        assert!(expand(":{port}", &v).unwrap_err().contains("no port"));
    }
}
