//! Typed views of the parts of a configuration ihos works with: upstreams and their servers,
//! and `if` blocks (the canary routing rule).

use crate::document::Document;
use crate::error::EditError;
use crate::syntax::{Block, Directive, Item, TokenKind};

/// Whether a server of an upstream gets traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum ServerState {
    /// An active `server` line without `down`.
    Enabled,
    /// An active `server` line with nginx's `down` parameter.
    Down,
    /// A commented-out `server` line.
    Commented,
}

impl ServerState {
    /// Whether nginx sends traffic to it.
    pub fn is_enabled(self) -> bool {
        self == ServerState::Enabled
    }
}

impl std::fmt::Display for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServerState::Enabled => "enabled",
            ServerState::Down => "down",
            ServerState::Commented => "commented",
        })
    }
}

/// One `server` entry of an upstream (active or commented out).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Server {
    /// The address as written (`host:port`, `unix:/path`, ...).
    pub address: String,
    /// The parameters after the address (`max_fails=5`, `backup`, ...).
    pub params: Vec<String>,
    /// Enabled, down or commented out.
    pub state: ServerState,
    /// 1-based line of the `server` name.
    pub line: u32,
    /// Position of the item in its upstream block (internal, for edits).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub(crate) item_index: usize,
}

/// An `upstream NAME { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Upstream {
    /// The upstream's name.
    pub name: String,
    /// 1-based line of the `upstream` directive.
    pub line: u32,
    /// Its servers, in file order.
    pub servers: Vec<Server>,
}

impl Upstream {
    /// Servers with that address.
    pub fn servers_at<'u>(&'u self, address: &'u str) -> impl Iterator<Item = &'u Server> + 'u {
        self.servers.iter().filter(move |s| s.address == address)
    }

    /// How many servers get traffic.
    pub fn enabled_count(&self) -> usize {
        self.servers.iter().filter(|s| s.state.is_enabled()).count()
    }
}

/// An `if (...) { ... }` block, active or commented out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct IfBlock {
    /// The condition as written, e.g. `($http_x_pep_token ~* "(eyJpZCI6IjE.*$)")`.
    pub condition: String,
    /// Whether the block is active (not commented out).
    pub enabled: bool,
    /// 1-based line of the `if`.
    pub line: u32,
    /// 1-based line of its closing `}`.
    pub end_line: u32,
    /// The regex operand, when the condition is a regex match.
    pub regex: Option<String>,
    /// The match operator (`~`, `~*`, `!~` or `!~*`), when the condition is a regex match.
    pub operator: Option<String>,
    /// Names of the enclosing blocks (e.g. `["http", "server", "location"]`).
    pub context: Vec<String>,
}

impl IfBlock {
    /// A one-line description for messages.
    pub fn describe(&self) -> String {
        format!(
            "line {} if {} ({})",
            self.line,
            self.condition,
            if self.enabled { "enabled" } else { "commented" }
        )
    }
}

/// The regex match operators of an `if` condition.
pub(crate) const REGEX_OPERATORS: [&str; 4] = ["~", "~*", "!~", "!~*"];

/// Where a regex operand is: the argument index and whether a `)` is glued to its end.
pub(crate) fn regex_arg(src: &[u8], d: &Directive) -> Option<(usize, bool)> {
    let op = d.args.iter().position(|a| {
        a.token.kind == TokenKind::Bare
            && REGEX_OPERATORS
                .iter()
                .any(|o| o.as_bytes() == a.token.raw(src))
    })?;
    let idx = op + 1;
    let arg = d.args.get(idx)?;
    let glued = arg.token.kind == TokenKind::Bare
        && arg.token.raw(src).ends_with(b")")
        && idx + 1 == d.args.len();
    Some((idx, glued))
}

fn regex_value(src: &[u8], d: &Directive) -> Option<String> {
    let (idx, glued) = regex_arg(src, d)?;
    let mut v = d.args[idx].token.value_string(src);
    if glued {
        v.pop();
    }
    Some(v)
}

fn operator_value(src: &[u8], d: &Directive) -> Option<String> {
    let (idx, _) = regex_arg(src, d)?;
    Some(d.args[idx - 1].token.value_string(src))
}

fn condition_text(src: &[u8], d: &Directive) -> String {
    match (d.args.first(), d.args.last()) {
        (Some(first), Some(last)) => String::from_utf8_lossy(
            &src[first.token.span.start as usize..last.token.span.end as usize],
        )
        .into_owned(),
        _ => String::new(),
    }
}

/// An `if` block found in the tree, with what an edit needs.
pub(crate) struct FoundIf<'d> {
    pub view: IfBlock,
    pub place: Place<'d>,
}

pub(crate) struct FoundUpstream<'d> {
    pub view: Upstream,
    pub directive: &'d Directive,
    pub block: &'d Block,
    /// The indices of `view.servers` sorted by address, made on first use: a batch of
    /// changes looks up every server it names, in an upstream that may have thousands.
    by_address: std::sync::OnceLock<Vec<u32>>,
}

impl FoundUpstream<'_> {
    /// Indices in `view.servers` of the servers with that address, in order.
    pub(crate) fn indices_of(&self, address: &str) -> &[u32] {
        let servers = &self.view.servers;
        let sorted = self.by_address.get_or_init(|| {
            let mut sorted: Vec<u32> = (0..servers.len() as u32).collect();
            // Stable: the servers of one address stay in file order.
            sorted.sort_by(|&a, &b| {
                servers[a as usize]
                    .address
                    .cmp(&servers[b as usize].address)
            });
            sorted
        });
        let from = sorted.partition_point(|&i| servers[i as usize].address.as_str() < address);
        let to = from + sorted[from..].partition_point(|&i| servers[i as usize].address == address);
        &sorted[from..to]
    }

    /// The servers with that address, in order.
    pub(crate) fn servers_at<'s>(&'s self, address: &str) -> impl Iterator<Item = &'s Server> {
        self.indices_of(address)
            .iter()
            .map(|&i| &self.view.servers[i as usize])
    }
}

/// Where an item sits: its block, its index there, and the directive owning the block
/// (`None` at the top level).
#[derive(Clone, Copy)]
pub(crate) struct Place<'d> {
    pub block: &'d Block,
    pub index: usize,
    pub parent: Option<&'d Directive>,
}

impl<'d> Place<'d> {
    pub(crate) fn item(&self) -> &'d Item {
        &self.block.items[self.index]
    }
}

impl Document {
    /// Every `upstream` block, in file order.
    pub fn upstreams(&self) -> Vec<Upstream> {
        self.find_upstreams().into_iter().map(|u| u.view).collect()
    }

    /// The upstream block named `name` (exact match: `service_ihos` is not
    /// `service_ihos_gray`).
    pub fn upstream(&self, name: &str) -> Result<Upstream, EditError> {
        self.find_upstream(name).map(|u| u.view)
    }

    pub(crate) fn find_upstreams(&self) -> Vec<FoundUpstream<'_>> {
        let src = self.source();
        let mut found = Vec::new();
        self.walk(|d, _| {
            if d.is(src, "upstream") {
                if let (Some(name), Some(block)) = (d.first_arg(src), d.block()) {
                    let servers = servers_of(self, block);
                    let view = Upstream {
                        name,
                        line: self.line(d.name.span.start as usize),
                        servers,
                    };
                    found.push(FoundUpstream {
                        view,
                        directive: d,
                        block,
                        by_address: Default::default(),
                    });
                }
            }
        });
        found
    }

    pub(crate) fn find_upstream(&self, name: &str) -> Result<FoundUpstream<'_>, EditError> {
        let all = self.find_upstreams();
        let available: Vec<String> = all.iter().map(|u| u.view.name.clone()).collect();
        let mut matching: Vec<FoundUpstream<'_>> =
            all.into_iter().filter(|u| u.view.name == name).collect();
        match matching.len() {
            0 => Err(EditError::UnknownUpstream {
                name: name.to_string(),
                available,
            }),
            1 => Ok(matching.remove(0)),
            n => Err(EditError::AmbiguousUpstream {
                name: name.to_string(),
                count: n,
                lines: matching.iter().map(|u| u.view.line).collect(),
            }),
        }
    }

    /// Every `if` block, active or commented out, in file order.
    pub fn if_blocks(&self) -> Vec<IfBlock> {
        self.find_ifs().into_iter().map(|f| f.view).collect()
    }

    pub(crate) fn find_ifs(&self) -> Vec<FoundIf<'_>> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        collect_ifs(self, self.root(), None, &mut path, &mut out);
        out
    }
}

fn servers_of(doc: &Document, block: &Block) -> Vec<Server> {
    let src = doc.source();
    let mut servers = Vec::new();
    for (item_index, item) in block.items.iter().enumerate() {
        let (d, text, state, line) = match item {
            Item::Directive(d) if d.is(src, "server") => {
                let down = d.args.iter().skip(1).any(|a| a.token.raw(src) == b"down");
                let state = if down {
                    ServerState::Down
                } else {
                    ServerState::Enabled
                };
                (d, src, state, doc.line(d.name.span.start as usize))
            }
            Item::Disabled(dd) if dd.inner.directive.is(&dd.inner.text, "server") => {
                let d = &dd.inner.directive;
                let line = doc.line(dd.inner.to_file_offset(d.name.span.start as usize));
                (d, dd.inner.text.as_slice(), ServerState::Commented, line)
            }
            _ => continue,
        };
        let values = d.arg_values(text);
        let Some((address, params)) = values.split_first() else {
            continue;
        };
        servers.push(Server {
            address: address.clone(),
            params: params.to_vec(),
            state,
            line,
            item_index,
        });
    }
    servers
}

fn collect_ifs<'d>(
    doc: &'d Document,
    block: &'d Block,
    parent: Option<&'d Directive>,
    path: &mut Vec<String>,
    out: &mut Vec<FoundIf<'d>>,
) {
    let src = doc.source();
    for (index, item) in block.items.iter().enumerate() {
        let place = Place {
            block,
            index,
            parent,
        };
        match item {
            Item::Directive(d) => {
                if d.is(src, "if") {
                    let view = IfBlock {
                        condition: condition_text(src, d),
                        enabled: true,
                        line: doc.line(d.name.span.start as usize),
                        end_line: doc.line(d.span().end as usize - 1),
                        regex: regex_value(src, d),
                        operator: operator_value(src, d),
                        context: path.clone(),
                    };
                    out.push(FoundIf { view, place });
                }
                if let Some(inner) = d.block() {
                    path.push(String::from_utf8_lossy(d.name(src)).into_owned());
                    collect_ifs(doc, inner, Some(d), path, out);
                    path.pop();
                }
            }
            Item::Disabled(dd)
                if dd.inner.directive.is(&dd.inner.text, "if")
                    && dd.inner.directive.block().is_some() =>
            {
                let text = &dd.inner.text;
                let d = &dd.inner.directive;
                let view = IfBlock {
                    condition: condition_text(text, d),
                    enabled: false,
                    line: doc.line(dd.comments[0].span.start as usize),
                    end_line: doc.line(dd.span().end as usize - 1),
                    regex: regex_value(text, d),
                    operator: operator_value(text, d),
                    context: path.clone(),
                };
                out.push(FoundIf { view, place });
            }
            _ => {}
        }
    }
}
