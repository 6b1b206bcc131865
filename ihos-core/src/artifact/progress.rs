//! [`FetchProgress`]: what a fetch reports to its caller as it goes.

use super::api::{BuildArtifact, TeamCityBuild};

/// Progress of a fetch, reported to the caller's callback.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchProgress {
    /// The build and the artifact are known; the download starts.
    BuildChosen {
        /// The build.
        build: TeamCityBuild,
        /// Its WAR.
        artifact: BuildArtifact,
    },
    /// A partial download of the same artifact is continued from byte `from`.
    Resuming {
        /// Bytes already there.
        from: u64,
        /// The artifact's size.
        total: u64,
    },
    /// The server's answer to the `Range` request of a resume was unusable (no or another
    /// `Content-Range`): the partial download is dropped and the whole artifact is asked for.
    StartingOver {
        /// What was wrong with the answer.
        reason: String,
    },
    /// Bytes on disk so far.
    Downloading {
        /// Bytes so far.
        done: u64,
        /// The artifact's size.
        total: u64,
    },
    /// The download is complete; the WAR is being checked.
    Verifying,
}
