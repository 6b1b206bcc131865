//! `ihos`: zero-downtime rolling deploys of Java web apps behind nginx.
//!
//! A thin binary: parse the command line ([`cli`]), run one command, map its result to an
//! exit code ([`exit`]). Each command family has its file, `*_cmd.rs` (`rollout_cmd`,
//! `plan_cmd`, `status_cmd`, `canary_route_cmd`, `nginx_cmd`, `completions_cmd`, ...); what they share is in
//! [`drive`] (runtime, confirmation, the driver of a rollout: progress, Ctrl-C, exit code),
//! [`war_input`], [`progress`], [`table`] and [`output`]. The logic is the libraries':
//! ihos-core and ihos-nginx. Human messages go to stderr, machine output (JSON, diffs) to
//! stdout.

mod backup;
mod canary_analyze_cmd;
mod canary_check_cmd;
mod canary_cmd;
mod canary_ramp_cmd;
mod canary_route_cmd;
mod canary_trial_cmd;
mod cli;
mod cli_canary;
mod completions_cmd;
mod connect;
mod diagnostic;
mod drive;
mod effective;
mod exit;
mod fetch_cmd;
mod hosts_cmd;
mod init_cmd;
mod instance_cmd;
mod local_file;
mod lock_cmd;
mod nginx_cmd;
mod nginx_show_cmd;
mod notify;
mod output;
mod plan_cmd;
mod progress;
mod releases_cmd;
mod rollout_cmd;
mod status_cmd;
mod table;
mod time_arg;
mod topology_cmd;
mod war_input;

use std::process::ExitCode;

use clap::Parser;

/// The libraries' tracing events on stderr: warnings by default, more with `RUST_LOG`
/// (e.g. `RUST_LOG=ihos_core=debug`); colour only on a terminal without `NO_COLOR`.
fn init_logging() {
    use std::io::IsTerminal;
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // ureq's debug and trace lines hold whole URLs: a chat robot's carries its token.
    if let Ok(quiet) = "ureq=info".parse() {
        filter = filter.add_directive(quiet);
    }
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false);
    // Asked for (RUST_LOG), the logs say when, in seconds since the start: with the
    // transport's per-command lines, where a step's time goes.
    let _ = if std::env::var_os("RUST_LOG").is_some() {
        logs.with_timer(tracing_subscriber::fmt::time::uptime())
            .try_init()
    } else {
        logs.without_time().try_init()
    };
}

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help/--version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(exit::INPUT));
        }
    };
    init_logging();
    connect::set_ssh_config(cli.ssh_config.clone());
    let result = match cli.command {
        cli::Command::Nginx(cmd) => nginx_cmd::run(cmd),
        cli::Command::Validate { effective, json } => {
            topology_cmd::validate(&cli.config, effective, json)
        }
        cli::Command::Init(args) => init_cmd::init(&args, cli.ssh_config.clone()),
        cli::Command::Completions { shell } => completions_cmd::completions(shell),
        cli::Command::Man { dir } => completions_cmd::man(dir.as_deref()),
        cli::Command::Fetch {
            build,
            output,
            json,
        } => fetch_cmd::fetch(&cli.config, build, &output, json),
        cli::Command::Plan {
            war,
            only,
            offline,
            json,
        } => plan_cmd::run(&cli.config, &war, &only, offline, json),
        cli::Command::Rollout(args) => rollout_cmd::rollout(&cli.config, args),
        cli::Command::Rollback {
            to,
            only,
            yes,
            json,
        } => rollout_cmd::rollback(&cli.config, to, only, yes, json),
        cli::Command::Releases { instance, json } => {
            releases_cmd::releases(&cli.config, instance.as_deref(), json)
        }
        cli::Command::Status { json } => status_cmd::status(&cli.config, json),
        cli::Command::Drain { instance } => instance_cmd::drain(&cli.config, &instance),
        cli::Command::Enable { instance } => instance_cmd::enable(&cli.config, &instance),
        cli::Command::History { json } => status_cmd::history(&cli.config, json),
        cli::Command::Lock(cmd) => lock_cmd::run(&cli.config, cmd),
        cli::Command::Hosts(cli::HostsCommand::Check { json }) => {
            hosts_cmd::check(&cli.config, json)
        }
        cli::Command::Canary(cmd) => canary_cmd::run(&cli.config, cmd),
    };
    if let Err(e) = &result {
        output::message(&e.to_string());
        if let Some(snippet) = diagnostic::render(e, diagnostic::colour()) {
            output::snippet(&snippet);
        }
    }
    exit::exit_code(&result)
}
