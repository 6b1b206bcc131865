//! What `ihos nginx show` prints: a human listing, or one JSON object (schema 1).

use std::fmt::Write as _;

use ihos_nginx::{IfBlock, Upstream};
use serde::Serialize;

/// Version of the JSON layout; bumped on any incompatible change.
pub const SCHEMA: u32 = 1;

/// The JSON object: `{"schema":1,"file":...,"upstreams":[...],"if_blocks":[...]}`.
///
/// Each upstream is `{"name","line","servers":[{"address","params","state","line"}]}` with
/// `state` one of `enabled`, `down`, `commented`; each if block is
/// `{"condition","enabled","line","end_line","regex","operator","context"}`.
#[derive(Debug, Serialize)]
pub struct ShowJson<'a> {
    pub schema: u32,
    pub file: &'a str,
    pub upstreams: &'a [Upstream],
    pub if_blocks: &'a [IfBlock],
}

/// The JSON text, newline-terminated.
pub fn json(
    file: &str,
    upstreams: &[Upstream],
    if_blocks: &[IfBlock],
) -> serde_json::Result<String> {
    let mut s = serde_json::to_string(&ShowJson {
        schema: SCHEMA,
        file,
        upstreams,
        if_blocks,
    })?;
    s.push('\n');
    Ok(s)
}

/// The human listing.
pub fn human(upstreams: &[Upstream], if_blocks: &[IfBlock]) -> String {
    let mut out = String::new();
    if upstreams.is_empty() {
        out.push_str("no upstream blocks\n");
    }
    for u in upstreams {
        upstream(&mut out, u);
    }
    if if_blocks.is_empty() {
        out.push_str("no if blocks\n");
    } else {
        out.push_str("if blocks:\n");
        for b in if_blocks {
            if_block(&mut out, b);
        }
    }
    out
}

fn upstream(out: &mut String, u: &Upstream) {
    let _ = writeln!(
        out,
        "upstream {} (line {}): {} server{}, {} enabled",
        u.name,
        u.line,
        u.servers.len(),
        if u.servers.len() == 1 { "" } else { "s" },
        u.enabled_count()
    );
    let addr_w = u
        .servers
        .iter()
        .map(|s| s.address.chars().count())
        .max()
        .unwrap_or(0)
        .max("ADDRESS".len());
    let line_w = u
        .servers
        .iter()
        .map(|s| s.line.to_string().len())
        .max()
        .unwrap_or(0)
        .max("LINE".len());
    let _ = writeln!(
        out,
        "  {:>line_w$}  {:<9}  {:<addr_w$}  PARAMS",
        "LINE", "STATE", "ADDRESS"
    );
    for s in &u.servers {
        let line = format!(
            "  {:>line_w$}  {:<9}  {:<addr_w$}  {}",
            s.line,
            s.state.to_string(),
            s.address,
            s.params.join(" ")
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn if_block(out: &mut String, b: &IfBlock) {
    let context = if b.context.is_empty() {
        "top level".to_string()
    } else {
        b.context.join(" > ")
    };
    let _ = writeln!(
        out,
        "  lines {}-{}  {:<9}  in {}  if {}",
        b.line,
        b.end_line,
        if b.enabled { "enabled" } else { "commented" },
        context,
        b.condition
    );
    if let Some(r) = &b.regex {
        let _ = writeln!(out, "    regex: {r}");
    }
}
