//! Promoting a large WAR from the canary (`ihos rollout --from-canary`): the copy comes
//! through `Transport::download` and is checked with `WarFile::open`. Both stream, so the
//! process's memory must not grow with the WAR.
//!
//! `cargo bench -p ihos-benches --bench promote_rss` builds a 200 MB WAR (a zip with
//! `WEB-INF/` and a large stored entry of random bytes) in a temporary directory, copies it
//! with a `LocalTransport` (the same chunked `dd` commands an SSH host runs), opens the copy
//! as a WAR, and prints one JSON line: bytes, seconds, and the peak resident memory (VmHWM)
//! before and after. Target: peak under 64 MB. Env: IHOS_PROMOTE_MB (default 200).

use std::io::Write;
use std::time::Instant;

use ihos_core::{LocalTransport, Privilege, RemotePath, Transport, WarFile};

#[path = "support/rss.rs"]
mod rss;
use rss::peak_mb;

/// A WAR of about `mb` MB written in 1 MiB pieces (memory stays small while it is made).
fn write_war(path: &std::path::Path, mb: usize) {
    let file = std::fs::File::create(path).expect("create the WAR");
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.add_directory("WEB-INF/", stored).expect("zip");
    zip.start_file("WEB-INF/lib/big.jar", stored.large_file(true))
        .expect("zip");
    let mut block = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..mb {
        for b in block.iter_mut() {
            // xorshift: incompressible bytes, no allocation.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        zip.write_all(&block).expect("zip");
    }
    zip.finish().expect("zip").flush().expect("flush");
}

fn main() {
    let mb: usize = std::env::var("IHOS_PROMOTE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("webapps-ihos.war");
    write_war(&source, mb);
    let bytes = std::fs::metadata(&source).expect("stat").len();
    let before = peak_mb();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let transport = LocalTransport::new("canary-host");
    let remote = RemotePath::new(source.to_str().expect("utf-8 path")).expect("absolute path");
    let local = dir.path().join("cache").join("ihos-promoted.war");
    std::fs::create_dir_all(local.parent().expect("parent")).expect("mkdir");
    let started = Instant::now();
    let copied = rt
        .block_on(transport.download(&remote, &local, Privilege::User))
        .expect("download");
    let war = WarFile::open(&local).expect("a valid WAR");
    let seconds = started.elapsed().as_secs_f64();
    let after = peak_mb();
    assert_eq!(copied.bytes, bytes);
    assert_eq!(war.sha256, copied.sha256);
    println!(
        "{{\"bench\": \"promote_rss\", \"war_mb\": {:.1}, \"seconds\": {seconds:.2}, \"peak_mb_before\": {before:.1}, \"peak_mb_after\": {after:.1}, \"target_peak_mb\": 64}}",
        bytes as f64 / 1e6
    );
    if after >= 64.0 {
        eprintln!("promote_rss: peak memory {after:.1} MB is over the 64 MB target");
        std::process::exit(1);
    }
}
