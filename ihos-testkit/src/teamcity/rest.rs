//! TeamCity's REST API as far as `ihos fetch` uses it: the build list by locator, one build
//! with its revisions, artifact listings, artifact content with `Range`, behind a bearer
//! token; with the injected faults of [`State`].

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::http::{Reply, encode};
use super::locator::BuildQuery;
use super::{BadRange, FakeBuild, State, TeamCityRequest, archive};

/// The answer to `req` as TeamCity gives it, with the faults `s` holds.
pub(super) fn answer(s: &mut State, req: &TeamCityRequest) -> Reply {
    if let Some(reply) = redirected(s, req) {
        return reply;
    }
    // The servlet container answers outside the context path: its own 404 page.
    let Some(path) = req
        .path
        .strip_prefix(s.context.as_str())
        .filter(|p| p.starts_with('/'))
    else {
        let mut r = Reply::error(404, "no such context");
        r.body = "<!doctype html><html><body><h1>HTTP Status 404 – Not Found</h1></body></html>"
            .as_bytes()
            .to_vec();
        r.details = None;
        return r;
    };
    if req.authorization.as_deref() != Some(&format!("Bearer {}", s.token)) {
        let mut r = Reply::error(401, "Authentication required");
        r.body =
            b"Authentication required\nTo login manually go to \"/login.html\" page\n".to_vec();
        r.details = None;
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
            details: None,
        };
    }
    if req.method != "GET" {
        return Reply::error(405, "only GET is faked");
    }
    let Some(rest) = path.strip_prefix("/app/rest/builds") else {
        return Reply::error(404, &format!("no such resource {path}"));
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
                "jetbrains.buildServer.server.rest.errors.NotFoundException: No build found by id '{id}'."
            ),
        );
    };
    if rest.is_empty() {
        return Reply::json(build_json(s, &build, true));
    }
    if let Some(dir) = rest.strip_prefix("artifacts/children") {
        let browse = req
            .param("locator")
            .is_some_and(|l| l.contains("browseArchives:true"));
        return children(
            &build,
            dir.trim_start_matches('/').trim_end_matches('/'),
            browse,
        );
    }
    // `files/` is an alias of `content/` (teamcity-rest `FilesSubResource.getContentAlias`).
    let content_path = rest
        .strip_prefix("artifacts/content/")
        .or_else(|| rest.strip_prefix("artifacts/files/"));
    match content_path {
        Some(path) => artifact(s, &build, path, req.range.as_deref()),
        None => Reply::error(404, &format!("no such resource {path}")),
    }
}

/// A proxy's redirect of `req`, if one is set for its path.
fn redirected(s: &State, req: &TeamCityRequest) -> Option<Reply> {
    let (from, status, to) = s
        .redirects
        .iter()
        .find(|(f, ..)| req.path.starts_with(f.as_str()))?;
    let rest = &req.path[from.len()..];
    let query: Vec<String> = req
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let path: String = rest.split('/').map(encode).collect::<Vec<_>>().join("/");
    let location = if query.is_empty() {
        format!("{to}{path}")
    } else {
        format!("{to}{path}?{}", query.join("&"))
    };
    Some(Reply::redirect(*status, &location))
}

/// An artifact's content (`path` may go inside an archive), or the redirect to the
/// storage holding it.
fn artifact(s: &mut State, build: &FakeBuild, path: &str, range: Option<&str>) -> Reply {
    let bytes = match archive::split(path) {
        Some((zip, inner)) => build
            .artifacts
            .iter()
            .find(|(p, _)| p == zip)
            .and_then(|(_, bytes)| archive::entry(bytes, inner)),
        None => build
            .artifacts
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b.clone()),
    };
    let Some(bytes) = bytes else {
        return Reply::error(
            404,
            &format!(
                "jetbrains.buildServer.server.rest.errors.NotFoundException: No artifact with relative path '{path}' found in build #{} {{id={}}}",
                build.number, build.id
            ),
        );
    };
    if let Some(storage) = &s.storage {
        let url = storage.presign(&format!("{}/{path}", build.id), &bytes);
        let mut r = Reply::redirect(302, &url);
        r.headers.push(("Cache-Control", "max-age=60".into()));
        return r;
    }
    content(s, &bytes, range)
}

fn list_builds(s: &State, locator: &str) -> Reply {
    let query = match BuildQuery::parse(locator) {
        Ok(q) => q,
        Err(message) => {
            return Reply::error(
                400,
                &format!(
                    "jetbrains.buildServer.server.rest.errors.LocatorProcessException: {message}"
                ),
            );
        }
    };
    if let Some(t) = &query.build_type {
        let known: BTreeSet<&str> = s.builds.iter().map(|b| b.build_type.as_str()).collect();
        if !known.contains(t.as_str()) {
            return Reply::error(
                404,
                &format!(
                    "jetbrains.buildServer.server.rest.errors.NotFoundException: No build type nor template is found by id '{t}'."
                ),
            );
        }
    }
    let mut found: Vec<&FakeBuild> = s.builds.iter().filter(|b| query.admits(b)).collect();
    found.sort_by_key(|b| std::cmp::Reverse(b.id));
    found.truncate(query.count);
    Reply::json(json!({
        "count": found.len(),
        "href": format!("/app/rest/builds?locator={locator}"),
        "build": found.iter().map(|b| build_json(s, b, false)).collect::<Vec<_>>(),
    }))
}

/// A build as teamcity-rest's `Build` bean writes it: booleans only when true
/// (`ValueWithDefault`), `branchName` (the display name) only for a branched build,
/// `status` absent while queued, `canceledInfo` for a canceled one; `revisions` only in the
/// long form (a single build), one per VCS root.
fn build_json(s: &State, b: &FakeBuild, full: bool) -> Value {
    let mut v = json!({
        "id": b.id,
        "buildTypeId": b.build_type,
        "number": b.number,
        "state": b.state,
        "href": format!("/app/rest/builds/id:{}", b.id),
        "webUrl": format!(
            "{}{}/viewLog.html?buildId={}&buildTypeId={}",
            s.origin, s.context, b.id, b.build_type
        ),
    });
    if b.state != "queued" {
        v["status"] = json!(b.status);
    }
    if let Some(branch) = &b.branch {
        v["branchName"] = json!(branch);
        if b.default_branch {
            v["defaultBranch"] = json!(true);
        }
    }
    if b.personal {
        v["personal"] = json!(true);
    }
    if b.failed_to_start {
        v["failedToStart"] = json!(true);
    }
    if full {
        if b.canceled {
            v["canceledInfo"] =
                json!({ "timestamp": "20250520T183916+0000", "text": "canceled by hand" });
        }
        v["buildType"] = json!({ "id": b.build_type, "href": format!("/app/rest/buildTypes/id:{}", b.build_type) });
        let branch = b.branch.as_deref().unwrap_or("master");
        let revisions: Vec<Value> = b
            .revisions
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "version": r.version,
                    "vcsBranchName": format!("refs/heads/{branch}"),
                    "vcs-root-instance": {
                        "id": (i + 1).to_string(),
                        "vcs-root-id": r.root_id,
                        "name": r.root_name,
                        "href": format!("/app/rest/vcs-root-instances/id:{}", i + 1),
                    },
                })
            })
            .collect();
        v["revisions"] = json!({ "count": revisions.len(), "revision": revisions });
        v["artifacts"] = json!({ "href": format!("/app/rest/builds/id:{}/artifacts", b.id) });
    }
    v
}

/// A directory's children: of the build's artifacts, or inside an archive (`a.zip!/dir`,
/// listed only with `locator=browseArchives:true`). `href`s are percent-encoded by segment
/// with `/` kept (teamcity-rest `FilesSubResource.encodeFullFileName`).
fn children(b: &FakeBuild, dir: &str, browse_archives: bool) -> Reply {
    let not_found = || {
        Reply::error(
            404,
            &format!(
                "jetbrains.buildServer.server.rest.errors.NotFoundException: No artifact with relative path '{dir}' found in build #{} {{id={}}}",
                b.number, b.id
            ),
        )
    };
    // (name, full path, size: None for a directory)
    let mut entries: Vec<(String, String, Option<u64>)> = Vec::new();
    // An archive is listed as a directory by its own path (`a.zip`) or inside it
    // (`a.zip!/dir`): teamcity-rest BuildArtifactsFinderTest lists an archive's root by the
    // archive's path. Whether the real server needs `browseArchives:true` for this is not
    // in its public sources: this fake does not (the client sends it anyway).
    let _ = browse_archives;
    let as_archive = archive::split(dir).or_else(|| {
        b.artifacts
            .iter()
            .any(|(p, bytes)| p == dir && archive::children(bytes, "").is_some())
            .then_some((dir, ""))
    });
    if let Some((zip, inner)) = as_archive {
        let listed = b
            .artifacts
            .iter()
            .find(|(p, _)| p == zip)
            .and_then(|(_, bytes)| archive::children(bytes, inner));
        let Some(listed) = listed else {
            return not_found();
        };
        let base = if inner.is_empty() {
            format!("{zip}!/")
        } else {
            format!("{zip}!/{inner}/")
        };
        for (name, size) in listed {
            entries.push((name.clone(), format!("{base}{name}"), size));
        }
    } else {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut dirs = BTreeSet::new();
        for (path, bytes) in &b.artifacts {
            let Some(rel) = path.strip_prefix(&prefix) else {
                continue;
            };
            match rel.split_once('/') {
                Some((sub, _)) => {
                    dirs.insert(sub.to_string());
                }
                None => entries.push((rel.into(), path.clone(), Some(bytes.len() as u64))),
            }
        }
        if !dir.is_empty() && entries.is_empty() && dirs.is_empty() {
            return not_found();
        }
        for d in dirs {
            entries.push((d.clone(), format!("{prefix}{d}"), None));
        }
    }
    let files: Vec<Value> = entries
        .into_iter()
        .map(|(name, full, size)| {
            let href = |kind: &str| {
                format!(
                    "/app/rest/builds/id:{}/artifacts/{kind}/{}",
                    b.id,
                    href_path(&full)
                )
            };
            let mut v = json!({
                "name": name,
                "fullName": full,
                "modificationTime": "20250520T183916+0000",
                "href": href("metadata"),
            });
            match size {
                Some(size) => {
                    v["size"] = json!(size);
                    v["content"] = json!({ "href": href("content") });
                }
                None => v["children"] = json!({ "href": href("children") }),
            }
            v
        })
        .collect();
    Reply::json(json!({ "count": files.len(), "file": files }))
}

/// A path for an `href`: each segment percent-encoded, `/` and `!` kept.
fn href_path(path: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'!');
    path.split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
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
        details: None,
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
