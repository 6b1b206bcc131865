//! `ihos canary analyze`: the canary judged from the load balancer's access log. Exit 0
//! pass, 1 fail, 4 inconclusive (too few requests).

use std::path::Path;

use ihos_core::{
    CanaryAnalysis, Metric, MetricResult, Since, Verdict, analyze_canary, analyze_local_log,
};

use crate::cli::AnalyzeArgs;
use crate::connect;
use crate::drive::{json_line, runtime};
use crate::exit::{CliError, FAILURE, INCONCLUSIVE, SUCCESS};
use crate::output;
use crate::table::Table;

/// Runs `ihos canary analyze`.
pub fn analyze(config: &Path, args: AnalyzeArgs) -> Result<(), CliError> {
    let since = match args.since {
        Some(t) => Since::At(t),
        None if args.access_log.is_some() => Since::Beginning,
        None => Since::RouteOpened,
    };
    let result = match &args.access_log {
        Some(file) => analyze_local_log(&connect::topology(config)?, file, since, args.until)?,
        None => {
            let fleet = connect::fleet(config)?;
            runtime()?.block_on(analyze_canary(&fleet, since, args.until))?
        }
    };
    if args.json {
        json_line(&result)?;
    } else {
        output::message(&describe(&result));
    }
    finish(&result)
}

/// The verdict as the exit code.
pub fn finish(result: &CanaryAnalysis) -> Result<(), CliError> {
    let code = verdict_code(result.analysis.verdict);
    if code == SUCCESS {
        return Ok(());
    }
    Err(CliError::Finished {
        code,
        summary: format!(
            "canary analysis: {} (exit {code})",
            result.analysis.verdict.as_str()
        ),
    })
}

/// 0 pass, 1 fail, 4 inconclusive.
pub fn verdict_code(v: Verdict) -> u8 {
    match v {
        Verdict::Pass => SUCCESS,
        Verdict::Fail => FAILURE,
        Verdict::Inconclusive => INCONCLUSIVE,
    }
}

fn time(ms: Option<i64>) -> String {
    ms.and_then(|m| jiff::Timestamp::from_millisecond(m).ok())
        .map_or("-".into(), |t| {
            t.round(jiff::Unit::Second)
                .map_or_else(|_| t.to_string(), |t| t.to_string())
        })
}

fn percent(v: Option<f64>) -> String {
    v.map_or("-".into(), |r| format!("{:.2}%", r * 100.0))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |m| format!("{m:.0} ms"))
}

fn p_value(p: Option<f64>) -> String {
    match p {
        None => "".into(),
        Some(p) if p < 1e-4 => format!("{p:.1e}"),
        Some(p) => format!("{p:.4}"),
    }
}

fn result(m: &Metric) -> &'static str {
    match m.result {
        MetricResult::Pass => "pass",
        MetricResult::Fail => "FAIL",
        MetricResult::None => "",
    }
}

/// The table a person reads.
pub fn describe(r: &CanaryAnalysis) -> String {
    let a = &r.analysis;
    let mut out = format!(
        "canary analysis: {}: {}\n",
        a.verdict.as_str().to_uppercase(),
        a.reason
    );
    let w = &r.window;
    out.push_str(&format!(
        "window: {} {} to {} (lines logged {} to {})\n",
        match w.from {
            "route_opened" => "since the canary route was opened,",
            "watch" => "watched from",
            "since" => "from --since,",
            _ => "the whole log,",
        },
        time(w.since_ms),
        w.until_ms.map_or("now".into(), |u| time(Some(u))),
        time(w.first_line_ms),
        time(w.last_line_ms)
    ));
    for s in &r.sources {
        out.push_str(&format!(
            "read: {} {} ({} bytes{})\n",
            s.host,
            s.path,
            s.bytes,
            if s.rotated_file_read {
                ", and its rotated .1"
            } else {
                ""
            }
        ));
        if let Some(gap) = &s.gap {
            out.push_str(&format!("  warning: {gap}\n"));
        }
    }
    let mut t = Table::new([
        "metric",
        "canary",
        "fleet",
        "difference",
        "p-value",
        "result",
    ]);
    for m in &a.metrics {
        let (name, canary, fleet, diff) = match m.name {
            "error_rate" => (
                "error rate".to_string(),
                percent(m.canary),
                percent(m.fleet),
                m.difference
                    .map_or("-".into(), |d| format!("{:+.2} points", d * 100.0)),
            ),
            "latency" => (
                "latency (Mann-Whitney U)".to_string(),
                format!("median {}", ms(m.canary)),
                format!("median {}", ms(m.fleet)),
                m.difference
                    .map_or("-".into(), |d| format!("{d:+.0} ms shift")),
            ),
            other => (
                format!("  {}", other.trim_start_matches("latency_")),
                ms(m.canary),
                ms(m.fleet),
                m.difference.map_or("-".into(), |d| format!("{d:+.0} ms")),
            ),
        };
        t.row(
            vec![
                name,
                canary,
                fleet,
                diff,
                p_value(m.p_value),
                result(m).into(),
            ],
            vec![],
        );
    }
    t.row(
        vec![
            "requests (tries)".into(),
            a.canary.requests.to_string(),
            a.fleet.requests.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ],
        vec![],
    );
    t.row(
        vec![
            "errors (retried by nginx)".into(),
            format!("{} ({})", a.canary.errors, a.canary.errors_retried),
            format!("{} ({})", a.fleet.errors, a.fleet.errors_retried),
            String::new(),
            String::new(),
            String::new(),
        ],
        vec![],
    );
    out.push_str(&t.render());
    let th = &a.thresholds;
    out.push_str(&format!(
        "\nfails when p < {} and the canary is worse by at least {:.2} points of errors or {} ms; \
         fewer than {} requests a side is inconclusive\n",
        th.alpha,
        th.min_error_rate_increase * 100.0,
        th.min_latency_increase_ms,
        th.min_requests
    ));
    out.push_str(&format!(
        "lines: {} read, {} unparsed, {} outside the window, {} answered by nginx itself, {} \
         tries to other backends\n",
        r.lines, r.unparsed_lines, r.outside_window, r.not_proxied, r.unattributed
    ));
    for u in &r.unparsed {
        out.push_str(&format!(
            "  unparsed: line {} column {}: expected {}\n",
            u.line, u.column, u.expected
        ));
    }
    if !r.unattributed_addresses.is_empty() {
        let list: Vec<String> = r
            .unattributed_addresses
            .iter()
            .map(|(a, n)| format!("{a} ({n})"))
            .collect();
        out.push_str(&format!(
            "  backends of neither side: {} (backends written as names in the topology \
             are logged by nginx as addresses; an upstream's name means nginx found no live \
             server in it: if it is the canary's, set [canary.analysis] canary_upstream)\n",
            list.join(", ")
        ));
    }
    out.trim_end().to_string()
}
