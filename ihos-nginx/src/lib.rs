//! Lossless nginx configuration syntax tree and editor. Everything public is at the crate
//! root; the modules behind it are private.
//!
//! - [`Document`] parses bytes into a tree of [`Item`]s ([`Directive`]s, [`Comment`]s and
//!   [`DisabledDirective`]s, i.e. commented-out directives) that keeps every byte: rendering
//!   the tree gives back the input exactly. Tokenizing follows nginx's own
//!   `ngx_conf_read_token`, and text nginx would reject is a [`ParseError`] with line and
//!   column.
//! - The query functions ([`Document::upstreams`], [`Document::if_blocks`],
//!   [`Document::if_block`]) give typed views:
//!   [`Upstream`]s with their [`Server`]s and [`ServerState`], [`IfBlock`]s with conditions.
//! - Edit operations ([`Document::disable_server`], [`Document::enable_server`],
//!   [`Document::disable_block`], [`Document::enable_block`], [`Document::set_block_regex`],
//!   [`Document::set_block_condition`])
//!   change only the bytes of the target lines and return an [`Edit`]: the new text, whether
//!   anything changed, and a unified diff.
//!
//! Inside, `parser` reads `lexer` tokens into the `syntax` tree a `document` holds; its
//! child `parser::disabled` turns runs of comment lines into disabled directives,
//! `parser::incremental` reads a changed file again only around its `changes`, and `lua`
//! finds where raw Lua bodies end. `query` finds upstreams and `if` blocks in the tree. `edit` holds
//! [`Edit`], with one file per kind of edit (`edit::server`, `edit::if_block`) over shared
//! byte patches (`edit::patch`) and commenting (`edit::comment`); `diff` writes its diff.
//! Positions are in `span`, errors in `error`.
//!
//! This crate knows nothing of SSH, Docker or async runtimes: its only dependencies are
//! `nom`, `memchr` and `thiserror`. `examples/nginx_edit.rs` edits the runbook's config
//! (`cargo run --example nginx_edit -p ihos-nginx`).
//!
//! # Features
//!
//! - `serde` (off by default): `serde::Serialize` for the query types ([`Upstream`],
//!   [`Server`], [`ServerState`], [`IfBlock`]), e.g. for JSON output.
//!
//! ```
//! use ihos_nginx::{Document, DisableStyle, ServerState};
//!
//! let conf = "upstream app {\n    server 10.0.0.1:8080;\n    server 10.0.0.2:8080;\n}\n";
//! let doc = Document::parse(conf)?;
//! assert_eq!(doc.render(), conf.as_bytes());
//!
//! let edit = doc.disable_server("app", "10.0.0.1:8080", DisableStyle::Comment, false)?;
//! assert_eq!(edit.text_lossy(), "upstream app {\n    #server 10.0.0.1:8080;\n    server 10.0.0.2:8080;\n}\n");
//! let servers = &edit.document().upstream("app")?.servers;
//! assert_eq!(servers[0].state, ServerState::Commented);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
// The root re-exports below are the whole public API.
#![warn(unreachable_pub)]

mod changes;
mod diff;
mod document;
mod edit;
mod error;
mod lexer;
mod lua;
mod parser;
mod query;
mod span;
mod syntax;

pub use document::Document;
pub use edit::{BlockSelector, DisableStyle, Edit, GroupChange, RotationBatch, RotationChange};
pub use error::{EditError, ParseError, ParseErrorKind};
pub use query::{IfBlock, Server, ServerState, Upstream};
pub use span::{LineIndex, Position, Span};
pub use syntax::{
    Arg, Block, BlockBody, BlockContent, Comment, Directive, DirectiveEnd, DisabledDirective,
    InnerDirective, Item, Token, TokenKind,
};
