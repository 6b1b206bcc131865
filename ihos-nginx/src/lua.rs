//! Raw bodies of `*_by_lua_block` directives (OpenResty): Lua code, not nginx syntax.
//!
//! The body ends at the `}` that balances the opening `{`, not counting braces inside Lua
//! strings (`"..."`, `'...'`, `[[...]]`, `[==[...]==]`) and comments (`--`, `--[[...]]`).

/// Offset of the `}` closing a Lua block whose body starts at `start`, or `None` at end of
/// input.
pub(crate) fn find_block_end(src: &[u8], start: usize) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = start;
    while i < src.len() {
        match src[i] {
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
                i += 1;
            }
            b'"' | b'\'' => i = skip_short_string(src, i)?,
            b'-' if src.get(i + 1) == Some(&b'-') => {
                i += 2;
                if let Some(level) = long_bracket_level(src, i) {
                    i = skip_long_bracket(src, i, level)?;
                } else {
                    i = memchr::memchr(b'\n', &src[i..]).map_or(src.len(), |n| i + n + 1);
                }
            }
            b'[' => match long_bracket_level(src, i) {
                Some(level) => i = skip_long_bracket(src, i, level)?,
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    None
}

/// After a `"` or `'` at `i`: offset past the closing quote.
fn skip_short_string(src: &[u8], i: usize) -> Option<usize> {
    let q = src[i];
    let mut j = i + 1;
    while j < src.len() {
        match src[j] {
            b'\\' => j += 2,
            c if c == q => return Some(j + 1),
            b'\n' => return Some(j + 1), // unfinished string: Lua stops at the line end
            _ => j += 1,
        }
    }
    None
}

/// If `[=*[` starts at `i`, its level (number of `=`).
fn long_bracket_level(src: &[u8], i: usize) -> Option<usize> {
    if src.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = i + 1;
    while src.get(j) == Some(&b'=') {
        j += 1;
    }
    (src.get(j) == Some(&b'[')).then_some(j - i - 1)
}

/// Offset past the `]=*]` closing the long bracket of `level` opened at `i`.
fn skip_long_bracket(src: &[u8], i: usize, level: usize) -> Option<usize> {
    let mut j = i + level + 2;
    while j < src.len() {
        let n = memchr::memchr(b']', &src[j..])?;
        j += n;
        let eqs = src[j + 1..].iter().take_while(|&&c| c == b'=').count();
        if eqs == level && src.get(j + 1 + eqs) == Some(&b']') {
            return Some(j + level + 2);
        }
        j += 1;
    }
    None
}
