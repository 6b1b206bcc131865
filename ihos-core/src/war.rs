//! The WAR to deploy: checked before anything changes.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::sha::Sha256;

/// A WAR file that passed validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WarFile {
    /// Where it is on this machine.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256.
    pub sha256: Sha256,
    /// The commit it was built from, when known (e.g. from a TeamCity sidecar).
    pub commit: Option<String>,
    /// The CI build number it came from, when known (a TeamCity sidecar, or given).
    #[serde(default)]
    pub build: Option<String>,
}

/// Why a WAR was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarError {
    /// The file cannot be read.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not a zip archive, or a damaged one.
    #[error("{path}: not a valid WAR (zip) file: {reason}")]
    NotZip {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A zip without `WEB-INF/`: not a web application.
    #[error("{path}: not a web application: no WEB-INF/ entry")]
    NoWebInf {
        /// The file.
        path: String,
    },
}

impl WarFile {
    /// Checks that `path` is a complete zip archive (every entry read and its CRC checked)
    /// with a `WEB-INF/` directory, and computes its SHA-256.
    pub fn open(path: &Path) -> Result<WarFile, WarError> {
        let shown = path.display().to_string();
        let unreadable = |e: std::io::Error| WarError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let bytes = file.metadata().map_err(unreadable)?.len();
        let not_zip = |e: zip::result::ZipError| WarError::NotZip {
            path: shown.clone(),
            reason: e.to_string(),
        };
        let mut archive = zip::ZipArchive::new(file).map_err(not_zip)?;
        let mut web_inf = false;
        let mut sink = vec![0u8; 64 * 1024];
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(not_zip)?;
            web_inf |= entry.name().starts_with("WEB-INF/");
            // Reading to the end makes the zip reader check the entry's CRC.
            loop {
                match entry.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        return Err(WarError::NotZip {
                            path: shown.clone(),
                            reason: format!("entry {}: {e}", entry.name()),
                        });
                    }
                }
            }
        }
        if !web_inf {
            return Err(WarError::NoWebInf { path: shown });
        }
        let sha256 = Sha256::of_file(path).map_err(unreadable)?;
        Ok(WarFile {
            path: path.to_path_buf(),
            bytes,
            sha256,
            commit: None,
            build: None,
        })
    }

    /// The same WAR with a known commit id.
    pub fn with_commit(mut self, commit: Option<String>) -> Self {
        self.commit = commit;
        self
    }

    /// The same WAR with a known build number.
    pub fn with_build(mut self, build: Option<String>) -> Self {
        self.build = build;
        self
    }

    /// The first 12 hex digits of the SHA-256, for display.
    pub fn short_sha(&self) -> &str {
        self.sha256.short()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Writes a minimal WAR (zip with WEB-INF/web.xml and an index page) for tests.
    pub(crate) fn write_test_war(path: &Path, version: &str) {
        let f = std::fs::File::create(path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.add_directory("WEB-INF/", opts).unwrap();
        z.start_file("WEB-INF/web.xml", opts).unwrap();
        z.write_all(b"<web-app/>").unwrap();
        z.start_file("version.txt", opts).unwrap();
        z.write_all(version.as_bytes()).unwrap();
        z.finish().unwrap();
    }

    #[test]
    fn accepts_a_war_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let war = dir.path().join("ihos.war");
        write_test_war(&war, "v2");
        let w = WarFile::open(&war).unwrap();
        assert_eq!(w.sha256, Sha256::of_file(&war).unwrap());
        assert_eq!(w.bytes, std::fs::metadata(&war).unwrap().len());

        let junk = dir.path().join("junk.war");
        std::fs::write(&junk, b"not a zip").unwrap();
        assert!(matches!(WarFile::open(&junk), Err(WarError::NotZip { .. })));

        let bytes = std::fs::read(&war).unwrap();
        let cut = dir.path().join("cut.war");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(WarFile::open(&cut).is_err(), "a truncated WAR is refused");

        let mut corrupt = bytes.clone();
        let pos = bytes.windows(2).position(|w| w == b"v2").unwrap();
        corrupt[pos] = b'X';
        let bad = dir.path().join("bad.war");
        std::fs::write(&bad, &corrupt).unwrap();
        assert!(
            matches!(WarFile::open(&bad), Err(WarError::NotZip { .. })),
            "a CRC mismatch is refused"
        );

        let plain = dir.path().join("plain.zip");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&plain).unwrap());
        z.start_file("a.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.finish().unwrap();
        assert!(matches!(
            WarFile::open(&plain),
            Err(WarError::NoWebInf { .. })
        ));
        assert!(matches!(
            WarFile::open(&dir.path().join("missing.war")),
            Err(WarError::Unreadable { .. })
        ));
    }
}
