//! The optional `[teamcity]` section: where `ihos fetch` gets the WAR.
//!
//! ```toml
//! [teamcity]
//! url = "https://teamcity.example.com"
//! build_type = "IHos_App"
//! # artifact = "ihos.war"              # default: the one *.war among the build's artifacts
//! # token_env = "IHOS_TEAMCITY_TOKEN"  # the NAME of the variable holding the token
//! # branch = "release"                 # default: the build configuration's default branch
//! # vcs_root = "IHos_Git"              # with several VCS roots: the one whose commit is recorded
//! # fetch_timeout = "30m"               # the whole fetch, download included (at most 24h)
//! ```

use serde::{Deserialize, Serialize};

use super::Dur;
use super::validate::{Invalid, check_duration, check_env_name, invalid};

/// A TeamCity server and the build configuration whose WAR `ihos fetch` downloads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeamCityConfig {
    /// Base URL of the server (`http://` or `https://`), e.g. `https://ci.example.com`.
    pub url: String,
    /// The build configuration's id, e.g. `IHos_App`.
    pub build_type: String,
    /// Path of the WAR among the build's artifacts (default: the only `*.war` at their top
    /// level).
    #[serde(default)]
    pub artifact: Option<String>,
    /// Name of the environment variable holding the access token (default
    /// `IHOS_TEAMCITY_TOKEN`). The token itself never goes into configuration.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Only builds of this branch (default: the build configuration's default branch),
    /// matched as TeamCity does: ignoring case, its name as TeamCity shows it (`release`)
    /// or its VCS name (`refs/heads/release`).
    #[serde(default)]
    pub branch: Option<String>,
    /// The VCS root (its id, e.g. `IHos_Git`, or its name) whose revision is the commit
    /// recorded for the WAR, when the build configuration has several (the app's
    /// repository beside, say, the build scripts'). With several and none named, a fetch
    /// refuses and lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcs_root: Option<String>,
    /// Allow an `http://` URL to a host other than this machine. The access token then
    /// crosses the network in clear text: only for a network where that is acceptable.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Time for a whole `ihos fetch`, the download included (default 30 minutes, at most
    /// 24 hours): a server that answers slowly or stalls cannot hold a run forever. An
    /// interrupted download resumes on the next fetch.
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout: Dur,
}

fn default_fetch_timeout() -> Dur {
    Dur::secs(30 * 60)
}

/// Whether `url` (an `http(s)://host[:port][/path]` URL) names this machine.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return false;
    };
    let host = uri.host().unwrap_or_default();
    // An IPv6 literal keeps its brackets in the URI's host.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The default of [`TeamCityConfig::token_env`].
const DEFAULT_TOKEN_ENV: &str = "IHOS_TEAMCITY_TOKEN";

fn default_token_env() -> String {
    DEFAULT_TOKEN_ENV.into()
}

impl TeamCityConfig {
    /// A configuration for `url` and `build_type` with every other key at its default.
    pub fn new(url: impl Into<String>, build_type: impl Into<String>) -> Self {
        TeamCityConfig {
            url: url.into(),
            build_type: build_type.into(),
            artifact: None,
            token_env: default_token_env(),
            branch: None,
            vcs_root: None,
            allow_insecure_http: false,
            fetch_timeout: default_fetch_timeout(),
        }
    }

    /// The server URL without trailing `/`.
    pub fn base_url(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    pub(super) fn check(&self) -> Result<(), Invalid> {
        check_duration("teamcity.fetch_timeout", self.fetch_timeout)?;
        if self.fetch_timeout.0.is_zero() {
            return Err(invalid(
                "teamcity.fetch_timeout",
                "0s leaves no time to fetch",
            ));
        }
        let url = &self.url;
        let uri = url.parse::<ureq::http::Uri>().ok();
        let scheme = uri.as_ref().and_then(|u| u.scheme_str());
        if !matches!(scheme, Some("http" | "https")) {
            return Err(invalid(
                "teamcity.url",
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        let authority = uri
            .as_ref()
            .and_then(|u| u.authority())
            .map_or("", |a| a.as_str());
        let host = uri.as_ref().and_then(|u| u.host()).unwrap_or_default();
        if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "teamcity.url",
                format!("{url:?} has no valid host"),
            ));
        }
        if authority.contains('@') {
            return Err(invalid(
                "teamcity.url",
                "credentials do not go into the URL: put the access token in the environment variable named by teamcity.token_env",
            ));
        }
        if scheme == Some("http") && !self.allow_insecure_http && !is_loopback_url(url) {
            return Err(invalid(
                "teamcity.url",
                format!(
                    "{url:?}: over http:// the access token crosses the network in clear text; use https://, or set teamcity.allow_insecure_http = true"
                ),
            ));
        }
        if uri.as_ref().is_some_and(|u| u.query().is_some()) || url.contains('#') {
            return Err(invalid(
                "teamcity.url",
                format!("{url:?}: the server's base URL, without query or fragment"),
            ));
        }
        let id_ok = self
            .build_type
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && self
                .build_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !id_ok {
            return Err(invalid(
                "teamcity.build_type",
                format!(
                    "{:?} is not a build configuration id (a letter, then letters, digits, '_')",
                    self.build_type
                ),
            ));
        }
        if let Some(a) = &self.artifact {
            let ok = !a.is_empty()
                && !a.starts_with('/')
                && !a.contains('\\')
                && !a.chars().any(char::is_control)
                && a.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
                // Inside an archive artifact: once, as `ARCHIVE!/PATH` (TeamCity's form).
                && a.matches('!').count() <= 1
                && a.split_once('!').is_none_or(|(zip, inner)| !zip.is_empty() && inner.len() > 1 && inner.starts_with('/'));
            if !ok {
                return Err(invalid(
                    "teamcity.artifact",
                    format!(
                        "{a:?} is not a relative artifact path (e.g. \"ihos.war\", \"dist/ihos.war\" or, inside an archive, \"dist/app.zip!/ihos.war\")"
                    ),
                ));
            }
        }
        check_env_name("teamcity.token_env", &Some(self.token_env.clone()))?;
        // Names with a locator's own characters are sent base64-escaped: only what no
        // branch or root is called is refused.
        for (key, value) in [
            ("teamcity.branch", &self.branch),
            ("teamcity.vcs_root", &self.vcs_root),
        ] {
            if let Some(v) = value {
                if v.trim().is_empty() || v.chars().any(char::is_control) {
                    return Err(invalid(
                        key,
                        format!("{v:?} is not a usable name (empty or control characters)"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Topology;

    const BASE: &str = r#"
[hosts.h1]
address = "10.0.0.1"
user = "deploy"

[load_balancer]
host = "h1"
container = "lb"
config = "/etc/lb/nginx.conf"
upstream = "app"

[[instances]]
name = "a"
host = "h1"
container = "app_a"
backend = "10.0.0.1:8081"
webapps = "/srv/a/webapps"
logs = "/srv/a/logs"
health = { url = "http://127.0.0.1:8081/" }
"#;

    fn with(section: &str) -> Result<Topology, String> {
        Topology::from_toml(&format!("{BASE}\n[teamcity]\n{section}\n"), "ihos.toml")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_absence() {
        assert_eq!(
            Topology::from_toml(BASE, "ihos.toml").unwrap().teamcity,
            None
        );
        let t = with("url = \"https://ci.example.com/\"\nbuild_type = \"IHos_App\"").unwrap();
        let tc = t.teamcity.unwrap();
        assert_eq!(tc.token_env, "IHOS_TEAMCITY_TOKEN");
        assert_eq!(tc.artifact, None);
        assert_eq!(tc.branch, None);
        assert_eq!(tc.base_url(), "https://ci.example.com");
        let t = with(
            "url = \"http://127.0.0.1:8111/tc\"\nbuild_type = \"IHos_App\"\nartifact = \"dist/ihos.war\"\ntoken_env = \"TC_TOKEN\"\nbranch = \"release/2.1\"",
        )
        .unwrap();
        let tc = t.teamcity.unwrap();
        assert_eq!(tc.artifact.as_deref(), Some("dist/ihos.war"));
        assert_eq!(tc.token_env, "TC_TOKEN");
        assert_eq!(tc.branch.as_deref(), Some("release/2.1"));
    }

    #[test]
    fn the_fetch_timeout_has_a_default_and_bounds_named_by_its_key() {
        let base = "url = \"https://ci.example.com\"\nbuild_type = \"IHos_App\"";
        let tc = with(base).unwrap().teamcity.unwrap();
        assert_eq!(tc.fetch_timeout.0, std::time::Duration::from_secs(1800));
        let tc = with(&format!("{base}\nfetch_timeout = \"2h\""))
            .unwrap()
            .teamcity
            .unwrap();
        assert_eq!(tc.fetch_timeout.0, std::time::Duration::from_secs(7200));
        for (value, want) in [
            (
                "\"0s\"",
                "teamcity.fetch_timeout: 0s leaves no time to fetch",
            ),
            (
                "\"25h\"",
                "teamcity.fetch_timeout: 25h is longer than the limit of 24h",
            ),
        ] {
            let e = with(&format!("{base}\nfetch_timeout = {value}")).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn the_shipped_example_section_is_valid_once_uncommented() {
        let text = include_str!("../../../examples/ihos.toml");
        let mut in_section = false;
        let uncommented: String = text
            .lines()
            .map(|l| {
                in_section = (in_section && l.starts_with('#')) || l == "# [teamcity]";
                let l = if in_section {
                    l.trim_start_matches("# ")
                } else {
                    l
                };
                format!("{l}\n")
            })
            .collect();
        let t = Topology::from_toml(&uncommented, "examples/ihos.toml").unwrap();
        let tc = t.teamcity.expect("the example's [teamcity] section");
        assert_eq!(tc.build_type, "IHos_App");
        assert_eq!(tc.artifact.as_deref(), Some("ihos.war"));
        assert_eq!(tc.branch.as_deref(), Some("master"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                "url = \"ftp://ci\"\nbuild_type = \"X\"",
                "teamcity.url: \"ftp://ci\" is not an http(s) URL",
            ),
            ("url = \"https://\"\nbuild_type = \"X\"", "teamcity.url: "),
            (
                "url = \"https://bob:secret@ci\"\nbuild_type = \"X\"",
                "teamcity.url: credentials do not go into the URL",
            ),
            (
                "url = \"https://ci/?x=1\"\nbuild_type = \"X\"",
                "teamcity.url: \"https://ci/?x=1\": the server's base URL",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"1abc\"",
                "teamcity.build_type: \"1abc\" is not a build configuration id",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"a,b\"",
                "teamcity.build_type: ",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"X\"\nartifact = \"../x.war\"",
                "teamcity.artifact: \"../x.war\" is not a relative artifact path",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"X\"\nartifact = \"/x.war\"",
                "teamcity.artifact: ",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"X\"\ntoken_env = \"eyJhbGciOi.secret\"",
                "teamcity.token_env: \"eyJhbGciOi.secret\" is not an environment variable name",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"X\"\nbranch = \" \"",
                "teamcity.branch: ",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"X\"\nvcs_root = \"a\\u001bb\"",
                "teamcity.vcs_root: ",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"X\"\nartifact = \"a.zip!/b!/c.war\"",
                "teamcity.artifact: ",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"X\"\nartifact = \"a.zip!c.war\"",
                "teamcity.artifact: ",
            ),
            (
                "url = \"https://ci\"\nbuild_type = \"X\"\nartifact = \"a.zip!/\"",
                "teamcity.artifact: ",
            ),
        ];
        for ok in [
            "branch = \"fix(a),b:c\"",
            "artifact = \"dist/app 1.zip!/ihos.war\"",
            "artifact = \"发布/ihos.war\"",
        ] {
            with(&format!("url = \"https://ci\"\nbuild_type = \"X\"\n{ok}")).unwrap();
        }
        for (section, expected) in cases {
            let e = with(section).unwrap_err();
            assert!(e.contains(expected), "{section}: {e}");
        }
        let e = with("url = \"https://ci\"\nbuild_type = \"X\"\ntoken = \"abc\"").unwrap_err();
        assert!(e.contains("unknown field `token`"), "{e}");
    }

    /// The bearer token crosses the network in clear over http://: refused, unless to this
    /// machine or said explicitly.
    #[test]
    fn plain_http_off_this_machine_needs_to_be_allowed() {
        let e = with("url = \"http://ci.example.com:8111\"\nbuild_type = \"X\"").unwrap_err();
        assert!(
            e.contains("teamcity.url: ") && e.contains("clear text"),
            "{e}"
        );
        for ok in [
            "url = \"http://127.0.0.1:8111\"\nbuild_type = \"X\"",
            "url = \"http://localhost:8111\"\nbuild_type = \"X\"",
            "url = \"http://[::1]:8111\"\nbuild_type = \"X\"",
            "url = \"http://ci.example.com:8111\"\nbuild_type = \"X\"\nallow_insecure_http = true",
        ] {
            with(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }
}
