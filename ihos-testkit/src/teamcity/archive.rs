//! Paths inside an archive artifact, as TeamCity addresses them: `dist/app.zip!/ihos.war`
//! (teamcity-rest `BuildArtifactsFinder`: a `!/` after an archive's path goes inside it).

use std::collections::BTreeMap;
use std::io::Read;

/// `path` split at its archive: `("dist/app.zip", "ihos.war")` for `dist/app.zip!/ihos.war`
/// (the inner part is empty for the archive's root, `dist/app.zip!` or `dist/app.zip!/`).
pub(super) fn split(path: &str) -> Option<(&str, &str)> {
    let (archive, inner) = path.split_once('!')?;
    Some((archive, inner.trim_start_matches('/')))
}

/// The bytes of the entry `inner` of the zip `bytes`.
pub(super) fn entry(bytes: &[u8], inner: &str) -> Option<Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut file = zip.by_name(inner).ok()?;
    if file.is_dir() {
        return None;
    }
    let mut out = Vec::new();
    file.read_to_end(&mut out).ok()?;
    Some(out)
}

/// The children of directory `dir` ("" for the root) of the zip `bytes`: name and size
/// (`None` for a directory); `None` when it is not a zip or has no such directory.
pub(super) fn children(bytes: &[u8], dir: &str) -> Option<Vec<(String, Option<u64>)>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{}/", dir.trim_end_matches('/'))
    };
    let mut found: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for i in 0..zip.len() {
        let file = zip.by_index(i).ok()?;
        let Some(rel) = file.name().strip_prefix(&prefix) else {
            continue;
        };
        match rel.split_once('/') {
            Some((sub, _)) => {
                found.entry(sub.to_string()).or_insert(None);
            }
            None if !rel.is_empty() => {
                found.insert(rel.to_string(), Some(file.size()));
            }
            None => {}
        }
    }
    (dir.is_empty() || !found.is_empty()).then(|| found.into_iter().collect())
}
