//! A backup kept next to a file in an `include dir/*` directory must not be loaded by nginx
//! as configuration (it would duplicate the site). Checked with the real `nginx -t`.

use std::path::Path;
use std::process::Command;

fn nginx() -> Option<&'static str> {
    if Path::new("/usr/sbin/nginx").exists() {
        return Some("/usr/sbin/nginx");
    }
    assert!(
        std::env::var("IHOS_REQUIRE_NGINX").as_deref() != Ok("1"),
        "nginx required (scripts/test installs it)"
    );
    eprintln!("SKIPPED: nginx not installed");
    None
}

#[test]
fn backups_in_an_included_directory_are_not_loaded() {
    let Some(nginx) = nginx() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/runbook-nginx");
    std::fs::create_dir_all(dir.path().join("sites-enabled")).unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::copy(root.join("nginx.conf"), dir.path().join("nginx.conf")).unwrap();
    let site = dir.path().join("sites-enabled/ihos");
    std::fs::copy(root.join("sites-enabled/ihos"), &site).unwrap();

    let status = Command::new(env!("CARGO_BIN_EXE_ihos"))
        .args(["nginx", "enable-block", "--if-contains", "x_pep_token"])
        .arg(&site)
        .status()
        .unwrap();
    assert!(status.success());
    let entries: Vec<_> = std::fs::read_dir(dir.path().join("sites-enabled"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries.len(), 2, "the site and its backup: {entries:?}");

    let out = Command::new(nginx)
        .args(["-t", "-e", "stderr", "-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("conflicting server name"),
        "the backup was loaded as a second site: {stderr}"
    );
}
