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

/// Writes one human message line to stderr.
pub fn message(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}");
}
