//! The resumable download of one artifact into `<out>.part`, described by `<out>.part.json`
//! (build id, artifact, expected size, server) so that a rerun for the same artifact goes
//! on with a `Range` request.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::api::BuildArtifact;
use super::client::not_found_as;
use super::error::FetchError;
use super::http::{Http, encode_path};
use super::progress::FetchProgress;

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
/// On a broken connection the part is kept for the next run. A 206 answer whose
/// `Content-Range` is missing or is not the rest of this artifact drops the part and
/// downloads the whole artifact, so that no rerun repeats the same bad `Range` request.
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
        start_afresh(out, &meta_path, &meta)?;
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
    let get = |from: u64| {
        http.get_stream(&path, from).map_err(|e| {
            not_found_as(e, || FetchError::ArtifactNotFound {
                build_id,
                path: artifact.path.clone(),
                available: Vec::new(),
            })
        })
    };
    let mut response = get(from)?;
    if from > 0 {
        if response.status().as_u16() == 206 {
            let header = response
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok());
            match check_content_range(header, from, meta.size) {
                Ok(()) => progress(&FetchProgress::Resuming {
                    from,
                    total: meta.size,
                }),
                Err(bad) => {
                    // Resuming from this part would fail the same way on every run:
                    // drop it and download the whole file instead.
                    drop(response);
                    progress(&FetchProgress::StartingOver {
                        reason: bad.to_string(),
                    });
                    start_afresh(out, &meta_path, &meta)?;
                    from = 0;
                    response = get(0)?;
                }
            }
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

/// Removes any partial download of `out` and records `meta` as the one about to start.
fn start_afresh(out: &Path, meta_path: &Path, meta: &PartMeta) -> Result<(), FetchError> {
    discard(out);
    let json = serde_json::to_vec(meta).map_err(|e| FetchError::Io {
        path: meta_path.display().to_string(),
        what: "serializing",
        reason: e.to_string(),
    })?;
    std::fs::write(meta_path, json).map_err(|e| FetchError::io(meta_path, "writing", e))
}

fn read_failure(url: &str, e: std::io::Error, done: u64, total: u64) -> FetchError {
    FetchError::Connection {
        url: url.to_string(),
        reason: format!(
            "the download broke after {done} of {total} bytes ({e}); run the same command again to resume"
        ),
    }
}

/// Why the answer to a resume's `Range` request cannot continue the partial download.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum BadRange {
    #[error("the server answered the request for bytes {from}- with a part without Content-Range")]
    Missing { from: u64 },
    #[error(
        "the server answered the request for bytes {from}- with an unreadable Content-Range {value:?}"
    )]
    Unreadable { from: u64, value: String },
    #[error("asked for bytes {from}- and got a part starting at {start} (Content-Range {value:?})")]
    Start {
        from: u64,
        start: u64,
        value: String,
    },
    #[error(
        "the server says the artifact has {total} bytes, its listing says {size} (Content-Range {value:?})"
    )]
    Total {
        total: u64,
        size: u64,
        value: String,
    },
    #[error(
        "asked for bytes {from}- of {size} and got a part ending at byte {end} (Content-Range {value:?})"
    )]
    End {
        from: u64,
        size: u64,
        end: u64,
        value: String,
    },
}

/// Checks the `Content-Range` of a 206 answer to `Range: bytes=FROM-` for an artifact of
/// `size` bytes: it must be `bytes FROM-(size-1)/size` (or `/*`, a size the server does not
/// know).
fn check_content_range(header: Option<&str>, from: u64, size: u64) -> Result<(), BadRange> {
    let Some(value) = header else {
        return Err(BadRange::Missing { from });
    };
    let value_ = || value.to_string();
    let Some((start, end, total)) = content_range(value) else {
        return Err(BadRange::Unreadable {
            from,
            value: value_(),
        });
    };
    if start != from {
        return Err(BadRange::Start {
            from,
            start,
            value: value_(),
        });
    }
    if let Some(total) = total.filter(|&t| t != size) {
        return Err(BadRange::Total {
            total,
            size,
            value: value_(),
        });
    }
    if end.checked_add(1) != Some(size) {
        return Err(BadRange::End {
            from,
            size,
            end,
            value: value_(),
        });
    }
    Ok(())
}

/// The first byte, last byte and complete length (`None` for `*`) of a
/// `Content-Range: bytes START-END/SIZE` header.
fn content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    (start <= end).then_some((start, end, total))
}

#[cfg(test)]
mod tests {
    use super::{check_content_range, content_range};

    #[test]
    fn content_range_is_read_whole() {
        assert_eq!(
            content_range("bytes 100-199/200"),
            Some((100, 199, Some(200)))
        );
        assert_eq!(content_range(" bytes 100-199/* "), Some((100, 199, None)));
        assert_eq!(content_range("bytes */200"), None);
        assert_eq!(content_range("bytes 100-/200"), None);
        assert_eq!(content_range("bytes 100-199"), None);
        assert_eq!(content_range("bytes 199-100/200"), None);
        assert_eq!(content_range("items 1-2/3"), None);
    }

    #[test]
    fn only_the_part_asked_for_is_resumed() {
        assert_eq!(
            check_content_range(Some("bytes 100-199/200"), 100, 200),
            Ok(())
        );
        assert_eq!(
            check_content_range(Some("bytes 100-199/*"), 100, 200),
            Ok(())
        );
        for (header, why) in [
            (None, "without Content-Range"),
            (Some("bytes */200"), "unreadable"),
            (Some("bytes 50-199/200"), "starting at 50"),
            (
                Some("bytes 100-299/300"),
                "has 300 bytes, its listing says 200",
            ),
            (Some("bytes 100-149/200"), "ending at byte 149"),
            (Some("bytes 100-299/*"), "ending at byte 299"),
        ] {
            let reason = check_content_range(header, 100, 200)
                .unwrap_err()
                .to_string();
            assert!(reason.contains(why), "{header:?}: {reason}");
        }
    }

    #[test]
    fn part_paths_sit_next_to_the_output() {
        let (part, meta) = super::part_paths(std::path::Path::new("/tmp/x/ihos.war"));
        assert_eq!(part, std::path::Path::new("/tmp/x/ihos.war.part"));
        assert_eq!(meta, std::path::Path::new("/tmp/x/ihos.war.part.json"));
    }
}
