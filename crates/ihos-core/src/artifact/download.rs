//! The resumable download of one artifact into `<out>.part`, described by `<out>.part.json`
//! (build id, artifact, expected size, server) so that a rerun for the same artifact goes
//! on with a `Range` request.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::api::BuildArtifact;
use super::client::not_found_as;
use super::error::FetchError;
use super::fetch::FetchProgress;
use super::http::{Http, encode_path};

/// What a partial download is a part of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PartMeta {
    server_url: String,
    build_id: u64,
    artifact: String,
    size: u64,
}

/// `<out>.part` and `<out>.part.json`.
pub(crate) fn part_paths(out: &Path) -> (PathBuf, PathBuf) {
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let mut meta = part.clone();
    meta.push(".json");
    (PathBuf::from(part), PathBuf::from(meta))
}

/// Removes the partial download (both files), ignoring files already gone.
pub(crate) fn discard(out: &Path) {
    let (part, meta) = part_paths(out);
    let _ = std::fs::remove_file(part);
    let _ = std::fs::remove_file(meta);
}

/// Downloads `artifact` of build `build_id` into `<out>.part`, continuing a partial
/// download of the same artifact. Returns the offset it resumed from (0: from the start).
/// On a broken connection the part is kept for the next run.
pub(crate) fn download(
    http: &Http,
    build_id: u64,
    artifact: &BuildArtifact,
    out: &Path,
    progress: &mut dyn FnMut(&FetchProgress),
) -> Result<u64, FetchError> {
    let (part, meta_path) = part_paths(out);
    let meta = PartMeta {
        server_url: http.base().to_string(),
        build_id,
        artifact: artifact.path.clone(),
        size: artifact.size,
    };
    let previous: Option<PartMeta> = std::fs::read(&meta_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let have = std::fs::metadata(&part).map_or(0, |m| m.len());
    let mut from = if previous.as_ref() == Some(&meta) && have <= meta.size {
        have
    } else {
        0
    };
    if from == 0 {
        discard(out);
        let json = serde_json::to_vec(&meta).map_err(|e| FetchError::Io {
            path: meta_path.display().to_string(),
            what: "serializing",
            reason: e.to_string(),
        })?;
        std::fs::write(&meta_path, json).map_err(|e| FetchError::io(&meta_path, "writing", e))?;
    }
    if from == meta.size && from > 0 {
        // Complete already (the previous run stopped after the last byte).
        progress(&FetchProgress::Downloading {
            done: from,
            total: meta.size,
        });
        return Ok(from);
    }

    let path = format!(
        "/app/rest/builds/id:{build_id}/artifacts/content/{}",
        encode_path(&artifact.path)
    );
    let url = http.url(&path);
    let response = http.get_stream(&path, from).map_err(|e| {
        not_found_as(e, || FetchError::ArtifactNotFound {
            build_id,
            path: artifact.path.clone(),
            available: Vec::new(),
        })
    })?;
    if from > 0 {
        if response.status().as_u16() == 206 {
            let start = response
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(content_range_start);
            if start != Some(from) {
                return Err(FetchError::BadResponse {
                    url,
                    reason: format!(
                        "asked for bytes {from}- and got a part starting at {}",
                        start.map_or("an unknown offset".into(), |s| s.to_string())
                    ),
                });
            }
            progress(&FetchProgress::Resuming {
                from,
                total: meta.size,
            });
        } else {
            // 200: the server sends the whole file; start over.
            from = 0;
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(from > 0)
        .truncate(from == 0)
        .open(&part)
        .map_err(|e| FetchError::io(&part, "opening", e))?;
    let mut reader = response.into_body().into_reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = from;
    progress(&FetchProgress::Downloading {
        done,
        total: meta.size,
    });
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // What arrived stays in the part for the next run.
                let _ = file.sync_all();
                return Err(read_failure(&url, e, done, meta.size));
            }
        };
        file.write_all(&buf[..n])
            .map_err(|e| FetchError::io(&part, "writing", e))?;
        done += n as u64;
        if done > meta.size {
            break;
        }
        progress(&FetchProgress::Downloading {
            done,
            total: meta.size,
        });
    }
    file.sync_all()
        .map_err(|e| FetchError::io(&part, "writing", e))?;
    if done != meta.size {
        // The server and its listing disagree: nothing to resume from.
        discard(out);
        return Err(FetchError::SizeMismatch {
            path: part.display().to_string(),
            expected: meta.size,
            actual: done,
        });
    }
    Ok(from)
}

fn read_failure(url: &str, e: std::io::Error, done: u64, total: u64) -> FetchError {
    FetchError::Connection {
        url: url.to_string(),
        reason: format!(
            "the download broke after {done} of {total} bytes ({e}); run the same command again to resume"
        ),
    }
}

/// The first byte of a `Content-Range: bytes START-END/SIZE` header.
fn content_range_start(value: &str) -> Option<u64> {
    value
        .trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_range() {
        assert_eq!(super::content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(super::content_range_start("bytes */200"), None);
        assert_eq!(super::content_range_start("items 1-2/3"), None);
    }

    #[test]
    fn part_paths_sit_next_to_the_output() {
        let (part, meta) = super::part_paths(std::path::Path::new("/tmp/x/ihos.war"));
        assert_eq!(part, std::path::Path::new("/tmp/x/ihos.war.part"));
        assert_eq!(meta, std::path::Path::new("/tmp/x/ihos.war.part.json"));
    }
}
