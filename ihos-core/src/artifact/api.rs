//! TeamCity's REST shapes (JSON), as documented for `/app/rest/builds`, a build's
//! `revisions` and its `artifacts/children`, and the values ihos keeps from them.

use serde::{Deserialize, Serialize};

/// A build of a TeamCity build configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamCityBuild {
    /// The build's id (unique on the server; what `--build` takes).
    pub id: u64,
    /// Its build number (e.g. `1.4.117`).
    pub number: String,
    /// Its build configuration's id.
    pub build_type: String,
    /// `queued`, `running` or `finished`.
    pub state: String,
    /// `SUCCESS`, `FAILURE`, `ERROR` or `UNKNOWN`.
    pub status: String,
    /// Its branch as TeamCity shows it, when the configuration builds branches.
    pub branch: Option<String>,
    /// The commit it was built from: the revision of its only VCS root, or of the one
    /// `teamcity.vcs_root` names.
    pub commit: Option<String>,
    /// Its revisions, one per VCS root (in no promised order).
    pub revisions: Vec<BuildRevision>,
    /// A personal build (run with a developer's local changes).
    pub personal: bool,
    /// Canceled.
    pub canceled: bool,
    /// Failed to start.
    pub failed_to_start: bool,
}

/// One VCS root's revision of a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRevision {
    /// The VCS root's id (`vcs-root-id`).
    pub root_id: String,
    /// The VCS root's name.
    pub root_name: String,
    /// The commit.
    pub version: String,
}

impl TeamCityBuild {
    /// Finished and successful, from the repository (not personal), neither canceled nor
    /// failed to start: a build whose artifacts may be deployed.
    pub fn is_usable(&self) -> bool {
        self.state == "finished"
            && self.status == "SUCCESS"
            && !self.personal
            && !self.canceled
            && !self.failed_to_start
    }

    /// Why it may not be deployed, in words, if it may not.
    pub fn unusable_because(&self) -> Option<String> {
        if self.personal {
            Some("it is a personal build (run with a developer's local changes, not from the repository)".into())
        } else if self.canceled {
            Some("it was canceled".into())
        } else if self.failed_to_start {
            Some("it failed to start".into())
        } else if self.state != "finished" || self.status != "SUCCESS" {
            Some(format!(
                "it is not a successful finished build (state {}, status {})",
                self.state, self.status
            ))
        } else {
            None
        }
    }
}

/// A file among a build's artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildArtifact {
    /// Its path in the build's artifacts, e.g. `ihos.war` or `dist/ihos.war`.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// `Builds`: a page of builds.
#[derive(Debug, Deserialize)]
pub(crate) struct BuildsJson {
    #[serde(default)]
    pub build: Vec<BuildJson>,
}

/// `Build`, the fields ihos reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BuildJson {
    pub id: u64,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub build_type_id: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub branch_name: Option<String>,
    #[serde(default)]
    pub revisions: Option<RevisionsJson>,
    #[serde(default)]
    pub personal: bool,
    #[serde(default)]
    pub failed_to_start: bool,
    #[serde(default)]
    pub canceled_info: Option<serde_json::Value>,
}

/// `Revisions`.
#[derive(Debug, Deserialize)]
pub(crate) struct RevisionsJson {
    #[serde(default)]
    pub revision: Vec<RevisionJson>,
}

/// `Revision`: `version` is the commit, of the VCS root in `vcs-root-instance`.
#[derive(Debug, Deserialize)]
pub(crate) struct RevisionJson {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, rename = "vcs-root-instance")]
    pub root: Option<VcsRootInstanceJson>,
}

/// `vcs-root-instance`: `vcs-root-id` is the VCS root's external id.
#[derive(Debug, Deserialize)]
pub(crate) struct VcsRootInstanceJson {
    #[serde(default, rename = "vcs-root-id")]
    pub root_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `Files`: the children of an artifact directory.
#[derive(Debug, Deserialize)]
pub(crate) struct FilesJson {
    #[serde(default)]
    pub file: Vec<FileJson>,
}

/// `File`: a directory has `children` and no `size`.
#[derive(Debug, Deserialize)]
pub(crate) struct FileJson {
    pub name: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub children: Option<serde_json::Value>,
}

impl FileJson {
    /// A file, not a directory.
    pub(crate) fn is_file(&self) -> bool {
        self.children.is_none() && self.size.is_some()
    }
}

impl From<BuildJson> for TeamCityBuild {
    /// The commit is set when there is exactly one revision; with several, the client
    /// picks the configured root's ([`TeamCityBuild::commit_of`]).
    fn from(b: BuildJson) -> Self {
        let revisions: Vec<BuildRevision> = b
            .revisions
            .map(|r| r.revision)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| {
                let version = r.version.filter(|v| !v.is_empty())?;
                let root = r.root;
                Some(BuildRevision {
                    root_id: root
                        .as_ref()
                        .and_then(|x| x.root_id.clone())
                        .unwrap_or_default(),
                    root_name: root.and_then(|x| x.name).unwrap_or_default(),
                    version,
                })
            })
            .collect();
        TeamCityBuild {
            id: b.id,
            number: b.number.unwrap_or_default(),
            build_type: b.build_type_id.unwrap_or_default(),
            state: b.state.unwrap_or_else(|| "unknown".into()),
            status: b.status.unwrap_or_else(|| "UNKNOWN".into()),
            branch: b.branch_name,
            commit: match revisions.as_slice() {
                [only] => Some(only.version.clone()),
                _ => None,
            },
            revisions,
            personal: b.personal,
            canceled: b.canceled_info.is_some(),
            failed_to_start: b.failed_to_start,
        }
    }
}

impl TeamCityBuild {
    /// The commit of VCS root `root` (its id, else its name), or, with no root named, of
    /// the only one. `Err` lists the roots (`id (name)`) when the choice is not clear.
    pub fn commit_of(&self, root: Option<&str>) -> Result<Option<String>, Vec<String>> {
        let listed = || {
            self.revisions
                .iter()
                .map(|r| format!("{} ({})", r.root_id, r.root_name))
                .collect::<Vec<_>>()
        };
        match root {
            Some(root) => {
                // An id is unique; a name need not be (roots of two projects): one only.
                let by_id = self.revisions.iter().find(|r| r.root_id == root);
                let mut by_name = self.revisions.iter().filter(|r| r.root_name == root);
                let found = by_id.or_else(|| match (by_name.next(), by_name.next()) {
                    (Some(r), None) => Some(r),
                    _ => None,
                });
                match found {
                    Some(r) => Ok(Some(r.version.clone())),
                    None => Err(listed()),
                }
            }
            None if self.revisions.len() > 1 => Err(listed()),
            None => Ok(self.revisions.first().map(|r| r.version.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_teamcitys_documented_shapes() {
        let build: BuildJson = serde_json::from_str(
            r#"{"id":8134,"buildTypeId":"IHos_App","number":"54","status":"SUCCESS",
                "state":"finished","branchName":"master","href":"/app/rest/builds/id:8134",
                "webUrl":"https://ci/viewLog.html?buildId=8134",
                "revisions":{"count":1,"revision":[{"version":"6feff116ab9ad0d3af686526a6ff96272620e70f",
                  "vcsBranchName":"refs/heads/master",
                  "vcs-root-instance":{"id":"261","vcs-root-id":"IHos_Git","name":"ihos"}}]},
                "artifacts":{"href":"/app/rest/builds/id:8134/artifacts"}}"#,
        )
        .unwrap();
        let b = TeamCityBuild::from(build);
        assert_eq!(b.id, 8134);
        assert_eq!(b.number, "54");
        assert_eq!(b.build_type, "IHos_App");
        assert_eq!(
            b.commit.as_deref(),
            Some("6feff116ab9ad0d3af686526a6ff96272620e70f")
        );
        assert!(b.is_usable());

        let queued: BuildJson =
            serde_json::from_str(r#"{"id":9,"buildTypeId":"X","state":"queued"}"#).unwrap();
        let q = TeamCityBuild::from(queued);
        assert!(!q.is_usable());
        assert_eq!((q.status.as_str(), q.commit), ("UNKNOWN", None));

        let files: FilesJson = serde_json::from_str(
            r#"{"count":2,"file":[
                {"name":"ihos.war","size":1234,"modificationTime":"20250520T183916+0200",
                 "href":"/app/rest/builds/id:8134/artifacts/metadata/ihos.war",
                 "content":{"href":"/app/rest/builds/id:8134/artifacts/content/ihos.war"}},
                {"name":"reports","modificationTime":"20250520T183916+0200",
                 "children":{"href":"/app/rest/builds/id:8134/artifacts/children/reports"}}]}"#,
        )
        .unwrap();
        assert!(files.file[0].is_file());
        assert!(!files.file[1].is_file());
    }
}
