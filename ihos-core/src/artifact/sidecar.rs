//! The sidecar `ihos.war.json` next to a fetched WAR: which build it came from and its
//! commit. A rollout takes the commit from it only when its sha256 is the WAR's.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::FetchError;
use crate::war::{WarError, WarFile};

/// What `ihos fetch` knows about the WAR it saved (`ihos.war.json`; `ihos fetch --json`
/// prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarSidecar {
    /// The TeamCity build's id.
    pub build_id: u64,
    /// Its build number.
    pub build_number: String,
    /// Its build configuration.
    pub build_type: String,
    /// Its branch, when the configuration builds branches.
    #[serde(default)]
    pub branch: Option<String>,
    /// The commit it was built from (the runbook's "server-release").
    pub commit: Option<String>,
    /// The artifact's path in the build.
    pub artifact: String,
    /// The WAR's size.
    pub bytes: u64,
    /// The WAR's SHA-256 (lowercase hex): the sidecar describes the file with this digest
    /// only.
    pub sha256: String,
    /// When it was fetched (RFC 3339 UTC).
    pub fetched_at: String,
    /// The TeamCity server.
    pub server_url: String,
}

impl WarSidecar {
    /// The sidecar's path for the WAR at `war`: `ihos.war` → `ihos.war.json`.
    pub fn path_for(war: &Path) -> PathBuf {
        let mut name = war.as_os_str().to_owned();
        name.push(".json");
        PathBuf::from(name)
    }

    /// Writes it as the sidecar of `war` (a temporary file renamed over it).
    pub fn write_for(&self, war: &Path) -> Result<(), FetchError> {
        let path = WarSidecar::path_for(war);
        self.write_temp_for(war)?
            .persist(&path)
            .map_err(|e| FetchError::io(&path, "replacing", e.error))
    }

    /// Writes it, complete and synced, to a new temporary file in the directory of `war`'s
    /// sidecar (removed when dropped unless the caller persists it into place).
    pub(crate) fn write_temp_for(&self, war: &Path) -> Result<tempfile::TempPath, FetchError> {
        let path = WarSidecar::path_for(war);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| FetchError::Io {
            path: path.display().to_string(),
            what: "serializing",
            reason: e.to_string(),
        })?;
        json.push(b'\n');
        let mut tmp = tempfile::Builder::new()
            .prefix(".ihos-sidecar-")
            .tempfile_in(dir)
            .map_err(|e| FetchError::io(dir, "creating a temporary file in", e))?;
        std::io::Write::write_all(&mut tmp, &json)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| FetchError::io(tmp.path(), "writing", e))?;
        Ok(tmp.into_temp_path())
    }
}

/// What was found next to a WAR opened with [`WarFile::open_with_sidecar`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SidecarCheck {
    /// No sidecar: the commit is unknown.
    Missing,
    /// A sidecar describing this very file (same sha256): its commit was taken.
    Matched(WarSidecar),
    /// A sidecar describing another file (the WAR was replaced after the fetch): ignored.
    Stale {
        /// The sidecar.
        path: PathBuf,
        /// The digest it names.
        sidecar_sha256: String,
        /// The WAR's digest.
        war_sha256: String,
    },
    /// A sidecar that cannot be read or parsed: ignored.
    Unreadable {
        /// The sidecar.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl SidecarCheck {
    /// Looks for the sidecar of `war` and compares it with the WAR's digest.
    pub fn of(war: &WarFile) -> SidecarCheck {
        let path = WarSidecar::path_for(&war.path);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return SidecarCheck::Missing,
            Err(e) => {
                return SidecarCheck::Unreadable {
                    path,
                    reason: e.to_string(),
                };
            }
        };
        match serde_json::from_slice::<WarSidecar>(&bytes) {
            Err(e) => SidecarCheck::Unreadable {
                path,
                reason: e.to_string(),
            },
            Ok(s) if s.sha256.eq_ignore_ascii_case(war.sha256.as_str()) => SidecarCheck::Matched(s),
            Ok(s) => SidecarCheck::Stale {
                path,
                sidecar_sha256: s.sha256,
                war_sha256: war.sha256.to_string(),
            },
        }
    }

    /// The commit it gives, if it matched.
    pub fn commit(&self) -> Option<&str> {
        match self {
            SidecarCheck::Matched(s) => s.commit.as_deref(),
            _ => None,
        }
    }

    /// The build number it gives, if it matched.
    pub fn build_number(&self) -> Option<&str> {
        match self {
            SidecarCheck::Matched(s) => Some(s.build_number.as_str()),
            _ => None,
        }
    }

    /// A warning for the operator when a sidecar was there but ignored.
    pub fn warning(&self) -> Option<String> {
        match self {
            SidecarCheck::Missing | SidecarCheck::Matched(_) => None,
            SidecarCheck::Stale {
                path,
                sidecar_sha256,
                war_sha256,
            } => Some(format!(
                "{} describes another file (sha256 {}, the WAR has {}): its commit is not used; run `ihos fetch` again or pass --commit",
                path.display(),
                crate::sha::short_sha(sidecar_sha256),
                crate::sha::short_sha(war_sha256)
            )),
            SidecarCheck::Unreadable { path, reason } => Some(format!(
                "{}: cannot read it ({reason}): the commit is unknown; pass --commit",
                path.display()
            )),
        }
    }
}

impl WarFile {
    /// [`WarFile::open`], then the sidecar `<path>.json` written by `ihos fetch`: when it
    /// describes this file (same sha256), the WAR's `commit` and `build` are the sidecar's. A stale or
    /// unreadable sidecar is ignored; the [`SidecarCheck`] says which (and
    /// [`SidecarCheck::warning`] what to tell the operator).
    pub fn open_with_sidecar(path: &Path) -> Result<(WarFile, SidecarCheck), WarError> {
        let war = WarFile::open(path)?;
        let check = SidecarCheck::of(&war);
        let commit = check.commit().map(str::to_string);
        let build = check.build_number().map(str::to_string);
        Ok((war.with_commit(commit).with_build(build), check))
    }
}
