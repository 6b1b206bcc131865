//! Token recognizers, written as nom parsers over bytes.
//!
//! They follow `ngx_conf_read_token` (nginx `src/core/ngx_conf_file.c`): whitespace is space,
//! tab, CR and LF only; `#` starts a comment only where a token could start; a quote opens a
//! string only at a token start; `\` escapes the next byte; `{` is part of a word right after
//! `$` (the `${var}` form). They only recognize; the parser decides what is an error.

use nom::{IResult, Parser, bytes::complete::take_while};

pub(crate) type In<'a> = &'a [u8];

/// nginx's whitespace: space, tab, CR, LF.
#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// nginx's whitespace as a lookup table.
const WS: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

/// A (possibly empty) run of whitespace.
#[inline]
pub(crate) fn whitespace(i: In<'_>) -> IResult<In<'_>, In<'_>> {
    take_while(|b: u8| WS[b as usize]).parse(i)
}

/// A comment: `#` up to, not including, the next LF (or the end of input).
#[inline]
pub(crate) fn comment(i: In<'_>) -> IResult<In<'_>, In<'_>> {
    let (_, _) = nom::bytes::complete::tag(&b"#"[..]).parse(i)?;
    let len = memchr::memchr(b'\n', &i[1..]).map_or(i.len(), |n| n + 1);
    Ok((&i[len..], &i[..len]))
}

/// How a bare word ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordEnd {
    /// At whitespace, `;` or `{` (the rest starts with it).
    Delimiter,
    /// At the end of input.
    Eof,
}

/// Bytes that need a look inside a bare word.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t[b';' as usize] = true;
    t[b'{' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'$' as usize] = true;
    t
};

/// A bare word, from its first byte (which the caller has checked is not whitespace, `;`,
/// `{`, `}`, `#` or a quote) to the delimiter. `}`, `#` and quotes inside a word are part of it.
pub(crate) fn bare_word(i: In<'_>) -> IResult<In<'_>, (In<'_>, WordEnd)> {
    let mut pos = 0;
    // nginx's `variable` flag is set by `$`, kept while `{` follows and cleared by anything
    // else: so the `{`s right after a `$` belong to the word, any other `{` ends it.
    while let Some(rest) = i.get(pos..) {
        // Plain bytes need no look: skip them in one go.
        let Some(n) = rest.iter().position(|&b| SPECIAL[b as usize]) else {
            pos = i.len();
            break;
        };
        pos += n;
        match i[pos] {
            b'\\' => pos += 2, // the escaped byte is taken whatever it is
            b'$' => {
                pos += 1;
                while i.get(pos) == Some(&b'{') {
                    pos += 1;
                }
            }
            // whitespace, `;` or `{`: the delimiter
            _ => break,
        }
    }
    if pos >= i.len() {
        let end = i.len();
        return Ok((&i[end..], (i, WordEnd::Eof)));
    }
    Ok((&i[pos..], (&i[..pos], WordEnd::Delimiter)))
}

/// A quoted string starting with its quote. Returns the string with both quotes, or, when
/// the closing quote is missing, `None` (the whole rest of the input was inside the string).
pub(crate) fn quoted(i: In<'_>) -> IResult<In<'_>, Option<In<'_>>> {
    let q = i[0];
    let mut pos = 1;
    loop {
        match memchr::memchr2(q, b'\\', &i[pos..]) {
            None => return Ok((&i[i.len()..], None)),
            Some(n) => {
                pos += n;
                if i[pos] == b'\\' {
                    pos += 2;
                    if pos >= i.len() {
                        return Ok((&i[i.len()..], None));
                    }
                } else {
                    return Ok((&i[pos + 1..], Some(&i[..pos + 1])));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(i: &[u8]) -> (&[u8], WordEnd) {
        bare_word(i).unwrap().1
    }

    #[test]
    fn bare_word_delimiters_and_escapes() {
        assert_eq!(word(b"abc def"), (&b"abc"[..], WordEnd::Delimiter));
        assert_eq!(word(b"abc;"), (&b"abc"[..], WordEnd::Delimiter));
        assert_eq!(word(b"abc{"), (&b"abc"[..], WordEnd::Delimiter));
        assert_eq!(word(b"abc"), (&b"abc"[..], WordEnd::Eof));
        // `}`, `#` and quotes inside a word are part of it
        assert_eq!(
            word(b"a}b#c\"d'e f"),
            (&b"a}b#c\"d'e"[..], WordEnd::Delimiter)
        );
        // `\` takes the next byte, whatever it is
        assert_eq!(word(b"a\\ b c"), (&b"a\\ b"[..], WordEnd::Delimiter));
        assert_eq!(word(b"a\\;b;"), (&b"a\\;b"[..], WordEnd::Delimiter));
        assert_eq!(word(b"a\\"), (&b"a\\"[..], WordEnd::Eof));
        // `{` right after `$` belongs to the word, elsewhere it ends it
        assert_eq!(word(b"${a}b c"), (&b"${a}b"[..], WordEnd::Delimiter));
        assert_eq!(word(b"$${{a{b"), (&b"$${{a"[..], WordEnd::Delimiter));
        assert_eq!(word(b"$x{"), (&b"$x"[..], WordEnd::Delimiter));
        assert_eq!(word(b"\\${"), (&b"\\$"[..], WordEnd::Delimiter));
        assert_eq!(word(b"a$"), (&b"a$"[..], WordEnd::Eof));
        assert_eq!(word(b"a${"), (&b"a${"[..], WordEnd::Eof));
    }

    #[test]
    fn whitespace_is_nginx_whitespace() {
        let (rest, ws) = whitespace(b" \t\r\n\x0bx").unwrap();
        assert_eq!(ws, b" \t\r\n");
        assert_eq!(rest, b"\x0bx");
    }
}
