//! `ihos hosts check` at fleet scale on real sshd: N sshd "hosts" on loopback addresses
//! (127.0.2.1 ..), started with `scripts/lib/sshd-hosts.sh` (needs root), each checked at
//! once through the library (`Fleet::connect` + `check_hosts`: connection, host key,
//! login, `sudo -n docker version` on the hosts that run containers).
//!
//! `cargo bench -p ihos-benches --bench hosts_check` (env: IHOS_BENCH_HOSTS, default 50;
//! IHOS_SSH_PORT, default 2263). Prints the wall time of a cold check (every connection
//! made) and of a warm one (sessions kept), as JSON lines. Target (issue 13): 50 hosts in
//! under 3 s on the 2-core machine. Without root it says so and exits 0 (or 1 with
//! IHOS_REQUIRE_SANDBOX=1).

use std::fmt::Write as _;
use std::process::Command as Proc;
use std::time::Instant;

use ihos_core::{Fleet, Topology, check_hosts};

#[path = "support/sshd.rs"]
mod sshd;
use sshd::{Sshd, env_num, root_or_skip, script};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !root_or_skip("hosts_check") {
        return;
    }
    let n: usize = env_num("IHOS_BENCH_HOSTS", 50).clamp(1, 250);
    let port: u16 = env_num("IHOS_SSH_PORT", 2263);
    let tmp = tempfile::tempdir().expect("temp dir");
    let sshd = Sshd {
        dir: tmp.path().join("ssh"),
        port,
    };
    let addrs: Vec<String> = (1..=n).map(|i| format!("127.0.2.{i}")).collect();
    let up_started = Instant::now();
    let out = Proc::new("bash")
        .arg(script())
        .arg("up")
        .arg(&sshd.dir)
        .args(&addrs)
        .env("IHOS_SSH_PORT", port.to_string())
        .output()
        .expect("sshd-hosts.sh");
    assert!(
        out.status.success(),
        "sshd-hosts.sh up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "hosts_check: {n} sshd hosts up in {:.1}s",
        up_started.elapsed().as_secs_f64()
    );

    let mut toml = String::new();
    for (i, a) in addrs.iter().enumerate() {
        let _ = write!(
            toml,
            "[hosts.h{i}]\naddress = \"{a}\"\nport = {port}\nuser = \"deploy\"\n\
             known_hosts = \"{}\"\nauth = {{ key_file = \"{}\" }}\n\n",
            sshd.dir.join("known_hosts").display(),
            sshd.dir.join("id_ed25519").display()
        );
    }
    // Every host runs containers (so sudo and docker are checked on each): an instance on
    // each, the load balancer on the first.
    toml.push_str(
        "[load_balancer]\nhost = \"h0\"\ncontainer = \"nginx\"\nconfig = \"/etc/nginx/nginx.conf\"\nupstream = \"app\"\n\n",
    );
    for (i, addr) in addrs.iter().enumerate() {
        let _ = write!(
            toml,
            "[[instances]]\nname = \"a{i}\"\nhost = \"h{i}\"\ncontainer = \"app{i}\"\n\
             backend = \"{}:8080\"\nwebapps = \"/srv/a{i}/webapps\"\nlogs = \"/srv/a{i}/logs\"\n\
             health = {{ url = \"http://{}:8080/\" }}\n\n",
            addr, addr
        );
    }
    let topology = Topology::from_toml(&toml, "bench.toml").expect("topology");
    let fleet = Fleet::connect(topology).expect("fleet");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for round in ["cold", "warm"] {
        let started = Instant::now();
        let checks = rt.block_on(check_hosts(&fleet));
        let wall = started.elapsed().as_secs_f64();
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| !c.ok())
            .map(|c| format!("{}: {}", c.host, c.error.clone().unwrap_or_default()))
            .collect();
        let slowest = checks.iter().map(|c| c.seconds).fold(0.0, f64::max);
        println!(
            "{{\"bench\": \"hosts_check\", \"round\": \"{round}\", \"hosts\": {n}, \"wall_s\": {wall:.3}, \"slowest_s\": {slowest:.3}, \"failed\": {}}}",
            failed.len()
        );
        assert!(failed.is_empty(), "{failed:#?}");
    }
    drop(fleet);
}
