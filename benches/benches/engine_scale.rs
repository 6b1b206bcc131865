//! The rollout engine at scale, on ihos-testkit fake hosts in virtual time: hosts of 2
//! Tomcat instances each behind one nginx, `max_unavailable = 10`, zero drain (policy drain
//! min/idle 0, max 1 s; nginx's old workers retire at once), zero start delay.
//!
//! `cargo bench -p ihos-benches --bench engine_scale` runs several fleet sizes in one
//! process (`IHOS_SCALE_SIZES`, instances, default `200,400,800,2000`) and prints for each
//! one JSON line: `{"instances", "wall_s", "cpu_s", "peak_mb", "config_mb_written",
//! "config_mb_read", ...}` (wall and CPU time of `run_rollout` on a current-thread runtime
//! with a paused clock; the process's peak resident memory while that size was built and
//! rolled out, `VmHWM` reset before each size; the bytes of nginx.conf (and its staged and
//! backup copies) sent to and read from the load balancer's host), then the growth
//! exponents of time and memory between the smallest and the largest size (1 = linear).
//! Issue 17's targets: 2,000 instances in under 3 s and 150 MB, time per instance flat
//! within 1.5x from 200 to 2,000, config bytes O(instances).
//!
//! The fake hosts' event log is told not to keep the commands (`FakeWorld::set_log_commands`,
//! `set_log_io`): that is test-harness memory, not the engine's; they are still run, counted
//! and checked against the invariants.
//! Env: IHOS_SCALE_SIZES, IHOS_SCALE_PER_HOST (2), IHOS_SCALE_MAX_UNAVAILABLE (10),
//! IHOS_SCALE_LOG_IO=1 (keep command bytes in the log), IHOS_SCALE_DETAIL=1 (also print
//! commands by kind: count and MB in/out).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ihos_core::{
    CancelToken, Command, EventRecord, Fleet, Outcome, Output, RemotePath, RolloutOptions,
    Topology, Transport, TransportError, Uploaded, WarFile, run_rollout,
};
use ihos_testkit::{AppSpec, ContainerSpec, FakeHost, FakeWorld, NginxSpec, RUNBOOK_WAR_V1};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmHWM` (peak resident set) and `VmRSS` of this process, in kB.
fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets `VmHWM` to the current resident size (Linux: writing 5 to `clear_refs`), so
/// that each size's peak is its own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Counts the bytes of nginx.conf (and its staged and backup copies, which share its
/// name) that commands send to the host and read from it.
struct CountingTransport {
    inner: FakeHost,
    config_name: String,
    written: AtomicU64,
    read: AtomicU64,
}

#[async_trait::async_trait]
impl Transport for CountingTransport {
    fn host(&self) -> &str {
        self.inner.host()
    }

    async fn run(&self, command: &Command) -> Result<Output, TransportError> {
        let result = self.inner.run(command).await;
        if command.argv().iter().any(|a| a.contains(&self.config_name)) {
            let sent = command.stdin_bytes().map_or(0, <[u8]>::len) as u64;
            self.written.fetch_add(sent, Ordering::Relaxed);
            if let Ok(out) = &result {
                self.read
                    .fetch_add(out.stdout.len() as u64, Ordering::Relaxed);
            }
        }
        result
    }

    async fn upload(&self, local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError> {
        self.inner.upload(local, remote).await
    }
}

/// CPU time of this process so far (user + system), in seconds: less noisy than wall time
/// on a shared machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 14th field of
    // the whole line, stime the 15th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    f.get(11)
        .zip(f.get(12))
        .map_or(0.0, |(u, s)| (u + s) as f64 / 100.0)
}

fn write_war(path: &std::path::Path) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.add_directory("WEB-INF/", opts).unwrap();
    z.start_file("WEB-INF/web.xml", opts).unwrap();
    z.write_all(b"<web-app/>").unwrap();
    z.start_file("version.txt", opts).unwrap();
    z.write_all(b"build 2 (scale bench)").unwrap();
    z.finish().unwrap();
}

struct Scale {
    world: FakeWorld,
    topology: Topology,
    hosts: BTreeMap<String, FakeHost>,
    instances: usize,
}

/// `hosts` app hosts with `per_host` instances each, one nginx on its own host.
fn build(hosts: usize, per_host: usize, max_unavailable: usize) -> Scale {
    let world = FakeWorld::new();
    let lb = world.add_host("10.255.0.1");
    let mut toml = String::from(
        "[hosts.lb]\naddress = \"10.255.0.1\"\nuser = \"deploy\"\n\n\
         [load_balancer]\nhost = \"lb\"\ncontainer = \"nginx\"\n\
         config = \"/etc/nginx/nginx.conf\"\nupstream = \"app\"\n\n",
    );
    let mut conf = String::from("events {}\nhttp {\n    upstream app {\n");
    let mut fake = BTreeMap::new();
    fake.insert("lb".to_string(), lb.clone());
    for h in 0..hosts {
        let addr = format!("10.{}.{}.1", h / 250, h % 250);
        let host = world.add_host(&addr);
        let key = format!("h{h}");
        toml.push_str(&format!(
            "[hosts.{key}]\naddress = \"{addr}\"\nuser = \"deploy\"\n\n"
        ));
        for i in 0..per_host {
            let port = 8081 + i as u16;
            let spec = AppSpec::new(&format!("/srv/app{i}/tomcat"), port);
            host.mkdir(&spec.webapps, "root", 0o755);
            host.mkdir(&spec.logs, "root", 0o755);
            host.write_file(&format!("{}/ihos.war", spec.webapps), RUNBOOK_WAR_V1);
            let container = format!("app{i}");
            host.add_container(
                ContainerSpec::app(&container, spec.clone()).start_delay(Duration::ZERO),
            );
            let address = format!("{addr}:{port}");
            world.register_backend(&address, &addr, &container);
            conf.push_str(&format!("        server {address};\n"));
            toml.push_str(&format!(
                "[[instances]]\nname = \"h{h}-app{i}\"\nhost = \"{key}\"\n\
                 container = \"{container}\"\nbackend = \"{address}\"\n\
                 webapps = \"{}\"\nlogs = \"{}\"\n\
                 health = {{ url = \"http://127.0.0.1:{port}/ihos/\" }}\n\n",
                spec.webapps, spec.logs
            ));
        }
        fake.insert(key, host);
    }
    conf.push_str("    }\n    server { listen 80; location / { proxy_pass http://app; } }\n}\n");
    lb.write_file("/etc/nginx/nginx.conf", &conf);
    lb.add_container(ContainerSpec::nginx(
        "nginx",
        NginxSpec::new("/etc/nginx/nginx.conf", "app").drain(Duration::ZERO),
    ));
    toml.push_str(&format!(
        "[policy]\ndrain = {{ min = \"0s\", idle = \"0s\", max = \"1s\" }}\n\
         max_unavailable = {max_unavailable}\nlog_watch = \"0s\"\n"
    ));
    let topology = Topology::from_toml(&toml, "scale.toml").unwrap();
    world.set_max_out_of_rotation(max_unavailable);
    // The fake's event log would otherwise keep a copy of every byte written or read (every
    // journal and nginx config version): memory of the test harness, not of the engine.
    // IHOS_SCALE_LOG_IO=1 keeps them; so does IHOS_SCALE_DETAIL=1, which counts them.
    let detail = std::env::var_os("IHOS_SCALE_LOG_IO").is_some()
        || std::env::var_os("IHOS_SCALE_DETAIL").is_some();
    world.set_log_io(detail);
    // Nor the commands themselves (about 80 per instance), unless they are looked at.
    world.set_log_commands(detail);
    Scale {
        world,
        topology,
        hosts: fake,
        instances: hosts * per_host,
    }
}

/// One size's figures.
struct Measured {
    instances: usize,
    wall_s: f64,
    cpu_s: f64,
    peak_mb: f64,
    config_mb_written: f64,
    config_mb_read: f64,
}

fn main() {
    // `cargo test --benches` runs bench binaries too: only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let per_host = env_num("IHOS_SCALE_PER_HOST", 2).max(1);
    let max_unavailable = env_num("IHOS_SCALE_MAX_UNAVAILABLE", 10);
    let sizes: Vec<usize> = std::env::var("IHOS_SCALE_SIZES")
        .unwrap_or_else(|_| "200,400,800,2000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "engine_scale: sizes {sizes:?} (instances, {per_host} per host), max_unavailable {max_unavailable}, zero drain, zero start delay"
    );
    let mut measured = Vec::new();
    for &size in &sizes {
        measured.push(one_size(size.div_ceil(per_host), per_host, max_unavailable));
    }
    if let (Some(a), Some(b)) = (measured.first(), measured.last()) {
        if b.instances > a.instances {
            let n = (b.instances as f64 / a.instances as f64).ln();
            let exp = |x: f64, y: f64| (y / x).ln() / n;
            println!(
                "{{\"growth\": {{\"from\": {}, \"to\": {}, \"time_exponent\": {:.2}, \"cpu_exponent\": {:.2}, \"memory_exponent\": {:.2}, \"config_bytes_exponent\": {:.2}, \"time_per_instance_ratio\": {:.2}}}}}",
                a.instances,
                b.instances,
                exp(a.wall_s, b.wall_s),
                exp(a.cpu_s, b.cpu_s),
                exp(a.peak_mb, b.peak_mb),
                exp(
                    a.config_mb_written + a.config_mb_read,
                    b.config_mb_written + b.config_mb_read
                ),
                (b.wall_s / b.instances as f64) / (a.wall_s / a.instances as f64)
            );
        }
    }
}

fn one_size(hosts: usize, per_host: usize, max_unavailable: usize) -> Measured {
    reset_peak();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ihos.war");
        write_war(&path);
        let war = WarFile::open(&path).unwrap();

        let setup = Instant::now();
        let scale = build(hosts, per_host, max_unavailable);
        let lb = Arc::new(CountingTransport {
            inner: scale.hosts["lb"].clone(),
            config_name: "nginx.conf".into(),
            written: AtomicU64::new(0),
            read: AtomicU64::new(0),
        });
        let hosts_map: BTreeMap<String, Arc<dyn Transport>> = scale
            .hosts
            .iter()
            .map(|(k, h)| {
                let t: Arc<dyn Transport> = match k.as_str() {
                    "lb" => lb.clone(),
                    _ => Arc::new(h.clone()),
                };
                (k.clone(), t)
            })
            .collect();
        let fleet = Fleet::new(scale.topology.clone(), hosts_map).unwrap();
        let setup = setup.elapsed();

        let events = AtomicUsize::new(0);
        let sink = |_: &EventRecord| {
            events.fetch_add(1, Ordering::Relaxed);
        };
        let cpu = cpu_seconds();
        let wall = Instant::now();
        let report = run_rollout(
            &fleet,
            &war,
            &RolloutOptions::default(),
            &sink,
            &CancelToken::new(),
        )
        .await
        .unwrap();
        let wall = wall.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        let (peak_kb, _) = memory_kb();

        assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
        assert_eq!(report.updated.len(), scale.instances);
        let invariants = scale.world.check_invariants();
        assert!(invariants.is_clean(), "{invariants}");
        let m = Measured {
            instances: scale.instances,
            wall_s: wall,
            cpu_s: cpu,
            peak_mb: peak_kb as f64 / 1024.0,
            config_mb_written: lb.written.load(Ordering::Relaxed) as f64 / 1e6,
            config_mb_read: lb.read.load(Ordering::Relaxed) as f64 / 1e6,
        };
        println!(
            "{{\"instances\": {}, \"wall_s\": {:.3}, \"cpu_s\": {:.2}, \"peak_mb\": {:.1}, \"config_mb_written\": {:.2}, \"config_mb_read\": {:.2}, \"ms_per_instance\": {:.3}, \"setup_s\": {:.3}, \"commands\": {}, \"events\": {}, \"virtual_s\": {:.1}}}",
            m.instances,
            m.wall_s,
            m.cpu_s,
            m.peak_mb,
            m.config_mb_written,
            m.config_mb_read,
            m.wall_s * 1000.0 / m.instances as f64,
            setup.as_secs_f64(),
            scale.world.commands_run(),
            events.load(Ordering::Relaxed),
            report.seconds,
        );
        if std::env::var_os("IHOS_SCALE_DETAIL").is_some() {
            detail(&scale.world);
        }
        m
    })
}

/// Where the remote commands go: count and bytes in and out per kind of command.
fn detail(world: &FakeWorld) {
    let mut by: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for c in world.commands() {
        let argv = c.argv();
        let words = if matches!(argv[0], "docker" | "mkdir" | "rm" | "test") {
            2
        } else {
            1
        };
        let mut key = argv[..argv.len().min(words)].join(" ");
        for (needle, label) in [
            ("journal", " [journal]"),
            ("nginx.conf", " [nginx.conf]"),
            ("/lock", " [lock]"),
            ("webapps", " [webapps]"),
            ("releases", " [releases]"),
            ("deployments", " [records]"),
            ("audit", " [audit]"),
        ] {
            if argv.iter().any(|a| a.contains(needle)) {
                key.push_str(label);
                break;
            }
        }
        let e = by.entry(key).or_default();
        e.0 += 1;
        e.1 += c.command.stdin_bytes().map_or(0, <[u8]>::len);
        e.2 += c.result.as_ref().map_or(0, |o| o.stdout.len());
    }
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by_key(|(_, (n, i, o))| std::cmp::Reverse(i + o + n));
    println!("  commands by kind (count, MB in, MB out):");
    for (k, (n, i, o)) in rows.iter().take(25) {
        println!(
            "    {n:>6} {:>8.2} {:>8.2}  {k}",
            *i as f64 / 1e6,
            *o as f64 / 1e6
        );
    }
}
