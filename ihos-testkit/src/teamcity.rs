//! A fake TeamCity server: HTTP/1.1 on `127.0.0.1:<ephemeral port>`, answering the REST
//! shapes TeamCity documents for what `ihos fetch` asks (a build list by locator, a build
//! with its revisions, artifact listings, artifact content with `Range`), behind a bearer
//! token. Faults: a download cut after N bytes (once), a status code for chosen paths, no
//! `Range` support, a 206 answer with a missing or wrong `Content-Range`. It records every request, so a test can check what was asked and how.
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

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

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
                    std::thread::spawn(move || serve(conn, &state));
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

/// A response: status, extra headers, body, and how many body bytes to send before
/// cutting the connection.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    cut_after: Option<usize>,
}

impl Reply {
    fn json(value: Value) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type", "application/json".into())],
            body: value.to_string().into_bytes(),
            cut_after: None,
        }
    }

    /// A TeamCity-style plain-text error page.
    fn error(status: u16, details: &str) -> Reply {
        let reason = match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            416 => "Range Not Satisfiable",
            _ => "Internal Server Error",
        };
        Reply {
            status,
            headers: vec![("Content-Type", "text/plain".into())],
            body: format!(
                "Responding with error, status code: {status} ({reason}).\nDetails: {details}\n"
            )
            .into_bytes(),
            cut_after: None,
        }
    }
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let header = |name: &str| {
        text.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((&target, ""));
    let mut request = TeamCityRequest {
        method,
        path: decode(raw_path),
        query: raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect(),
        authorization: header("authorization"),
        accept: header("accept"),
        range: header("range"),
        status: 0,
    };
    let reply = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let reply = answer(&mut s, &request);
        request.status = reply.status;
        s.requests.push(request);
        reply
    };
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let body = match reply.cut_after {
        Some(n) => &reply.body[..n.min(reply.body.len())],
        None => &reply.body[..],
    };
    let _ = conn
        .write_all(out.as_bytes())
        .and_then(|()| conn.write_all(body))
        .and_then(|()| conn.flush());
    let _ = conn.shutdown(Shutdown::Both);
}

fn answer(s: &mut State, req: &TeamCityRequest) -> Reply {
    if req.authorization.as_deref() != Some(&format!("Bearer {}", s.token)) {
        let mut r = Reply::error(401, "Authentication required");
        r.body =
            b"Authentication required\nTo login manually go to \"/login.html\" page\n".to_vec();
        r.headers
            .push(("WWW-Authenticate", "Basic realm=\"TeamCity\"".into()));
        return r;
    }
    if let Some((_, status, body)) = s
        .overrides
        .iter()
        .find(|(p, ..)| req.path.contains(p.as_str()))
    {
        return Reply {
            status: *status,
            headers: vec![("Content-Type", "text/plain".into())],
            body: body.clone().into_bytes(),
            cut_after: None,
        };
    }
    if req.method != "GET" {
        return Reply::error(405, "only GET is faked");
    }
    let Some(rest) = req.path.strip_prefix("/app/rest/builds") else {
        return Reply::error(404, &format!("no such resource {}", req.path));
    };
    if rest.is_empty() || rest == "/" {
        return list_builds(s, req.param("locator").unwrap_or_default());
    }
    let Some(rest) = rest.strip_prefix("/id:") else {
        return Reply::error(400, "only id:N build locators are faked in paths");
    };
    let (id, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(build) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| s.builds.iter().find(|b| b.id == id))
        .cloned()
    else {
        return Reply::error(
            404,
            &format!(
                "jetbrains.buildServer.server.rest.errors.NotFoundException: No build found by locator 'id:{id}'."
            ),
        );
    };
    if rest.is_empty() {
        return Reply::json(build_json(&build, true));
    }
    if let Some(dir) = rest.strip_prefix("artifacts/children") {
        return children(&build, dir.trim_start_matches('/').trim_end_matches('/'));
    }
    if let Some(path) = rest.strip_prefix("artifacts/content/") {
        let Some((_, bytes)) = build.artifacts.iter().find(|(p, _)| p == path) else {
            return Reply::error(
                404,
                &format!(
                    "jetbrains.buildServer.server.rest.errors.NotFoundException: No artifact with relative path '{path}' found in build #{} {{id={}}}",
                    build.number, build.id
                ),
            );
        };
        return content(s, bytes, req.range.as_deref());
    }
    Reply::error(404, &format!("no such resource {}", req.path))
}

fn list_builds(s: &State, locator: &str) -> Reply {
    let mut build_type = None;
    let mut status = None;
    let mut state = None;
    let mut branch = None;
    let mut count = usize::MAX;
    for dim in split_top(locator) {
        let (name, value) = dim.split_once(':').unwrap_or((dim, ""));
        let value = value
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .unwrap_or(value);
        match name {
            "buildType" => build_type = Some(value.strip_prefix("id:").unwrap_or(value)),
            "status" => status = Some(value),
            "state" => state = Some(value),
            "branch" => branch = Some(value.strip_prefix("name:").unwrap_or(value)),
            "count" => count = value.parse().unwrap_or(usize::MAX),
            other => {
                return Reply::error(
                    400,
                    &format!(
                        "jetbrains.buildServer.server.rest.errors.LocatorProcessException: Locator dimension '{other}' is unknown."
                    ),
                );
            }
        }
    }
    if let Some(t) = build_type {
        let known: BTreeSet<&str> = s.builds.iter().map(|b| b.build_type.as_str()).collect();
        if !known.contains(t) {
            return Reply::error(
                404,
                &format!(
                    "jetbrains.buildServer.server.rest.errors.NotFoundException: No build type nor template is found by id '{t}'."
                ),
            );
        }
    }
    let mut found: Vec<&FakeBuild> = s
        .builds
        .iter()
        .filter(|b| build_type.is_none_or(|t| b.build_type == t))
        .filter(|b| status.is_none_or(|st| b.status.eq_ignore_ascii_case(st)))
        .filter(|b| state.is_none_or(|st| b.state == st))
        .filter(|b| match branch {
            Some(name) => b.branch == name,
            None => b.default_branch,
        })
        .collect();
    found.sort_by_key(|b| std::cmp::Reverse(b.id));
    found.truncate(count);
    Reply::json(json!({
        "count": found.len(),
        "href": format!("/app/rest/builds?locator={locator}"),
        "build": found.iter().map(|b| build_json(b, false)).collect::<Vec<_>>(),
    }))
}

/// Splits a locator at the commas outside parentheses.
fn split_top(locator: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in locator.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&locator[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < locator.len() {
        parts.push(&locator[start..]);
    }
    parts
}

fn build_json(b: &FakeBuild, full: bool) -> Value {
    let mut v = json!({
        "id": b.id,
        "buildTypeId": b.build_type,
        "number": b.number,
        "state": b.state,
        "branchName": b.branch,
        "defaultBranch": b.default_branch,
        "href": format!("/app/rest/builds/id:{}", b.id),
        "webUrl": format!("/viewLog.html?buildId={}&buildTypeId={}", b.id, b.build_type),
    });
    if b.state != "queued" {
        v["status"] = json!(b.status);
    }
    if full {
        v["buildType"] = json!({ "id": b.build_type, "href": format!("/app/rest/buildTypes/id:{}", b.build_type) });
        let revisions: Vec<Value> = b
            .revision
            .iter()
            .map(|sha| {
                json!({
                    "version": sha,
                    "vcsBranchName": format!("refs/heads/{}", b.branch),
                    "vcs-root-instance": {
                        "id": "1",
                        "vcs-root-id": "IHos_Git",
                        "name": "ihos",
                        "href": "/app/rest/vcs-root-instances/id:1",
                    },
                })
            })
            .collect();
        v["revisions"] = json!({ "count": revisions.len(), "revision": revisions });
        v["artifacts"] = json!({ "href": format!("/app/rest/builds/id:{}/artifacts", b.id) });
    }
    v
}

fn children(b: &FakeBuild, dir: &str) -> Reply {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut files = Vec::new();
    let mut dirs = BTreeSet::new();
    for (path, bytes) in &b.artifacts {
        let Some(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        match rel.split_once('/') {
            Some((sub, _)) => {
                dirs.insert(sub.to_string());
            }
            None => files.push(json!({
                "name": rel,
                "size": bytes.len(),
                "modificationTime": "20250520T183916+0000",
                "href": format!("/app/rest/builds/id:{}/artifacts/metadata/{path}", b.id),
                "content": { "href": format!("/app/rest/builds/id:{}/artifacts/content/{path}", b.id) },
            })),
        }
    }
    if !dir.is_empty() && files.is_empty() && dirs.is_empty() {
        return Reply::error(
            404,
            &format!(
                "jetbrains.buildServer.server.rest.errors.NotFoundException: No artifact with relative path '{dir}' found in build #{} {{id={}}}",
                b.number, b.id
            ),
        );
    }
    for d in dirs {
        files.push(json!({
            "name": d,
            "modificationTime": "20250520T183916+0000",
            "href": format!("/app/rest/builds/id:{}/artifacts/metadata/{prefix}{d}", b.id),
            "children": { "href": format!("/app/rest/builds/id:{}/artifacts/children/{prefix}{d}", b.id) },
        }));
    }
    Reply::json(json!({ "count": files.len(), "file": files }))
}

fn content(s: &mut State, bytes: &[u8], range: Option<&str>) -> Reply {
    let len = bytes.len();
    let from = range
        .filter(|_| !s.no_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<usize>().ok());
    let cut_after = if s.cut_after.is_empty() {
        None
    } else {
        Some(s.cut_after.remove(0))
    };
    let mut reply = Reply {
        status: 200,
        headers: vec![
            ("Content-Type", "application/octet-stream".into()),
            ("Accept-Ranges", "bytes".into()),
        ],
        body: bytes.to_vec(),
        cut_after,
    };
    match from {
        Some(from) if from >= len => {
            let mut r = Reply::error(416, "requested range not satisfiable");
            r.headers.push(("Content-Range", format!("bytes */{len}")));
            r
        }
        Some(from) if s.bad_range.is_some() => {
            reply.status = 206;
            match s.bad_range {
                Some(BadRange::WrongStart) => {
                    let start = from / 2;
                    reply
                        .headers
                        .push(("Content-Range", format!("bytes {start}-{}/{len}", len - 1)));
                    reply.body = bytes[start..].to_vec();
                }
                Some(BadRange::WrongTotal) => {
                    reply.headers.push((
                        "Content-Range",
                        format!("bytes {from}-{}/{}", len - 1, len + 1),
                    ));
                    reply.body = bytes[from..].to_vec();
                }
                _ => reply.body = bytes[from..].to_vec(),
            }
            reply
        }
        Some(from) => {
            reply.status = 206;
            reply
                .headers
                .push(("Content-Range", format!("bytes {from}-{}/{len}", len - 1)));
            reply.body = bytes[from..].to_vec();
            reply
        }
        None => reply,
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A valid WAR (a zip with `WEB-INF/web.xml` and `version.txt`) whose bytes depend on
/// `version`, with `filler` extra bytes of pseudo-random content stored uncompressed (so
/// a download takes several reads).
pub fn test_war(version: &str, filler: usize) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut x: u64 = version.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    let mut filler_bytes = Vec::with_capacity(filler);
    while filler_bytes.len() < filler {
        // xorshift64: fast, deterministic, incompressible enough.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        filler_bytes.extend_from_slice(&x.to_le_bytes());
    }
    filler_bytes.truncate(filler);
    let written = (|| -> zip::result::ZipResult<Vec<u8>> {
        z.add_directory("WEB-INF/", opts)?;
        z.start_file("WEB-INF/web.xml", opts)?;
        z.write_all(b"<web-app/>")?;
        z.start_file("version.txt", opts)?;
        z.write_all(version.as_bytes())?;
        z.start_file("filler.bin", opts)?;
        z.write_all(&filler_bytes)?;
        Ok(z.finish()?.into_inner())
    })();
    written.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding_and_locator_splitting() {
        assert_eq!(super::decode("a%2Fb%20c+d"), "a/b c+d");
        assert_eq!(super::decode("100%"), "100%");
        assert_eq!(
            super::split_top("buildType:(id:X),branch:(name:a,b),count:1"),
            ["buildType:(id:X)", "branch:(name:a,b)", "count:1"]
        );
    }
}
