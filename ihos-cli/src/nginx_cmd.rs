//! `ihos nginx ...`: offline commands on a local nginx configuration file.
//!
//! Read and parse the file, ask `ihos-nginx` for a view or an edit, then print it or write it
//! back in place (see [`crate::local_file`]). Nothing here talks to nginx or to any host.

use std::path::Path;

use ihos_nginx::{BlockSelector, DisableStyle, Document, Edit, EditError};

use crate::cli::{BlockTarget, NginxCommand, Style, WriteOptions};
use crate::exit::CliError;
use crate::local_file;
use crate::nginx_show_cmd;
use crate::output;

/// Runs one `ihos nginx` subcommand.
pub fn run(cmd: NginxCommand) -> Result<(), CliError> {
    match cmd {
        NginxCommand::Check { file } => check(&file),
        NginxCommand::Show { file, json } => show(&file, json),
        NginxCommand::Disable {
            target,
            style,
            force,
            write,
        } => edit(&target.file, &write, |doc| {
            doc.disable_server(&target.upstream, &target.server, style.into(), force)
        }),
        NginxCommand::Enable { target, write } => edit(&target.file, &write, |doc| {
            doc.enable_server(&target.upstream, &target.server)
        }),
        NginxCommand::DisableBlock { target, write } => {
            let selector = selector(&target);
            edit(&target.file, &write, |doc| doc.disable_block(&selector))
        }
        NginxCommand::EnableBlock { target, write } => {
            let selector = selector(&target);
            edit(&target.file, &write, |doc| doc.enable_block(&selector))
        }
        NginxCommand::SetRegex {
            target,
            regex,
            write,
        } => {
            let selector = selector(&target);
            edit(&target.file, &write, |doc| {
                doc.set_block_regex(&selector, &regex)
            })
        }
    }
}

impl From<Style> for DisableStyle {
    fn from(s: Style) -> Self {
        match s {
            Style::Comment => DisableStyle::Comment,
            Style::Down => DisableStyle::Down,
        }
    }
}

/// The selector clap guaranteed to be present (exactly one of the two).
fn selector(t: &BlockTarget) -> BlockSelector {
    match (&t.if_contains, t.line) {
        (Some(text), _) => BlockSelector::ConditionContains(text.clone()),
        (None, Some(line)) => BlockSelector::Line(line),
        // Unreachable through clap's required group; an impossible line selects nothing.
        (None, None) => BlockSelector::Line(0),
    }
}

/// Reads and parses `file`.
fn load(file: &Path) -> Result<Document, CliError> {
    let bytes = local_file::read(file)?;
    Document::parse(bytes).map_err(|error| CliError::Parse {
        file: file.to_path_buf(),
        error,
    })
}

fn check(file: &Path) -> Result<(), CliError> {
    load(file)?;
    output::message(&format!("{}: ok", file.display()));
    Ok(())
}

fn show(file: &Path, json: bool) -> Result<(), CliError> {
    let doc = load(file)?;
    let upstreams = doc.upstreams();
    let if_blocks = doc.if_blocks();
    let text = if json {
        let name = file.to_string_lossy();
        nginx_show_cmd::json(&name, &upstreams, &if_blocks)
            .map_err(|e| CliError::io(file, "encoding JSON", e.into()))?
    } else {
        nginx_show_cmd::human(&upstreams, &if_blocks)
    };
    output::stdout(&text, file)
}

/// The common flow of every editing command.
fn edit(
    file: &Path,
    opts: &WriteOptions,
    make: impl FnOnce(&Document) -> Result<Edit, EditError>,
) -> Result<(), CliError> {
    let doc = load(file)?;
    let edit = make(&doc).map_err(|error| CliError::Edit {
        file: file.to_path_buf(),
        error,
    })?;
    let label = file.display().to_string();
    if !edit.is_changed() {
        output::message(&format!("{label}: {}; nothing written", edit.message()));
        return Ok(());
    }
    // `a/` + an absolute path would read `a//etc/...`
    let diff = edit.diff(label.trim_start_matches('/'));
    if opts.dry_run {
        output::message(&format!(
            "{label}: dry run: {}; nothing written",
            edit.message()
        ));
        return output::stdout(&diff, file);
    }
    let backup = local_file::write_in_place(file, doc.source(), edit.text(), !opts.no_backup)?;
    match backup {
        Some(b) => output::message(&format!(
            "{label}: {} (backup: {})",
            edit.message(),
            b.display()
        )),
        None => output::message(&format!("{label}: {} (no backup kept)", edit.message())),
    }
    output::stdout(&diff, file)
}
