//! Where text goes: machine output (JSON, diffs) to stdout, human messages to stderr.
//!
//! Neither function panics: a closed stdout (e.g. `| head`) is not an error for a listing,
//! and a message that cannot reach stderr has nowhere else to go.

use std::io::{self, Write};
use std::path::Path;

use crate::exit::CliError;

/// Writes machine output to stdout. A broken pipe is ignored (the reader left).
pub fn stdout(text: &str, file: &Path) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::io(file, "writing to stdout", e)),
    }
}

/// Writes one human message line to stderr (control characters shown escaped).
pub fn message(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{}", printable(line));
}

/// Writes a drawn diagnostic to stderr as drawn (its colours included): the file's text in
/// it was made safe to show before it was drawn ([`crate::diagnostic::render`]).
pub fn snippet(text: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{}", text.trim_end_matches('\n'));
}

/// A character that must not reach a terminal as it is: a control character (an escape
/// sequence, a carriage return) or a bidirectional override.
pub fn unsafe_to_show(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// `text` safe to show on a terminal: messages carry strings from servers and hosts (a
/// command's stderr, an HTTP error body, a container name), and a control character in them
/// (an escape sequence, a carriage return) could rewrite what the operator sees. Each is
/// shown as `\u{..}`; line breaks and tabs stay.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let shown = |c: char| c == '\n' || c == '\t' || !unsafe_to_show(c);
    if text.chars().all(shown) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if shown(c) {
            out.push(c);
        } else {
            out.push_str(&c.escape_unicode().to_string());
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Characters that reorder how text displays (a "Trojan Source" trick).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_from_servers_are_shown_escaped() {
        assert_eq!(printable("plain text, 中文"), "plain text, 中文");
        assert_eq!(printable("two\nlines\tand a tab"), "two\nlines\tand a tab");
        assert_eq!(
            printable("ok\u{1b}[2J\rdone\u{7}"),
            "ok\\u{1b}[2J\\u{d}done\\u{7}"
        );
        assert_eq!(printable("a\u{202e}b\u{9b}c"), "a\\u{202e}b\\u{9b}c");
    }
}
