//! TeamCity's REST API as far as `ihos fetch` uses it: the build list by locator, one build
//! with its revisions, artifact listings, artifact content with `Range`, behind a bearer
//! token; with the injected faults of [`State`].

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::http::Reply;
use super::{BadRange, FakeBuild, State, TeamCityRequest};

/// The answer to `req` as TeamCity gives it, with the faults `s` holds.
pub(super) fn answer(s: &mut State, req: &TeamCityRequest) -> Reply {
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

#[cfg(test)]
mod tests {
    #[test]
    fn locator_splitting() {
        assert_eq!(
            super::split_top("buildType:(id:X),branch:(name:a,b),count:1"),
            ["buildType:(id:X)", "branch:(name:a,b)", "count:1"]
        );
    }
}
