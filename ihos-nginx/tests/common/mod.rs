//! Runs the real `nginx -t` (from apt) against a temporary prefix.
#![allow(dead_code)] // each test binary uses a part of it

pub mod corpus;
pub mod generate;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The nginx binary, or `None` (then the caller skips, unless `IHOS_REQUIRE_NGINX=1`, as
/// `scripts/test` sets, makes a missing nginx a failure).
pub fn nginx() -> Option<PathBuf> {
    for p in [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    if std::env::var("IHOS_REQUIRE_NGINX").as_deref() == Ok("1") {
        panic!(
            "nginx is required (IHOS_REQUIRE_NGINX=1) but not installed; scripts/test installs it"
        );
    }
    eprintln!("SKIPPED: nginx is not installed (scripts/test installs it)");
    None
}

/// Outcome of `nginx -t` on a file set.
#[derive(Debug)]
pub struct NginxVerdict {
    pub ok: bool,
    pub output: String,
}

impl NginxVerdict {
    /// Whether nginx failed while tokenizing (not on a directive's meaning).
    pub fn lexical_error(&self) -> bool {
        self.output.lines().any(|l| {
            l.contains("[emerg]")
                && (l.contains("unexpected") || l.contains("too long parameter"))
                && !l.contains("unexpected \"{\"")
        })
    }

    /// The line number nginx reported for its `[emerg]`, if any.
    pub fn emerg_line(&self) -> Option<u32> {
        let l = self.output.lines().find(|l| l.contains("[emerg]"))?;
        l.rsplit(':').next()?.trim().parse().ok()
    }
}

/// Writes `files` (relative path, bytes) under a fresh prefix and runs `nginx -t` on
/// `nginx.conf` there.
pub fn nginx_t(nginx: &Path, files: &[(&str, &[u8])]) -> NginxVerdict {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    for (rel, bytes) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let out = Command::new(nginx)
        .arg("-t")
        .arg("-q")
        .arg("-e")
        .arg("stderr")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    let output =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    NginxVerdict {
        ok: out.status.success(),
        output,
    }
}
