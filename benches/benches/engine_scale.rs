//! The rollout engine at scale, on ihos-testkit fake hosts in virtual time: 200 hosts x 2
//! Tomcat instances behind one nginx, `max_unavailable = 10`, zero drain (policy drain
//! min/idle 0, max 1 s; nginx's old workers retire at once), zero start delay.
//!
//! `cargo bench -p ihos-benches --bench engine_scale` prints the wall (and CPU) time of
//! `run_rollout` (current-thread runtime, paused clock) and the process's peak memory
//! (VmHWM) at the start, before and after the rollout. Targets: under 1 s and under 100 MB
//! in release. The fake hosts' event log is told not to keep command bytes
//! (`FakeWorld::set_log_io(false)`): that is test-harness memory, not the engine's.
//! Env: IHOS_SCALE_HOSTS (default 200), IHOS_SCALE_PER_HOST (2), IHOS_SCALE_MAX_UNAVAILABLE
//! (10), IHOS_SCALE_LOG_IO=1 (keep command bytes in the log), IHOS_SCALE_DETAIL=1 (also
//! print commands by kind: count and MB in/out).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ihos_core::{
    CancelToken, EventRecord, Fleet, Outcome, RolloutOptions, Topology, Transport, WarFile,
    run_rollout,
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
    world.set_log_io(
        std::env::var_os("IHOS_SCALE_LOG_IO").is_some()
            || std::env::var_os("IHOS_SCALE_DETAIL").is_some(),
    );
    Scale {
        world,
        topology,
        hosts: fake,
        instances: hosts * per_host,
    }
}

fn main() {
    // `cargo test --benches` runs bench binaries too: only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let hosts = env_num("IHOS_SCALE_HOSTS", 200);
    let per_host = env_num("IHOS_SCALE_PER_HOST", 2);
    let max_unavailable = env_num("IHOS_SCALE_MAX_UNAVAILABLE", 10);
    let (hwm_start, _) = memory_kb();

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
        let hosts_map: BTreeMap<String, Arc<dyn Transport>> = scale
            .hosts
            .iter()
            .map(|(k, h)| (k.clone(), Arc::new(h.clone()) as Arc<dyn Transport>))
            .collect();
        let fleet = Fleet::new(scale.topology.clone(), hosts_map).unwrap();
        let setup = setup.elapsed();
        let (hwm_before, rss_before) = memory_kb();

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
        let wall = wall.elapsed();
        let cpu = cpu_seconds() - cpu;
        let (hwm_after, rss_after) = memory_kb();

        assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
        assert_eq!(report.updated.len(), scale.instances);
        let invariants = scale.world.check_invariants();
        assert!(invariants.is_clean(), "{invariants}");
        let commands = scale.world.commands().len();

        println!(
            "engine_scale: {hosts} hosts x {per_host} instances = {} instances, max_unavailable {max_unavailable}, zero drain, zero start delay",
            scale.instances
        );
        println!("  setup (fake world + fleet): {:.3} s", setup.as_secs_f64());
        println!(
            "  rollout wall time:          {:.3} s   (target < 1 s); CPU time {cpu:.2} s",
            wall.as_secs_f64()
        );
        println!(
            "  virtual time:               {:.1} s; {commands} remote commands, {} events",
            report.seconds,
            events.load(Ordering::Relaxed)
        );
        println!(
            "  peak memory (VmHWM):        {:.1} MB at start, {:.1} MB before the rollout, {:.1} MB after   (target < 100 MB)",
            hwm_start as f64 / 1024.0,
            hwm_before as f64 / 1024.0,
            hwm_after as f64 / 1024.0
        );
        println!(
            "  resident (VmRSS):           {:.1} MB before the rollout, {:.1} MB after",
            rss_before as f64 / 1024.0,
            rss_after as f64 / 1024.0
        );
        if std::env::var_os("IHOS_SCALE_DETAIL").is_some() {
            detail(&scale.world);
        }
    });
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
