//! [`TeamCityClient::fetch`]: the runbook's step 1. Build, artifact, resumable download,
//! WAR check, then `ihos.war` and its sidecar moved into place.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::client::TeamCityClient;
use super::download::{discard, download, part_paths};
use super::error::FetchError;
use super::progress::FetchProgress;
use super::sidecar::WarSidecar;
use crate::war::WarFile;

/// What to fetch and where to put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// This build (`--build ID`) instead of the latest successful one.
    pub build: Option<u64>,
    /// Where the WAR goes (its sidecar next to it, `<output>.json`).
    pub output: PathBuf,
}

impl FetchOptions {
    /// The latest successful build, saved as `output`.
    pub fn new(output: impl Into<PathBuf>) -> Self {
        FetchOptions {
            build: None,
            output: output.into(),
        }
    }

    /// Pins the build.
    pub fn build(mut self, id: u64) -> Self {
        self.build = Some(id);
        self
    }
}

/// A WAR fetched and in place.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedWar {
    /// The WAR, checked, at the output path, with the build's commit.
    pub war: WarFile,
    /// What was written to its sidecar.
    pub sidecar: WarSidecar,
    /// The bytes a previous, interrupted run had already downloaded (0: none).
    pub resumed_from: u64,
    /// How long it took.
    pub seconds: f64,
}

impl TeamCityClient {
    /// Finds the build (the latest successful one, or `options.build`), downloads its WAR
    /// by that build's id (resuming a partial download of the same artifact), checks it is
    /// a valid WAR of the listed size, and moves it to `options.output` with its sidecar
    /// `<output>.json`. The previous WAR there is replaced only by a checked one.
    pub fn fetch(
        &self,
        options: &FetchOptions,
        progress: &mut dyn FnMut(&FetchProgress),
    ) -> Result<FetchedWar, FetchError> {
        let started = Instant::now();
        self.http.set_deadline(self.config.fetch_timeout.0);
        let build = match options.build {
            Some(id) => self.pinned_build(id)?,
            None => self.latest_successful_build()?,
        };
        let artifact = self.war_artifact(&build)?;
        progress(&FetchProgress::BuildChosen {
            build: build.clone(),
            artifact: artifact.clone(),
        });
        let out = &options.output;
        let resumed_from = download(&self.http, build.id, &artifact, out, progress)?;
        progress(&FetchProgress::Verifying);
        let (part, meta) = part_paths(out);
        let war = match WarFile::open(&part) {
            Ok(w) => w,
            Err(error) => {
                // Complete but not a WAR: resuming it would not help.
                discard(out);
                return Err(FetchError::NotAWar {
                    build_id: build.id,
                    artifact: artifact.path.clone(),
                    error,
                });
            }
        };
        let sidecar = WarSidecar {
            build_id: build.id,
            build_number: build.number.clone(),
            build_type: build.build_type.clone(),
            branch: build.branch.clone(),
            commit: build.commit.clone(),
            artifact: artifact.path.clone(),
            bytes: war.bytes,
            sha256: war.sha256.to_string(),
            fetched_at: crate::time::now_utc(),
            server_url: self.config.base_url().to_string(),
        };
        install(out, &part, &sidecar)?;
        let _ = std::fs::remove_file(meta);
        Ok(FetchedWar {
            war: WarFile {
                path: out.clone(),
                ..war
            }
            .with_commit(build.commit)
            .with_build(Some(sidecar.build_number.clone())),
            sidecar,
            resumed_from,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Renames the checked part to `out` and its sidecar into place, both within `out`'s
/// directory. The sidecar is written first under a temporary name; whichever rename a crash
/// interrupts, the sha256 in the sidecar keeps a mismatched pair from being trusted.
fn install(out: &Path, part: &Path, sidecar: &WarSidecar) -> Result<(), FetchError> {
    let tmp = sidecar.write_temp_for(out)?;
    std::fs::rename(part, out).map_err(|e| FetchError::io(out, "moving the download to", e))?;
    let path = WarSidecar::path_for(out);
    tmp.persist(&path)
        .map_err(|e| FetchError::io(&path, "replacing", e.error))
}
