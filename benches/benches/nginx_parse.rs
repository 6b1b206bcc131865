//! Parse, parse+render and edit throughput of `ihos-nginx` on the benchmark inputs in
//! `shared/nginx-bench/` (see its README). Inputs that are missing are skipped.
//!
//! Run with `cargo bench -p ihos-benches --bench nginx_parse`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use ihos_nginx::{DisableStyle, Document, ServerState};

const INPUTS: [&str; 2] = ["synthetic.conf", "large-config.conf"];

/// The benchmark inputs that exist, as (file name, bytes).
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/nginx-bench");
    let mut found = Vec::new();
    for name in INPUTS {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => found.push((name, bytes)),
            Err(e) => eprintln!(
                "nginx_parse: skipping {name}: cannot read {}: {e}",
                path.display()
            ),
        }
    }
    found
}

/// An (upstream, server address) whose disabling is allowed: the upstream has at least two
/// enabled servers.
fn edit_target(doc: &Document) -> Option<(String, String)> {
    doc.upstreams().into_iter().find_map(|u| {
        if u.enabled_count() < 2 {
            return None;
        }
        let server = u.servers.iter().find(|s| s.state == ServerState::Enabled)?;
        Some((u.name.clone(), server.address.clone()))
    })
}

fn benches(c: &mut Criterion) {
    let inputs = inputs();
    if inputs.is_empty() {
        eprintln!("nginx_parse: no benchmark input found, nothing to measure");
        return;
    }

    let mut group = c.benchmark_group("parse");
    for (name, bytes) in &inputs {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(*name, |b| {
            b.iter_batched(
                || bytes.clone(),
                |src| {
                    // The document is dropped inside the timed routine: freeing the tree is
                    // part of what a parse costs.
                    let doc = Document::parse(black_box(src)).expect("benchmark input parses");
                    black_box(doc.root().items.len())
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("parse_render");
    for (name, bytes) in &inputs {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(*name, |b| {
            b.iter_batched(
                || bytes.clone(),
                |src| {
                    let doc = Document::parse(black_box(src)).expect("benchmark input parses");
                    let out = doc.render();
                    debug_assert_eq!(out.len(), doc.source().len());
                    black_box(out.len())
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("edit");
    for (name, bytes) in &inputs {
        let doc = Document::parse(bytes.clone()).expect("benchmark input parses");
        let Some((upstream, server)) = edit_target(&doc) else {
            eprintln!("nginx_parse: skipping edit/{name}: no upstream with two enabled servers");
            continue;
        };
        // The edit must work before it is timed.
        let edit = doc
            .disable_server(&upstream, &server, DisableStyle::Comment, false)
            .expect("benchmark edit succeeds");
        assert!(edit.is_changed());
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                doc.disable_server(
                    black_box(&upstream),
                    black_box(&server),
                    DisableStyle::Comment,
                    false,
                )
                .expect("benchmark edit succeeds")
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = nginx;
    config = config();
    targets = benches
}

/// glibc's malloc hands the top of its heap back to the OS when a `free` leaves more than
/// `trim_threshold` bytes free there, and the next allocations page-fault it back in. A
/// loop that parses a 1.4 MB file and then frees the ~7 MB it allocated either does that on
/// every iteration or never, depending on the heap layout (which moves with unrelated code
/// changes), and on a small VM those page faults can cost more than the parse itself. So the
/// benchmark runs with glibc's trim and mmap thresholds fixed, by running itself again with
/// `GLIBC_TUNABLES` set. `IHOS_BENCH_MALLOC_DEFAULTS=1` measures with glibc's defaults.
fn main() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none()
        && std::env::var_os("IHOS_BENCH_MALLOC_DEFAULTS").is_none()
    {
        let exe = std::env::current_exe().expect("the benchmark's own path");
        let status = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(
                "GLIBC_TUNABLES",
                "glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432",
            )
            .status()
            .expect("the benchmark runs again");
        std::process::exit(status.code().unwrap_or(1));
    }
    nginx();
    Criterion::default().configure_from_args().final_summary();
}
