//! Why fetching a WAR from TeamCity failed.

use crate::war::WarError;

/// A failure of [`TeamCityClient`](super::TeamCityClient): finding the build, listing its
/// artifacts, downloading or checking the WAR. No message ever contains the access token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The environment variable that should hold the access token is unset or empty.
    #[error(
        "no TeamCity access token: environment variable {var} is unset or empty (teamcity.token_env names it)"
    )]
    TokenMissing {
        /// The variable's name.
        var: String,
    },
    /// The token's variable holds something that cannot be sent in a header.
    #[error(
        "environment variable {var} does not hold a usable TeamCity token (it contains whitespace or non-ASCII characters)"
    )]
    TokenInvalid {
        /// The variable's name.
        var: String,
    },
    /// The fetch did not finish within `teamcity.fetch_timeout`.
    #[error(
        "{url}: the fetch did not finish within {limit:?} (teamcity.fetch_timeout); run it again: the download resumes where it stopped"
    )]
    TimedOut {
        /// The request that found no time left.
        url: String,
        /// The limit.
        limit: std::time::Duration,
    },
    /// The server refused the token (HTTP 401 or 403).
    #[error(
        "{url}: TeamCity refused the access token from {var} (HTTP {status}): check that it is valid, not expired, and may view the build configuration"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The request.
        url: String,
        /// The token's variable.
        var: String,
    },
    /// The server has no build configuration with that id (HTTP 404).
    #[error("{server}: no build configuration with id {build_type:?} (teamcity.build_type)")]
    BuildTypeNotFound {
        /// The server.
        server: String,
        /// The build configuration id.
        build_type: String,
    },
    /// The build configuration has no successful finished build (on the branch, if one is
    /// configured).
    #[error("{server}: build configuration {build_type} has no successful finished build{}", branch.as_ref().map(|b| format!(" on branch {b:?}")).unwrap_or_default())]
    NoSuccessfulBuild {
        /// The server.
        server: String,
        /// The build configuration id.
        build_type: String,
        /// The configured branch.
        branch: Option<String>,
    },
    /// No build has that id (HTTP 404).
    #[error("{server}: no build with id {id}")]
    BuildNotFound {
        /// The server.
        server: String,
        /// The build id asked for.
        id: u64,
    },
    /// The pinned build is not finished, or did not succeed.
    #[error(
        "build {id} (#{number}) is not a successful finished build (state {state}, status {status}): pick another with --build, or leave it out for the latest successful one"
    )]
    BuildNotUsable {
        /// The build id.
        id: u64,
        /// Its build number.
        number: String,
        /// Its state (`queued`, `running`, `finished`).
        state: String,
        /// Its status (`SUCCESS`, `FAILURE`, `ERROR`, `UNKNOWN`).
        status: String,
    },
    /// The pinned build belongs to another build configuration.
    #[error(
        "build {id} belongs to build configuration {actual}, not {expected} (teamcity.build_type)"
    )]
    WrongBuildType {
        /// The build id.
        id: u64,
        /// Its build configuration.
        actual: String,
        /// The configured one.
        expected: String,
    },
    /// The build has no artifact at the configured path (HTTP 404, or absent from the
    /// listing).
    #[error(
        "build {build_id} has no artifact {path:?} (artifacts there: {})",
        list(available)
    )]
    ArtifactNotFound {
        /// The build id.
        build_id: u64,
        /// The artifact path asked for.
        path: String,
        /// The artifacts in that directory.
        available: Vec<String>,
    },
    /// No artifact path is configured and the build has no `*.war` at the top level of its
    /// artifacts.
    #[error(
        "build {build_id} has no *.war artifact (artifacts: {}); set teamcity.artifact to its path",
        list(available)
    )]
    NoWarArtifact {
        /// The build id.
        build_id: u64,
        /// The top-level artifacts.
        available: Vec<String>,
    },
    /// No artifact path is configured and the build has several `*.war` artifacts.
    #[error(
        "build {build_id} has several WAR artifacts ({}); set teamcity.artifact to the one to deploy",
        list(wars)
    )]
    SeveralWars {
        /// The build id.
        build_id: u64,
        /// The WARs.
        wars: Vec<String>,
    },
    /// The build may not be deployed although it succeeded: personal, canceled, or failed
    /// to start (`--build` bypasses TeamCity's own filter of these).
    #[error(
        "build {id} (#{number}) is not deployed: {reason}; pick another with --build, or leave it out for the latest successful one"
    )]
    BuildRefused {
        /// The build id.
        id: u64,
        /// Its build number.
        number: String,
        /// Why, in words.
        reason: String,
    },
    /// The build has revisions of several VCS roots and it is not clear whose commit the
    /// WAR was built from.
    #[error("{}", match vcs_root {
        None => format!("build {build_id} has revisions of several VCS roots ({}): set teamcity.vcs_root to the one the WAR is built from", list(roots)),
        Some(r) => format!("build {build_id} has no revision of VCS root {r:?} (teamcity.vcs_root); its roots: {}", list(roots)),
    })]
    VcsRootUnclear {
        /// The build id.
        build_id: u64,
        /// The configured root, if any.
        vcs_root: Option<String>,
        /// The build's roots, `id (name)`.
        roots: Vec<String>,
    },
    /// Another server TeamCity redirected the request to (an external artifact storage, a
    /// single sign-on proxy) refused it or failed.
    #[error("{url}: HTTP {status}{} from the server TeamCity redirected to, not TeamCity (its access token is never sent there; an expired download link is renewed by running the fetch again)", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Storage {
        /// The status.
        status: u16,
        /// The storage URL, without its query (a presigned URL's signature stays out).
        url: String,
        /// The storage's message.
        message: String,
    },
    /// The server answered an unexpected HTTP status.
    #[error("{url}: HTTP {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Http {
        /// The status.
        status: u16,
        /// The request.
        url: String,
        /// The start of the server's message, if any.
        message: String,
    },
    /// The server could not be reached, or the connection broke.
    #[error("{url}: {reason}")]
    Connection {
        /// The request.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The answer is not the JSON TeamCity documents.
    #[error("{url}: unexpected answer: {reason}")]
    BadResponse {
        /// The request.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The downloaded file does not have the size the artifact listing gave.
    #[error(
        "{path}: downloaded {actual} bytes, the artifact listing says {expected}; the partial file was removed, run again"
    )]
    SizeMismatch {
        /// The local file.
        path: String,
        /// The size in the listing.
        expected: u64,
        /// The size received.
        actual: u64,
    },
    /// The downloaded artifact is not a valid WAR.
    #[error("artifact {artifact:?} of build {build_id} is not a valid WAR: {error}")]
    NotAWar {
        /// The build id.
        build_id: u64,
        /// The artifact path.
        artifact: String,
        /// What [`WarFile::open`](crate::WarFile::open) found.
        error: WarError,
    },
    /// A local file could not be read or written.
    #[error("{path}: {what}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The operation.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

impl FetchError {
    /// Whether the fix is in the input (configuration, token, `--build`) rather than a
    /// failure on the way: the CLI's exit code 2 against 1.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            FetchError::TokenMissing { .. }
                | FetchError::TokenInvalid { .. }
                | FetchError::Unauthorized { .. }
                | FetchError::BuildTypeNotFound { .. }
                | FetchError::BuildNotFound { .. }
                | FetchError::BuildNotUsable { .. }
                | FetchError::BuildRefused { .. }
                | FetchError::VcsRootUnclear { .. }
                | FetchError::WrongBuildType { .. }
                | FetchError::ArtifactNotFound { .. }
                | FetchError::NoWarArtifact { .. }
                | FetchError::SeveralWars { .. }
        )
    }

    pub(crate) fn io(path: &std::path::Path, what: &'static str, e: std::io::Error) -> Self {
        FetchError::Io {
            path: path.display().to_string(),
            what,
            reason: e.to_string(),
        }
    }
}
