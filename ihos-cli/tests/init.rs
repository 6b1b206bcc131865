//! `ihos init` refuses before connecting anywhere when it would replace a file (the
//! discovery itself is tested on the sandbox: `sandbox_e2e` scenario 15).

mod common;

use common::ihos;

#[test]
fn an_existing_topology_is_not_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ihos.toml");
    std::fs::write(&out, "kept").unwrap();
    let r = ihos(&[
        "init",
        "--lb",
        "127.0.0.1",
        "--nginx-container",
        "nginx",
        "--upstream",
        "app",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--force"), "{r:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "kept");
}
