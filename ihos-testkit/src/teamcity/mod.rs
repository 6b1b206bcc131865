//! A fake TeamCity server: HTTP/1.1 on `127.0.0.1:<ephemeral port>`, answering the REST
//! shapes TeamCity documents for what `ihos fetch` asks (a build list by locator, a build
//! with its revisions, artifact listings, artifact content with `Range`), behind a bearer
//! token. Faults: a download cut after N bytes (once), a status code for chosen paths, no
//! `Range` support, a 206 answer with a missing or wrong `Content-Range`. It records every
//! request, so a test can check what was asked and how.
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
//! [`war`] makes the WARs a test serves.

mod http;
mod rest;
mod war;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use http::Reply;

pub use war::test_war;

/// A build the fake server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeBuild {
    /// Its id.
    pub id: u64,
    /// Its build number.
    pub number: String,
    /// Its build configuration (default `IHos_App`).
    pub build_type: String,
    /// `SUCCESS` (default), `FAILURE`, `ERROR`, `UNKNOWN`.
    pub status: String,
    /// `finished` (default), `running`, `queued`.
    pub state: String,
    /// Its branch name (default `master`).
    pub branch: String,
    /// Whether that is the configuration's default branch (default true).
    pub default_branch: bool,
    /// The commit of its VCS root, if it has one.
    pub revision: Option<String>,
    /// Its artifacts: path (`a/b.war`) and bytes.
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
            branch: "master".into(),
            default_branch: true,
            revision: None,
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
        self.branch = name.into();
        self.default_branch = false;
        self
    }

    /// Built from commit `sha`.
    pub fn revision(mut self, sha: &str) -> Self {
        self.revision = Some(sha.into());
        self
    }

    /// With an artifact at `path`.
    pub fn artifact(mut self, path: &str, bytes: Vec<u8>) -> Self {
        self.artifacts.push((path.into(), bytes));
        self
    }
}

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
    builds: Vec<FakeBuild>,
    requests: Vec<TeamCityRequest>,
    cut_after: Vec<usize>,
    overrides: Vec<(String, u16, String)>,
    no_range: bool,
    bad_range: Option<BadRange>,
}

/// The fake server. Dropping it stops it.
pub struct FakeTeamCity {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeTeamCity {
    /// Starts a server on `127.0.0.1` (a free port) that accepts `Bearer <token>`.
    pub fn start(token: &str) -> std::io::Result<FakeTeamCity> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            token: token.into(),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || {
                        http::serve(conn, |request| handle(&state, request))
                    });
                }
            })
        };
        Ok(FakeTeamCity {
            addr,
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Ignore `Range` headers: always send the whole artifact with 200.
    pub fn ignore_ranges(&self) {
        self.lock().no_range = true;
    }

    /// Answer every `Range` request for an artifact with a 206 that is wrong as `how` says,
    /// from now on; requests without `Range` are answered normally.
    pub fn answer_ranges_badly(&self, how: BadRange) {
        self.lock().bad_range = Some(how);
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<TeamCityRequest> {
        self.lock().requests.clone()
    }
}

impl Drop for FakeTeamCity {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers a request and records it with the status answered, in one step.
fn handle(state: &Mutex<State>, mut request: TeamCityRequest) -> Reply {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let reply = rest::answer(&mut s, &request);
    request.status = reply.status;
    s.requests.push(request);
    reply
}
