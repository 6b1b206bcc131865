//! Build locators as teamcity-rest reads them (`Locator.java`, `BuildPromotionFinder`,
//! `BranchFinder`), for what a client of builds asks:
//! - dimensions split at top-level commas, a value in parentheses is a nested locator,
//!   `$base64:` values are unescaped (`Locator.getBase64UnescapedSingleValue`);
//! - the default filter (`BuildPromotionFinder.setLocatorDefaults`): unless
//!   `defaultFilter:false`, `state:finished`, `personal:false`, `canceled:false`,
//!   `failedToStart:false` and `branch:(default:true)` for what the locator leaves out;
//! - branches (`BranchFinder.getBranchFilterDetails`): a single value or `name:V` matches
//!   the display name or the logical name ignoring case (`<default>` is the default
//!   branch's); `name:(value:V,ignoreCase:B)` the display name only, case-sensitive unless
//!   told; `default:true|false|any`; the VCS name (`refs/heads/...`) is never compared;
//!   a build not branched is `<not_branched>` and counts as default.

use base64::Engine as _;

use super::FakeBuild;

/// `true`, `false` or `any` (teamcity-rest `LocatorUtil.getBooleanAllowingAny`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Yes,
    No,
    Any,
}

impl Flag {
    fn parse(dim: &str, v: &str) -> Result<Flag, String> {
        match v.to_ascii_lowercase().as_str() {
            "true" => Ok(Flag::Yes),
            "false" => Ok(Flag::No),
            "any" | "all" => Ok(Flag::Any),
            _ => Err(format!(
                "Invalid value '{v}' of dimension '{dim}': should be 'true', 'false' or 'any'."
            )),
        }
    }

    fn admits(self, value: bool) -> bool {
        match self {
            Flag::Yes => value,
            Flag::No => !value,
            Flag::Any => true,
        }
    }
}

/// How a branch is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BranchName {
    /// Ignoring case, the display or the logical name (`<any>`: every branch).
    Compatible(String),
    /// The display name only.
    Condition { value: String, ignore_case: bool },
}

#[derive(Debug, Clone, Default)]
struct BranchFilter {
    name: Option<BranchName>,
    default: Option<Flag>,
}

impl BranchFilter {
    fn parse(value: &str) -> Result<BranchFilter, String> {
        let dims = dimensions(value)?;
        if dims.is_empty() || !value.contains(':') {
            return Ok(BranchFilter {
                name: Some(BranchName::Compatible(unescape(value)?)),
                default: None,
            });
        }
        let mut f = BranchFilter::default();
        for (name, raw) in dims {
            match name {
                "name" if raw.starts_with('(') => {
                    let mut value = None;
                    let mut ignore_case = false;
                    for (n, v) in dimensions(inner(raw))? {
                        match n {
                            "value" => value = Some(unescape(v)?),
                            "ignoreCase" => ignore_case = Flag::parse(n, v)? == Flag::Yes,
                            "matchType" if v == "equals" => {}
                            other => return Err(unknown(other)),
                        }
                    }
                    let value = value.ok_or("No 'value' in the name condition")?;
                    f.name = Some(BranchName::Condition { value, ignore_case });
                }
                "name" => f.name = Some(BranchName::Compatible(unescape(raw)?)),
                "default" => f.default = Some(Flag::parse(name, raw)?),
                other => return Err(unknown(other)),
            }
        }
        Ok(f)
    }

    fn admits(&self, b: &FakeBuild) -> bool {
        let (name, display) = b.branch_names();
        let by_name = match &self.name {
            None => true,
            Some(BranchName::Compatible(v)) => {
                v == "<any>" || v.eq_ignore_ascii_case(&name) || v.eq_ignore_ascii_case(&display)
            }
            Some(BranchName::Condition { value, ignore_case }) => {
                if *ignore_case {
                    value.eq_ignore_ascii_case(&display)
                } else {
                    *value == display
                }
            }
        };
        by_name && self.default.is_none_or(|d| d.admits(b.default_branch))
    }
}

/// A build list's locator, read.
#[derive(Debug, Clone)]
pub(super) struct BuildQuery {
    /// The build configuration asked for.
    pub(super) build_type: Option<String>,
    status: Option<String>,
    state: Option<String>,
    branch: BranchFilter,
    personal: Flag,
    canceled: Flag,
    failed_to_start: Flag,
    pub(super) count: usize,
}

impl BuildQuery {
    /// Reads `locator`; the error is the message of a `LocatorProcessException`.
    pub(super) fn parse(locator: &str) -> Result<BuildQuery, String> {
        let mut q = BuildQuery {
            build_type: None,
            status: None,
            state: None,
            branch: BranchFilter::default(),
            personal: Flag::Any,
            canceled: Flag::Any,
            failed_to_start: Flag::Any,
            count: usize::MAX,
        };
        let mut default_filter = true;
        let (mut personal, mut canceled, mut failed, mut branch) = (None, None, None, None);
        for (name, raw) in dimensions(locator)? {
            let value = || unescape(inner(raw));
            match name {
                "buildType" => {
                    let v = inner(raw);
                    q.build_type = Some(v.strip_prefix("id:").unwrap_or(v).to_string());
                }
                "status" => q.status = Some(value()?),
                "state" => q.state = Some(value()?),
                "branch" => branch = Some(BranchFilter::parse(inner(raw))?),
                "personal" => personal = Some(Flag::parse(name, raw)?),
                "canceled" => canceled = Some(Flag::parse(name, raw)?),
                "failedToStart" => failed = Some(Flag::parse(name, raw)?),
                "defaultFilter" => default_filter = Flag::parse(name, raw)? != Flag::No,
                "count" => q.count = raw.parse().map_err(|_| format!("Invalid count '{raw}'"))?,
                other => return Err(unknown(other)),
            }
        }
        let default = |given: Option<Flag>| {
            given.unwrap_or(if default_filter { Flag::No } else { Flag::Any })
        };
        q.personal = default(personal);
        q.canceled = default(canceled);
        q.failed_to_start = default(failed);
        if default_filter && q.state.is_none() {
            q.state = Some("finished".into());
        }
        q.branch = branch.unwrap_or(BranchFilter {
            name: None,
            default: default_filter.then_some(Flag::Yes),
        });
        Ok(q)
    }

    /// Whether build `b` is one of the builds asked for.
    pub(super) fn admits(&self, b: &FakeBuild) -> bool {
        self.build_type.as_ref().is_none_or(|t| b.build_type == *t)
            && self
                .status
                .as_ref()
                .is_none_or(|s| b.status.eq_ignore_ascii_case(s))
            && self.state.as_ref().is_none_or(|s| b.state == *s)
            && self.personal.admits(b.personal)
            && self.canceled.admits(b.canceled)
            && self.failed_to_start.admits(b.failed_to_start)
            && self.branch.admits(b)
    }
}

fn unknown(dim: &str) -> String {
    format!("Locator dimension '{dim}' is unknown.")
}

/// `(x)` -> `x`; anything else as it is.
fn inner(v: &str) -> &str {
    v.strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or(v)
}

/// A `$base64:` value decoded (URL-safe alphabet first, then the standard one).
fn unescape(v: &str) -> Result<String, String> {
    let Some(encoded) = v.strip_prefix("$base64:") else {
        return Ok(v.to_string());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(encoded))
        .map_err(|_| format!("Invalid Base64url character sequence: '{encoded}'"))?;
    String::from_utf8(bytes)
        .map_err(|_| format!("Error converting decoded '{encoded}' value bytes to UTF-8 string"))
}

/// The `name:value` dimensions of a locator, split at the commas outside parentheses; a
/// value in parentheses keeps them.
fn dimensions(locator: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in locator.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&locator[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(format!("Could not find matching '(' for ')' at {i}"));
        }
    }
    if depth != 0 {
        return Err("Could not find matching ')'".into());
    }
    if start < locator.len() {
        parts.push(&locator[start..]);
    }
    Ok(parts
        .into_iter()
        .map(|p| p.split_once(':').unwrap_or((p, "")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admits(locator: &str, b: &FakeBuild) -> bool {
        BuildQuery::parse(locator).unwrap().admits(b)
    }

    #[test]
    fn the_default_filter_applies_to_what_the_locator_leaves_out() {
        let master = FakeBuild::new(1, "1");
        let feature = FakeBuild::new(2, "2").branch("feature/Login");
        let personal = FakeBuild::new(3, "3").personal();
        let canceled = FakeBuild::new(4, "4").canceled();
        let plain = FakeBuild::new(5, "5").not_branched();
        assert!(admits("buildType:(id:IHos_App)", &master));
        assert!(!admits("buildType:(id:IHos_App)", &feature));
        assert!(!admits("buildType:(id:IHos_App)", &personal));
        assert!(!admits("buildType:(id:IHos_App)", &canceled));
        assert!(
            admits("buildType:(id:IHos_App)", &plain),
            "not branched counts as default"
        );
        assert!(admits("defaultFilter:false", &personal));
        assert!(admits("personal:any", &personal));
        assert!(admits("branch:feature/login", &feature), "ignoring case");
        assert!(admits("branch:(name:FEATURE/LOGIN)", &feature));
        assert!(
            !admits("branch:(name:(value:feature/login))", &feature),
            "case-sensitive"
        );
        assert!(admits(
            "branch:(name:(value:feature/login,ignoreCase:true))",
            &feature
        ));
        assert!(
            !admits("branch:(name:refs/heads/feature/Login)", &feature),
            "never the VCS name"
        );
        assert!(admits("branch:(name:<default>)", &master));
        assert!(admits("branch:master", &master));
        assert!(
            !admits("branch:(name:master)", &plain),
            "a build not branched has no name"
        );
        assert!(admits("branch:(default:any)", &feature));
        assert!(admits("branch:default:any", &feature));
        assert!(admits("branch:<any>", &feature));
        let odd = FakeBuild::new(6, "6").branch("fix(a),b:c");
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("fix(a),b:c");
        assert!(admits(
            &format!("branch:(name:(value:$base64:{encoded},ignoreCase:true))"),
            &odd
        ));
        assert!(
            BuildQuery::parse("nope:1")
                .unwrap_err()
                .contains("'nope' is unknown")
        );
        assert!(BuildQuery::parse("branch:(name:x").is_err());
    }
}
