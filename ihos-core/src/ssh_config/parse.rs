//! Reading an OpenSSH client config into directives, each with its file and line, following
//! `Include` (ssh_config(5); the tokenizing follows OpenSSH's readconf.c: `Keyword value` or
//! `Keyword=value`, double quotes group words, an unquoted word starting with `#` starts a
//! comment).

use std::path::{Path, PathBuf};

use super::SshConfigError;
use super::pattern::glob;

/// `Include` nesting limit (OpenSSH's READCONF_MAX_DEPTH is 16).
const MAX_DEPTH: usize = 16;

/// One `Keyword args` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    /// Lowercase keyword.
    pub keyword: String,
    pub args: Vec<String>,
    pub file: PathBuf,
    pub line: usize,
    /// Index of the block (`Host`/`Match` section) it is in.
    pub block: usize,
}

/// A section: before the first `Host` (applies to all), a `Host` line, or a `Match` line;
/// `inside`: the section an `Include` that brought it in was under (OpenSSH reads an
/// included file under a section that does not match as matching nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub kind: BlockKind,
    pub inside: Option<usize>,
}

/// What starts a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockKind {
    All,
    Host(Vec<String>),
    /// Ignored (ihos does not evaluate `Match` conditions).
    Match,
}

/// The whole config, in file order, `Include`s spliced in.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub blocks: Vec<Block>,
    pub directives: Vec<Directive>,
    pub warnings: Vec<String>,
}

pub(crate) fn parse_file(path: &Path, home: Option<&Path>) -> Result<Parsed, SshConfigError> {
    let mut parsed = Parsed {
        blocks: vec![Block {
            kind: BlockKind::All,
            inside: None,
        }],
        ..Parsed::default()
    };
    read_into(&mut parsed, path, 0, None, 0, home)?;
    Ok(parsed)
}

pub(crate) fn parse_text(
    text: &str,
    file: &Path,
    home: Option<&Path>,
) -> Result<Parsed, SshConfigError> {
    let mut parsed = Parsed {
        blocks: vec![Block {
            kind: BlockKind::All,
            inside: None,
        }],
        ..Parsed::default()
    };
    parse_into(&mut parsed, text, file, 0, None, 0, home)?;
    Ok(parsed)
}

fn read_into(
    parsed: &mut Parsed,
    path: &Path,
    block: usize,
    inside: Option<usize>,
    depth: usize,
    home: Option<&Path>,
) -> Result<usize, SshConfigError> {
    let text = std::fs::read(path).map_err(|e| SshConfigError {
        file: path.to_path_buf(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    let text = String::from_utf8(text).map_err(|_| SshConfigError {
        file: path.to_path_buf(),
        line: 0,
        message: "not UTF-8 text".into(),
    })?;
    parse_into(parsed, &text, path, block, inside, depth, home)
}

/// Parses `text` with `block` as the current section; returns the section current at the
/// end (an included file's `Host` lines do not change the includer's section).
fn parse_into(
    parsed: &mut Parsed,
    text: &str,
    file: &Path,
    mut block: usize,
    inside: Option<usize>,
    depth: usize,
    home: Option<&Path>,
) -> Result<usize, SshConfigError> {
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |message: String| SshConfigError {
            file: file.to_path_buf(),
            line,
            message,
        };
        let Some((keyword, args)) = split_line(raw).map_err(err)? else {
            continue;
        };
        match keyword.as_str() {
            "host" => {
                if args.is_empty() {
                    return Err(err("Host without a pattern".into()));
                }
                parsed.blocks.push(Block {
                    kind: BlockKind::Host(args),
                    inside,
                });
                block = parsed.blocks.len() - 1;
            }
            "match" => {
                parsed.blocks.push(Block {
                    kind: BlockKind::Match,
                    inside,
                });
                block = parsed.blocks.len() - 1;
                parsed.warnings.push(format!(
                    "{}:{line}: Match is not evaluated by ihos; the lines under it are ignored",
                    file.display()
                ));
            }
            "include" => {
                if depth >= MAX_DEPTH {
                    return Err(err(format!("Include nested deeper than {MAX_DEPTH}")));
                }
                for pattern in &args {
                    for path in include_paths(pattern, file, home, &mut parsed.warnings) {
                        // The included file's own sections apply only where this one does.
                        let under = if block == 0 { inside } else { Some(block) };
                        read_into(parsed, &path, block, under, depth + 1, home).map_err(|e| {
                            SshConfigError {
                                message: format!(
                                    "{} (included from {}:{line})",
                                    e.message,
                                    file.display()
                                ),
                                ..e
                            }
                        })?;
                    }
                }
            }
            _ => parsed.directives.push(Directive {
                keyword,
                args,
                file: file.to_path_buf(),
                line,
                block,
            }),
        }
    }
    Ok(block)
}

/// `Keyword args...` of a line, or `None` for a blank line or comment.
fn split_line(raw: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    // The keyword ends at whitespace or `=`; one `=` (with spaces around) may follow.
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..end].to_ascii_lowercase();
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            break;
        };
        if first == '#' {
            break;
        }
        let mut word = String::new();
        if first == '"' {
            chars.next();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                word.push(c);
            }
            if !closed {
                return Err(format!("unterminated quote in {keyword}"));
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.push(c);
            }
        }
        args.push(word);
    }
    Ok(Some((keyword, args)))
}

/// The files an `Include` names, in lexical order: relative paths are under `~/.ssh`
/// (user configs, as OpenSSH), `~` is the home directory, the last component may have
/// `*`/`?` wildcards.
fn include_paths(
    pattern: &str,
    from: &Path,
    home: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Vec<PathBuf> {
    let expanded = match (pattern.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        (None, _) if Path::new(pattern).is_absolute() => PathBuf::from(pattern),
        (None, Some(h)) => h.join(".ssh").join(pattern),
        (_, None) => {
            warnings.push(format!(
                "{}: Include {pattern}: no home directory to find it in; skipped",
                from.display()
            ));
            return Vec::new();
        }
    };
    let (Some(dir), Some(name)) = (expanded.parent(), expanded.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    if dir.to_string_lossy().contains(['*', '?']) {
        warnings.push(format!(
            "{}: Include {pattern}: wildcards are followed in the file name only; skipped",
            from.display()
        ));
        return Vec::new();
    }
    if !name.contains(['*', '?']) {
        // OpenSSH skips an Include that matches nothing, silently.
        return if expanded.is_file() {
            vec![expanded]
        } else {
            Vec::new()
        };
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        // As glob(3): a wildcard does not match a leading dot (editor swap files).
        .filter(|e| {
            let n = e.file_name();
            let n = n.as_encoded_bytes();
            (name.starts_with('.') || !n.starts_with(b".")) && glob(name.as_bytes(), n)
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_as_openssh_reads_them() {
        let s = |l: &str| split_line(l).unwrap();
        assert_eq!(s("  # comment"), None);
        assert_eq!(s(""), None);
        assert_eq!(
            s("HostName 10.0.0.5"),
            Some(("hostname".into(), vec!["10.0.0.5".into()]))
        );
        assert_eq!(s("Port=2222"), Some(("port".into(), vec!["2222".into()])));
        assert_eq!(s("Port = 2222"), Some(("port".into(), vec!["2222".into()])));
        assert_eq!(
            s("IdentityFile \"~/.ssh/my key\" # trailing"),
            Some(("identityfile".into(), vec!["~/.ssh/my key".into()]))
        );
        assert_eq!(
            s("Host app1 app2\t!app3"),
            Some((
                "host".into(),
                vec!["app1".into(), "app2".into(), "!app3".into()]
            ))
        );
        assert!(split_line("IdentityFile \"open").is_err());
    }
}
