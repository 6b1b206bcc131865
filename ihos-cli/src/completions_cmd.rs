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

/// The manual page of `ihos` on stdout, or every command's page written into `dir`.
pub fn man(dir: Option<&Path>) -> Result<(), CliError> {
    let cmd = Cli::command();
    match dir {
        None => {
            let page = render(&cmd)
                .map_err(|e| CliError::io(Path::new("<stdout>"), "writing the manual page", e))?;
            output::stdout(&String::from_utf8_lossy(&page), Path::new("<stdout>"))
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::io(dir, "creating the directory", e))?;
            let mut written = 0;
            write_pages(&cmd, "ihos", dir, &mut written)?;
            output::message(&format!(
                "{written} manual pages written to {}",
                dir.display()
            ));
            Ok(())
        }
    }
}

/// Writes `cmd`'s page as `NAME.1` and its subcommands' as `NAME-SUB.1`, recursively.
fn write_pages(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut usize,
) -> Result<(), CliError> {
    // The page's title is its file's name, as `man` shows it.
    let titled = cmd.clone().name(name.to_string());
    let page = render(&titled).map_err(|e| CliError::io(dir, "rendering a manual page", e))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page).map_err(|e| CliError::io(&path, "writing", e))?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

fn render(cmd: &clap::Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    Ok(page)
}
