//! The public surface of ihos-core, pinned: `src/lib.rs` declares only private modules, and
//! the names it re-exports are exactly the list below. A new public item is a decision:
//! re-export it at the root and add its name here in the same change.
//!
//! (rustdoc's JSON output would show the surface directly, but it is nightly-only; the
//! root's source is the surface, because `#![warn(unreachable_pub)]` keeps every other
//! `pub` item from being reachable.)

use std::collections::BTreeSet;

/// Every public name of ihos-core (the mocks only with the `mocks` feature).
const PUBLIC: &[&str] = &[
    // Canary analysis from the access log.
    "Analysis",
    "AnalysisConfig",
    "AnalyzeError",
    "AnalyzeWindow",
    "Analyzer",
    "BackendCount",
    "Backends",
    "COMBINED",
    "CanaryAnalysis",
    "Escape",
    "Field",
    "Fingerprint",
    "FormatError",
    "Fraction",
    "Histogram",
    "LineReader",
    "LogCursor",
    "LogFormat",
    "LogRead",
    "LogSource",
    "MannWhitney",
    "Metric",
    "MetricResult",
    "Mismatch",
    "RouteTimes",
    "Side",
    "SideSummary",
    "SideTally",
    "Since",
    "Tally",
    "Thresholds",
    "Unparsed",
    "Verdict",
    "Window",
    "analyze_canary",
    "analyze_local_log",
    "fisher_greater",
    "hodges_lehmann",
    "mann_whitney_greater",
    "read_head",
    "read_new",
    "end_of",
    "run_canary_rollback",
    "watch_canary",
    "watch_start",
    "WatchError",
    "WatchOptions",
    "WatchProgress",
    "WatchStart",
    "RampJournal",
    "RampState",
    "ramp_journal",
    "save_ramp_journal",
    // Kept releases.
    "BadReleaseRef",
    "InstanceReleases",
    "KeptRelease",
    "ReleaseRef",
    "RunningRelease",
    "describe_kept",
    "find_kept_release",
    "releases",
    "run_rollback_to",
    // Commands, names and hosts.
    "Command",
    "ContainerName",
    "DEFAULT_COMMAND_TIMEOUT",
    "HostKeyPolicy",
    "InvalidName",
    "JumpHost",
    "LocalTransport",
    "MockTransport",
    "Output",
    "Privilege",
    "RemotePath",
    "SshAuth",
    "SshOptions",
    "SshTarget",
    "SshTransport",
    "Transport",
    "TransportError",
    "Uploaded",
    "run_checked",
    "shell_quote",
    // Configuration.
    "AuthConfig",
    "AuthMethod",
    "CanaryConfig",
    "ConfigError",
    "DrainPolicy",
    "Dur",
    "HealthConfig",
    "HostConfig",
    "HostKeyPolicyConfig",
    "InstanceConfig",
    "LbConfig",
    "LoadOptions",
    "OnFailure",
    "Policy",
    "TeamCityConfig",
    // Telling the team, and hooks.
    "HookConfig",
    "HookOn",
    "HookRun",
    "InstanceProblem",
    "Lang",
    "Notice",
    "Notifier",
    "NotifyConfig",
    "NotifyKind",
    "NotifyOn",
    "NotifyingSink",
    "RunInfo",
    "RunKind",
    "WarInfo",
    "Topology",
    // The OpenSSH client config.
    "FromConfig",
    "HostSettings",
    "JumpHop",
    "Origin",
    "SshConfig",
    "SshConfigError",
    "StrictHostKeyChecking",
    // Containers and the load balancer.
    "ApplyMode",
    "Backend",
    "Container",
    "ContainerError",
    "ContainerState",
    "Process",
    "DisableStyle",
    "DockerCli",
    "Health",
    "LbChange",
    "LbError",
    "Left",
    "LoadBalancer",
    "MockContainer",
    "MockLoadBalancer",
    "MultiCanaryRoute",
    "MultiLb",
    "NginxLb",
    "NginxLbOptions",
    "ServerState",
    // Digests and transfers.
    "Downloaded",
    "SettingOrigin",
    "Sha256",
    "short_sha",
    // The fleet, the plan.
    "UnknownInstance",
    "LbHandle",
    "HostCheck",
    "check_hosts",
    // ihos init.
    "DiscoverConnectError",
    "DiscoverError",
    "DiscoverOptions",
    "Discovered",
    "DiscoveredInstance",
    "DiscoveredLb",
    "HostOf",
    "connect_addresses",
    "discover",
    "render_discovered",
    "LbRotation",
    "lb_rotations",
    "Plan",
    "PlannedInstance",
    "PlannedStep",
    "plan",
    // How instances fail in a run.
    "InstanceFailure",
    "Problem",
    "StepError",
    // The rollout and the operations around it.
    "CancelToken",
    "DeploymentRecord",
    "EVENT_SCHEMA",
    "Event",
    "EventRecord",
    "EventSink",
    "Fleet",
    "FleetError",
    "InstanceHandle",
    "InstanceStatus",
    "InstanceView",
    "Journal",
    "JournalEntry",
    "LockOwner",
    "OpError",
    "Outcome",
    "RolloutError",
    "RolloutOptions",
    "RolloutReport",
    "Step",
    "StopLevel",
    "WarError",
    "WarFile",
    "drain_instance",
    "enable_instance",
    "history",
    "journal",
    "lock_release",
    "lock_status",
    "run_rollback",
    "run_rollout",
    "status",
    // Canary cohorts.
    "Base64Alphabet",
    "Cohort",
    "CohortError",
    "MAX_REGEX_LEN",
    "RegexStyle",
    "RuleMatchError",
    "TokenError",
    "TokenInfo",
    "decode_token",
    "is_exact_rule",
    "rule_matches",
    // TeamCity.
    "BuildArtifact",
    "BuildRevision",
    "FetchError",
    "FetchOptions",
    "FetchProgress",
    "FetchedWar",
    "SidecarCheck",
    "TeamCityBuild",
    "TeamCityClient",
    "WarSidecar",
    // The canary.
    "CanaryError",
    "CanaryRoute",
    "CanaryRule",
    "CanaryStatus",
    "MockCanaryRoute",
    "NginxCanaryRoute",
    "Release",
    "canary_status",
    "canary_war",
    "close_canary",
    "open_canary",
    "run_canary_deploy",
];

fn lib_rs() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs");
    std::fs::read_to_string(path).expect("read src/lib.rs")
}

/// The code of `lib.rs`: comments (`//`, `//!`, `///`) removed, so its documentation can
/// say `pub mod` or show `pub use` lines.
fn code(source: &str) -> String {
    source
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The statements of `code` that start with `pub` (anything from `pub` to the next `;`
/// or `{`), whitespace collapsed.
fn pub_statements(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = find_word(rest, "pub") {
        let tail = &rest[i..];
        let end = tail.find([';', '{']).map_or(tail.len(), |e| {
            // A `pub use a::{b, c};` goes on to its `;`.
            if tail[..e]
                .trim_start_matches("pub")
                .trim_start()
                .starts_with("use")
            {
                tail.find(';').unwrap_or(tail.len())
            } else {
                e
            }
        });
        out.push(tail[..end].split_whitespace().collect::<Vec<_>>().join(" "));
        rest = &tail[end..];
    }
    out
}

/// Where `word` occurs in `text` as a whole word.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(i) = text[from..].find(word).map(|i| i + from) {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(i);
        }
        from = i + word.len();
    }
    None
}

/// The names a use tree (`a::{b, c::D as E, f::{self, G}}`) brings in.
fn use_names(tree: &str, names: &mut Vec<String>) -> Result<(), String> {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let prefix = tree[..open].trim_end_matches("::");
        let inner = tree[open + 1..]
            .strip_suffix('}')
            .ok_or_else(|| format!("unbalanced braces in {tree:?}"))?;
        for part in split_top_level(inner) {
            if part.trim() == "self" {
                let last = prefix.rsplit("::").next().unwrap_or(prefix);
                names.push(last.to_string());
            } else if !part.trim().is_empty() {
                use_names(part, names)?;
            }
        }
        return Ok(());
    }
    if tree.ends_with('*') {
        return Err(format!(
            "glob re-export {tree:?}: it widens the surface unseen"
        ));
    }
    let name = match tree.split_once(" as ") {
        Some((_, alias)) => alias.trim(),
        None => tree.rsplit("::").next().unwrap_or(tree),
    };
    names.push(name.to_string());
    Ok(())
}

/// `a, b::{c, d}, e` → `a`, `b::{c, d}`, `e`.
fn split_top_level(list: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// The names `lib.rs` makes public, or what in it is not a plain re-export.
fn surface(source: &str) -> Result<BTreeSet<String>, Vec<String>> {
    let mut names = Vec::new();
    let mut problems = Vec::new();
    for statement in pub_statements(&code(source)) {
        if statement.starts_with("pub(") {
            // pub(crate) and the like: not part of the surface.
            continue;
        }
        match statement.strip_prefix("pub use ") {
            Some(tree) => {
                if let Err(e) = use_names(tree, &mut names) {
                    problems.push(e);
                }
            }
            None => problems.push(format!(
                "`{statement}`: lib.rs only re-exports (`pub use`); modules stay private"
            )),
        }
    }
    let set: BTreeSet<String> = names.iter().cloned().collect();
    if set.len() != names.len() {
        problems.push(format!("a name is re-exported twice: {names:?}"));
    }
    if problems.is_empty() {
        Ok(set)
    } else {
        Err(problems)
    }
}

#[test]
fn lib_rs_declares_only_private_modules_and_re_exports() {
    let source = lib_rs();
    if let Err(problems) = surface(&source) {
        panic!("src/lib.rs:\n{}", problems.join("\n"));
    }
    // The check read the file: it found the (private) modules behind the re-exports.
    let code = code(&source);
    let mods: Vec<&str> = code
        .lines()
        .filter_map(|l| l.trim().strip_prefix("mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert!(
        mods.contains(&"rollout") && mods.contains(&"transport"),
        "{mods:?}"
    );
}

#[test]
fn the_public_names_are_exactly_the_pinned_list() {
    let got = surface(&lib_rs()).unwrap_or_else(|p| panic!("src/lib.rs:\n{}", p.join("\n")));
    let pinned: BTreeSet<String> = PUBLIC.iter().map(|s| s.to_string()).collect();
    assert_eq!(pinned.len(), PUBLIC.len(), "a name is listed twice");
    let added: Vec<&String> = got.difference(&pinned).collect();
    let removed: Vec<&String> = pinned.difference(&got).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the public surface changed: new {added:?}, gone {removed:?}; if intended, update \
         PUBLIC in ihos-core/tests/surface.rs"
    );
}

/// The checker itself: it catches what it is there to catch.
#[test]
fn the_checker_rejects_public_modules_items_and_globs() {
    let ok = "//! Docs may say `pub mod x;`.\nmod a;\npub(crate) mod h;\n\
              pub use a::{B, c::{self, D as E}};\n\
              #[cfg(feature = \"mocks\")]\npub use a::MockB; // a comment: pub mod y;\n";
    let names: Vec<String> = surface(ok).unwrap().into_iter().collect();
    assert_eq!(names, ["B", "E", "MockB", "c"]);

    for bad in [
        "pub mod a;\n",
        "pub(crate) mod a;\npub mod b {\n}\n",
        "mod a;\npub const N: u32 = 1;\n",
        "mod a;\npub fn f() {}\n",
        "mod a;\npub struct S;\n",
        "mod a;\npub use a::*;\n",
        "mod a;\npub use a::B;\npub use a::c::B;\n",
    ] {
        assert!(surface(bad).is_err(), "accepted: {bad:?}");
    }
}
