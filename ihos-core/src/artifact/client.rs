//! [`TeamCityClient`]: finds the build to deploy and its WAR through TeamCity's REST API.

use super::api::{BuildArtifact, BuildJson, BuildsJson, FilesJson, TeamCityBuild};
use super::error::FetchError;
use super::http::{Http, encode_path, encode_query};
use crate::config::TeamCityConfig;

/// A client of one TeamCity server for one build configuration (the topology's
/// `[teamcity]` section). Blocking: from async code, call it inside
/// `tokio::task::spawn_blocking`.
pub struct TeamCityClient {
    pub(crate) http: Http,
    pub(crate) config: TeamCityConfig,
}

impl std::fmt::Debug for TeamCityClient {
    // By hand, so that the token is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamCityClient")
            .field("server", &self.http.base())
            .field("build_type", &self.config.build_type)
            .field("token_env", &self.config.token_env)
            .finish_non_exhaustive()
    }
}

impl TeamCityClient {
    /// A client for `config`, with the token read from the environment variable named by
    /// `config.token_env` ([`FetchError::TokenMissing`] if it is unset or empty).
    pub fn new(config: &TeamCityConfig) -> Result<TeamCityClient, FetchError> {
        let token = match std::env::var(&config.token_env) {
            Ok(t) => t,
            Err(std::env::VarError::NotPresent) => String::new(),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(FetchError::TokenInvalid {
                    var: config.token_env.clone(),
                });
            }
        };
        TeamCityClient::with_token(config, token)
    }

    /// A client for `config` with a token the caller holds (errors still name
    /// `config.token_env`).
    pub fn with_token(
        config: &TeamCityConfig,
        token: String,
    ) -> Result<TeamCityClient, FetchError> {
        Ok(TeamCityClient {
            http: Http::new(config.base_url(), token, &config.token_env)?,
            config: config.clone(),
        })
    }

    /// The latest successful finished build of the build configuration (on the configured
    /// branch, else its default branch), with its commit.
    pub fn latest_successful_build(&self) -> Result<TeamCityBuild, FetchError> {
        let c = &self.config;
        let mut locator = format!(
            "buildType:(id:{}),status:SUCCESS,state:finished,count:1",
            c.build_type
        );
        if let Some(b) = &c.branch {
            locator.push_str(&format!(",branch:(name:{b})"));
        }
        let path = format!("/app/rest/builds?locator={}", encode_query(&locator));
        let found: BuildsJson = self.http.get_json(&path).map_err(|e| {
            not_found_as(e, || FetchError::BuildTypeNotFound {
                server: self.http.base().to_string(),
                build_type: c.build_type.clone(),
            })
        })?;
        let Some(first) = found.build.into_iter().next() else {
            return Err(FetchError::NoSuccessfulBuild {
                server: self.http.base().to_string(),
                build_type: c.build_type.clone(),
                branch: c.branch.clone(),
            });
        };
        // The list gives a short form; the build itself has the revisions. It must still be
        // what was asked for, whatever the server made of the locator.
        let build = self.build_by_id(first.id)?;
        if !build.is_usable() || build.build_type != c.build_type {
            return Err(FetchError::BadResponse {
                url: self.http.url(&path),
                reason: format!(
                    "build {} is {} {} of {}, not a successful finished build of {}",
                    build.id, build.state, build.status, build.build_type, c.build_type
                ),
            });
        }
        Ok(build)
    }

    /// The build with id `id`, which must be a successful finished build of the build
    /// configuration (`--build ID`).
    pub fn pinned_build(&self, id: u64) -> Result<TeamCityBuild, FetchError> {
        let build = self.build_by_id(id)?;
        if build.build_type != self.config.build_type {
            return Err(FetchError::WrongBuildType {
                id,
                actual: build.build_type,
                expected: self.config.build_type.clone(),
            });
        }
        if !build.is_usable() {
            return Err(FetchError::BuildNotUsable {
                id,
                number: build.number,
                state: build.state,
                status: build.status,
            });
        }
        Ok(build)
    }

    fn build_by_id(&self, id: u64) -> Result<TeamCityBuild, FetchError> {
        let build: BuildJson = self
            .http
            .get_json(&format!("/app/rest/builds/id:{id}"))
            .map_err(|e| {
                not_found_as(e, || FetchError::BuildNotFound {
                    server: self.http.base().to_string(),
                    id,
                })
            })?;
        Ok(build.into())
    }

    /// The WAR among `build`'s artifacts: the configured `artifact` path, else the one
    /// `*.war` at the top level of its artifacts.
    pub fn war_artifact(&self, build: &TeamCityBuild) -> Result<BuildArtifact, FetchError> {
        match &self.config.artifact {
            Some(path) => {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                let files = self.list(build.id, dir).map_err(|e| {
                    not_found_as(e, || FetchError::ArtifactNotFound {
                        build_id: build.id,
                        path: path.clone(),
                        available: Vec::new(),
                    })
                })?;
                let found = files
                    .iter()
                    .find(|f| f.name == name && f.is_file())
                    .and_then(|f| f.size);
                match found {
                    Some(size) => Ok(BuildArtifact {
                        path: path.clone(),
                        size,
                    }),
                    None => Err(FetchError::ArtifactNotFound {
                        build_id: build.id,
                        path: path.clone(),
                        available: names(dir, &files),
                    }),
                }
            }
            None => {
                let files = self.list(build.id, "")?;
                let mut wars: Vec<BuildArtifact> = files
                    .iter()
                    .filter(|f| f.is_file() && f.name.to_ascii_lowercase().ends_with(".war"))
                    .map(|f| BuildArtifact {
                        path: f.name.clone(),
                        size: f.size.unwrap_or_default(),
                    })
                    .collect();
                if wars.len() > 1 {
                    return Err(FetchError::SeveralWars {
                        build_id: build.id,
                        wars: wars.into_iter().map(|w| w.path).collect(),
                    });
                }
                wars.pop().ok_or_else(|| FetchError::NoWarArtifact {
                    build_id: build.id,
                    available: names("", &files),
                })
            }
        }
    }

    fn list(&self, build_id: u64, dir: &str) -> Result<Vec<super::api::FileJson>, FetchError> {
        let path = format!(
            "/app/rest/builds/id:{build_id}/artifacts/children/{}",
            encode_path(dir)
        );
        let files: FilesJson = self.http.get_json(&path)?;
        Ok(files.file)
    }
}

/// `e`, or `what` when `e` is an HTTP 404.
pub(crate) fn not_found_as(e: FetchError, what: impl FnOnce() -> FetchError) -> FetchError {
    match e {
        FetchError::Http { status: 404, .. } => what(),
        other => other,
    }
}

fn names(dir: &str, files: &[super::api::FileJson]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            let slash = if f.is_file() { "" } else { "/" };
            if dir.is_empty() {
                format!("{}{slash}", f.name)
            } else {
                format!("{dir}/{}{slash}", f.name)
            }
        })
        .collect()
}
