//! `ihos canary check`: what nginx does with a sample token. The rule evaluated is the live
//! canary rule (its own operator and regex, as nginx runs them) or, with `--ids`, the exact
//! rule `ihos canary open --ids` would write; the id the token carries and the cohort's
//! prefixes are shown beside it, and a disagreement between the two is called out.

use std::io::Read as _;
use std::path::Path;

use ihos_core::{
    CanaryRule, Cohort, RegexStyle, TokenError, TokenInfo, decode_token, is_exact_rule,
    rule_matches,
};
use serde::Serialize;

use crate::canary_route_cmd;
use crate::cli::CanaryCheckArgs;
use crate::exit::CliError;
use crate::output;

/// Where machine output goes, for error messages.
const STDOUT: &str = "<stdout>";

/// The request variable the runbook's canary rule tests.
pub const TOKEN_VARIABLE: &str = "$http_x_pep_token";

/// The rule a token is checked against.
struct Rule {
    /// `live` (the site file's rule) or `ids` (the exact rule for `--ids`).
    source: &'static str,
    /// Where the live rule is: file and line.
    place: Option<(String, u32)>,
    /// Whether the live rule is active; `None` for `--ids` (a rule not written yet).
    open: Option<bool>,
    /// The `if` condition, as written (live) or as it would be written (`--ids`).
    condition: String,
    operator: String,
    regex: String,
    /// The cohort its regex reads back as, if it is one ihos writes.
    cohort: Option<Cohort>,
}

impl Rule {
    fn of_ids(cohort: &Cohort) -> Rule {
        Rule {
            source: "ids",
            place: None,
            open: None,
            condition: cohort.condition(RegexStyle::Exact, TOKEN_VARIABLE),
            operator: RegexStyle::Exact.operator().into(),
            regex: cohort.regex(RegexStyle::Exact),
            cohort: Some(cohort.clone()),
        }
    }

    fn live(rule: CanaryRule) -> Result<Rule, CliError> {
        let (Some(operator), Some(regex)) = (rule.operator, rule.regex) else {
            return Err(CliError::Usage(format!(
                "the canary rule at {} line {} is not a regex match (if {}): ihos cannot tell whom it selects; pass --ids to check a cohort",
                rule.file, rule.line, rule.condition
            )));
        };
        Ok(Rule {
            source: "live",
            place: Some((rule.file, rule.line)),
            open: Some(rule.open),
            condition: rule.condition,
            cohort: Cohort::from_regex(&regex),
            operator,
            regex,
        })
    }

    fn name(&self) -> String {
        match &self.place {
            Some((file, line)) => format!("the live rule ({file} line {line})"),
            None => format!(
                "the exact rule for {} (as `ihos canary open --ids` writes it)",
                self.cohort
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string)
            ),
        }
    }
}

/// `ihos canary check --json`.
#[derive(Serialize)]
struct CheckJson<'a> {
    #[serde(flatten)]
    token: &'a TokenInfo,
    /// The cohort's prefixes (`None`: the live regex is not one ihos writes).
    prefixes: Option<&'a [String]>,
    /// The prefix view: whether a prefix starts the id.
    in_cohort: Option<bool>,
    prefix: Option<&'a str>,
    rule: RuleJson<'a>,
    /// Whether the rule's regex, with its operator, matches the token.
    rule_matches: bool,
    /// Whether nginx sends the token to the canary: the live rule while open; for `--ids`,
    /// the exact rule once opened.
    to_canary: bool,
    /// Whether the rule and the prefix view agree (`None`: no prefix view).
    agree: Option<bool>,
}

#[derive(Serialize)]
struct RuleJson<'a> {
    source: &'static str,
    file: Option<&'a str>,
    line: Option<u32>,
    open: Option<bool>,
    operator: &'a str,
    regex: &'a str,
    exact: bool,
}

/// Runs `ihos canary check` (`config`: the topology, for the live rule).
pub fn check(config: &Path, args: CanaryCheckArgs) -> Result<(), CliError> {
    let token = if args.token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::io(Path::new("<stdin>"), "reading the token", e))?;
        s.trim().to_string()
    } else {
        args.token
    };
    let decoded = decode_token(&token);
    let rule = match &args.ids {
        Some(ids) => Rule::of_ids(ids),
        None => Rule::live(canary_route_cmd::live_rule(config)?)?,
    };
    let matches = rule_matches(&rule.operator, &rule.regex, &token).map_err(|e| {
        CliError::Usage(format!(
            "{}: {e}; pass --ids to check a cohort",
            rule.name()
        ))
    })?;
    let exact = is_exact_rule(&rule.operator, &rule.regex);
    let to_canary = matches && rule.open != Some(false);
    output::message(&format!(
        "{}: {}if {}",
        rule.name(),
        match rule.open {
            Some(true) => "OPEN, ",
            Some(false) => "closed (commented out), ",
            None => "",
        },
        rule.condition
    ));
    output::message(&verdict(&rule, matches));

    let info = match decoded {
        Ok(info) => info,
        Err(e) => {
            if e == (TokenError::Parts { parts: 2 }) {
                output::message(
                    "two dot-separated parts are neither a JWT nor a payload alone: the regex reads them as payload.signature or header.payload, so nginx may route such a value by either part; ihos reads no id from it",
                );
            }
            return Err(e.into());
        }
    };
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
    let prefix = rule
        .cohort
        .as_ref()
        .and_then(|c| c.matching_prefix(&info.id));
    let agree = rule.cohort.as_ref().map(|_| prefix.is_some() == matches);
    output::message(&match &rule.cohort {
        Some(cohort) => match prefix {
            Some(p) => format!("in cohort {cohort} by prefix: yes, prefix {p}"),
            None => format!("in cohort {cohort} by prefix: no, no prefix starts its id"),
        },
        None => {
            "by prefix: unknown (the regex is not one ihos writes, so it has no cohort)".to_string()
        }
    });
    if agree == Some(false) {
        output::message(&disagreement(&rule, prefix, &info.id));
    } else if !exact && rule.cohort.is_some() {
        output::message(&format!(
            "note: the rule is not exact ({}): it agrees on this token, but may miss users of the cohort or take in others",
            not_exact_why(&rule)
        ));
    }

    if args.json {
        let (file, line) = match &rule.place {
            Some((f, l)) => (Some(f.as_str()), Some(*l)),
            None => (None, None),
        };
        let json = CheckJson {
            token: &info,
            prefixes: rule.cohort.as_ref().map(Cohort::prefixes),
            in_cohort: rule.cohort.as_ref().map(|_| prefix.is_some()),
            prefix,
            rule: RuleJson {
                source: rule.source,
                file,
                line,
                open: rule.open,
                operator: &rule.operator,
                regex: &rule.regex,
                exact,
            },
            rule_matches: matches,
            to_canary,
            agree,
        };
        let text = serde_json::to_string(&json)
            .map_err(|e| CliError::io(Path::new(STDOUT), "encoding JSON", e.into()))?;
        output::stdout(&(text + "\n"), Path::new(STDOUT))?;
    }
    Ok(())
}

/// What the rule does with the token, in words.
fn verdict(rule: &Rule, matches: bool) -> String {
    match (rule.open, matches) {
        (Some(false), true) => "nginx: the route is closed, nobody reaches the canary now; reopened as it stands, the rule would send this token to the canary".into(),
        (Some(false), false) => "nginx: the route is closed, nobody reaches the canary now; reopened as it stands, the rule would leave this token on the fleet".into(),
        (_, true) => "nginx: the rule sends this token to the canary".into(),
        (_, false) => "nginx: the rule leaves this token on the fleet".into(),
    }
}

/// Why a rule that reads back as a cohort is not exact.
fn not_exact_why(rule: &Rule) -> &'static str {
    let exact_form = rule
        .cohort
        .as_ref()
        .is_some_and(|c| c.regex(RegexStyle::Exact) == rule.regex);
    match (exact_form, rule.operator.as_str()) {
        (true, "~*") => "the exact regex under the case-insensitive `~*`",
        (true, _) => "the exact regex under an operator other than `~`",
        (false, "~*") => "the runbook's form under `~*`",
        (false, _) => "the runbook's form",
    }
}

/// The loud message for a rule and a prefix view that disagree on this token.
fn disagreement(rule: &Rule, prefix: Option<&str>, id: &str) -> String {
    let cohort = rule
        .cohort
        .as_ref()
        .map_or_else(String::new, ToString::to_string);
    let what = match prefix {
        Some(p) => format!(
            "id {id:?} starts with the cohort's prefix {p}, but the rule does NOT select it"
        ),
        None => {
            format!("id {id:?} starts with none of the cohort's prefixes, but the rule SELECTS it")
        }
    };
    format!(
        "WARNING: the rule and the cohort disagree: {what} ({}). `ihos canary open --ids {cohort}` writes the exact form with `~`, which selects exactly the ids starting with {cohort}",
        not_exact_why(rule)
    )
}
