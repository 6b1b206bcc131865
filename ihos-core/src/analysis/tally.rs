//! [`Tally`]: an access log's requests counted per side (canary or fleet), and
//! [`Analyzer`], which reads a log in chunks of any size into it.
//!
//! Attribution is per try: nginx writes every backend it tried (`$upstream_addr` "A, B",
//! `$upstream_status` "502, 200"), and each try counts for its own backend. A request nginx
//! retried elsewhere counts as an error of the first backend even though the user got a
//! 200: a canary whose failures nginx hides behind retries fails its analysis.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::clock;
use super::format::{Field, LogFormat};
use super::histogram::Histogram;
use super::line::{Fields, LineReader, Next, items, tries};

/// Which side a backend is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The canary.
    Canary,
    /// The fleet (the main upstream's backends).
    Fleet,
}

/// The backends of each side, as nginx writes them in `$upstream_addr` (`127.0.0.1:8080`,
/// `[::1]:8080`, `unix:/path`), and the upstream names nginx writes there when it found no
/// live server in that upstream (a request that could not reach the canary is the canary's).
#[derive(Debug, Clone, Default)]
pub struct Backends {
    index: HashMap<Vec<u8>, usize>,
    list: Vec<(String, Side)>,
}

impl Backends {
    /// The canary's and the fleet's backend addresses.
    pub fn new<S: AsRef<str>>(canary: &[S], fleet: &[S]) -> Backends {
        let mut b = Backends::default();
        for a in canary {
            b.add(a.as_ref(), Side::Canary);
        }
        for a in fleet {
            b.add(a.as_ref(), Side::Fleet);
        }
        b
    }

    /// Adds an address or an upstream's name to a side (the first side given keeps it).
    pub fn add(&mut self, address: &str, side: Side) {
        if !self.index.contains_key(address.as_bytes()) {
            self.index
                .insert(address.as_bytes().to_vec(), self.list.len());
            self.list.push((address.to_string(), side));
        }
    }

    fn lookup(&self, address: &[u8]) -> Option<usize> {
        self.index.get(address).copied()
    }
}

/// The requests of one backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackendCount {
    /// The address (or upstream name) as nginx writes it.
    pub address: String,
    /// Tries it got.
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
}

/// One side's requests.
#[derive(Debug, Clone, Default)]
pub struct SideTally {
    /// Tries sent to this side's backends.
    pub requests: u64,
    /// Of those, errors (5xx, or a status configured as an error).
    pub errors: u64,
    /// Of the errors, those nginx retried on another backend (the user may not have seen
    /// them).
    pub retried: u64,
    /// The times of the tries that have one.
    pub latency: Histogram,
}

/// A line that does not match the format: where, never its content (an access log holds
/// tokens and personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unparsed {
    /// Line number in what was read (1-based).
    pub line: u64,
    /// Byte column in the line (1-based) where it departs from the format.
    pub column: usize,
    /// What the format has there.
    pub expected: String,
}

/// How many unparsed lines are described, and how many unknown addresses kept by name.
const KEEP_UNPARSED: usize = 5;
const KEEP_UNKNOWN: usize = 20;

/// An access log counted.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Complete lines read.
    pub lines: u64,
    /// Lines that do not match the format (or whose time cannot be read).
    pub unparsed: u64,
    /// The first few of them.
    pub unparsed_examples: Vec<Unparsed>,
    /// Lines logged outside the window.
    pub outside_window: u64,
    /// Requests nginx answered itself (`$upstream_addr` is `-`).
    pub not_proxied: u64,
    /// Tries to a backend of neither side.
    pub unattributed: u64,
    /// Those backends, the first few by name, with their tries.
    pub unattributed_addresses: BTreeMap<String, u64>,
    /// The canary's side.
    pub canary: SideTally,
    /// The fleet's side.
    pub fleet: SideTally,
    /// Per backend of [`Backends`], in its order.
    pub backends: Vec<BackendCount>,
    /// The earliest and latest time of a counted line (ms since the epoch).
    pub first_ms: Option<i64>,
    /// See `first_ms`.
    pub last_ms: Option<i64>,
}

impl Tally {
    fn side(&mut self, side: Side) -> &mut SideTally {
        match side {
            Side::Canary => &mut self.canary,
            Side::Fleet => &mut self.fleet,
        }
    }
}

/// The time window of an analysis (ms since the epoch, `since` included, `until` not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// Lines logged before this are not counted.
    pub since_ms: Option<i64>,
    /// Lines logged at or after this are not counted.
    pub until_ms: Option<i64>,
}

impl Window {
    fn contains(&self, t: i64) -> bool {
        self.since_ms.is_none_or(|s| t >= s) && self.until_ms.is_none_or(|u| t < u)
    }
}

/// Which statuses count as errors: every 5xx, and the extra ones given.
#[derive(Debug, Clone)]
struct ErrorStatuses([bool; 1000]);

impl ErrorStatuses {
    fn new(extra: &[u16]) -> ErrorStatuses {
        let mut set = [false; 1000];
        for (code, slot) in set.iter_mut().enumerate() {
            *slot = (500..600).contains(&code);
        }
        for &c in extra {
            if let Some(s) = set.get_mut(usize::from(c)) {
                *s = true;
            }
        }
        ErrorStatuses(set)
    }

    fn is_error(&self, status: u16) -> bool {
        self.0.get(usize::from(status)).copied().unwrap_or(false)
    }
}

/// Reads access-log bytes, in chunks cut anywhere, into a [`Tally`].
pub struct Analyzer {
    reader: LineReader,
    time_field: Option<Field>,
    has_upstream_status: bool,
    has_upstream_time: bool,
    backends: Backends,
    window: Window,
    errors: ErrorStatuses,
    tally: Tally,
    partial: Vec<u8>,
    /// Inside a line longer than [`MAX_LINE`], skipped to its end.
    overlong: bool,
}

/// The longest line read (nginx's own log lines are far shorter; a request line is at
/// most a few KiB with default buffers).
const MAX_LINE: usize = 64 << 10;

impl Analyzer {
    /// An analyzer of lines written in `format`; `extra_errors`: statuses that count as
    /// errors beside 5xx.
    pub fn new(
        format: &LogFormat,
        backends: Backends,
        window: Window,
        extra_errors: &[u16],
    ) -> Analyzer {
        let time_field = [Field::TimeIso8601, Field::TimeLocal, Field::Msec]
            .into_iter()
            .find(|f| format.has(*f));
        let tally = Tally {
            backends: backends
                .list
                .iter()
                .map(|(a, _)| BackendCount {
                    address: a.clone(),
                    ..BackendCount::default()
                })
                .collect(),
            ..Tally::default()
        };
        Analyzer {
            reader: LineReader::new(format),
            time_field,
            has_upstream_status: format.has(Field::UpstreamStatus),
            has_upstream_time: format.has(Field::UpstreamResponseTime),
            backends,
            window,
            errors: ErrorStatuses::new(extra_errors),
            tally,
            partial: Vec::new(),
            overlong: false,
        }
    }

    /// Reads the complete lines of `chunk` (with any partial line kept from the chunk
    /// before); a partial line at its end waits for the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        if self.overlong || !self.partial.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(i) if self.overlong => {
                    // The end of a line too long to be a log line: one unparsed line.
                    self.overlong = false;
                    self.tally.lines += 1;
                    self.unparsed(MAX_LINE, "a line of at most 64 KiB".into());
                    rest = &rest[i + 1..];
                }
                Some(i) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&rest[..i]);
                    self.line(&line);
                    rest = &rest[i + 1..];
                }
                None => {
                    self.keep_partial(rest);
                    return;
                }
            }
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', rest) {
            self.line(&rest[start..end]);
            start = end + 1;
        }
        self.keep_partial(&rest[start..]);
    }

    /// Keeps the start of a line that continues in the next chunk, at most [`MAX_LINE`]
    /// bytes (a file without line breaks, such as a compressed log, must not fill memory).
    fn keep_partial(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        if self.partial.len() + bytes.len() > MAX_LINE {
            self.partial.clear();
            self.overlong = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// Bytes of a line not yet complete (nginx may be writing it).
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// The counts so far (a pending partial line is not in them).
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The counts, the pending partial line dropped.
    pub fn into_tally(self) -> Tally {
        self.tally
    }

    fn unparsed(&mut self, column: usize, expected: String) {
        self.tally.unparsed += 1;
        if self.tally.unparsed_examples.len() < KEEP_UNPARSED {
            self.tally.unparsed_examples.push(Unparsed {
                line: self.tally.lines,
                column: column + 1,
                expected,
            });
        }
    }

    /// Drops a partial line left at the end of one source before reading another (a
    /// line is never made of two files' bytes); whether there was one.
    pub fn end_source(&mut self) -> bool {
        let had = !self.partial.is_empty() || self.overlong;
        self.partial.clear();
        self.overlong = false;
        had
    }

    /// When a line matching the format was logged.
    pub fn time_of(&self, line: &[u8]) -> Option<i64> {
        self.time(&self.reader.read(line).ok()?)
    }

    fn time(&self, fields: &Fields<'_>) -> Option<i64> {
        let f = self.time_field?;
        let v = fields.get(f)?;
        match f {
            Field::TimeIso8601 => clock::iso8601(v),
            Field::TimeLocal => clock::local(v),
            _ => clock::msec(v),
        }
    }

    fn line(&mut self, line: &[u8]) {
        self.tally.lines += 1;
        let fields = match self.reader.read(line) {
            Ok(f) => f,
            Err(m) => return self.unparsed(m.column, m.expected),
        };
        let Some(time) = self.time(&fields) else {
            return self.unparsed(0, "a time nginx writes".into());
        };
        if !self.window.contains(time) {
            self.tally.outside_window += 1;
            return;
        }
        self.tally.first_ms = Some(self.tally.first_ms.map_or(time, |t| t.min(time)));
        self.tally.last_ms = Some(self.tally.last_ms.map_or(time, |t| t.max(time)));
        let Some(addrs) = fields.get(Field::UpstreamAddr) else {
            return self.unparsed(0, "$upstream_addr".into());
        };
        if addrs == b"-" || addrs.is_empty() {
            self.tally.not_proxied += 1;
            return;
        }
        let final_status = fields.get(Field::Status).and_then(status);
        let request_ms = fields.get(Field::RequestTime).and_then(clock::seconds_ms);
        let mut statuses = fields.get(Field::UpstreamStatus).map(items);
        let mut times = fields.get(Field::UpstreamResponseTime).map(items);
        for (addr, next) in tries(addrs) {
            let last = next == Next::End;
            let try_status = statuses.as_mut().and_then(|s| s.next()).and_then(status);
            let try_ms = times.as_mut().and_then(|t| t.next());
            let status = try_status.or(if last { final_status } else { None });
            // nginx moves to another server of the same upstream only after a failure
            // (`, `); without $upstream_status such a try is an error. An internal redirect
            // (` : `) is not a failure.
            let retried = next == Next::Retry;
            let error = match status {
                Some(s) => self.errors.is_error(s),
                None => retried && !self.has_upstream_status,
            };
            let ms = if self.has_upstream_time {
                try_ms.and_then(clock::seconds_ms)
            } else if last {
                request_ms
            } else {
                None
            };
            self.count(addr, error, retried, ms);
        }
    }

    fn count(&mut self, addr: &[u8], error: bool, retried: bool, ms: Option<u64>) {
        let Some(i) = self.backends.lookup(addr) else {
            self.tally.unattributed += 1;
            let name = String::from_utf8_lossy(addr).into_owned();
            let known = self.tally.unattributed_addresses.len();
            match self.tally.unattributed_addresses.get_mut(&name) {
                Some(n) => *n += 1,
                None if known < KEEP_UNKNOWN => {
                    self.tally.unattributed_addresses.insert(name, 1);
                }
                None => {}
            }
            return;
        };
        let side = self.backends.list[i].1;
        let b = &mut self.tally.backends[i];
        b.requests += 1;
        b.errors += u64::from(error);
        let t = self.tally.side(side);
        t.requests += 1;
        if error {
            t.errors += 1;
            t.retried += u64::from(retried);
        }
        if let Some(ms) = ms {
            t.latency.add(ms);
        }
    }
}

/// A status code as nginx writes it (three digits), `None` for `-`.
fn status(s: &[u8]) -> Option<u16> {
    match s {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMAT: &str = "[$time_iso8601] $status rt=$request_time upstream=$upstream_addr \
                          ustatus=$upstream_status urt=$upstream_response_time";
    const CANARY: &str = "10.0.0.9:8080";

    fn analyzer(format: &str, window: Window) -> Analyzer {
        Analyzer::new(
            &LogFormat::parse(format).unwrap(),
            Backends::new(&[CANARY], &["10.0.0.1:8080", "10.0.0.2:8080"]),
            window,
            &[429],
        )
    }

    fn line(t: &str, status: &str, up: &str, us: &str, urt: &str) -> String {
        format!(
            "[2026-12-03T10:00:{t}+00:00] {status} rt=0.300 upstream={up} ustatus={us} urt={urt}\n"
        )
    }

    #[test]
    fn a_retry_nginx_hid_is_the_first_backends_error() {
        let mut a = analyzer(FORMAT, Window::default());
        a.feed(
            line(
                "00",
                "200",
                "10.0.0.9:8080, 10.0.0.1:8080",
                "502, 200",
                "0.002, 0.150",
            )
            .as_bytes(),
        );
        let t = a.into_tally();
        assert_eq!(
            (t.canary.requests, t.canary.errors, t.canary.retried),
            (1, 1, 1)
        );
        assert_eq!((t.fleet.requests, t.fleet.errors), (1, 0));
        assert_eq!(t.canary.latency.quantile(0.5), Some(2));
        assert_eq!(t.fleet.latency.quantile(0.5), Some(150));
        assert_eq!(t.backends[0].errors, 1);
    }

    #[test]
    fn without_upstream_status_an_earlier_try_is_still_an_error() {
        let mut a = analyzer(
            "[$time_iso8601] $status rt=$request_time upstream=$upstream_addr",
            Window::default(),
        );
        a.feed(b"[2026-12-03T10:00:00+00:00] 200 rt=0.300 upstream=10.0.0.9:8080, 10.0.0.1:8080\n");
        let t = a.into_tally();
        assert_eq!((t.canary.requests, t.canary.errors), (1, 1));
        assert_eq!((t.fleet.requests, t.fleet.errors), (1, 0));
        // Only the last try has a time: the whole request's.
        assert_eq!(t.canary.latency.count(), 0);
        assert_eq!(t.fleet.latency.quantile(0.5), Some(300));
    }

    #[test]
    fn an_internal_redirect_is_not_a_failed_try() {
        let mut a = analyzer(
            "[$time_iso8601] $status rt=$request_time upstream=$upstream_addr",
            Window::default(),
        );
        // X-Accel-Redirect from the canary to the fleet's upstream: both answered.
        a.feed(
            b"[2026-12-03T10:00:00+00:00] 200 rt=0.300 upstream=10.0.0.9:8080 : 10.0.0.1:8080\n",
        );
        let t = a.into_tally();
        assert_eq!(
            (t.canary.requests, t.canary.errors, t.canary.retried),
            (1, 0, 0)
        );
        assert_eq!((t.fleet.requests, t.fleet.errors), (1, 0));
    }

    #[test]
    fn chunks_cut_anywhere_give_the_same_counts() {
        let mut text = String::new();
        for i in 0..50 {
            let (up, us) = match i % 5 {
                0 => (CANARY, "503"),
                1 => (CANARY, "429"),
                2 => ("10.0.0.2:8080", "200"),
                3 => ("-", "-"),
                _ => ("10.0.0.7:8080", "200"),
            };
            text.push_str(&line(&format!("{:02}", i % 60), "200", up, us, "0.010"));
        }
        text.push_str("garbage line\n");
        let whole = {
            let mut a = analyzer(FORMAT, Window::default());
            a.feed(text.as_bytes());
            a.into_tally()
        };
        for cut in [1, 7, 64, 1000] {
            let mut a = analyzer(FORMAT, Window::default());
            for chunk in text.as_bytes().chunks(cut) {
                a.feed(chunk);
            }
            let t = a.into_tally();
            assert_eq!(t.canary.requests, whole.canary.requests);
            assert_eq!(t.canary.errors, whole.canary.errors);
            assert_eq!(t.fleet.requests, whole.fleet.requests);
            assert_eq!(t.unparsed, 1);
        }
        assert_eq!((whole.canary.requests, whole.canary.errors), (20, 20));
        assert_eq!((whole.fleet.requests, whole.fleet.errors), (10, 0));
        assert_eq!(whole.not_proxied, 10);
        assert_eq!(whole.unattributed, 10);
        assert_eq!(whole.unattributed_addresses["10.0.0.7:8080"], 10);
        assert_eq!(whole.unparsed_examples[0].line, 51);
        assert_eq!(whole.lines, 51);
    }

    #[test]
    fn a_file_without_line_breaks_does_not_fill_memory() {
        let mut a = analyzer(FORMAT, Window::default());
        let junk = vec![0x1f_u8; 1 << 20];
        for _ in 0..8 {
            a.feed(&junk);
            assert!(a.pending() <= MAX_LINE);
        }
        a.feed(b"\n");
        a.feed(line("00", "200", CANARY, "200", "0.001").as_bytes());
        let t = a.into_tally();
        assert_eq!((t.lines, t.unparsed, t.canary.requests), (2, 1, 1));
    }

    #[test]
    fn the_window_and_a_line_still_being_written() {
        let since = clock::iso8601(b"2026-12-03T10:00:10+00:00").unwrap();
        let mut a = analyzer(
            FORMAT,
            Window {
                since_ms: Some(since),
                until_ms: Some(since + 10_000),
            },
        );
        for t in ["05", "10", "19", "20"] {
            a.feed(line(t, "200", CANARY, "200", "0.001").as_bytes());
        }
        a.feed(b"[2026-12-03T10:00:11+00:00] 200 rt=0.300 upst");
        assert!(a.pending() > 0);
        let t = a.into_tally();
        assert_eq!((t.canary.requests, t.outside_window), (2, 2));
    }
}
