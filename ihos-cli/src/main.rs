//! `ihos`: zero-downtime rolling deploys of Java web apps behind nginx.
//!
//! A thin binary: parse the command line, run one command, map its result to an exit code
//! (see [`exit`]). Human messages go to stderr, machine output (JSON, diffs) to stdout.

mod backup;
mod canary_check;
mod canary_cmd;
mod canary_fleet_cmd;
mod cli;
mod connect;
mod exit;
mod fetch_cmd;
mod fleet_cmd;
mod local_file;
mod nginx_cmd;
mod nginx_show;
mod output;
mod progress;

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
        cli::Command::Validate => fleet_cmd::validate(&cli.config),
        cli::Command::Fetch {
            build,
            output,
            json,
        } => fetch_cmd::fetch(&cli.config, build, &output, json),
        cli::Command::Plan { war, only, offline } => {
            fleet_cmd::plan(&cli.config, &war, &only, offline)
        }
        cli::Command::Rollout(args) => fleet_cmd::rollout(&cli.config, args),
        cli::Command::Rollback { only, yes, json } => {
            fleet_cmd::rollback(&cli.config, only, yes, json)
        }
        cli::Command::Status { json } => fleet_cmd::status(&cli.config, json),
        cli::Command::Drain { instance } => fleet_cmd::drain(&cli.config, &instance),
        cli::Command::Enable { instance } => fleet_cmd::enable(&cli.config, &instance),
        cli::Command::History { json } => fleet_cmd::history(&cli.config, json),
        cli::Command::Lock(cmd) => fleet_cmd::lock(&cli.config, cmd),
        cli::Command::Canary(cmd) => canary_cmd::run(&cli.config, cmd),
    };
    if let Err(e) = &result {
        output::message(&e.to_string());
    }
    exit::exit_code(&result)
}
