//! `ihos canary analyze --access-log FILE` on a large log: read speed beside `wc -l` on the
//! same file, and memory that does not grow with the log.
//!
//! `cargo bench -p ihos-benches --bench access_log_analyze` writes an access log of
//! IHOS_ANALYZE_MB megabytes (default 1024) in a temporary directory, in the format of
//! `examples/ihos.toml`'s `[canary.analysis]` (the sandbox's), with the topology's
//! backends: a canary taking a tenth of the tries, 1 % retried tries, requests nginx
//! answered itself; then runs `wc -l` on it and `analyze_local_log` (both from the page
//! cache, `wc -l` first), and prints one JSON line per size: bytes, lines, seconds, MB/s of
//! each, and the peak resident memory (VmHWM) before and after the analysis. It analyzes a
//! log of an eighth of the size first, so that the two peaks show that memory does not
//! follow the log's size. Target: at least 200 MB/s on the 2-core machine.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ihos_core::{Since, Topology, analyze_local_log};

#[path = "support/rss.rs"]
mod rss;
use rss::peak_mb;

const CANARY: &str = "192.168.1.102:39091";
const FLEET: [&str; 4] = [
    "192.168.1.101:39091",
    "192.168.1.101:39092",
    "192.168.1.103:39091",
    "192.168.1.103:39092",
];

/// Writes about `mb` MB of log lines (a fixed pseudo-random sequence: every run reads the
/// same log).
fn write_log(path: &Path, mb: u64) -> u64 {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let target = mb << 20;
    let mut written = 0u64;
    let base = 1_796_300_000u64; // 2026-12-03, seconds since the epoch
    let mut i = 0u64;
    let mut line = String::with_capacity(512);
    while written < target {
        let r = rnd();
        let t = base + i / 2000;
        let (h, m, s) = ((t / 3600) % 24, (t / 60) % 60, t % 60);
        let day = 3 + (t - base) / 86_400;
        let backend = if r % 10 == 0 {
            CANARY
        } else {
            FLEET[(r >> 8) as usize % 4]
        };
        let ms = (r >> 16) % 400 + if r % 3 == 0 { 200 } else { 1 };
        let status = if (r >> 24) % 500 == 0 { 502 } else { 200 };
        let method = if r % 2 == 0 { "GET" } else { "POST" };
        let (up, us, urt) = match (r >> 32) % 100 {
            0 => (
                format!("{backend}, {}", FLEET[0]),
                format!("502, {status}"),
                format!("0.001, {}.{:03}", ms / 1000, ms % 1000),
            ),
            1 => ("-".to_string(), "-".to_string(), "-".to_string()),
            _ => (
                backend.to_string(),
                status.to_string(),
                format!("{}.{:03}", ms / 1000, ms % 1000),
            ),
        };
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(
            line,
            "127.0.0.1 [2026-12-{day:02}T{h:02}:{m:02}:{s:02}+00:00] \"{method} /ihos/work?ms={} HTTP/1.1\" {status} {} rt={}.{:03} upstream={up} ustatus={us} urt={urt}",
            ms,
            (r >> 40) % 5000,
            ms / 1000,
            ms % 1000,
        );
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        i += 1;
    }
    out.flush().unwrap();
    written
}

fn run(topology: &Topology, dir: &Path, mb: u64) {
    let path = dir.join(format!("access-{mb}.log"));
    let bytes = write_log(&path, mb);
    let mbytes = bytes as f64 / 1e6;

    let t = Instant::now();
    let wc = Command::new("wc")
        .arg("-l")
        .arg(&path)
        .output()
        .expect("wc");
    let wc_s = t.elapsed().as_secs_f64();
    let lines: u64 = String::from_utf8_lossy(&wc.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);

    let before = peak_mb();
    let t = Instant::now();
    let result = analyze_local_log(topology, &path, Since::Beginning, None).expect("analyze");
    let analyze_s = t.elapsed().as_secs_f64();
    let after = peak_mb();
    assert_eq!(result.lines, lines, "every line read");
    assert_eq!(result.unparsed_lines, 0, "every line parsed");
    assert!(result.analysis.canary.requests > 0 && result.analysis.fleet.requests > 0);
    println!(
        "{{\"bytes\": {bytes}, \"lines\": {lines}, \"analyze_s\": {analyze_s:.3}, \
         \"analyze_mb_s\": {:.0}, \"wc_l_s\": {wc_s:.3}, \"wc_l_mb_s\": {:.0}, \
         \"peak_mb_before\": {before:.1}, \"peak_mb_after\": {after:.1}, \"verdict\": \"{}\"}}",
        mbytes / analyze_s,
        mbytes / wc_s,
        result.analysis.verdict.as_str()
    );
    std::fs::remove_file(&path).ok();
}

fn main() {
    let mb: u64 = std::env::var("IHOS_ANALYZE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/ihos.toml");
    let topology = Topology::load(Path::new(example)).expect("examples/ihos.toml");
    let dir = tempfile::tempdir().expect("temp dir");
    run(&topology, dir.path(), (mb / 8).max(1));
    run(&topology, dir.path(), mb);
}
