//! `ihos canary ...`: canary cohorts. `regex` prints the nginx regex of a cohort, `check`
//! decodes a sample token against one. Both are offline; the logic is ihos-core's
//! (`Cohort`, `decode_token`).

use std::io::Read as _;
use std::path::Path;

use ihos_core::{Cohort, RegexStyle, TokenInfo, decode_token};
use serde::Serialize;

use crate::canary_fleet_cmd;
use crate::cli::{CanaryCheckArgs, CanaryCommand, CanaryRegexArgs, CohortStyle};
use crate::exit::CliError;
use crate::output;

/// The request variable the runbook's canary rule tests.
const TOKEN_VARIABLE: &str = "$http_x_pep_token";

/// Where machine output goes, for error messages.
const STDOUT: &str = "<stdout>";

/// Runs one `ihos canary` subcommand (`config`: the topology, for those that act on the
/// deployment).
pub fn run(config: &Path, cmd: CanaryCommand) -> Result<(), CliError> {
    match cmd {
        CanaryCommand::Regex(args) => regex(args),
        CanaryCommand::Check(args) => check(config, args),
        CanaryCommand::Open(args) => {
            canary_fleet_cmd::open(config, &args.cohort.ids, args.style.into())
        }
        CanaryCommand::Close => canary_fleet_cmd::close(config),
        CanaryCommand::Status { json } => canary_fleet_cmd::status(config, json),
        CanaryCommand::Deploy {
            war,
            commit,
            yes,
            json,
            resume,
        } => canary_fleet_cmd::deploy(config, &war, commit, yes, json, resume),
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

/// `ihos canary check --json`.
#[derive(Serialize)]
struct CheckJson<'a> {
    #[serde(flatten)]
    token: &'a TokenInfo,
    prefixes: &'a [String],
    in_cohort: bool,
    prefix: Option<&'a str>,
}

fn check(config: &Path, args: CanaryCheckArgs) -> Result<(), CliError> {
    let token = if args.token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::io(Path::new("<stdin>"), "reading the token", e))?;
        s.trim().to_string()
    } else {
        args.token
    };
    let info = decode_token(&token)?;
    let live;
    let cohort: &Cohort = match &args.ids {
        Some(ids) => ids,
        None => {
            live = canary_fleet_cmd::live_cohort(config)?;
            &live
        }
    };
    let prefix = cohort.matching_prefix(&info.id);
    output::message(&format!(
        "token: {}, payload {}{}, {} bytes",
        if info.jwt {
            "JWT (header.payload.signature)"
        } else {
            "payload alone"
        },
        info.alphabet,
        if info.padded { ", padded" } else { "" },
        info.payload_len
    ));
    output::message(&format!("user id: {}", info.id));
    output::message(&match prefix {
        Some(p) => format!(
            "in cohort {cohort}: yes, prefix {p} — the cohort's exact regex with `~` sends it to the canary"
        ),
        None => format!(
            "in cohort {cohort}: no, no prefix starts its id — the cohort's exact regex with `~` leaves it on the fleet"
        ),
    });
    if args.json {
        let json = CheckJson {
            token: &info,
            prefixes: cohort.prefixes(),
            in_cohort: prefix.is_some(),
            prefix,
        };
        let text = serde_json::to_string(&json)
            .map_err(|e| CliError::io(Path::new(STDOUT), "encoding JSON", e.into()))?;
        output::stdout(&(text + "\n"), Path::new(STDOUT))?;
    }
    Ok(())
}
