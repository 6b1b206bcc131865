//! [`LineReader`]: one access-log line read back with its [`LogFormat`], keeping only the
//! fields the analysis uses (borrowed from the line, nothing copied).

use memchr::memmem::Finder;

use super::format::{Escape, Field, LogFormat, Piece, Shape};

/// Number of [`Field`]s.
const FIELDS: usize = 8;

/// The fields of one line, as written (`-` included).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fields<'a>([Option<&'a [u8]>; FIELDS]);

impl<'a> Fields<'a> {
    pub(crate) fn get(&self, f: Field) -> Option<&'a [u8]> {
        self.0[slot(f)]
    }
}

fn slot(f: Field) -> usize {
    match f {
        Field::UpstreamAddr => 0,
        Field::UpstreamStatus => 1,
        Field::UpstreamResponseTime => 2,
        Field::Status => 3,
        Field::RequestTime => 4,
        Field::TimeIso8601 => 5,
        Field::TimeLocal => 6,
        Field::Msec => 7,
    }
}

/// Where and why a line did not match the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Byte offset in the line (0-based) where reading stopped.
    pub column: usize,
    /// What was expected there.
    pub expected: String,
}

/// One compiled step of the reader.
enum Step {
    Literal(Vec<u8>),
    Variable {
        shape: Shape,
        slot: Option<usize>,
        name: String,
        /// The literal after it: where a free-text value ends, and a byte a token or list
        /// item cannot hold.
        next: Option<Box<Finder<'static>>>,
        stop: Option<u8>,
    },
}

/// Reads lines of one format.
pub struct LineReader {
    steps: Vec<Step>,
    escape: Escape,
}

impl LineReader {
    /// The reader of `format`.
    pub fn new(format: &LogFormat) -> LineReader {
        let pieces = &format.pieces;
        let steps = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                Piece::Literal(l) => Step::Literal(l.clone()),
                Piece::Variable { name, shape, field } => {
                    let next = match pieces.get(i + 1) {
                        Some(Piece::Literal(l)) => Some(l.clone()),
                        _ => None,
                    };
                    Step::Variable {
                        shape: *shape,
                        slot: field.map(slot),
                        name: name.clone(),
                        stop: next.as_ref().and_then(|l| l.first().copied()),
                        next: next.map(|l| Box::new(Finder::new(&l).into_owned())),
                    }
                }
            })
            .collect();
        LineReader {
            steps,
            escape: format.escape,
        }
    }

    /// The fields of `line` (without its newline), or where it departs from the format.
    pub(crate) fn read<'a>(&self, line: &'a [u8]) -> Result<Fields<'a>, Mismatch> {
        let mut fields = Fields::default();
        let mut pos = 0;
        for step in &self.steps {
            match step {
                Step::Literal(l) => {
                    if !line[pos..].starts_with(l) {
                        return Err(Mismatch {
                            column: pos,
                            expected: format!("{:?}", String::from_utf8_lossy(l)),
                        });
                    }
                    pos += l.len();
                }
                Step::Variable {
                    shape,
                    slot,
                    name,
                    next,
                    stop,
                } => {
                    let rest = &line[pos..];
                    let len = match shape {
                        Shape::TimeLocal => (rest.len() >= 26).then_some(26),
                        Shape::Token => Some(token(rest, *stop)),
                        Shape::List => Some(list(rest, *stop)),
                        Shape::Text => match next {
                            Some(f) => self.text_end(rest, f),
                            None => Some(rest.len()),
                        },
                    };
                    // With the default escaping nginx writes `-` for a missing value, but a
                    // variable that is set and empty (an empty header) as nothing; with
                    // escape=json or none a missing value is nothing too.
                    let empty_ok = *shape == Shape::Text || self.escape != Escape::Default;
                    let Some(len) = len.filter(|&n| n > 0 || empty_ok) else {
                        return Err(Mismatch {
                            column: pos,
                            expected: format!("${name}"),
                        });
                    };
                    if let Some(s) = slot {
                        fields.0[*s] = Some(&rest[..len]);
                    }
                    pos += len;
                }
            }
        }
        if pos != line.len() {
            return Err(Mismatch {
                column: pos,
                expected: "the end of the line".into(),
            });
        }
        Ok(fields)
    }

    /// Where a free-text value ends: the first occurrence of the literal after it that is
    /// not itself part of the value (with JSON escaping, a `"` after an odd run of `\`).
    fn text_end(&self, rest: &[u8], next: &Finder<'_>) -> Option<usize> {
        let mut from = 0;
        loop {
            let at = from + next.find(&rest[from..])?;
            if self.escape != Escape::Json || !escaped(&rest[..at]) {
                return Some(at);
            }
            from = at + 1;
        }
    }
}

/// Whether the byte after `before` is escaped: an odd number of `\` ends `before`.
fn escaped(before: &[u8]) -> bool {
    before.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// A value without spaces, ending before the first byte of the literal after it.
fn token(rest: &[u8], stop: Option<u8>) -> usize {
    rest.iter()
        .position(|&b| b == b' ' || Some(b) == stop)
        .unwrap_or(rest.len())
}

/// A list of tokens joined by `, ` or ` : `.
fn list(rest: &[u8], stop: Option<u8>) -> usize {
    let mut pos = 0;
    loop {
        pos += rest[pos..]
            .iter()
            .position(|&b| b == b' ' || b == b',' || Some(b) == stop)
            .unwrap_or(rest.len() - pos);
        let after = &rest[pos..];
        if after.starts_with(b", ") {
            pos += 2;
        } else if after.starts_with(b" : ") {
            pos += 3;
        } else {
            return pos;
        }
    }
}

/// The items of a list field (`A, B : C` is A, B, C).
pub(crate) fn items(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    tries(list).map(|(item, _)| item)
}

/// What follows an item of an upstream list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing: the last try.
    End,
    /// `, `: nginx tried another server of the same upstream (after a failure).
    Retry,
    /// ` : `: another upstream, after an internal redirect (X-Accel-Redirect, error_page
    /// to a named location): the try before it did not fail for that.
    Redirect,
}

/// The items of a list field with what follows each.
pub(crate) fn tries(list: &[u8]) -> ListItems<'_> {
    ListItems { rest: Some(list) }
}

/// Iterator of [`tries`].
pub(crate) struct ListItems<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for ListItems<'a> {
    type Item = (&'a [u8], Next);

    fn next(&mut self) -> Option<(&'a [u8], Next)> {
        let rest = self.rest?;
        match rest.iter().position(|&b| b == b',' || b == b' ') {
            Some(i) => {
                let item = &rest[..i];
                let (skip, next) = if rest[i..].starts_with(b" : ") {
                    (3, Next::Redirect)
                } else {
                    (2, Next::Retry)
                };
                self.rest = rest.get(i + skip..);
                Some((item, next))
            }
            None => {
                self.rest = None;
                Some((rest, Next::End))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SANDBOX: &str = "$remote_addr [$time_iso8601] \"$request\" $status $body_bytes_sent \
                           rt=$request_time upstream=$upstream_addr ustatus=$upstream_status \
                           urt=$upstream_response_time";

    fn reader(format: &str) -> LineReader {
        LineReader::new(&LogFormat::parse(format).unwrap())
    }

    fn field<'a>(f: &Fields<'a>, which: Field) -> &'a str {
        std::str::from_utf8(f.get(which).unwrap()).unwrap()
    }

    #[test]
    fn a_retried_request_keeps_every_try() {
        let r = reader(SANDBOX);
        let line =
            b"127.0.0.1 [2026-12-03T10:00:00+00:00] \"POST /ihos/work?ms=200 HTTP/1.1\" 200 \
            14 rt=0.210 upstream=127.0.0.12:39091, 127.0.0.11:39091 ustatus=502, 200 \
            urt=0.001, 0.205";
        let f = r.read(line).unwrap();
        assert_eq!(
            field(&f, Field::UpstreamAddr),
            "127.0.0.12:39091, 127.0.0.11:39091"
        );
        assert_eq!(field(&f, Field::UpstreamStatus), "502, 200");
        assert_eq!(field(&f, Field::UpstreamResponseTime), "0.001, 0.205");
        assert_eq!(field(&f, Field::Status), "200");
        assert_eq!(field(&f, Field::RequestTime), "0.210");
        assert_eq!(field(&f, Field::TimeIso8601), "2026-12-03T10:00:00+00:00");
        let addrs: Vec<&[u8]> = items(f.get(Field::UpstreamAddr).unwrap()).collect();
        assert_eq!(addrs, [&b"127.0.0.12:39091"[..], b"127.0.0.11:39091"]);
    }

    #[test]
    fn lists_across_upstreams_and_unix_sockets() {
        let got: Vec<&[u8]> = items(b"unix:/run/a.sock, 10.0.0.1:80 : [::1]:8080").collect();
        assert_eq!(
            got,
            [&b"unix:/run/a.sock"[..], b"10.0.0.1:80", b"[::1]:8080"]
        );
        let r = reader("$upstream_addr $upstream_status");
        let f = r
            .read(b"10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80 502, 504 : 200")
            .unwrap();
        assert_eq!(field(&f, Field::UpstreamStatus), "502, 504 : 200");
    }

    #[test]
    fn combined_with_spaces_in_time_and_text() {
        let r = reader("combined");
        let f = r
            .read(
                b"10.1.2.3 - - [03/Dec/2026:10:00:00 +0800] \"GET / HTTP/1.1\" 503 0 \"-\" \
                  \"Mozilla/5.0 (X11; Linux x86_64) \\x22quoted\\x22\"",
            )
            .unwrap();
        assert_eq!(field(&f, Field::TimeLocal), "03/Dec/2026:10:00:00 +0800");
        assert_eq!(field(&f, Field::Status), "503");
    }

    #[test]
    fn json_escaped_quotes_stay_inside_the_value() {
        let r = reader(
            r#"escape=json '{"ua":"$http_user_agent","up":"$upstream_addr","s":"$upstream_status","t":"$msec","rt":"$request_time"}'"#,
        );
        let line = br#"{"ua":"a \"b\" \\","up":"10.0.0.1:80","s":"200","t":"1733222400.123","rt":"0.004"}"#;
        let f = r.read(line).unwrap();
        assert_eq!(field(&f, Field::UpstreamAddr), "10.0.0.1:80");
        assert_eq!(field(&f, Field::Msec), "1733222400.123");
    }

    #[test]
    fn json_escaping_writes_nothing_for_a_missing_value() {
        let r = reader(
            r#"escape=json '{"up":"$upstream_addr","s":"$upstream_status","st":"$status","t":"$msec","rt":"$request_time"}'"#,
        );
        // A request nginx answered itself (a cache hit, `return`): no upstream at all.
        let f = r
            .read(br#"{"up":"","s":"","st":"200","t":"1733222400.123","rt":"0.000"}"#)
            .unwrap();
        assert_eq!(f.get(Field::UpstreamAddr), Some(&b""[..]));
    }

    #[test]
    fn a_line_of_another_format_says_where_it_departs() {
        let r = reader(SANDBOX);
        let short = b"127.0.0.1 [2026-12-03T10:00:00+00:00] \"GET / HTTP/1.1\" 200 1 rt=0.001";
        let e = r.read(short).unwrap_err();
        assert_eq!(e.expected, "\" upstream=\"");
        assert_eq!(e.column, short.len());
        assert!(r.read(b"").is_err());
        // Trailing bytes are a mismatch, not ignored.
        let full = b"1 [2026-12-03T10:00:00+00:00] \"G\" 200 1 rt=0.001 upstream=a:1 ustatus=200 urt=0.001";
        assert!(r.read(full).is_ok());
        let mut longer = full.to_vec();
        longer.extend_from_slice(b" extra");
        assert_eq!(r.read(&longer).unwrap_err().expected, "the end of the line");
    }
}
