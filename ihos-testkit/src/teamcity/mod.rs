//! A fake TeamCity server: HTTP/1.1 on `127.0.0.1:<ephemeral port>`, answering the REST
//! shapes TeamCity documents for what `ihos fetch` asks (a build list by locator, a build
//! with its revisions, artifact listings, artifact content with `Range`), behind a bearer
//! token, optionally at a context path (`/teamcities`). What the real server does that a
//! client can get wrong, each from teamcity-rest's sources (see each module): the default
//! build filter and branch matching ([`locator`]), builds not branched, personal, canceled
//! or with several VCS roots ([`build`]), artifacts inside archives ([`archive`]), errors
//! in the 2025 JSON/XML form, redirects by a proxy (same host or not) and downloads
//! redirected to an external storage on another host ([`storage`]). Faults: a download
//! cut after N bytes (once), a status code for chosen paths, no `Range` support, a 206
//! answer with a missing or wrong `Content-Range`. It records every request, so a test
//! can check what was asked and how.
//!
//! ```
//! use ihos_testkit::{FakeBuild, FakeTeamCity, test_war};
//!
//! let tc = FakeTeamCity::start("secret-token").unwrap();
//! tc.add_build(FakeBuild::new(7, "1.0.7").revision("4f1c2e9").artifact("ihos.war", test_war("v7", 1000)));
//! assert!(tc.url().starts_with("http://127.0.0.1:"));
//! assert!(tc.requests().is_empty());
//! // The server stops when `tc` is dropped.
//! ```
//!
//! [`http`] reads requests and writes responses, [`rest`] answers them as TeamCity does,
//! [`war`] makes the WARs and archives a test serves.

mod archive;
mod build;
mod http;
mod locator;
mod rest;
mod storage;
mod war;

use std::sync::{Arc, Mutex, MutexGuard};

use http::{Reply, Server};

pub use build::{FakeBuild, FakeRevision};
pub use storage::FakeStorage;
pub use war::{test_war, zip_of};

/// One request the fake server received, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamCityRequest {
    /// `GET`, ...
    pub method: String,
    /// The path, percent-decoded (`/app/rest/builds/id:7/artifacts/content/ihos.war`).
    pub path: String,
    /// The query parameters, percent-decoded (`locator`, ...).
    pub query: Vec<(String, String)>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The `Range` header.
    pub range: Option<String>,
    /// The status answered.
    pub status: u16,
}

impl TeamCityRequest {
    /// The query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A wrong answer to a `Range` request: always a 206, with the `Content-Range` of a broken
/// proxy or cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadRange {
    /// The part asked for, without a `Content-Range` header.
    MissingContentRange,
    /// The part from half the requested offset on, saying so in its `Content-Range`.
    WrongStart,
    /// The part asked for, with a `Content-Range` whose complete length is one byte more
    /// than the artifact's.
    WrongTotal,
}

#[derive(Default)]
struct State {
    token: String,
    /// `http://127.0.0.1:PORT`.
    origin: String,
    /// The context path the server is installed at (`/teamcities`), or "".
    context: String,
    builds: Vec<FakeBuild>,
    requests: Vec<TeamCityRequest>,
    cut_after: Vec<usize>,
    overrides: Vec<(String, u16, String)>,
    redirects: Vec<(String, u16, String)>,
    no_range: bool,
    bad_range: Option<BadRange>,
    errors_2025: bool,
    storage: Option<Arc<FakeStorage>>,
}

/// The fake server. Dropping it stops it.
pub struct FakeTeamCity {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeTeamCity {
    /// Starts a server on `127.0.0.1` (a free port) that accepts `Bearer <token>`.
    pub fn start(token: &str) -> std::io::Result<FakeTeamCity> {
        Self::start_at(token, "")
    }

    /// A server installed at a context path (`/teamcities`, as the runbook's server at
    /// `https://HOST/teamcities/`): REST is under `CONTEXT/app/rest`, anything else is a
    /// 404, and `href`s in its answers leave the context path out (teamcity-rest
    /// `SimplePathTransformer`: only with `rest.beans.href.useFullURLs` are they full).
    pub fn start_at(token: &str, context: &str) -> std::io::Result<FakeTeamCity> {
        let state = Arc::new(Mutex::new(State {
            token: token.into(),
            context: context.trim_end_matches('/').into(),
            ..State::default()
        }));
        let server = {
            let state = state.clone();
            http::start("127.0.0.1", move |request| handle(&state, request))?
        };
        lock(&state).origin = format!("http://{}", server.addr);
        Ok(FakeTeamCity { server, state })
    }

    /// `http://127.0.0.1:PORT` and the context path: what `[teamcity] url` is set to.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.server.addr, self.lock().context)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Adds a build (a larger id is a newer build).
    pub fn add_build(&self, build: FakeBuild) {
        self.lock().builds.push(build);
    }

    /// The next artifact download is cut after `bytes` bytes of its body (once).
    pub fn cut_next_download_after(&self, bytes: usize) {
        self.lock().cut_after.push(bytes);
    }

    /// Requests whose path contains `path_contains` get `status` (with a TeamCity-like
    /// error page), from now on.
    pub fn fail_requests(&self, path_contains: &str, status: u16) {
        let page = format!(
            "Responding with error, status code: {status}.\nDetails: jetbrains.buildServer.server.rest.errors.OperationException: injected failure\n"
        );
        self.lock()
            .overrides
            .push((path_contains.into(), status, page));
    }

    /// Requests whose path contains `path_contains` get `status` and `body` as they are,
    /// from now on (a proxy's HTML page, a truncated file, ...).
    pub fn override_response(&self, path_contains: &str, status: u16, body: &str) {
        self.lock()
            .overrides
            .push((path_contains.into(), status, body.into()));
    }

    /// Requests whose path starts with `from` are redirected with `status` to `to`
    /// followed by the rest of their path and their query (as a proxy in front of the
    /// server does: `/tc/...` moved to `/teamcities/...`, or to another host). `to` is a
    /// whole URL (`http://127.0.0.1:PORT/teamcities`). Before any authentication.
    pub fn redirect(&self, from: &str, status: u16, to: &str) {
        self.lock().redirects.push((from.into(), status, to.into()));
    }

    /// Errors answered as TeamCity 2025 does: JSON (`{"errors":[...]}`) or XML by
    /// `Accept`, the old text page otherwise.
    pub fn answer_errors_as_2025(&self) {
        self.lock().errors_2025 = true;
    }

    /// Artifacts kept in an external storage: a download is answered with a 302 to a
    /// presigned URL of `storage` (another host).
    pub fn store_artifacts_in(&self, storage: Arc<FakeStorage>) {
        self.lock().storage = Some(storage);
    }

    /// Ignore `Range` headers: always send the whole artifact with 200.
    pub fn ignore_ranges(&self) {
        self.lock().no_range = true;
    }

    /// Answer every `Range` request for an artifact with a 206 that is wrong as `how` says,
    /// from now on; requests without `Range` are answered normally.
    pub fn answer_ranges_badly(&self, how: BadRange) {
        self.lock().bad_range = Some(how);
    }

    /// Every request so far, in order (paths as received, the context path included).
    pub fn requests(&self) -> Vec<TeamCityRequest> {
        self.lock().requests.clone()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Answers a request and records it with the status answered, in one step.
fn handle(state: &Mutex<State>, mut request: TeamCityRequest) -> Reply {
    let mut s = lock(state);
    let mut reply = rest::answer(&mut s, &request);
    if s.errors_2025 {
        reply = reply.in_2025_form(request.accept.as_deref());
    }
    request.status = reply.status;
    s.requests.push(request);
    reply
}
