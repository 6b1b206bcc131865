//! Puts the commit the binary is built from into `ihos --version` (`IHOS_BUILD_COMMIT`):
//! from a published crate, the commit cargo recorded when packaging it
//! (`.cargo_vcs_info.json`); in a checkout, git's HEAD (only when this crate's files are
//! tracked by the repository git finds: a crate unpacked inside some other repository is
//! not that repository's commit); else `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The `"sha1"` of a packaged crate's `.cargo_vcs_info.json`.
fn packaged_commit() -> Option<String> {
    let info = std::fs::read_to_string(".cargo_vcs_info.json").ok()?;
    let at = info.find("\"sha1\"")?;
    let rest = &info[at + 6..];
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    let sha = &rest[start..start + len];
    (sha.len() >= 12 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha[..12].to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(sha) = packaged_commit() {
        println!("cargo:rustc-env=IHOS_BUILD_COMMIT={sha}");
        return;
    }
    let tracked = git(&["ls-files", "--full-name", "--error-unmatch", "Cargo.toml"]).is_some();
    let commit = tracked
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten()
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=IHOS_BUILD_COMMIT={commit}");
    if tracked {
        // Built again when HEAD moves (a commit, a checkout): the files git keeps that in,
        // wherever they are (a linked worktree, packed refs).
        let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
        watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
        for name in watched {
            if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
                if std::path::Path::new(&path).exists() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
        }
    }
}
