//! The canary commands that act on the deployment: `ihos canary open|close|status|deploy`.

use std::path::Path;

use ihos_core::{
    CanaryError, CanaryRule, CanaryStatus, Cohort, RegexStyle, RolloutOptions, canary_status,
    close_canary, is_exact_rule, open_canary, run_canary_deploy, short_sha,
};

use crate::connect;
use crate::drive::{confirm, drive, json_line, not_confirmed, runtime};
use crate::exit::CliError;
use crate::output;
use crate::war_input::open_war;

/// `ihos canary open`.
pub fn open(config: &Path, cohort: &Cohort, style: RegexStyle) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let regex = cohort.regex(style);
    let change = runtime()?.block_on(open_canary(&fleet, style.operator(), &regex))?;
    output::message(&if change.changed() {
        format!(
            "canary route open for ids starting with {cohort} ({} {regex:?}): {}",
            style.operator(),
            change.message
        )
    } else {
        format!("canary route already open for {cohort}: {}", change.message)
    });
    Ok(())
}

/// The live canary rule (open or closed), as the topology's site file says.
pub fn live_rule(config: &Path) -> Result<CanaryRule, CliError> {
    let fleet = connect::fleet(config)?;
    let route = fleet.canary_route.as_ref().ok_or(CanaryError::NoCanary)?;
    let rule = runtime()?
        .block_on(route.rule())
        .map_err(CanaryError::from)?;
    Ok(rule)
}

/// `ihos canary close`.
pub fn close(config: &Path) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let change = runtime()?.block_on(close_canary(&fleet))?;
    output::message(&if change.changed() {
        format!("canary route closed: {}", change.message)
    } else {
        format!("canary route already closed: {}", change.message)
    });
    Ok(())
}

/// `ihos canary status`.
pub fn status(config: &Path, json: bool) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let st = runtime()?.block_on(canary_status(&fleet))?;
    if json {
        return json_line(&st);
    }
    output::message(&describe(&st));
    Ok(())
}

fn describe(st: &CanaryStatus) -> String {
    let mut out = String::new();
    match &st.rule {
        Some(r) if r.open => out.push_str(&format!(
            "canary route: OPEN ({} line {}): if {}\n  users whose id starts with: {}\n",
            r.file,
            r.line,
            r.condition,
            st.cohort
                .as_ref()
                .map_or("(a regex ihos does not write)".to_string(), |c| c
                    .join(", "))
        )),
        Some(r) => out.push_str(&format!(
            "canary route: closed ({} line {}, commented out)\n",
            r.file, r.line
        )),
        None => out.push_str("canary route: unknown\n"),
    }
    if let Some(note) = st
        .rule
        .as_ref()
        .and_then(|r| not_exact_note(r, st.cohort.as_deref()))
    {
        out.push_str(&note);
    }
    let c = &st.canary;
    let release = |sha: Option<&str>, commit: Option<&str>| match sha {
        Some(s) => format!(
            "sha256 {}{}",
            short_sha(s),
            commit.map(|c| format!(", commit {c}")).unwrap_or_default()
        ),
        None => "nothing recorded".into(),
    };
    out.push_str(&format!(
        "canary {} on {}: {}, {}, {}\n",
        c.instance,
        c.host,
        c.container
            .as_ref()
            .map_or("container ?".to_string(), |s| format!(
                "container {}",
                s.status
            )),
        if c.healthy { "healthy" } else { "NOT healthy" },
        release(
            c.deployed.as_ref().map(|d| d.sha256.as_str()),
            c.deployed.as_ref().and_then(|d| d.commit.as_deref())
        )
    ));
    for r in &st.fleet {
        out.push_str(&format!(
            "fleet: {} on {}\n",
            release(r.sha256.as_deref(), r.commit.as_deref()),
            r.instances.join(", ")
        ));
    }
    out.push_str(if st.canary.deployed.is_none() {
        "no deployment recorded on the canary (`ihos canary deploy --war FILE` gives it one)"
    } else if st.ahead {
        "the canary runs a release the fleet does not run everywhere (`ihos rollout --from-canary` promotes it)"
    } else {
        "the canary runs the fleet's release"
    });
    for e in &st.errors {
        out.push_str(&format!("\nerror: {e}"));
    }
    out
}

/// A note for a rule that is not exact: under `~*`, or in the runbook's form. `None` for
/// the exact rule, and for a regex ihos does not write under `~` (the route line says so).
fn not_exact_note(rule: &CanaryRule, cohort: Option<&[String]>) -> Option<String> {
    let (operator, regex) = (rule.operator.as_deref()?, rule.regex.as_deref()?);
    let runbook_form =
        Cohort::from_regex(regex).is_some_and(|c| c.regex(RegexStyle::Runbook) == regex);
    if is_exact_rule(operator, regex) || (operator != "~*" && !runbook_form) {
        return None;
    }
    let why = match (runbook_form, operator == "~*") {
        (true, true) => "the runbook's form, under the case-insensitive `~*`",
        (true, false) => "the runbook's form",
        (false, _) => "the case-insensitive `~*` on a case-sensitive base64 token",
    };
    let ids = cohort.map_or_else(|| "PREFIXES".to_string(), |c| c.join(","));
    Some(format!(
        "  note: the rule is not exact ({why}): it may miss users of the cohort (the runbook's form misses e.g. id 1b for prefix 1) or select others (under `~*` the exact regex for 7 also takes every id starting with 1); `ihos canary check --token -` shows what it does with a token, and `ihos canary open --ids {ids}` writes the exact form with `~`\n"
    ))
}

/// `ihos canary deploy`.
pub fn deploy(
    config: &Path,
    war: &Path,
    commit: Option<String>,
    yes: bool,
    json: bool,
    resume: bool,
) -> Result<(), CliError> {
    let war = open_war(war, commit)?;
    let fleet = connect::fleet(config)?;
    let name = fleet
        .canary
        .as_ref()
        .map(|c| c.name().to_string())
        .ok_or(CanaryError::NoCanary)?;
    if !yes
        && !confirm(&format!(
            "Deploy {} (sha256 {}) to the canary {name}? Its cohort route is closed meanwhile and reopened as it was.",
            war.path.display(),
            war.short_sha()
        ))?
    {
        return Err(not_confirmed());
    }
    let options = RolloutOptions::new().resume(resume);
    let told = crate::notify::notifier(&fleet, ihos_core::RunKind::CanaryDeploy, Some(&war));
    drive(
        runtime()?,
        json,
        "ihos canary deploy --resume --war ...",
        Some(told),
        |sink, cancel| {
            Box::pin(async move { run_canary_deploy(&fleet, &war, &options, sink, cancel).await })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(operator: &str, regex: &str) -> CanaryRule {
        CanaryRule {
            file: "sites-enabled/ihos".into(),
            open: true,
            condition: format!("($http_x_pep_token {operator} \"{regex}\")"),
            operator: Some(operator.into()),
            regex: Some(regex.into()),
            line: 5,
        }
    }

    #[test]
    fn only_an_inexact_rule_gets_the_note() {
        let cohort = Cohort::parse_list("1,3,5,7").unwrap();
        let ids: Vec<String> = cohort.prefixes().to_vec();
        let exact = cohort.regex(RegexStyle::Exact);
        let runbook = cohort.regex(RegexStyle::Runbook);
        assert_eq!(not_exact_note(&rule("~", &exact), Some(&ids)), None);
        for (op, regex, why) in [
            (
                "~*",
                runbook.as_str(),
                "the runbook's form, under the case-insensitive `~*`",
            ),
            ("~", runbook.as_str(), "the runbook's form)"),
            ("~*", exact.as_str(), "the case-insensitive `~*`"),
        ] {
            let note = not_exact_note(&rule(op, regex), Some(&ids))
                .unwrap_or_else(|| panic!("{op} {regex}: no note"));
            assert!(note.contains(why), "{op} {regex}: {note}");
            assert!(
                note.contains("`ihos canary open --ids 1,3,5,7` writes the exact form with `~`"),
                "{note}"
            );
        }
        // A hand-written regex: no cohort to suggest, and no note under `~`.
        assert_eq!(not_exact_note(&rule("~", "^abc"), None), None);
        let note = not_exact_note(&rule("~*", "^abc"), None).unwrap();
        assert!(note.contains("--ids PREFIXES"), "{note}");
        let mut no_regex = rule("~", "x");
        no_regex.operator = None;
        no_regex.regex = None;
        assert_eq!(not_exact_note(&no_regex, None), None);
    }
}
