//! Errors that point into a file (a configuration nginx would refuse, a topology that is not
//! valid TOML) shown as rustc shows them, under their first line: that stays
//! `FILE:LINE:COL: message`, where editors jump from; then the line itself with a caret
//! under the column, the place the error refers back to (the block left open, the string
//! never closed), and a hint. Drawn by annotate-snippets; coloured only on a terminal and
//! without `NO_COLOR`.

use std::path::Path;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use ihos_core::ConfigError;
use ihos_nginx::{ParseError, ParseErrorKind, Position};

use crate::exit::CliError;

/// A place in the file: 1-based line and column (in characters), and what to say there
/// (nothing: the first line says it already).
struct Mark {
    line: usize,
    column: usize,
    label: Option<String>,
}

impl Mark {
    fn at(p: Position, label: impl Into<String>) -> Self {
        Mark {
            line: p.line as usize,
            column: p.column as usize,
            label: Some(label.into()),
        }
    }
}

/// What to draw for an error: where it is, where it refers back to, and a hint.
struct Diagnostic {
    file: String,
    primary: Mark,
    context: Option<Mark>,
    hint: Option<String>,
    /// A topology: values of keys that may hold a secret are masked in what is shown.
    masked: bool,
}

/// The lines to print under `error`'s first line, when it points into a file that can
/// still be read; `colour`: with ANSI colours.
pub fn render(error: &CliError, colour: bool) -> Option<String> {
    let d = diagnostic(error)?;
    let bytes = std::fs::read(&d.file).ok()?;
    // A control character in the file (an escape sequence) could rewrite what the operator
    // sees: each is shown as one replacement character, so columns still count.
    let source: String = String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\r' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect();
    let source = if d.masked {
        source
            .lines()
            .map(mask_secrets)
            .collect::<Vec<_>>()
            .join("\n")
            + if source.ends_with('\n') { "\n" } else { "" }
    } else {
        source
    };
    // An error at the end of the file (after its last newline) is shown on a line of its
    // own, where the first line says it is.
    let marks = std::iter::once(&d.primary).chain(d.context.as_ref());
    let source = if marks
        .map(|m| offset(&source, m))
        .any(|at| at == source.len())
    {
        source + " "
    } else {
        source
    };
    let mark = |kind: AnnotationKind, m: &'_ Mark| {
        let at = offset(&source, m);
        let a = kind.span(at..end_of_char(&source, at));
        match &m.label {
            Some(label) => a.label(label.clone()),
            None => a,
        }
    };
    let mut snippet = Snippet::source(source.as_str())
        .path(d.file.as_str())
        .fold(true)
        .annotation(mark(AnnotationKind::Primary, &d.primary));
    if let Some(c) = &d.context {
        snippet = snippet.annotation(mark(AnnotationKind::Context, c));
    }
    let mut group = Group::with_level(Level::ERROR).element(snippet);
    if let Some(hint) = &d.hint {
        group = group.element(Level::HELP.message(hint.as_str()));
    }
    let renderer = if colour {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    Some(renderer.render(&[group]))
}

/// Whether stderr shows colours: a terminal, and `NO_COLOR` unset.
pub fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn diagnostic(error: &CliError) -> Option<Diagnostic> {
    match error {
        CliError::Parse { file, error } => Some(nginx(file, error)),
        CliError::Config(ConfigError::Syntax {
            file, line, column, ..
        }) => Some(Diagnostic {
            file: file.clone(),
            primary: Mark {
                line: *line,
                column: *column,
                label: None,
            },
            context: None,
            hint: None,
            masked: true,
        }),
        _ => None,
    }
}

/// An nginx syntax error: the caret where nginx stops reading, what it refers back to.
fn nginx(file: &Path, error: &ParseError) -> Diagnostic {
    let here = |label: &str| Mark::at(error.position, label);
    let (primary, context, hint) = match &error.kind {
        ParseErrorKind::EofInBlock { name, opened } => (
            here("the file ends here"),
            Some(Mark::at(*opened, format!("block \"{name}\" opened here"))),
            Some("close the block with \"}\"".to_string()),
        ),
        ParseErrorKind::EofInLuaBlock { name, opened } => (
            here("the file ends here"),
            Some(Mark::at(
                *opened,
                format!("Lua block \"{name}\" opened here"),
            )),
            Some("close the Lua block with \"}\"".to_string()),
        ),
        ParseErrorKind::EofInDirective { name, started } => (
            here("the file ends here"),
            Some(Mark::at(
                *started,
                format!("directive \"{name}\" starts here"),
            )),
            Some("end the directive with \";\"".to_string()),
        ),
        ParseErrorKind::CloseInDirective { name } => (
            here(&format!("\"{name}\" is not ended before this \"}}\"")),
            None,
            Some(format!("end \"{name}\" with \";\" after its last argument")),
        ),
        ParseErrorKind::UnbalancedClose => (
            here("no block is open here"),
            None,
            Some("remove this \"}\", or look above for a \"{\" that is missing".to_string()),
        ),
        ParseErrorKind::MissingName(_) => (here("expected a directive name"), None, None),
        ParseErrorKind::AfterQuote(_) => (
            here("expected whitespace, \";\", \"{\" or \")\" after the closing quote"),
            None,
            Some("put a space after the closing quote".to_string()),
        ),
        ParseErrorKind::TooLong { started } => (
            here("nginx reads at most 4096 bytes of one token"),
            Some(Mark::at(*started, "the token starts here")),
            None,
        ),
        ParseErrorKind::TooLongQuoted { quote, started } => (
            here("nginx reads at most 4096 bytes of one token"),
            Some(Mark::at(*started, "this string is never closed")),
            Some(format!("close the string with {}", *quote as char)),
        ),
        _ => (here("here"), None, None),
    };
    Diagnostic {
        file: file.display().to_string(),
        primary,
        context,
        hint,
        masked: false,
    }
}

/// Words in a TOML key whose value is masked: a password written into the topology by
/// mistake must not reach a terminal or a CI log through an error message.
const SECRET_WORDS: [&str; 5] = ["password", "passwd", "secret", "token", "passphrase"];

/// `line` with the value of every `KEY = VALUE` whose key names a secret replaced by `*`,
/// one for one (columns stay where they were).
fn mask_secrets(line: &str) -> String {
    let mut out: Vec<char> = line.chars().collect();
    let mut i = 0;
    while let Some(eq) = out[i..].iter().position(|&c| c == '=').map(|p| p + i) {
        // The key: the word before `=` (bare or quoted).
        let key_end = out[..eq]
            .iter()
            .rposition(|c| !c.is_whitespace())
            .map_or(0, |p| p + 1);
        let key_start = out[..key_end]
            .iter()
            .rposition(|&c| c.is_whitespace() || c == '{' || c == ',' || c == '.')
            .map_or(0, |p| p + 1);
        let key: String = out[key_start..key_end]
            .iter()
            .collect::<String>()
            .to_lowercase();
        let mut j = eq + 1;
        while j < out.len() && out[j].is_whitespace() {
            j += 1;
        }
        let value_start = j;
        let end = match out.get(j) {
            Some(&q) if q == '"' || q == '\'' => {
                let close = out[j + 1..].iter().position(|&c| c == q).map(|p| p + j + 1);
                close.unwrap_or(out.len())
            }
            _ => out[j..]
                .iter()
                .position(|&c| c.is_whitespace() || c == ',' || c == '}')
                .map_or(out.len(), |p| p + j),
        };
        if SECRET_WORDS.iter().any(|w| key.contains(w)) {
            let from = if matches!(out.get(value_start), Some('"' | '\'')) {
                value_start + 1
            } else {
                value_start
            };
            let to = end.min(out.len());
            for c in &mut out[from..to] {
                *c = '*';
            }
        }
        i = end.max(eq + 1).min(out.len());
    }
    out.into_iter().collect()
}

/// The byte offset of a mark's line and column in `source` (clamped to its end).
fn offset(source: &str, mark: &Mark) -> usize {
    let mut start = 0;
    for _ in 1..mark.line.max(1) {
        match source[start..].find('\n') {
            Some(n) => start += n + 1,
            None => return source.len(),
        }
    }
    let line = &source[start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    start
        + line
            .char_indices()
            .nth(mark.column.saturating_sub(1))
            .map_or(line.len(), |(i, _)| i)
}

/// The end of the character at `at` (`at` itself at the end of the text).
fn end_of_char(source: &str, at: usize) -> usize {
    source[at..]
        .chars()
        .next()
        .map_or(at, |c| at + c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_secret_keys_are_masked_one_for_one() {
        for (line, masked) in [
            (
                "auth = { password = \"hunter2\", token='abc' }",
                "auth = { password = \"*******\", token='***' }",
            ),
            ("api_token = s3cr3t", "api_token = ******"),
            ("\"Secret\" = \"x y\" # note", "\"Secret\" = \"***\" # note"),
            ("user = \"deploy\"", "user = \"deploy\""),
            ("address = \"a=b\"", "address = \"a=b\""),
            ("password = \"never closed", "password = \"************"),
            ("password =", "password ="),
        ] {
            let got = mask_secrets(line);
            assert_eq!(got, masked, "{line}");
            assert_eq!(got.chars().count(), line.chars().count());
        }
    }

    #[test]
    fn offsets_count_characters_and_stop_at_the_end() {
        let src = "ab\né x\n";
        let at = |line, column| {
            offset(
                src,
                &Mark {
                    line,
                    column,
                    label: None,
                },
            )
        };
        assert_eq!(at(1, 1), 0);
        assert_eq!(at(2, 2), 5); // after the 2-byte é
        assert_eq!(at(2, 9), 7); // past the line: its end
        assert_eq!(at(3, 1), src.len());
        assert_eq!(at(9, 1), src.len());
    }
}
