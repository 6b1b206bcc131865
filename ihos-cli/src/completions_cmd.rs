//! `ihos completions SHELL` and `ihos man`: shell completion scripts and manual pages,
//! generated from the command-line grammar ([`crate::cli`]), so they never disagree with it.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::exit::CliError;
use crate::output;

/// The completion script for `shell`, on stdout.
pub fn completions(shell: Shell) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ihos", &mut script);
    output::stdout(&String::from_utf8_lossy(&script), Path::new("<stdout>"))
}

/// The manual page of `ihos` on stdout, or every command's page written into `dir`
/// (named as `man` finds them: `ihos.1`, `ihos-rollout.1`, `ihos-canary-open.1`, ...).
pub fn man(dir: Option<&Path>) -> Result<(), CliError> {
    // No `help` command in the pages: `man` is the help there.
    let cmd = Cli::command().disable_help_subcommand(true);
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(|e| CliError::io(Path::new("<stdout>"), "writing the manual page", e))?;
            output::stdout(&String::from_utf8_lossy(&page), Path::new("<stdout>"))
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::io(dir, "creating the directory", e))?;
            // Built once from the root, so each page's synopsis is the command as typed
            // (`ihos rollout ...`) with the global options.
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| CliError::io(dir, "writing the manual pages", e))?;
            output::message(&format!("manual pages written to {}", dir.display()));
            Ok(())
        }
    }
}
