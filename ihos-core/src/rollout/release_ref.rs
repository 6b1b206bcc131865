//! [`ReleaseRef`]: how an operator names a kept release for `ihos rollback --to`: a SHA-256
//! prefix, a commit prefix or a CI build number, or one of them said explicitly
//! (`sha:`, `commit:`, `build:`) when a bare one would match more than one.

use std::fmt;
use std::str::FromStr;

use super::kept::KeptRelease;

/// Shortest prefix of a digest or commit taken as a name (git's own minimum).
const MIN_PREFIX: usize = 4;

/// A kept release named by the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseRef {
    /// A bare name: a build number (exactly), or a SHA-256 or commit prefix.
    Any(String),
    /// `sha:PREFIX`.
    Sha(String),
    /// `commit:PREFIX`.
    Commit(String),
    /// `build:NUMBER`.
    Build(String),
}

/// A name that cannot name a release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release {given:?}: {why}")]
pub struct BadReleaseRef {
    /// What was given.
    pub given: String,
    /// What is wrong with it.
    pub why: String,
}

impl FromStr for ReleaseRef {
    type Err = BadReleaseRef;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| BadReleaseRef {
            given: given.to_string(),
            why,
        };
        let (kind, value) = match given.split_once(':') {
            Some((k @ ("sha" | "commit" | "build"), v)) => (k, v),
            _ => ("", given),
        };
        if value.is_empty() {
            return Err(bad("empty".into()));
        }
        if value.len() > 128 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(
                "a release is named by a SHA-256 or commit prefix or a build number (no spaces, at most 128 characters)".into(),
            ));
        }
        let prefix_ok = value.chars().count() >= MIN_PREFIX;
        Ok(match kind {
            "sha" if !prefix_ok || !is_hex(value) || value.len() > 64 => {
                return Err(bad(format!(
                    "a SHA-256 prefix is {MIN_PREFIX} to 64 hex digits"
                )));
            }
            "sha" => ReleaseRef::Sha(value.to_ascii_lowercase()),
            "commit" if !prefix_ok => {
                return Err(bad(format!(
                    "a commit prefix has at least {MIN_PREFIX} characters"
                )));
            }
            "commit" => ReleaseRef::Commit(value.to_string()),
            "build" => ReleaseRef::Build(value.to_string()),
            _ => ReleaseRef::Any(value.to_string()),
        })
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `value` (long enough) begins `of`, ASCII case ignored; text from a host is
/// never sliced inside a character.
fn prefix_of(value: &str, of: Option<&str>) -> bool {
    value.chars().count() >= MIN_PREFIX
        && of
            .and_then(|o| o.get(..value.len()))
            .is_some_and(|head| head.eq_ignore_ascii_case(value))
}

impl ReleaseRef {
    /// The release with exactly this digest: what a command that asked the operator about
    /// one release runs with, so that nothing pruned meanwhile makes it another.
    pub fn exactly(sha256: &crate::sha::Sha256) -> Self {
        ReleaseRef::Sha(sha256.as_str().to_string())
    }

    /// How `release` matches this name (`None`: it does not).
    pub fn matches(&self, release: &KeptRelease) -> Option<&'static str> {
        let sha = Some(release.sha256.as_str());
        let commit = release.commit.as_deref();
        let build = release.build.as_deref();
        match self {
            ReleaseRef::Sha(p) => prefix_of(p, sha).then_some("sha256"),
            ReleaseRef::Commit(p) => prefix_of(p, commit).then_some("commit"),
            ReleaseRef::Build(b) => (build == Some(b.as_str())).then_some("build"),
            ReleaseRef::Any(v) => {
                if build == Some(v.as_str()) {
                    Some("build")
                } else if is_hex(v) && prefix_of(v, sha) {
                    Some("sha256")
                } else if prefix_of(v, commit) {
                    Some("commit")
                } else {
                    None
                }
            }
        }
    }
}

impl fmt::Display for ReleaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseRef::Any(v) => f.write_str(v),
            ReleaseRef::Sha(v) => write!(f, "sha:{v}"),
            ReleaseRef::Commit(v) => write!(f, "commit:{v}"),
            ReleaseRef::Build(v) => write!(f, "build:{v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sha::Sha256;

    fn release(sha: &Sha256, commit: Option<&str>, build: Option<&str>) -> KeptRelease {
        KeptRelease {
            sha256: sha.clone(),
            bytes: 1,
            commit: commit.map(str::to_string),
            build: build.map(str::to_string),
            deployed_at: None,
            deployed_by: None,
            rollout_id: None,
            kept_at: String::new(),
        }
    }

    fn r(s: &str) -> ReleaseRef {
        s.parse().unwrap()
    }

    #[test]
    fn a_bare_name_is_a_build_number_a_sha_or_a_commit_prefix() {
        let sha = Sha256::of_bytes(b"v1");
        let rel = release(
            &sha,
            Some("9fceb02d0ae598e95dc970b74767f19372d61af8"),
            Some("101"),
        );
        assert_eq!(r("101").matches(&rel), Some("build"));
        assert_eq!(
            r(&sha.as_str()[..8].to_uppercase()).matches(&rel),
            Some("sha256")
        );
        assert_eq!(r("9fceb02").matches(&rel), Some("commit"));
        // Too short to be a prefix, and not the build number.
        assert_eq!(r(&sha.as_str()[..3]).matches(&rel), None);
        assert_eq!(r("10").matches(&rel), None);
        // A non-hex name is never a sha prefix.
        assert_eq!(r("9fceb02x").matches(&rel), None);
        // Explicit kinds match only their own field.
        assert_eq!(r("build:101").matches(&rel), Some("build"));
        assert!("commit:101".parse::<ReleaseRef>().is_err());
        assert_eq!(
            r(&format!("sha:{}", &sha.as_str()[..6])).matches(&rel),
            Some("sha256")
        );
        assert_eq!(r("commit:9fce").matches(&rel), Some("commit"));
        assert_eq!(r("sha:9fce").matches(&rel), None);
        // Nothing matches a release that has no commit or build.
        let bare = release(&sha, None, None);
        assert_eq!(r("build:101").matches(&bare), None);
        assert_eq!(r("commit:9fceb02").matches(&bare), None);
    }

    #[test]
    fn names_that_cannot_be_a_release_are_refused() {
        for bad in [
            "",
            "sha:",
            "sha:abc",
            "sha:xyzw",
            "commit:abc",
            "a b",
            "x\u{7}",
            &"1".repeat(129),
        ] {
            let e = bad.parse::<ReleaseRef>().unwrap_err();
            assert_eq!(e.given, bad);
        }
        // Multibyte text is compared, never sliced in the middle of a character; a
        // prefix is counted in characters.
        let x = Sha256::of_bytes(b"x");
        assert_eq!(
            r("éééé").matches(&release(&x, Some("éééééé"), None)),
            Some("commit")
        );
        assert_eq!(r("ééé").matches(&release(&x, Some("éééééé"), None)), None);
        assert_eq!(r("éaéb").matches(&release(&x, Some("éaé"), None)), None);
        assert_eq!(r("abcd").matches(&release(&x, Some("aé"), None)), None);
        assert_eq!(
            r("aébc").matches(&release(&x, Some("aébcd"), None)),
            Some("commit")
        );
        assert!("commit:ééé".parse::<ReleaseRef>().is_err());
        assert_eq!(r("sha:abcd").to_string(), "sha:abcd");
    }
}
