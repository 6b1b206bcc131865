//! The builds the fake server knows, and how TeamCity names their branches.

/// One VCS root's revision of a build (TeamCity's `revision` with its
/// `vcs-root-instance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRevision {
    /// The VCS root's external id (`vcs-root-id`), e.g. `IHos_Git`.
    pub root_id: String,
    /// The VCS root's name.
    pub root_name: String,
    /// The commit.
    pub version: String,
}

/// A build the fake server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeBuild {
    /// Its id.
    pub id: u64,
    /// Its build number.
    pub number: String,
    /// Its build configuration (default `IHos_App`).
    pub build_type: String,
    /// `SUCCESS` (default), `FAILURE`, `ERROR`, `UNKNOWN` (a canceled build's).
    pub status: String,
    /// `finished` (default), `running`, `queued`.
    pub state: String,
    /// Its branch's display name (default `master`); `None` for a build configuration with
    /// no branch specification (TeamCity's "not branched" build: no `branchName`).
    pub branch: Option<String>,
    /// Whether that is the configuration's default branch (default true).
    pub default_branch: bool,
    /// Its revisions, one per VCS root, in the order the server lists them (TeamCity
    /// promises none).
    pub revisions: Vec<FakeRevision>,
    /// A personal build (a developer's local changes run remotely).
    pub personal: bool,
    /// Canceled (it has a `canceledInfo`).
    pub canceled: bool,
    /// Failed to start.
    pub failed_to_start: bool,
    /// Its artifacts: path (`a/b.war`, `dist/app.zip`) and bytes.
    pub artifacts: Vec<(String, Vec<u8>)>,
}

impl FakeBuild {
    /// A successful finished build of `IHos_App` on the default branch `master`, without
    /// revision or artifacts.
    pub fn new(id: u64, number: &str) -> Self {
        FakeBuild {
            id,
            number: number.into(),
            build_type: "IHos_App".into(),
            status: "SUCCESS".into(),
            state: "finished".into(),
            branch: Some("master".into()),
            default_branch: true,
            revisions: Vec::new(),
            personal: false,
            canceled: false,
            failed_to_start: false,
            artifacts: Vec::new(),
        }
    }

    /// Of build configuration `id`.
    pub fn build_type(mut self, id: &str) -> Self {
        self.build_type = id.into();
        self
    }

    /// With status `status` (`FAILURE`, ...).
    pub fn status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }

    /// In state `state` (`running`, `queued`).
    pub fn state(mut self, state: &str) -> Self {
        self.state = state.into();
        self
    }

    /// On branch `name`, not the default one.
    pub fn branch(mut self, name: &str) -> Self {
        self.branch = Some(name.into());
        self.default_branch = false;
        self
    }

    /// On the default branch, whose display name is `name`.
    pub fn default_branch_named(mut self, name: &str) -> Self {
        self.branch = Some(name.into());
        self.default_branch = true;
        self
    }

    /// Of a build configuration without branches.
    pub fn not_branched(mut self) -> Self {
        self.branch = None;
        self.default_branch = true;
        self
    }

    /// Built from commit `sha` of the VCS root `IHos_Git` ("ihos").
    pub fn revision(self, sha: &str) -> Self {
        self.revision_of("IHos_Git", "ihos", sha)
    }

    /// Built from commit `sha` of the VCS root `root_id` named `root_name` (call once per
    /// root for a build with several).
    pub fn revision_of(mut self, root_id: &str, root_name: &str, sha: &str) -> Self {
        self.revisions.push(FakeRevision {
            root_id: root_id.into(),
            root_name: root_name.into(),
            version: sha.into(),
        });
        self
    }

    /// A personal build.
    pub fn personal(mut self) -> Self {
        self.personal = true;
        self
    }

    /// Canceled while running: status `UNKNOWN`, state finished, with a `canceledInfo`.
    pub fn canceled(mut self) -> Self {
        self.canceled = true;
        self.status = "UNKNOWN".into();
        self
    }

    /// Failed to start.
    pub fn failed_to_start(mut self) -> Self {
        self.failed_to_start = true;
        self.status = "FAILURE".into();
        self
    }

    /// With an artifact at `path`.
    pub fn artifact(mut self, path: &str, bytes: Vec<u8>) -> Self {
        self.artifacts.push((path.into(), bytes));
        self
    }

    /// Its branch's logical name (`<default>` for the default branch, as TeamCity's
    /// `Branch.getName()`) and display name; `<not_branched>` for both when not branched
    /// (teamcity-rest `BranchData.fromBuild`).
    pub(super) fn branch_names(&self) -> (String, String) {
        match &self.branch {
            None => ("<not_branched>".into(), "<not_branched>".into()),
            Some(b) if self.default_branch => ("<default>".into(), b.clone()),
            Some(b) => (b.clone(), b.clone()),
        }
    }
}
