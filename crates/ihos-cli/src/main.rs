//! `ihos`: zero-downtime rolling deploys of Java web apps behind nginx.
//!
//! A thin binary: parse the command line, run one command, map its result to an exit code
//! (see [`exit`]). Human messages go to stderr, machine output (JSON, diffs) to stdout.

mod backup;
mod cli;
mod exit;
mod local_file;
mod nginx_cmd;
mod nginx_show;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help/--version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(exit::INPUT));
        }
    };
    let result = match cli.command {
        cli::Command::Nginx(cmd) => nginx_cmd::run(cmd),
    };
    if let Err(e) = &result {
        output::message(&e.to_string());
    }
    exit::exit_code(&result)
}
