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
    /// branch, else its default branch), with its commit. A branch given as its VCS name
    /// (`refs/heads/release`) is looked for under the name TeamCity shows (`release`) too.
    pub fn latest_successful_build(&self) -> Result<TeamCityBuild, FetchError> {
        let c = &self.config;
        let mut names: Vec<Option<&str>> = vec![c.branch.as_deref()];
        if let Some(short) = c
            .branch
            .as_deref()
            .and_then(|b| b.strip_prefix("refs/heads/"))
        {
            names.push(Some(short));
        }
        let mut found = None;
        let mut path = String::new();
        for name in names {
            path = format!(
                "/app/rest/builds?locator={}",
                encode_query(&build_locator(&c.build_type, name))
            );
            let page: BuildsJson = self.http.get_json(&path).map_err(|e| {
                not_found_as(e, || FetchError::BuildTypeNotFound {
                    server: self.http.base().to_string(),
                    build_type: c.build_type.clone(),
                })
            })?;
            found = page.build.into_iter().next();
            if found.is_some() {
                break;
            }
        }
        let Some(first) = found else {
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
                    "build {} of {} answered for a successful finished build of {}: {}",
                    build.id,
                    build.build_type,
                    c.build_type,
                    build
                        .unusable_because()
                        .unwrap_or_else(|| "another configuration's".into())
                ),
            });
        }
        Ok(build)
    }

    /// The build with id `id`, which must be a successful finished build of the build
    /// configuration, not personal, canceled or failed to start (`--build ID`: asked by
    /// id, TeamCity applies none of its default filter).
    pub fn pinned_build(&self, id: u64) -> Result<TeamCityBuild, FetchError> {
        let build = self.build_json(id)?;
        if build.build_type != self.config.build_type {
            return Err(FetchError::WrongBuildType {
                id,
                actual: build.build_type,
                expected: self.config.build_type.clone(),
            });
        }
        if build.personal || build.canceled || build.failed_to_start {
            return Err(FetchError::BuildRefused {
                id,
                reason: build.unusable_because().unwrap_or_default(),
                number: build.number,
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
        self.with_commit(build)
    }

    /// Build `id` with its commit: its only VCS root's, or `teamcity.vcs_root`'s.
    fn build_by_id(&self, id: u64) -> Result<TeamCityBuild, FetchError> {
        self.with_commit(self.build_json(id)?)
    }

    /// Build `id` as the server describes it (its commit unset when it has several roots).
    fn build_json(&self, id: u64) -> Result<TeamCityBuild, FetchError> {
        let build: BuildJson = self
            .http
            .get_json(&format!("/app/rest/builds/id:{id}"))
            .map_err(|e| {
                not_found_as(e, || FetchError::BuildNotFound {
                    server: self.http.base().to_string(),
                    id,
                })
            })?;
        Ok(TeamCityBuild::from(build))
    }

    /// `build` with the commit of its only VCS root, or of `teamcity.vcs_root`.
    fn with_commit(&self, mut build: TeamCityBuild) -> Result<TeamCityBuild, FetchError> {
        let root = self.config.vcs_root.as_deref();
        build.commit = build
            .commit_of(root)
            .map_err(|roots| FetchError::VcsRootUnclear {
                build_id: build.id,
                vcs_root: root.map(str::to_string),
                roots,
            })?;
        Ok(build)
    }

    /// The WAR among `build`'s artifacts: the configured `artifact` path, else the one
    /// `*.war` at the top level of its artifacts.
    pub fn war_artifact(&self, build: &TeamCityBuild) -> Result<BuildArtifact, FetchError> {
        match &self.config.artifact {
            Some(path) => {
                // Inside an archive (`dist/app.zip!/ihos.war`) the directory is `dist/app.zip!`.
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
        // An archive's root is listed by the archive's own path (`dist/app.zip`, as in
        // teamcity-rest's BuildArtifactsFinderTest), its directories as `app.zip!/dir`;
        // the locator asks for archives to be browsed.
        let listed = dir.strip_suffix('!').unwrap_or(dir);
        let mut path = format!(
            "/app/rest/builds/id:{build_id}/artifacts/children/{}",
            encode_path(listed)
        );
        if dir.contains('!') {
            path.push_str("?locator=browseArchives:true");
        }
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

/// The locator of the latest successful build, every filter said explicitly rather than
/// left to the server's default filter (`defaultFilter:false`; teamcity-rest
/// `BuildPromotionFinder.setLocatorDefaults` would add the same, but "varying defaults"
/// change with the other dimensions): finished, SUCCESS, not personal, not canceled, not
/// failed to start, on `branch` or the default branch (a configuration without branches
/// counts as on it). A branch name with a locator's own characters (`:,()$`) is sent
/// base64url-escaped (`Locator.getBase64UnescapedSingleValue`) in a value condition
/// (equality said explicitly: the server's default match type is a setting) ignoring case,
/// as JetBrains' teamcity-cli does for such names; TeamCity then compares it with the
/// branch's display name only (BranchFinder), the name it shows.
pub(crate) fn build_locator(build_type: &str, branch: Option<&str>) -> String {
    use base64::Engine as _;
    let branch = match branch {
        None => "branch:(default:true)".to_string(),
        Some(b) if b.contains([':', ',', '(', ')', '$']) => {
            let escaped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            format!("branch:(name:(value:$base64:{escaped},matchType:equals,ignoreCase:true))")
        }
        Some(b) => format!("branch:(name:{b})"),
    };
    format!(
        "buildType:(id:{build_type}),state:finished,status:SUCCESS,personal:false,canceled:false,failedToStart:false,{branch},defaultFilter:false,count:1"
    )
}
