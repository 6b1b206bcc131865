//! What the benches on real sshd share: the test sshd "hosts" of
//! `scripts/lib/sshd-hosts.sh` (stopped when dropped), the root check that skips them
//! without root, and numbers from the environment.
#![allow(dead_code)] // each bench uses part of it

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

/// Test sshds recorded in `dir` on `port`; `down` when dropped.
pub struct Sshd {
    pub dir: PathBuf,
    pub port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = Proc::new("bash")
            .arg(script())
            .arg("down")
            .arg(&self.dir)
            .env("IHOS_SSH_PORT", self.port.to_string())
            .output();
    }
}

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/sshd-hosts.sh")
}

pub fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether the bench can start sshds (root); if not it says so, and exits 1 when the
/// sandbox is required (`IHOS_REQUIRE_SANDBOX=1`).
pub fn root_or_skip(bench: &str) -> bool {
    let root = Proc::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        eprintln!("{bench}: needs root for the test sshd; skipped");
        if std::env::var("IHOS_REQUIRE_SANDBOX").as_deref() == Ok("1") {
            std::process::exit(1);
        }
    }
    root
}
