//! Helpers shared by the test files.
#![allow(dead_code)]

use ihos_core::RemotePath;
use ihos_testkit::{FakeWorld, FsSnapshot};

/// A remote path from a literal.
pub fn rp(path: &str) -> RemotePath {
    RemotePath::new(path).expect("valid remote path")
}

/// Paths that differ between two snapshots, ignoring the paths in `ignore`.
pub fn changed(before: &FsSnapshot, after: &FsSnapshot, ignore: &[&str]) -> Vec<String> {
    before
        .differences(after)
        .into_iter()
        .filter(|p| !ignore.contains(&p.as_str()))
        .collect()
}

/// The command lines (argv joined by spaces) run so far.
pub fn lines(world: &FakeWorld) -> Vec<String> {
    world.commands().iter().map(|c| c.line()).collect()
}

/// How many reloads nginx was asked for so far (`nginx -s reload` or SIGHUP).
#[allow(dead_code)]
pub fn reloads(world: &FakeWorld) -> usize {
    world
        .commands()
        .iter()
        .filter(|c| c.is_nginx_reload())
        .count()
}

/// How many commands so far contain `text`.
pub fn count(world: &FakeWorld, text: &str) -> usize {
    lines(world).iter().filter(|l| l.contains(text)).count()
}
