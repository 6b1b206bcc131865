//! What goes to a command's stdin, and what comes back on its stderr, while sudo may be
//! asking for a password.
//!
//! With a password, the line runs `sudo -k -S -p PROMPT -- sh -c 'printf ... MARKER' ...`
//! ([`super::line`]): sudo shows `PROMPT` when it wants the password, and the command prints
//! `MARKER` on stderr first thing once sudo let it run. So:
//! - nothing is written before `PROMPT` shows: then the password line alone;
//! - the command's own input only after `MARKER`: sudo reads its password one byte at a
//!   time from the same pipe, and would take the command's input for more passwords (three
//!   failed logins of the deploy user: an account lockout with pam_faillock);
//! - a second `PROMPT` is a refused password: EOF at once, sudo gives up;
//! - `MARKER` without `PROMPT` (the policy no longer asks): the input goes straight on.
//!
//! Both strings are taken out of stderr. Without sudo, the input flows from the start.

/// Most standard error kept (the rest is counted and dropped: it only goes into messages).
pub(crate) const MAX_STDERR: usize = 64 << 10;

/// Where the exchange with sudo stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The command runs: its input flows.
    Open,
    /// Waiting for sudo's prompt (or the command's marker).
    AwaitPrompt,
    /// The password line is being written; waiting for the command's marker.
    PasswordSent,
    /// sudo asked again: the password is wrong. EOF, nothing more.
    Refused,
}

/// The command's input side.
pub(crate) struct Input {
    pub phase: Phase,
    password_line: Vec<u8>,
    password_written: usize,
    /// Bytes of the command's stdin written (`usize::MAX`: nothing more will be).
    written: usize,
    pub eof_sent: bool,
}

impl Input {
    /// Input for a command: held back while `sudo` may ask for a password.
    pub(crate) fn new(sudo: bool) -> Self {
        Input {
            phase: if sudo {
                Phase::AwaitPrompt
            } else {
                Phase::Open
            },
            password_line: Vec::new(),
            password_written: 0,
            written: 0,
            eof_sent: false,
        }
    }

    /// What may be written now.
    pub(crate) fn rest<'s>(&'s self, stdin: &'s [u8]) -> &'s [u8] {
        match self.phase {
            Phase::Open if self.written == usize::MAX => &[],
            Phase::Open => stdin.get(self.written..).unwrap_or_default(),
            Phase::PasswordSent => self
                .password_line
                .get(self.password_written..)
                .unwrap_or_default(),
            Phase::AwaitPrompt | Phase::Refused => &[],
        }
    }

    /// `n` more bytes of [`Input::rest`] were written.
    pub(crate) fn wrote(&mut self, n: usize) {
        match self.phase {
            Phase::Open => self.written = self.written.saturating_add(n),
            Phase::PasswordSent => self.password_written += n,
            Phase::AwaitPrompt | Phase::Refused => {}
        }
    }

    /// The command does not take more input.
    pub(crate) fn closed_by_command(&mut self) {
        self.written = usize::MAX;
    }

    /// Whether EOF goes now: all the input is written, or sudo refused the password.
    pub(crate) fn eof_due(&self, stdin: &[u8]) -> bool {
        !self.eof_sent
            && match self.phase {
                Phase::Open => self.rest(stdin).is_empty(),
                Phase::Refused => true,
                Phase::AwaitPrompt | Phase::PasswordSent => false,
            }
    }

    /// Whether stderr must still be watched for the prompt and the marker.
    pub(crate) fn watching(&self) -> bool {
        matches!(self.phase, Phase::AwaitPrompt | Phase::PasswordSent)
    }

    /// What stderr showed since the last look: `prompts` times the prompt, and whether the
    /// marker. The prompt is handled first (both may come in one read).
    pub(crate) fn saw(&mut self, prompts: usize, marker: bool, password: &[u8]) {
        for _ in 0..prompts {
            match self.phase {
                Phase::AwaitPrompt => {
                    self.password_line = password.to_vec();
                    self.password_line.push(b'\n');
                    self.password_written = 0;
                    self.phase = Phase::PasswordSent;
                }
                Phase::PasswordSent => self.phase = Phase::Refused,
                Phase::Open | Phase::Refused => {}
            }
        }
        if marker && self.watching() {
            self.phase = Phase::Open;
        }
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        // Do not leave the password in freed memory longer than needed.
        self.password_line.iter_mut().for_each(|b| *b = 0);
    }
}

/// Standard error, capped at [`MAX_STDERR`], with sudo's prompt and the marker taken out.
#[derive(Default)]
pub(crate) struct Stderr {
    kept: Vec<u8>,
    dropped: usize,
}

impl Stderr {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let room = MAX_STDERR.saturating_sub(self.kept.len());
        let take = room.min(bytes.len());
        self.kept.extend_from_slice(&bytes[..take]);
        self.dropped += bytes.len() - take;
    }

    /// Removes every `needle` from what was kept; how many there were. (Only looked at
    /// while sudo may ask: the first few hundred bytes of a command's stderr.)
    pub(crate) fn take(&mut self, needle: &[u8]) -> usize {
        let mut found = 0;
        let mut at = 0;
        while let Some(i) = find(&self.kept[at..], needle) {
            let pos = at + i;
            self.kept.drain(pos..pos + needle.len());
            found += 1;
            at = pos;
        }
        found
    }

    pub(crate) fn into_bytes(mut self) -> Vec<u8> {
        if self.dropped > 0 {
            let note = format!("\n[{} more bytes of stderr not kept]", self.dropped);
            self.kept.extend_from_slice(note.as_bytes());
        }
        std::mem::take(&mut self.kept)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STDIN: &[u8] = b"file bytes\nmore";

    #[test]
    fn nothing_is_written_before_the_prompt_and_the_input_only_after_the_marker() {
        let mut i = Input::new(true);
        assert_eq!(i.rest(STDIN), b"");
        assert!(!i.eof_due(STDIN));
        i.saw(1, false, b"pw");
        assert_eq!(i.rest(STDIN), b"pw\n");
        i.wrote(3);
        // The password is out; the command's input waits for sudo to let it run.
        assert_eq!(i.rest(STDIN), b"");
        assert!(!i.eof_due(STDIN));
        i.saw(0, true, b"pw");
        assert_eq!(i.rest(STDIN), STDIN);
        i.wrote(5);
        assert_eq!(i.rest(STDIN), &STDIN[5..]);
        i.wrote(STDIN.len() - 5);
        assert!(i.eof_due(STDIN));
    }

    #[test]
    fn a_second_prompt_is_a_refusal_and_sends_eof_not_the_input() {
        let mut i = Input::new(true);
        i.saw(1, false, b"pw");
        i.wrote(3);
        i.saw(1, false, b"pw");
        assert_eq!(i.phase, Phase::Refused);
        assert_eq!(i.rest(STDIN), b"");
        assert!(i.eof_due(STDIN));
        // Both prompts in one read: the same.
        let mut i = Input::new(true);
        i.saw(2, false, b"pw");
        assert_eq!(i.phase, Phase::Refused);
    }

    #[test]
    fn the_marker_without_a_prompt_lets_the_input_through_without_the_password() {
        let mut i = Input::new(true);
        i.saw(0, true, b"pw");
        assert_eq!(i.phase, Phase::Open);
        assert_eq!(i.rest(STDIN), STDIN);
        // Without sudo, the input flows at once; prompts mean nothing.
        let mut i = Input::new(false);
        assert_eq!(i.rest(STDIN), STDIN);
        i.saw(1, false, b"pw");
        assert_eq!(i.rest(STDIN), STDIN);
        i.closed_by_command();
        assert_eq!(i.rest(STDIN), b"");
        assert!(i.eof_due(STDIN));
    }

    #[test]
    fn strings_are_found_across_reads_and_taken_out() {
        let mut e = Stderr::default();
        e.push(b"We trust you have received the usual lecture.\n[ihos ");
        assert_eq!(e.take(b"[ihos p]"), 0);
        e.push(b"p]");
        assert_eq!(e.take(b"[ihos p]"), 1);
        e.push(b"Sorry, try again.\n[ihos p]");
        assert_eq!(e.take(b"[ihos p]"), 1);
        e.push(b"[ihos m]\n");
        assert_eq!(e.take(b"[ihos m]\n"), 1);
        assert_eq!(
            e.into_bytes(),
            b"We trust you have received the usual lecture.\nSorry, try again.\n"
        );
    }

    #[test]
    fn stderr_is_capped_and_says_how_much_was_dropped() {
        let mut e = Stderr::default();
        e.push(&vec![b'x'; MAX_STDERR - 1]);
        e.push(b"abc");
        let text = String::from_utf8(e.into_bytes()).unwrap();
        assert!(
            text.ends_with("[2 more bytes of stderr not kept]"),
            "{}",
            &text[text.len() - 50..]
        );
    }
}
