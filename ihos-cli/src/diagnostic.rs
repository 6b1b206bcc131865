//! Errors that point into a file (a configuration nginx would refuse, a topology that is not
//! valid TOML or has a value that cannot be right) shown as rustc shows them, under their first line: that stays
//! `FILE:LINE:COL: message`, where editors jump from; then the line itself with a caret
//! under the column, the place the error refers back to (the block left open, the string
//! never closed), and a hint. Drawn by annotate-snippets; coloured only on a terminal and
//! without `NO_COLOR`.

use std::path::Path;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use ihos_core::ConfigError;
use ihos_nginx::{ParseError, ParseErrorKind, Position};

use crate::exit::CliError;
use crate::output;

/// Larger files are not drawn (their first line says where).
const MAX_SHOWN_FILE: u64 = 8 << 20;

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
    // Read again, as it is now: only a regular file of a sensible size (not a FIFO or a
    // device, which reading again would block on or find empty).
    std::fs::metadata(&d.file)
        .ok()
        .filter(|m| m.is_file() && m.len() <= MAX_SHOWN_FILE)?;
    let bytes = std::fs::read(&d.file).ok()?;
    // A control character in the file (an escape sequence) could rewrite what the operator
    // sees: each is shown as one replacement character, so columns still count.
    let source: String = String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\r' => ' ',
            c if output::unsafe_to_show(c) => '\u{fffd}',
            c => c,
        })
        .collect();
    let source = if d.masked {
        mask_secrets(&source)
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
        // Names in labels come from the file: made safe to show like every message.
        match &m.label {
            Some(label) => a.label(output::printable(label).into_owned()),
            None => a,
        }
    };
    let path = output::printable(&d.file).into_owned();
    let mut snippet = Snippet::source(source.as_str())
        .path(path.as_str())
        .fold(true)
        .annotation(mark(AnnotationKind::Primary, &d.primary));
    if let Some(c) = &d.context {
        snippet = snippet.annotation(mark(AnnotationKind::Context, c));
    }
    let mut group = Group::with_level(Level::ERROR).element(snippet);
    if let Some(hint) = &d.hint {
        group = group.element(Level::HELP.message(output::printable(hint).into_owned()));
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
        }) => Some(in_topology(file, *line, *column)),
        // A value that parses but cannot be right: the key, or the table it is missing from.
        CliError::Config(ConfigError::Invalid {
            file,
            position: Some((line, column)),
            ..
        }) => Some(in_topology(file, *line, *column)),
        _ => None,
    }
}

/// An error at a place in a topology: the caret there, secrets masked.
fn in_topology(file: &str, line: usize, column: usize) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        primary: Mark {
            line,
            column,
            label: None,
        },
        context: None,
        hint: None,
        masked: true,
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

/// Parts of a TOML key whose value is masked: a password written into the topology by
/// mistake (or under a misspelt key, the very case of an "unknown field" error) must not
/// reach a terminal or a CI log through an error message. `auth` tables are masked whole.
const SECRET_WORDS: [&str; 8] = [
    "pass", "pasw", "pwd", "secret", "token", "key", "auth", "cred",
];

/// `source` with everything after the `=` that follows a secret-naming key replaced by
/// `*` to the end of its line (and through the end of a multi-line string begun there),
/// one character for one so that columns stay.
fn mask_secrets(source: &str) -> String {
    let stars = |text: &str| -> String {
        text.chars()
            .map(|c| if c == ' ' || c == '\t' { c } else { '*' })
            .collect()
    };
    let mut out = String::with_capacity(source.len());
    // Inside a multi-line string begun on a masked line: its closing delimiter.
    let mut open: Option<&str> = None;
    for line in source.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let newline = &line[body.len()..];
        if let Some(delim) = open {
            out.push_str(&stars(body));
            out.push_str(newline);
            if body.contains(delim) {
                open = None;
            }
            continue;
        }
        // ASCII lowercase keeps every byte where it is.
        let lower = body.to_ascii_lowercase();
        let cut = SECRET_WORDS
            .iter()
            .filter_map(|w| lower.find(w))
            .min()
            .and_then(|at| body[at..].find('=').map(|eq| at + eq + 1));
        match cut {
            Some(cut) => {
                let (key, value) = body.split_at(cut);
                out.push_str(key);
                out.push_str(&stars(value));
                for delim in ["\"\"\"", "'''"] {
                    if value.matches(delim).count() % 2 == 1 {
                        open = Some(delim);
                    }
                }
            }
            None => out.push_str(body),
        }
        out.push_str(newline);
    }
    out
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
        for (text, masked) in [
            (
                "auth = { password = \"hunter2\" }\n",
                "auth = * ******** * ********* *\n",
            ),
            ("api_token = s3cr3t\n", "api_token = ******\n"),
            (
                "password = correct horse battery",
                "password = ******* ***** *******",
            ),
            ("pasword = \"typo\"\n", "pasword = ******\n"),
            (
                "user = \"deploy\"\naddress = \"keystone\"\n",
                "user = \"deploy\"\naddress = \"keystone\"\n",
            ),
            (
                "token = \"\"\"\nhunter2\n\"\"\"\nuser = \"d\"\n",
                "token = ***\n*******\n***\nuser = \"d\"\n",
            ),
            ("tokens = [\"a\", \"b\"]", "tokens = ***** ****"),
            ("password =", "password ="),
        ] {
            let got = mask_secrets(text);
            assert_eq!(got, masked, "{text}");
            assert_eq!(got.chars().count(), text.chars().count());
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
