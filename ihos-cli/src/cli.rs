//! Command-line grammar (clap derive). Parsing only: no behaviour lives here.

use std::path::PathBuf;

pub use crate::cli_canary::{
    AnalyzeArgs, CanaryCheckArgs, CanaryCommand, CanaryRegexArgs, CohortStyle, RampArgs, TrialArgs,
};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// `ihos --version`: the version and the commit it was built from (see `build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("IHOS_BUILD_COMMIT"),
    ")"
);

/// ihos: zero-downtime rolling deploys of Java web apps behind nginx.
#[derive(Debug, Parser)]
#[command(name = "ihos", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// The topology file (hosts, load balancer, instances, policy).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "IHOS_CONFIG",
        default_value = "ihos.toml",
        value_name = "FILE"
    )]
    pub config: PathBuf,
    /// An OpenSSH client config to read hosts' connection settings from (HostName, Port,
    /// User, IdentityFile, ProxyJump, UserKnownHostsFile, StrictHostKeyChecking), instead
    /// of the topology's `ssh_config`.
    #[arg(long, global = true, env = "IHOS_SSH_CONFIG", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Offline nginx configuration commands (read and edit a local file; nothing is reloaded).
    #[command(subcommand)]
    Nginx(NginxCommand),
    /// Check the topology file and print what it describes.
    Validate {
        /// Also print every instance's settings as they will be used (after `[defaults]`,
        /// per-host defaults and templates), each with the file:line it came from.
        #[arg(long)]
        effective: bool,
        /// With --effective: one JSON object per instance on stdout
        /// (`{"instance", "canary", "settings": [{"key", "value", "from"}]}`).
        #[arg(long, requires = "effective")]
        json: bool,
    },
    /// Write a topology from what is running: the load balancer's nginx config and upstream
    /// (over SSH to --lb), then on each backend's host the container publishing its port
    /// and that container's webapps and logs. What cannot be found is a commented TODO;
    /// no secret is written. Connections as for every command (--ssh-config, ~/.ssh).
    Init(InitArgs),
    /// Print a completion script for a shell on stdout.
    ///
    /// bash: `ihos completions bash > /etc/bash_completion.d/ihos`; zsh: into a directory of
    /// `$fpath` as `_ihos`; fish: `~/.config/fish/completions/ihos.fish`; PowerShell: add
    /// the output to `$PROFILE`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, or write one page per command into a
    /// directory (`ihos.1`, `ihos-rollout.1`, ...; `man -l ihos.1` reads one).
    Man {
        /// Write every page into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Download the latest successful TeamCity build's WAR as ihos.war (+ ihos.war.json).
    ///
    /// The server and build configuration come from the topology's `[teamcity]` section, the
    /// token from the environment variable it names. The sidecar ihos.war.json names the
    /// build and its commit; rollout and plan read it. Running it again after a broken
    /// download resumes it.
    Fetch {
        /// This build (its TeamCity build id) instead of the latest successful one.
        #[arg(long, value_name = "ID")]
        build: Option<u64>,
        /// Where to save the WAR; its sidecar goes next to it as FILE.json.
        #[arg(long, short = 'o', value_name = "FILE", default_value = "ihos.war")]
        output: PathBuf,
        /// Print the sidecar (build, commit, sha256, ...) as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print the exact steps of a rollout without changing anything.
    Plan {
        /// The WAR to deploy.
        #[arg(long, value_name = "FILE")]
        war: PathBuf,
        /// Only these instances.
        #[arg(long, value_name = "INSTANCE", num_args = 1..)]
        only: Vec<String>,
        /// Do not contact the hosts (no current state in the plan).
        #[arg(long)]
        offline: bool,
        /// Print the plan as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Roll a new WAR out to the instances, one at a time, with zero downtime.
    Rollout(RolloutArgs),
    /// Put instances back on their previous release (kept by the rollout that replaced it),
    /// or with --to on any release they keep (`ihos releases`).
    Rollback {
        /// The kept release to go back to: a SHA-256 or commit prefix (4 characters or
        /// more) or a build number; `sha:`, `commit:` or `build:` before it says which.
        #[arg(long, value_name = "REF")]
        to: Option<ihos_core::ReleaseRef>,
        /// Only these instances (all when omitted).
        #[arg(long, value_name = "INSTANCE", num_args = 1..)]
        only: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// NDJSON events on stdout instead of progress on stderr.
        #[arg(long)]
        json: bool,
    },
    /// The releases each instance keeps on its host (policy.keep_releases) and the one it
    /// runs.
    Releases {
        /// Only this instance.
        instance: Option<String>,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Per instance: in rotation or not, container, health, deployed version.
    Status {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Take an instance out of rotation and wait until it is idle.
    Drain {
        /// The instance.
        instance: String,
    },
    /// Put an instance back into rotation (only if its container is running and healthy).
    Enable {
        /// The instance.
        instance: String,
    },
    /// The audit log: every deployment, newest last.
    History {
        /// NDJSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The rollout lock on the load balancer's host.
    #[command(subcommand)]
    Lock(LockCommand),
    /// The hosts themselves.
    #[command(subcommand)]
    Hosts(HostsCommand),
    /// The canary: the cohort rule that sends some users (by id prefix) to it, its route,
    /// its deploys (promote its WAR with `rollout --from-canary`).
    #[command(subcommand)]
    Canary(CanaryCommand),
}

/// `ihos rollout` options.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// The WAR to deploy (checked before anything changes).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "from_canary",
        conflicts_with = "from_canary"
    )]
    pub war: Option<PathBuf>,
    /// Roll out the exact WAR the canary runs (same sha256, with its recorded commit).
    #[arg(long)]
    pub from_canary: bool,
    /// Only these instances.
    #[arg(long, value_name = "INSTANCE", num_args = 1..)]
    pub only: Vec<String>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// NDJSON events on stdout instead of progress on stderr.
    #[arg(long)]
    pub json: bool,
    /// Continue the interrupted rollout recorded in the journal (same WAR).
    #[arg(long)]
    pub resume: bool,
    /// With --resume: take over the interrupted rollout's lock even though ihos cannot
    /// check from here that its process is gone (it ran on another machine). Make sure it is.
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// The commit the WAR was built from, for the deployment records.
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// Run the same rollout against simulated hosts built from the topology, in virtual
    /// time (no host is contacted), and check the safety invariants throughout.
    #[arg(long)]
    pub simulate: bool,
}

/// `ihos lock` subcommands.
#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Who holds the lock, since when.
    Status,
    /// Break the lock (after making sure its rollout is dead).
    Release {
        /// Release it even though it is not this machine's rollout.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// Connect to every host at once (through its jump hosts), and on hosts that run
    /// containers check `sudo -n docker version`: what a rollout needs, nothing changed.
    Check {
        /// One JSON object per host on stdout.
        #[arg(long)]
        json: bool,
    },
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
    /// Do not keep a `.FILE.ihos-<UTC timestamp>.bak` copy of the original next to FILE.
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

/// `ihos init`'s arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The load balancer's host (address, or a Host of the ssh config).
    #[arg(long, value_name = "HOST")]
    pub lb: String,
    /// The nginx container on it.
    #[arg(long, value_name = "NAME")]
    pub nginx_container: String,
    /// The upstream holding the app's backends.
    #[arg(long, value_name = "NAME")]
    pub upstream: String,
    /// The login user of every host (unless the ssh config names one).
    #[arg(long)]
    pub user: Option<String>,
    /// nginx's config inside its container.
    #[arg(long, default_value = "/etc/nginx/nginx.conf", value_name = "PATH")]
    pub config_in_container: String,
    /// Where to write the topology ('-': stdout).
    #[arg(long, short = 'o', default_value = "ihos.toml", value_name = "FILE")]
    pub out: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}
