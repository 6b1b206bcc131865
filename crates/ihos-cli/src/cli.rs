//! Command-line grammar (clap derive). Parsing only: no behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ihos: zero-downtime rolling deploys of Java web apps behind nginx.
#[derive(Debug, Parser)]
#[command(name = "ihos", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Offline nginx configuration commands (read and edit a local file; nothing is reloaded).
    #[command(subcommand)]
    Nginx(NginxCommand),
}

#[derive(Debug, Subcommand)]
pub enum NginxCommand {
    /// Parse FILE as nginx would; report the first syntax error as FILE:LINE:COL: message.
    Check {
        /// The nginx configuration file.
        file: PathBuf,
    },
    /// List upstreams with their servers, and `if` blocks (active or commented out).
    Show {
        /// The nginx configuration file.
        file: PathBuf,
        /// Print one JSON object to stdout instead of the human listing.
        #[arg(long)]
        json: bool,
    },
    /// Take a server of an upstream out of rotation (comment it out, or mark it `down`).
    Disable {
        #[command(flatten)]
        target: ServerTarget,
        /// How to take the server out: comment out the line (the runbook's way) or add `down`.
        #[arg(long, value_enum, default_value_t = Style::Comment)]
        style: Style,
        /// Disable it even if it is the last enabled server of the upstream.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Put a server of an upstream back into rotation (uncomment it, or remove `down`).
    Enable {
        #[command(flatten)]
        target: ServerTarget,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Comment out an `if` block (e.g. close the canary route).
    DisableBlock {
        #[command(flatten)]
        target: BlockTarget,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Uncomment a commented-out `if` block (e.g. open the canary route).
    EnableBlock {
        #[command(flatten)]
        target: BlockTarget,
        #[command(flatten)]
        write: WriteOptions,
    },
    /// Replace the regex of an `if` block's condition (active or commented out).
    SetRegex {
        #[command(flatten)]
        target: BlockTarget,
        /// The new regex; written as a double-quoted nginx string.
        #[arg(long, value_name = "REGEX", allow_hyphen_values = true)]
        regex: String,
        #[command(flatten)]
        write: WriteOptions,
    },
}

/// FILE, upstream and server of a server edit.
#[derive(Debug, Args)]
pub struct ServerTarget {
    /// The nginx configuration file (edited in place).
    pub file: PathBuf,
    /// The upstream block's name (exact match).
    #[arg(long, value_name = "NAME")]
    pub upstream: String,
    /// The server's address as written in the file.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
}

/// FILE and exactly one selector of an `if` block edit.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("selector").required(true).multiple(false)))]
pub struct BlockTarget {
    /// The nginx configuration file (edited in place).
    pub file: PathBuf,
    /// Select the block whose condition contains TEXT (must match exactly one block).
    #[arg(
        long,
        value_name = "TEXT",
        group = "selector",
        allow_hyphen_values = true
    )]
    pub if_contains: Option<String>,
    /// Select the block whose `if` starts on line N (1-based; see `ihos nginx show`).
    #[arg(long, value_name = "N", group = "selector")]
    pub line: Option<u32>,
}

/// Options shared by every editing command.
#[derive(Debug, Args)]
pub struct WriteOptions {
    /// Print the unified diff to stdout and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not keep a FILE.ihos-<UTC timestamp>.bak copy of the original next to FILE.
    #[arg(long)]
    pub no_backup: bool,
}

/// How `disable` takes a server out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Style {
    /// Comment the `server` line out with `#`.
    Comment,
    /// Add nginx's `down` parameter.
    Down,
}
