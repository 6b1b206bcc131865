//! `ihos canary ...`: canary cohorts. `regex` prints the nginx regex of a cohort (offline);
//! `check` is in `canary_check_cmd`, the commands acting on the deployment in
//! `canary_route_cmd`. The logic is ihos-core's (`Cohort`).

use std::path::Path;

use ihos_core::RegexStyle;
use serde::Serialize;

use crate::canary_analyze_cmd;
use crate::canary_check_cmd::{self, TOKEN_VARIABLE};
use crate::canary_ramp_cmd;
use crate::canary_route_cmd;
use crate::canary_trial_cmd;
use crate::cli::{CanaryCommand, CanaryRegexArgs, CohortStyle};
use crate::exit::CliError;
use crate::output;

/// Where machine output goes, for error messages.
const STDOUT: &str = "<stdout>";

/// Runs one `ihos canary` subcommand (`config`: the topology, for those that act on the
/// deployment).
pub fn run(config: &Path, cmd: CanaryCommand) -> Result<(), CliError> {
    match cmd {
        CanaryCommand::Regex(args) => regex(args),
        CanaryCommand::Check(args) => canary_check_cmd::check(config, args),
        CanaryCommand::Open(args) => {
            canary_route_cmd::open(config, &args.cohort.ids, args.style.into())
        }
        CanaryCommand::Close => canary_route_cmd::close(config),
        CanaryCommand::Analyze(args) => canary_analyze_cmd::analyze(config, args),
        CanaryCommand::Ramp(args) => canary_ramp_cmd::ramp(config, args),
        CanaryCommand::Status { json } => canary_route_cmd::status(config, json),
        CanaryCommand::Deploy {
            war,
            commit,
            yes,
            json,
            resume,
            trial,
        } => {
            if trial.analyze.is_some() {
                canary_trial_cmd::deploy_and_analyze(config, &war, commit, yes, json, trial)
            } else {
                canary_route_cmd::deploy(config, &war, commit, yes, json, resume)
            }
        }
    }
}

impl From<CohortStyle> for RegexStyle {
    fn from(s: CohortStyle) -> Self {
        match s {
            CohortStyle::Exact => RegexStyle::Exact,
            CohortStyle::Runbook => RegexStyle::Runbook,
        }
    }
}

/// `ihos canary regex --json`.
#[derive(Serialize)]
struct RegexJson<'a> {
    style: RegexStyle,
    operator: &'static str,
    regex: String,
    prefixes: &'a [String],
    condition: String,
}

fn regex(args: CanaryRegexArgs) -> Result<(), CliError> {
    let cohort = &args.cohort.ids;
    let style = RegexStyle::from(args.style);
    let regex = cohort.regex(style);
    let condition = cohort.condition(style, TOKEN_VARIABLE);
    output::message(&format!(
        "cohort {cohort}: {style} regex; nginx condition:\n  if {condition} {{ ... }}"
    ));
    output::message(match style {
        RegexStyle::Exact => {
            "use it with `~` (case-sensitive), not `~*`: base64 is case-sensitive, and with `~*` \
             its character classes also match other users' tokens (cohort 7 would take every \
             id starting with 1, cohort 1 every id starting with 8)"
        }
        RegexStyle::Runbook => {
            "the runbook's form, with `~*`: after a 1-character prefix it selects only ids \
             whose next character is below 0x40 (`12` but not `1b`), after a 3-character \
             prefix (e.g. 305) nobody; it can also match inside a JWT's header or signature. \
             `--style exact` with `~` selects exactly the cohort"
        }
    });
    let text = if args.json {
        let json = RegexJson {
            style,
            operator: style.operator(),
            regex,
            prefixes: cohort.prefixes(),
            condition,
        };
        serde_json::to_string(&json)
            .map_err(|e| CliError::io(Path::new(STDOUT), "encoding JSON", e.into()))?
            + "\n"
    } else {
        regex + "\n"
    };
    output::stdout(&text, Path::new(STDOUT))
}
