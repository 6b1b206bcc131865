//! [`LogFormat`]: an nginx `log_format` compiled into the pieces a line is read back with.
//!
//! The syntax is nginx's own (`ngx_http_log_compile_format` in
//! `src/http/modules/ngx_http_log_module.c`): `$name` or `${name}` with a name of
//! `[A-Za-z0-9_]`, everything else literal text; a `$` not followed by a name is refused.
//! The text may be given as written in nginx.conf, with its quoted parts (`'...' '...'`) and
//! an optional `escape=default|json|none` first; nginx concatenates the parts.

use std::fmt;

/// How nginx escaped variable values in the log (`log_format NAME escape=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// `"`, `\`, bytes below 0x20 and from 0x7f up written as `\xHH` (nginx's default).
    Default,
    /// JSON string escaping (`\"`, `\\`, `\n`, `\u001F`).
    Json,
    /// No escaping: a value may hold any byte but a newline.
    None,
}

/// What a variable's value looks like in a line, so that the reader knows where it ends
/// without guessing from the text after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `28/Sep/1970:12:00:00 +0600`: fixed width, holds a space.
    TimeLocal,
    /// A run of bytes without a space (`$status`, `$msec`, `$time_iso8601`, ...).
    Token,
    /// `$upstream_*`: tokens joined by `, ` (tries within one upstream) or ` : ` (another
    /// upstream after an internal redirect), as `ngx_http_upstream_*_variable` writes them.
    List,
    /// Anything: ends at the first occurrence of the literal text after it.
    Text,
}

/// A variable the analysis reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `$upstream_addr`: the backend of each try.
    UpstreamAddr,
    /// `$upstream_status`: the status of each try.
    UpstreamStatus,
    /// `$upstream_response_time`: the time of each try.
    UpstreamResponseTime,
    /// `$status`: the status sent to the client.
    Status,
    /// `$request_time`: the whole request's time.
    RequestTime,
    /// `$time_iso8601`.
    TimeIso8601,
    /// `$time_local`.
    TimeLocal,
    /// `$msec`.
    Msec,
}

impl Field {
    fn of(name: &str) -> Option<Field> {
        Some(match name {
            "upstream_addr" => Field::UpstreamAddr,
            "upstream_status" => Field::UpstreamStatus,
            "upstream_response_time" => Field::UpstreamResponseTime,
            "status" => Field::Status,
            "request_time" => Field::RequestTime,
            "time_iso8601" => Field::TimeIso8601,
            "time_local" => Field::TimeLocal,
            "msec" => Field::Msec,
            _ => return None,
        })
    }

    /// The variable's name, with its `$`.
    pub fn variable(self) -> &'static str {
        match self {
            Field::UpstreamAddr => "$upstream_addr",
            Field::UpstreamStatus => "$upstream_status",
            Field::UpstreamResponseTime => "$upstream_response_time",
            Field::Status => "$status",
            Field::RequestTime => "$request_time",
            Field::TimeIso8601 => "$time_iso8601",
            Field::TimeLocal => "$time_local",
            Field::Msec => "$msec",
        }
    }
}

/// One piece of a compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text written as is.
    Literal(Vec<u8>),
    /// A variable: its name (without `$`), its shape, and the field the analysis reads
    /// from it, if any.
    Variable {
        name: String,
        shape: Shape,
        field: Option<Field>,
    },
}

/// A compiled `log_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    pub(crate) pieces: Vec<Piece>,
    pub(crate) escape: Escape,
    text: String,
}

/// nginx's predefined `combined` format (`ngx_http_combined_fmt`).
pub const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
                            $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// Why a `log_format` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// nginx itself would refuse it.
    #[error("at byte {at}: {reason}")]
    Syntax {
        /// Byte offset in the format's text.
        at: usize,
        /// nginx's reason.
        reason: String,
    },
    /// Two variables meet without text between them and the first one's end cannot be told
    /// from its value.
    #[error("${first} is followed directly by ${second}: nothing tells where one ends")]
    Ambiguous {
        /// The free-text variable.
        first: String,
        /// The variable right after it.
        second: String,
    },
    /// The same variable the analysis reads appears twice.
    #[error("{0} appears twice")]
    Repeated(&'static str),
}

impl LogFormat {
    /// Compiles a format: nginx's `combined`, the format's text, or its arguments as in
    /// nginx.conf (`escape=json '{"a":"$upstream_addr",' '"t":"$msec"}'`).
    pub fn parse(text: &str) -> Result<LogFormat, FormatError> {
        let trimmed = text.trim();
        let (escape, body) = match arguments(trimmed)? {
            _ if trimmed == "combined" => (Escape::Default, vec![COMBINED.to_string()]),
            Some(args) => {
                let mut args = args.into_iter().peekable();
                let escape = match args.peek().and_then(|a| a.strip_prefix("escape=")) {
                    Some(mode) => {
                        let e = escape_mode(mode)?;
                        args.next();
                        e
                    }
                    None => Escape::Default,
                };
                (escape, args.collect::<Vec<String>>())
            }
            // A TOML multi-line string keeps the line break before its closing quotes.
            None => (
                Escape::Default,
                vec![text.trim_matches(|c| c == '\n' || c == '\r').to_string()],
            ),
        };
        let mut pieces: Vec<Piece> = Vec::new();
        for arg in &body {
            // nginx compiles each argument on its own: a variable's name ends with it.
            for piece in compile_argument(arg)? {
                match (pieces.last_mut(), piece) {
                    (Some(Piece::Literal(before)), Piece::Literal(more)) => {
                        before.extend_from_slice(&more)
                    }
                    (_, piece) => pieces.push(piece),
                }
            }
        }
        check_boundaries(&pieces)?;
        Ok(LogFormat {
            pieces,
            escape,
            text: text.to_string(),
        })
    }
}

/// One argument of `log_format`, as `ngx_http_log_compile_format` reads it.
fn compile_argument(body: &str) -> Result<Vec<Piece>, FormatError> {
    let bytes = body.as_bytes();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let start = i;
            while i < bytes.len() && bytes[i] != b'$' {
                i += 1;
            }
            pieces.push(Piece::Literal(bytes[start..i].to_vec()));
            continue;
        }
        let at = i;
        i += 1;
        let bracket = bytes.get(i) == Some(&b'{');
        if bracket {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let name = &body[start..i];
        if bracket {
            if bytes.get(i) != Some(&b'}') {
                return Err(FormatError::Syntax {
                    at,
                    reason: format!("the closing bracket in \"{name}\" variable is missing"),
                });
            }
            i += 1;
        }
        if name.is_empty() {
            return Err(FormatError::Syntax {
                at,
                reason: "a `$` without a variable name".into(),
            });
        }
        pieces.push(variable(name));
    }
    Ok(pieces)
}

impl LogFormat {
    /// Whether the format has this variable.
    pub fn has(&self, field: Field) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Variable { field: Some(f), .. } if *f == field))
    }

    /// What the analysis needs and this format lacks, one message per need.
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.has(Field::UpstreamAddr) {
            out.push("$upstream_addr (which backend served each request)".to_string());
        }
        if !self.has(Field::UpstreamStatus) && !self.has(Field::Status) {
            out.push("$upstream_status or $status (each request's status)".to_string());
        }
        if !self.has(Field::UpstreamResponseTime) && !self.has(Field::RequestTime) {
            out.push("$upstream_response_time or $request_time (each request's time)".to_string());
        }
        if !self.has(Field::TimeIso8601) && !self.has(Field::TimeLocal) && !self.has(Field::Msec) {
            out.push("$time_iso8601, $time_local or $msec (when it was logged)".to_string());
        }
        out
    }

    /// The escaping the format was declared with.
    pub fn escape(&self) -> Escape {
        self.escape
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn escape_mode(mode: &str) -> Result<Escape, FormatError> {
    match mode {
        "default" => Ok(Escape::Default),
        "json" => Ok(Escape::Json),
        "none" => Ok(Escape::None),
        other => Err(FormatError::Syntax {
            at: 0,
            reason: format!("unknown log format escaping \"{other}\""),
        }),
    }
}

fn variable(name: &str) -> Piece {
    // nginx looks variables up by their lowercase name (`ngx_http_get_variable_index`);
    // the log module's own ones are lowercase only, and the http core has each of them too.
    let lower = name.to_ascii_lowercase();
    let field = Field::of(&lower);
    let shape = match lower.as_str() {
        "time_local" => Shape::TimeLocal,
        "time_iso8601"
        | "msec"
        | "request_time"
        | "status"
        | "bytes_sent"
        | "body_bytes_sent"
        | "request_length"
        | "pipe"
        | "connection"
        | "connection_requests"
        | "remote_addr"
        | "remote_port"
        | "server_port"
        | "request_method"
        | "scheme"
        | "server_protocol" => Shape::Token,
        "upstream_addr"
        | "upstream_status"
        | "upstream_response_time"
        | "upstream_connect_time"
        | "upstream_header_time"
        | "upstream_response_length"
        | "upstream_bytes_received"
        | "upstream_bytes_sent" => Shape::List,
        _ => Shape::Text,
    };
    Piece::Variable {
        name: name.to_string(),
        shape,
        field,
    }
}

/// A free-text variable ends where the next literal begins: refuse a format where it is
/// followed by another variable instead, and one where a field the analysis reads appears
/// twice (which one would count?).
fn check_boundaries(pieces: &[Piece]) -> Result<(), FormatError> {
    let mut seen: Vec<Field> = Vec::new();
    for pair in pieces.windows(2) {
        if let [
            Piece::Variable {
                name: a,
                shape: Shape::Text,
                ..
            },
            Piece::Variable { name: b, .. },
        ] = pair
        {
            return Err(FormatError::Ambiguous {
                first: a.clone(),
                second: b.clone(),
            });
        }
    }
    for p in pieces {
        if let Piece::Variable { field: Some(f), .. } = p {
            if seen.contains(f) {
                return Err(FormatError::Repeated(f.variable()));
            }
            seen.push(*f);
        }
    }
    Ok(())
}

/// The text as nginx.conf arguments, when it is written that way (it starts with a quote or
/// with `escape=`): nginx's quoting (`'...'`, `"..."`, `\` escaping the next byte),
/// arguments separated by whitespace. `None` for a plain format text.
fn arguments(text: &str) -> Result<Option<Vec<String>>, FormatError> {
    if !(text.starts_with('\'') || text.starts_with('"') || text.starts_with("escape=")) {
        return Ok(None);
    }
    let mut args = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut arg = String::new();
        if c == '\'' || c == '"' {
            chars.next();
            let mut closed = false;
            while let Some((_, ch)) = chars.next() {
                if ch == '\\' {
                    // nginx keeps the backslash except before a quote of either kind,
                    // another backslash and t, r, n (ngx_conf_read_token).
                    match chars.next() {
                        Some((_, q)) if q == '"' || q == '\'' || q == '\\' => arg.push(q),
                        Some((_, 't')) => arg.push('\t'),
                        Some((_, 'r')) => arg.push('\r'),
                        Some((_, 'n')) => arg.push('\n'),
                        Some((_, other)) => {
                            arg.push('\\');
                            arg.push(other);
                        }
                        None => break,
                    }
                } else if ch == c {
                    closed = true;
                    break;
                } else {
                    arg.push(ch);
                }
            }
            if !closed {
                return Err(FormatError::Syntax {
                    at,
                    reason: format!("unbalanced quote {c}"),
                });
            }
        } else {
            while let Some(&(_, ch)) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                arg.push(ch);
                chars.next();
            }
        }
        args.push(arg);
    }
    Ok(Some(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(f: &LogFormat) -> Vec<String> {
        f.pieces
            .iter()
            .map(|p| match p {
                Piece::Literal(l) => format!("'{}'", String::from_utf8_lossy(l)),
                Piece::Variable { name, .. } => format!("${name}"),
            })
            .collect()
    }

    #[test]
    fn nginx_variable_syntax_with_and_without_brackets() {
        let f = LogFormat::parse("${upstream_addr}x$status-${msec}").unwrap();
        assert_eq!(
            names(&f),
            ["$upstream_addr", "'x'", "$status", "'-'", "$msec"]
        );
        assert!(f.has(Field::UpstreamAddr) && f.has(Field::Msec));
    }

    #[test]
    fn what_nginx_refuses_is_refused() {
        for bad in ["a $ b", "x$", "${upstream_addr", "${up-stream}", "${}"] {
            assert!(
                matches!(LogFormat::parse(bad), Err(FormatError::Syntax { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            LogFormat::parse("escape=yaml '$status'"),
            Err(FormatError::Syntax { .. })
        ));
    }

    #[test]
    fn the_text_as_written_in_nginx_conf_is_joined() {
        let f = LogFormat::parse(
            r#"'$remote_addr [$time_iso8601] "$request" $status '
               'upstream=$upstream_addr ustatus=$upstream_status rt=$request_time'"#,
        )
        .unwrap();
        assert!(f.missing().is_empty(), "{:?}", f.missing());
        assert_eq!(f.escape(), Escape::Default);
        let j = LogFormat::parse(r#"escape=json '{"u":"$upstream_addr","s":"$status"}'"#).unwrap();
        assert_eq!(j.escape(), Escape::Json);
        assert_eq!(names(&j)[0], "'{\"u\":\"'");
    }

    #[test]
    fn each_argument_is_compiled_on_its_own_as_nginx_does() {
        // `'$status' 'x'`: the variable ends with its argument.
        let f = LogFormat::parse("'$status' 'x'").unwrap();
        assert_eq!(names(&f), ["$status", "'x'"]);
        // Names are looked up in lowercase; a quote of either kind escaped in quotes.
        let f = LogFormat::parse(r#""$Upstream_Addr \' \" $Status""#).unwrap();
        assert!(f.has(Field::UpstreamAddr) && f.has(Field::Status));
        assert_eq!(names(&f)[1], "' ' \" '");
        // A TOML multi-line string's last line break is not part of the format.
        let f = LogFormat::parse("$upstream_addr $status\n").unwrap();
        assert_eq!(names(&f), ["$upstream_addr", "' '", "$status"]);
    }

    #[test]
    fn combined_lacks_the_upstream_and_the_time_taken() {
        let f = LogFormat::parse("combined").unwrap();
        let missing = f.missing();
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].starts_with("$upstream_addr"));
        assert!(missing[1].starts_with("$upstream_response_time or $request_time"));
    }

    #[test]
    fn a_free_text_variable_needs_text_after_it() {
        assert!(matches!(
            LogFormat::parse("$http_user_agent$upstream_addr"),
            Err(FormatError::Ambiguous { .. })
        ));
        // A list or a token ends by its own shape.
        assert!(LogFormat::parse("$upstream_addr$status").is_ok());
        assert!(matches!(
            LogFormat::parse("$status $status"),
            Err(FormatError::Repeated("$status"))
        ));
    }
}
