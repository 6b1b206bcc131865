//! Upload throughput: `SshTransport::upload` (SCP send + sha256 on the host + rename)
//! against OpenSSH's `scp` (same key, same host), on a loopback test sshd started with
//! `scripts/lib/sshd-hosts.sh` (needs root).
//!
//! `cargo bench -p ihos-benches --bench ssh_upload` (env: IHOS_BENCH_MB, default 100;
//! IHOS_BENCH_RUNS, default 3; IHOS_SSH_PORT for the test sshd, default 2250).
//! Prints MB/s for each run and the ratio of the medians. Without root it says so and
//! exits 0 (or 1 with IHOS_REQUIRE_SANDBOX=1).

use std::process::Command as Proc;
use std::time::{Duration, Instant};

use ihos_core::{
    Command, RemotePath, SshAuth, SshOptions, SshTarget, SshTransport, Transport, run_checked,
};

const ADDR: &str = "127.0.0.11";

#[path = "support/sshd.rs"]
mod sshd;
use sshd::{Sshd, env_num, root_or_skip, script};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !root_or_skip("ssh_upload") {
        return;
    }
    let mb: u64 = env_num("IHOS_BENCH_MB", 100);
    let runs: usize = env_num("IHOS_BENCH_RUNS", 3);
    let port: u16 = env_num("IHOS_SSH_PORT", 2250);
    let tmp = tempfile::tempdir().expect("temp dir");
    let sshd = Sshd {
        dir: tmp.path().join("ssh"),
        port,
    };
    let st = Proc::new("bash")
        .arg(script())
        .arg("up")
        .arg(&sshd.dir)
        .arg(ADDR)
        .env("IHOS_SSH_PORT", port.to_string())
        .status()
        .expect("run sshd-hosts.sh");
    assert!(st.success(), "sshd-hosts.sh up failed");

    let file = tmp.path().join("payload.bin");
    let st = Proc::new("head")
        .arg("-c")
        .arg((mb << 20).to_string())
        .arg("/dev/urandom")
        .stdout(std::fs::File::create(&file).expect("create payload"))
        .status()
        .expect("head");
    assert!(st.success());
    let bytes = std::fs::metadata(&file).expect("payload").len();
    println!(
        "ssh_upload: {:.1} MB file to deploy@{ADDR}:{port}, {runs} runs each",
        bytes as f64 / 1e6
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dest = RemotePath::new("/home/deploy/ihos-bench.bin").expect("path");
    let opts = SshOptions {
        known_hosts: Some(sshd.dir.join("known_hosts")),
        auth: SshAuth::KeyFile {
            path: sshd.dir.join("id_ed25519"),
            passphrase_env: None,
        },
        ..SshOptions::default()
    };
    let t = rt
        .block_on(SshTransport::connect(
            SshTarget::new(ADDR, port, "deploy"),
            opts,
        ))
        .expect("connect");

    let scp = |legacy: bool| -> Duration {
        let mut c = Proc::new("scp");
        c.arg("-q")
            .arg("-i")
            .arg(sshd.dir.join("id_ed25519"))
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                sshd.dir.join("known_hosts").display()
            ))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .arg("-P")
            .arg(port.to_string());
        if legacy {
            c.arg("-O");
        }
        c.arg(&file).arg(format!("deploy@{ADDR}:{}", dest.as_str()));
        let t0 = Instant::now();
        let st = c.status().expect("scp");
        let d = t0.elapsed();
        assert!(st.success(), "scp failed");
        d
    };

    // Interleaved, so that load from elsewhere on the machine hits all three alike.
    let (mut ours, mut transfer, mut sftp, mut legacy) = (vec![], vec![], vec![], vec![]);
    for i in 1..=runs {
        let t0 = Instant::now();
        let up = rt.block_on(t.upload(&file, &dest)).expect("upload");
        let total = t0.elapsed();
        assert_eq!(up.bytes, bytes);
        // What checking on the host costs (upload uses `openssl dgst` if the host has it).
        let t1 = Instant::now();
        let hashed = rt.block_on(t.run(&Command::new("openssl").args([
            "dgst",
            "-sha256",
            "-r",
            "--",
            dest.as_str(),
        ])));
        let openssl = t1.elapsed();
        let t2 = Instant::now();
        rt.block_on(run_checked(
            &t,
            &Command::new("sha256sum").arg("--").arg(dest.as_str()),
        ))
        .expect("sha256sum");
        let sha256sum = t2.elapsed();
        let hash = match hashed {
            Ok(out) if out.success() => openssl,
            _ => sha256sum,
        };
        let moved = total.saturating_sub(hash);
        println!(
            "run {i}: SshTransport.upload {:6.1} MB/s ({:.2} s = transfer ~{:.2} s + sha256 on the host ~{:.2} s; for comparison sha256sum takes {:.2} s)",
            mbps(bytes, total),
            total.as_secs_f64(),
            moved.as_secs_f64(),
            hash.as_secs_f64(),
            sha256sum.as_secs_f64()
        );
        ours.push(mbps(bytes, total));
        transfer.push(mbps(bytes, moved));
        let d = scp(false);
        println!(
            "run {i}: scp (SFTP protocol)   {:6.1} MB/s ({:.2} s)",
            mbps(bytes, d),
            d.as_secs_f64()
        );
        sftp.push(mbps(bytes, d));
        let d = scp(true);
        println!(
            "run {i}: scp -O (SCP protocol) {:6.1} MB/s ({:.2} s)",
            mbps(bytes, d),
            d.as_secs_f64()
        );
        legacy.push(mbps(bytes, d));
    }
    let _ = rt.block_on(t.run(&Command::new("rm").arg("-f").arg(dest.as_str())));

    let (o, os, s, l) = (median(ours), median(transfer), median(sftp), median(legacy));
    println!(
        "medians: SshTransport.upload {o:.1} MB/s (transfer alone ~{os:.1}), scp {s:.1} MB/s, scp -O {l:.1} MB/s"
    );
    println!(
        "ratio SshTransport.upload / scp: {:.2} (transfer alone: {:.2}); / scp -O: {:.2} (transfer alone: {:.2})",
        o / s,
        os / s,
        o / l,
        os / l
    );
}
