//! `Host` patterns as OpenSSH matches them (ssh_config(5) "PATTERNS"; `match_pattern` and
//! `match_hostname` in OpenSSH's match.c): `*` any run of characters, `?` one character,
//! case-insensitive, and a pattern list matches when one pattern matches and no negated
//! (`!pattern`) one does.

/// Whether `host` matches the `Host` line's patterns.
pub(crate) fn host_matches(patterns: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let mut matched = false;
    for p in patterns {
        let p = p.to_ascii_lowercase();
        match p.strip_prefix('!') {
            // A negated match rules the entry out whatever else matches.
            Some(neg) if glob(neg.as_bytes(), host.as_bytes()) => return false,
            Some(_) => {}
            None => matched |= glob(p.as_bytes(), host.as_bytes()),
        }
    }
    matched
}

/// `*` and `?` wildcards, iteratively (no recursion, linear in practice).
pub(crate) fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn wildcards_and_negation_as_openssh() {
        assert!(glob(b"*", b""));
        assert!(glob(b"app?", b"app1"));
        assert!(!glob(b"app?", b"app12"));
        assert!(glob(b"*.example.com", b"h1.example.com"));
        assert!(!glob(b"*.example.com", b"example.com"));
        assert!(glob(b"1*2*3", b"1xx2yy3"));
        assert!(!glob(b"1*2*3", b"1xx2yy"));
        assert!(host_matches(&pats("app* !app-bastion"), "APP1"));
        assert!(!host_matches(&pats("app* !app-bastion"), "app-bastion"));
        // A negation alone matches nothing (OpenSSH: a negated match is never a match).
        assert!(!host_matches(&pats("!foo"), "bar"));
        assert!(host_matches(&pats("10.0.0.*"), "10.0.0.12"));
    }
}
