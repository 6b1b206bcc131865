//! The `ihos canary` command line: its subcommands and their arguments (re-exported by
//! `cli`).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use ihos_core::Cohort;

/// `ihos canary` subcommands. Offline: nothing here reads the topology or contacts a host.
#[derive(Debug, Subcommand)]
pub enum CanaryCommand {
    /// Print the nginx regex that selects the users whose id starts with one of the
    /// prefixes (stdout: the regex; stderr: the operator to use with it, and why).
    Regex(CanaryRegexArgs),
    /// Check a sample token: whether the canary rule (the live one, or the exact one for
    /// --ids) sends it to the canary, as nginx evaluates it; which user id it carries and
    /// whether a prefix of the cohort starts it, loudly when the two disagree; or why no id
    /// can be read from it. Never prints the token back.
    Check(CanaryCheckArgs),
    /// Open the cohort route for these users: uncomment the canary `if` block and set its
    /// condition (exact regex, case-sensitive `~`). Only to a running, healthy canary;
    /// validated with `nginx -t` and reloaded, the previous file restored on failure.
    Open(CanaryOpenArgs),
    /// Close the cohort route (comment the canary `if` block out): nobody reaches the canary.
    Close,
    /// The route (open or closed, for which ids) and the canary's release against the fleet's.
    Status {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Judge the canary from the load balancers' access logs: its error rate (Fisher's exact
    /// test) and times (Mann-Whitney U) against the fleet's, over the same window, each try
    /// of a request nginx retried counted for its own backend. Exit 0 pass, 1 fail, 4
    /// inconclusive (too few requests). Needs `[canary.analysis]` in the topology.
    Analyze(AnalyzeArgs),
    /// Widen the canary's cohort step by step (--ids once per step), judging the canary
    /// from the access logs at each step as `canary analyze` does: any fail closes the
    /// route (exit 1); all passed leaves it open for the last cohort (exit 0); a step with
    /// too few requests after --max-wait, or Ctrl-C, puts the route back as it was (exit 4
    /// or 130) and `--resume` continues at that step. Journaled on the LB's host.
    Ramp(RampArgs),
    /// Deploy a WAR to the canary alone: close its route if open, drain, update with the same
    /// steps and checks as a rollout, reopen the route as it was.
    Deploy {
        /// The WAR to deploy.
        #[arg(long, value_name = "FILE")]
        war: PathBuf,
        /// The commit the WAR was built from, for the deployment record (default: from the
        /// WAR's sidecar).
        #[arg(long, value_name = "SHA")]
        commit: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// NDJSON events on stdout instead of progress on stderr.
        #[arg(long)]
        json: bool,
        /// Continue the interrupted canary deploy recorded in the journal (same WAR).
        #[arg(long, conflicts_with = "analyze")]
        resume: bool,
        #[command(flatten)]
        trial: TrialArgs,
    },
}

/// `ihos canary deploy --analyze` options.
#[derive(Debug, Args)]
pub struct TrialArgs {
    /// After the deploy, open the route (see --ids), watch the access logs for this long
    /// (e.g. 10m) and judge the canary as `ihos canary analyze` does: pass closes the route
    /// (see --promote); fail closes it and puts the canary's previous release back (exit
    /// 1); too few requests keeps watching up to --max-wait, then leaves the route as it
    /// was (exit 4).
    #[arg(long, value_name = "WINDOW")]
    pub analyze: Option<ihos_core::Dur>,
    /// On pass, roll the canary's WAR out to the fleet (`ihos rollout --from-canary`).
    #[arg(long, requires = "analyze")]
    pub promote: bool,
    /// Open the route for these users for the trial (comma-separated user-id prefixes);
    /// default: the route as the deploy leaves it, which must be open.
    #[arg(long = "ids", value_name = "PREFIXES", value_parser = Cohort::parse_list, requires = "analyze")]
    pub ids: Option<Cohort>,
    /// Longest wait for enough requests (default: three windows).
    #[arg(long, value_name = "DURATION", requires = "analyze")]
    pub max_wait: Option<ihos_core::Dur>,
}

/// `ihos canary ramp` options.
#[derive(Debug, Args)]
pub struct RampArgs {
    /// One step's cohort (comma-separated user-id prefixes); repeat for each step, widest
    /// last: --ids 1 --ids 1,3 --ids 1,3,5,7.
    #[arg(long = "ids", value_name = "PREFIXES", value_parser = Cohort::parse_list)]
    pub ids: Vec<Cohort>,
    /// How long each step is watched before it is judged (e.g. 10m).
    #[arg(long, value_name = "DURATION", required_unless_present = "resume")]
    pub step: Option<ihos_core::Dur>,
    /// Longest wait at a step for enough requests (default: three steps).
    #[arg(long, value_name = "DURATION")]
    pub max_wait: Option<ihos_core::Dur>,
    /// Continue the recorded unfinished ramp at the step it stopped in.
    #[arg(long, conflicts_with = "step")]
    pub resume: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Each step's analysis as one JSON line on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `ihos canary analyze` options.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Count lines from this time: RFC 3339 (2026-12-03T10:00:00+08:00), @SECONDS, or a
    /// duration before now (10m, 1h30m; now by this machine's clock, while nginx logs by
    /// the LB host's: keep them in sync). Default: since the canary route was last opened
    /// (as ihos recorded it), until it was closed if it is closed; with --access-log, the
    /// whole file.
    #[arg(long, value_name = "TIME", value_parser = crate::time_arg::parse_time)]
    pub since: Option<i64>,
    /// Count lines before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = crate::time_arg::parse_time)]
    pub until: Option<i64>,
    /// Read this local copy of the access log instead of the load balancers' (offline:
    /// no host is contacted; e.g. yesterday's log).
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
    /// One JSON object on stdout: {verdict, reason, metrics: [{name, canary, fleet,
    /// difference, p_value, result}], canary: {requests, errors, errors_retried,
    /// error_rate, p50_ms, p95_ms, p99_ms, backends}, fleet: {...}, thresholds,
    /// unparsed_lines, unparsed, lines, outside_window, not_proxied, unattributed,
    /// unattributed_addresses, window, sources}.
    #[arg(long)]
    pub json: bool,
}

/// `ihos canary open` options.
#[derive(Debug, Args)]
pub struct CanaryOpenArgs {
    #[command(flatten)]
    pub cohort: CohortArg,
    /// `exact` (default): the exact regex with the case-sensitive `~`. `runbook`: the
    /// runbook's form with `~*` (lets other users in and misses some; for comparison only).
    #[arg(long, value_enum, default_value_t = CohortStyle::Exact)]
    pub style: CohortStyle,
}

/// `ihos canary regex` options.
#[derive(Debug, Args)]
pub struct CanaryRegexArgs {
    #[command(flatten)]
    pub cohort: CohortArg,
    /// `exact`: selects exactly the cohort's tokens (JWT or payload alone, both base64
    /// alphabets), for nginx's case-sensitive `~`. `runbook`: the runbook's hand-written
    /// form, for comparison (`~*`; misses some ids).
    #[arg(long, value_enum, default_value_t = CohortStyle::Exact)]
    pub style: CohortStyle,
    /// One JSON object on stdout: {style, operator, regex, prefixes, condition}.
    #[arg(long)]
    pub json: bool,
}

/// `ihos canary check` options.
#[derive(Debug, Args)]
pub struct CanaryCheckArgs {
    /// The token (the x-pep-token header's value), or `-` to read it from stdin. A token
    /// is a credential and a command line is visible to every user of this machine (ps,
    /// /proc): prefer `-`.
    #[arg(long, value_name = "TOKEN|-", allow_hyphen_values = true)]
    pub token: String,
    /// The cohort: comma-separated user-id prefixes, checked with the exact rule `canary
    /// open --ids` writes (offline). Default: the live canary rule in the topology's site
    /// file, evaluated with its own operator and regex as nginx does (open or closed),
    /// beside the cohort it reads back as.
    #[arg(long = "ids", value_name = "PREFIXES", value_parser = Cohort::parse_list)]
    pub ids: Option<Cohort>,
    /// One JSON object on stdout: {id, jwt, alphabet, padded, payload_len, prefixes,
    /// in_cohort, prefix, rule: {source, file, line, open, operator, regex, exact},
    /// rule_matches, to_canary, agree}.
    #[arg(long)]
    pub json: bool,
}

/// The cohort of a canary command.
#[derive(Debug, Args)]
pub struct CohortArg {
    /// The cohort: comma-separated user-id prefixes (e.g. 1,3,5,7 or 12,305). A user is in
    /// it when their id starts with one of them.
    #[arg(long = "ids", value_name = "PREFIXES", value_parser = Cohort::parse_list)]
    pub ids: Cohort,
}

/// The form of a cohort regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CohortStyle {
    /// Exact, for nginx's case-sensitive `~`.
    Exact,
    /// The runbook's form, with `~*`.
    Runbook,
}
