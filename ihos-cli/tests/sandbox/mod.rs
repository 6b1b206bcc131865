//! Harness of the end-to-end tests on the real sandbox (`tests/sandbox_e2e.rs`): the sandbox
//! of `scripts/sandbox` (its facts from `scripts/sandbox env` and its `ihos.toml`), the real
//! `ihos` binary run as a child process (NDJSON events read as they come, SIGKILL on a given
//! event), the load generator of `ihos-testkit`, and a minimal HTTP GET.
//!
//! Only loopback addresses and the sandbox's own containers are contacted. Every process this
//! harness starts is owned by a value that kills it by PID when dropped.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ihos_core::{InstanceConfig, Topology};
use ihos_testkit::load::{self, ClientKindSummary, LoadConfig, LoadHandle, LoadResult, Summary};
use serde_json::Value;

/// The `ihos` binary under test.
pub const IHOS: &str = env!("CARGO_BIN_EXE_ihos");

/// Writes a line straight to the process's stderr: not captured by the test harness, so the
/// figures show in `scripts/test`'s output even when the test passes.
pub fn say(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{text}");
    let _ = e.flush();
}

/// `IHOS_REQUIRE_SANDBOX=1`: a missing prerequisite is a failure, not a skip.
pub fn required() -> bool {
    std::env::var("IHOS_REQUIRE_SANDBOX").is_ok_and(|v| v == "1")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = run(cmd)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}\n{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stdout), 20),
            tail(&String::from_utf8_lossy(&out.stderr), 40)
        ))
    }
}

/// What this machine lacks to run the sandbox, if anything (root, the Docker engine).
pub fn missing_prerequisite() -> Option<String> {
    match run(Command::new("id").arg("-u")) {
        Ok(o) if String::from_utf8_lossy(&o.stdout).trim() == "0" => {}
        Ok(o) => {
            return Some(format!(
                "not root (uid {}): scripts/sandbox runs as root",
                String::from_utf8_lossy(&o.stdout).trim()
            ));
        }
        Err(e) => return Some(format!("cannot run `id -u`: {e}")),
    }
    match run(Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"])) {
        Err(e) => Some(format!("no docker CLI: {e}")),
        Ok(o) if !o.status.success() => Some(format!(
            "cannot talk to the Docker engine: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// `docker ARGS...`, stdout on success.
pub fn docker(args: &[&str]) -> Result<String, String> {
    run_ok(Command::new("docker").args(args))
}

/// SHA-256 of a file as `sha256sum` prints it.
pub fn sha256sum(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg("--").arg(path)).expect("sha256sum");
    out.split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_string()
}

/// The sandbox: facts from `scripts/sandbox env` and the topology it generated.
pub struct Sandbox {
    pub script: PathBuf,
    pub root: PathBuf,
    pub toml: PathBuf,
    pub lb: SocketAddr,
    pub wars: PathBuf,
    pub nginx_container: String,
    pub nginx_conf: PathBuf,
    pub site_file: PathBuf,
    pub topology: Topology,
    /// The same fleet reached the hard way (`ihos-reach.toml`).
    pub reach: Reach,
}

/// `ihos-reach.toml` of the sandbox (issue 13): h101 by password, h103 only through the
/// bastion, two load balancers.
pub struct Reach {
    pub toml: PathBuf,
    pub topology: Topology,
    /// The second load balancer's listening address.
    pub lb2: SocketAddr,
    pub nginx2_container: String,
    pub nginx2_conf: PathBuf,
    pub bastion: String,
    /// The directory of the sshds (their logs: `sshd.ADDR.log`).
    pub ssh_dir: PathBuf,
}

/// The variable `ihos-reach.toml` reads deploypass's password from, and the password
/// (from the root-only file sshd-hosts.sh made), passed to every `ihos` child this harness
/// starts: never on a command line, never printed.
static PASSWORD_ENV: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

/// More variables for the `ihos` children (a scenario's robot URLs and secrets).
static EXTRA_ENV: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Every `ihos` child started from now on gets `name=value` too.
pub fn set_child_env(name: &str, value: &str) {
    let mut extra = EXTRA_ENV.lock().unwrap_or_else(|e| e.into_inner());
    extra.retain(|(n, _)| n != name);
    extra.push((name.to_string(), value.to_string()));
}

fn child_env() -> impl Iterator<Item = (String, String)> {
    let extra = EXTRA_ENV.lock().unwrap_or_else(|e| e.into_inner()).clone();
    PASSWORD_ENV.get().cloned().into_iter().chain(extra)
}

fn parse_addr(name: &str, url: &str) -> Result<SocketAddr, String> {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("{name} {url}: {e}"))
}

impl Sandbox {
    /// `scripts/sandbox` of this repository.
    pub fn script_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/sandbox")
    }

    /// `scripts/sandbox up` (idempotent), then reads `scripts/sandbox env` and the topology.
    pub fn up() -> Result<Sandbox, String> {
        let script = Self::script_path();
        if !script.is_file() {
            return Err(format!("{} not found", script.display()));
        }
        let t = Instant::now();
        run_ok(Command::new(&script).arg("up"))?;
        say(&format!(
            "sandbox_e2e: scripts/sandbox up: {:.1}s",
            t.elapsed().as_secs_f64()
        ));
        let env_text = run_ok(Command::new(&script).arg("env"))?;
        let env: BTreeMap<String, String> = env_text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        let get = |k: &str| {
            env.get(k)
                .cloned()
                .ok_or_else(|| format!("scripts/sandbox env has no {k}:\n{env_text}"))
        };
        let toml = PathBuf::from(get("IHOS_SANDBOX_TOML")?);
        let lb = parse_addr("IHOS_SANDBOX_LB_URL", &get("IHOS_SANDBOX_LB_URL")?)?;
        let topology = Topology::load(&toml).map_err(|e| format!("{}: {e}", toml.display()))?;
        if topology.instances.len() != 4 {
            return Err(format!(
                "{}: expected 4 instances, found {}",
                toml.display(),
                topology.instances.len()
            ));
        }
        let password_file = get("IHOS_SANDBOX_PASSWORD_FILE")?;
        let password =
            std::fs::read_to_string(&password_file).map_err(|e| format!("{password_file}: {e}"))?;
        let _ = PASSWORD_ENV.set((
            get("IHOS_SANDBOX_PASSWORD_VAR")?,
            password.trim().to_string(),
        ));
        let reach_toml = PathBuf::from(get("IHOS_SANDBOX_REACH_TOML")?);
        let reach = Reach {
            topology: Topology::load(&reach_toml)
                .map_err(|e| format!("{}: {e}", reach_toml.display()))?,
            toml: reach_toml,
            lb2: parse_addr("IHOS_SANDBOX_LB2_URL", &get("IHOS_SANDBOX_LB2_URL")?)?,
            nginx2_container: get("IHOS_SANDBOX_NGINX2_CONTAINER")?,
            nginx2_conf: PathBuf::from(get("IHOS_SANDBOX_NGINX2_CONF")?),
            bastion: get("IHOS_SANDBOX_BASTION")?,
            ssh_dir: PathBuf::from(get("IHOS_SANDBOX_DIR")?).join("ssh"),
        };
        Ok(Sandbox {
            reach,
            script,
            root: PathBuf::from(get("IHOS_SANDBOX_DIR")?),
            toml,
            lb,
            wars: PathBuf::from(get("IHOS_SANDBOX_WARS")?),
            nginx_container: get("IHOS_SANDBOX_NGINX_CONTAINER")?,
            nginx_conf: PathBuf::from(get("IHOS_SANDBOX_NGINX_CONF")?),
            site_file: PathBuf::from(get("IHOS_SANDBOX_SITE_FILE")?),
            topology,
        })
    }

    /// `scripts/sandbox reset`, then checks that it really is pristine (see
    /// [`Sandbox::check_pristine`]).
    pub fn reset(&self) {
        let t = Instant::now();
        run_ok(Command::new(&self.script).arg("reset")).expect("scripts/sandbox reset");
        self.check_pristine().expect("the sandbox after reset");
        say(&format!(
            "sandbox_e2e: scripts/sandbox reset: {:.1}s (checked: v1 everywhere, empty state and staging dirs, all in rotation)",
            t.elapsed().as_secs_f64()
        ));
    }

    /// v1 on every instance and the canary, nothing in the state and staging dirs (lock,
    /// journal, releases, deployments, audit log, uploads), every backend in rotation.
    pub fn check_pristine(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut all = self.topology.instances.clone();
        if let Some(c) = &self.topology.canary {
            all.push(c.instance.clone());
        }
        for i in &all {
            match http_get(&i.backend, "/ihos/version") {
                Ok(r) if r.status == 200 && r.body == "v1" => {}
                Ok(r) => problems.push(format!("{} answers {} {:?}", i.name, r.status, r.body)),
                Err(e) => problems.push(format!("{}: {e}", i.name)),
            }
        }
        let reach_hosts = self.reach.topology.hosts.iter();
        for (name, h) in self.topology.hosts.iter().chain(reach_hosts) {
            if name == "bastion" {
                continue;
            }
            for dir in [Some(&h.state_dir), h.staging_dir.as_ref()]
                .into_iter()
                .flatten()
            {
                match std::fs::read_dir(dir) {
                    Ok(entries) => {
                        let left: Vec<String> = entries
                            .filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect();
                        if !left.is_empty() {
                            problems.push(format!("{name}: {dir} still holds {left:?}"));
                        }
                    }
                    Err(e) => problems.push(format!("{name}: {dir}: {e}")),
                }
            }
        }
        for conf in [&self.nginx_conf, &self.reach.nginx2_conf] {
            let out = self.out_of_rotation_in(conf);
            if !out.is_empty() {
                problems.push(format!("out of rotation in {}: {out:?}", conf.display()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    pub fn instances(&self) -> &[InstanceConfig] {
        &self.topology.instances
    }

    pub fn war(&self, name: &str) -> PathBuf {
        self.wars.join(name)
    }

    pub fn lb_state_dir(&self) -> PathBuf {
        PathBuf::from(&self.topology.hosts[&self.topology.load_balancers[0].host].state_dir)
    }

    /// Backends of the fleet whose `server` line in nginx.conf is not active (commented out
    /// or missing).
    pub fn out_of_rotation(&self) -> Vec<String> {
        self.out_of_rotation_in(&self.nginx_conf)
    }

    /// Like [`Sandbox::out_of_rotation`], in the nginx.conf at `path`.
    pub fn out_of_rotation_in(&self, path: &Path) -> Vec<String> {
        let conf = std::fs::read_to_string(path).unwrap_or_default();
        self.instances()
            .iter()
            .filter(|i| {
                !conf.lines().any(|l| {
                    let l = l.trim_start();
                    l.starts_with("server ") && l.contains(&format!(" {} ", i.backend))
                })
            })
            .map(|i| i.name.clone())
            .collect()
    }

    /// Each fleet instance's `/ihos/version`, asked directly (not through nginx).
    pub fn versions(&self) -> Vec<(String, String)> {
        self.instances()
            .iter()
            .map(|i| {
                let v = match http_get(&i.backend, "/ihos/version") {
                    Ok(r) if r.status == 200 => r.body,
                    Ok(r) => format!("HTTP {}", r.status),
                    Err(e) => format!("error: {e}"),
                };
                (i.name.clone(), v)
            })
            .collect()
    }

    /// `n` GETs of `/ihos/whoami` through nginx: requests per (instance, version).
    pub fn through_lb(&self, n: usize) -> BTreeMap<(String, String), usize> {
        self.through(self.lb, n)
    }

    /// `n` GETs of `/ihos/whoami` through the load balancer at `lb`.
    pub fn through(&self, lb: SocketAddr, n: usize) -> BTreeMap<(String, String), usize> {
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let key = match http_get(&lb.to_string(), "/ihos/whoami") {
                Ok(r) if r.status == 200 => (
                    r.header("x-ihos-instance").unwrap_or("?").to_string(),
                    r.header("x-ihos-version").unwrap_or("?").to_string(),
                ),
                Ok(r) => ("HTTP".into(), r.status.to_string()),
                Err(e) => ("error".into(), e),
            };
            *seen.entry(key).or_default() += 1;
        }
        seen
    }

    /// `nginx -t` in the nginx container: Ok, or nginx's complaint.
    pub fn nginx_t(&self) -> Result<(), String> {
        docker(&["exec", &self.nginx_container, "nginx", "-t", "-q"]).map(|_| ())
    }

    /// A copy of the generated topology with `edits` (exact `from` → `to` line replacements,
    /// each of which must match once) in `dir`.
    pub fn topology_copy(&self, dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
        let mut text = std::fs::read_to_string(&self.toml).expect("read ihos.toml");
        for (from, to) in edits {
            let n = text.lines().filter(|l| l.trim() == *from).count();
            assert_eq!(
                n,
                1,
                "{}: expected exactly one line {from:?}",
                self.toml.display()
            );
            text = text
                .lines()
                .map(|l| if l.trim() == *from { to } else { l })
                .collect::<Vec<_>>()
                .join("\n");
            text.push('\n');
        }
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write topology copy");
        Topology::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// `ihos -c TOPOLOGY status --json`: instance name → its view.
    pub fn status(&self, toml: &Path) -> BTreeMap<String, Value> {
        let out = ihos(toml, &["status", "--json"]);
        assert!(
            out.status.success(),
            "ihos status --json: {}",
            out_text(&out)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        v["instances"]
            .as_array()
            .expect("instances")
            .iter()
            .map(|i| (i["instance"].as_str().unwrap_or("?").to_string(), i.clone()))
            .collect()
    }

    /// `ihos -c TOPOLOGY history --json`: the audit log's records.
    pub fn history(&self, toml: &Path) -> Vec<Value> {
        let out = ihos(toml, &["history", "--json"]);
        assert!(
            out.status.success(),
            "ihos history --json: {}",
            out_text(&out)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("history line {l:?}: {e}")))
            .collect()
    }

    /// A load against the load balancer: the defaults of the load library (16 clients, 30 %
    /// slow requests of 200 ms, 50 % POST), running until stopped (at most `max`).
    pub fn load_config(&self, max: Duration) -> LoadConfig {
        let mut c = LoadConfig::new(self.lb);
        c.concurrency = 16;
        c.duration = max;
        c
    }

    /// Like [`Sandbox::load_config`], through the load balancer at `lb` with `clients`.
    pub fn load_config_via(&self, lb: SocketAddr, clients: u32, max: Duration) -> LoadConfig {
        let mut c = LoadConfig::new(lb);
        c.concurrency = clients;
        c.duration = max;
        c
    }
}

/// Restores a file's bytes (in place) when dropped, unless disarmed.
pub struct RestoreFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub armed: bool,
}

impl RestoreFile {
    pub fn new(path: &Path) -> RestoreFile {
        RestoreFile {
            path: path.to_path_buf(),
            bytes: std::fs::read(path).expect("read file to keep"),
            armed: true,
        }
    }

    /// Writes the bytes back now (same inode).
    pub fn restore(&mut self) {
        write_in_place(&self.path, &self.bytes);
        self.armed = false;
    }
}

impl Drop for RestoreFile {
    fn drop(&mut self) {
        if self.armed {
            write_in_place(&self.path, &self.bytes);
        }
    }
}

/// Truncates and rewrites `path` (keeps its inode, as the bind mounts need).
pub fn write_in_place(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(bytes).expect("write in place");
    f.sync_all().ok();
}

pub fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
}

// --- the ihos binary --------------------------------------------------------------------------

/// `ihos -c TOPOLOGY ARGS...`, waited for.
pub fn ihos(toml: &Path, args: &[&str]) -> Output {
    Command::new(IHOS)
        .arg("-c")
        .arg(toml)
        .args(args)
        .envs(child_env())
        .stdin(Stdio::null())
        .output()
        .expect("run ihos")
}

pub fn out_text(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stdout), 30),
        tail(&String::from_utf8_lossy(&out.stderr), 30)
    )
}

/// A child process killed (SIGKILL, by its PID) and reaped when dropped.
pub struct OwnedChild(pub Option<Child>);

impl Drop for OwnedChild {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// One NDJSON event and when the test read it.
#[derive(Debug, Clone)]
pub struct Ev {
    pub at: Instant,
    pub v: Value,
}

impl Ev {
    pub fn kind(&self) -> &str {
        self.v["event"].as_str().unwrap_or("")
    }
    pub fn instance(&self) -> &str {
        self.v["instance"].as_str().unwrap_or("")
    }
    pub fn step(&self) -> &str {
        self.v["step"].as_str().unwrap_or("")
    }
    pub fn is(&self, kind: &str, instance: &str, step: &str) -> bool {
        self.kind() == kind
            && (instance.is_empty() || self.instance() == instance)
            && (step.is_empty() || self.step() == step)
    }
}

/// A finished `ihos rollout --json` run.
pub struct RolloutRun {
    pub args: Vec<String>,
    pub status: ExitStatus,
    /// Killed by the test (SIGKILL) on the trigger event.
    pub killed: bool,
    pub events: Vec<Ev>,
    pub stderr: String,
    pub started: Instant,
    pub wall: Duration,
}

impl RolloutRun {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    pub fn find(&self, kind: &str, instance: &str, step: &str) -> Option<&Ev> {
        self.events.iter().find(|e| e.is(kind, instance, step))
    }

    pub fn all(&self, kind: &str) -> Vec<&Ev> {
        self.events.iter().filter(|e| e.kind() == kind).collect()
    }

    /// Instances that had any step started.
    pub fn touched(&self) -> BTreeSet<String> {
        self.all("step_started")
            .iter()
            .map(|e| e.instance().to_string())
            .collect()
    }

    /// For assertion messages: the command, its status, the last events and stderr.
    pub fn explain(&self) -> String {
        let events: Vec<String> = self.events.iter().map(|e| e.v.to_string()).collect();
        format!(
            "ihos {} -> {} after {:.1}s\nlast events:\n{}\nstderr:\n{}",
            self.args.join(" "),
            self.status,
            self.wall.as_secs_f64(),
            tail(&events.join("\n"), 25),
            tail(&self.stderr, 30)
        )
    }
}

/// `ihos -c TOPOLOGY rollout ARGS... --yes --json`, reading its events as they come; SIGKILLs
/// it on the first event for which `kill_when` says so; kills it and panics after `deadline`.
pub fn rollout(
    toml: &Path,
    args: &[&str],
    kill_when: Option<&dyn Fn(&Ev) -> bool>,
    deadline: Duration,
) -> RolloutRun {
    run_events(toml, &["rollout"], args, kill_when, deadline)
}

/// `ihos -c TOPOLOGY COMMAND... ARGS... --yes --json` (a rollout, a canary deploy), reading
/// its events as they come, like [`rollout`].
pub fn run_events(
    toml: &Path,
    command: &[&str],
    args: &[&str],
    kill_when: Option<&dyn Fn(&Ev) -> bool>,
    deadline: Duration,
) -> RolloutRun {
    let stderr_file = tempfile::tempfile().expect("temp file for stderr");
    let mut all_args: Vec<String> = vec!["-c".into(), toml.display().to_string()];
    all_args.extend(command.iter().map(|s| s.to_string()));
    all_args.extend(args.iter().map(|s| s.to_string()));
    all_args.extend(["--yes".to_string(), "--json".to_string()]);
    let started = Instant::now();
    let mut child = Command::new(IHOS)
        .args(&all_args)
        .envs(child_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr_file.try_clone().expect("clone stderr file"))
        .spawn()
        .expect("spawn ihos rollout");
    let stdout = child.stdout.take().expect("stdout");
    let mut owned = OwnedChild(Some(child));
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let mut events = Vec::new();
    let mut killed = false;
    let end = started + deadline;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((at, line)) => {
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                let ev = Ev { at, v };
                if !killed && kill_when.is_some_and(|f| f(&ev)) {
                    if let Some(c) = owned.0.as_mut() {
                        c.kill().expect("SIGKILL ihos");
                    }
                    killed = true;
                }
                events.push(ev);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                drop(owned);
                let _ = reader.join();
                let lines: Vec<String> = events.iter().map(|e: &Ev| e.v.to_string()).collect();
                panic!(
                    "ihos {} still running after {deadline:?}: killed. Last events:\n{}",
                    all_args.join(" "),
                    tail(&lines.join("\n"), 25)
                );
            }
        }
    }
    let _ = reader.join();
    let status = owned
        .0
        .take()
        .expect("child")
        .wait()
        .expect("wait for ihos");
    let wall = started.elapsed();
    let mut stderr = String::new();
    let mut f = stderr_file;
    use std::io::Seek;
    let _ = f.seek(std::io::SeekFrom::Start(0));
    let _ = f.read_to_string(&mut stderr);
    RolloutRun {
        args: all_args,
        status,
        killed,
        events,
        stderr,
        started,
        wall,
    }
}

// --- load -------------------------------------------------------------------------------------

/// A load running on the test's runtime.
pub struct Load {
    handle: Option<LoadHandle>,
    /// About when the load's clock started (record offsets are relative to it).
    pub t0: Instant,
}

impl Load {
    pub fn start(rt: &tokio::runtime::Runtime, config: LoadConfig) -> Load {
        let _enter = rt.enter();
        let t0 = Instant::now();
        let handle = load::spawn(config).expect("start the load");
        Load {
            handle: Some(handle),
            t0,
        }
    }

    pub fn progress(&self) -> load::ProgressSnapshot {
        self.handle
            .as_ref()
            .map(|h| h.progress())
            .unwrap_or_default()
    }

    /// Stops starting requests, waits for those in flight, returns the result.
    pub fn finish(mut self, rt: &tokio::runtime::Runtime) -> LoadResult {
        let h = self.handle.take().expect("load handle");
        h.stop();
        rt.block_on(h.join()).expect("load result")
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop();
        }
    }
}

/// The figures of a load run that the report shows.
#[derive(Debug, Clone, Default)]
pub struct LoadFigures {
    pub requests: u64,
    pub failed: u64,
    pub get: (u64, u64),
    pub post: (u64, u64),
    pub by_kind: BTreeMap<String, u64>,
    pub versions: BTreeMap<String, u64>,
    pub seconds: f64,
    /// One-request-per-connection clients.
    pub close: ClientFigures,
    /// Keep-alive clients (they meet the idle connections nginx closes at a reload).
    pub keepalive: ClientFigures,
}

/// The figures of one kind of load client.
#[derive(Debug, Clone, Default)]
pub struct ClientFigures {
    pub clients: u32,
    pub requests: u64,
    pub failed: u64,
    pub connections: u64,
    /// Requests that met a connection nginx had closed while idle, retried on a new one.
    pub stale_retried: u64,
    /// Requests that met such a connection and failed (POSTs are not retried).
    pub stale_failed: u64,
}

impl ClientFigures {
    fn of(k: &ClientKindSummary) -> ClientFigures {
        ClientFigures {
            clients: k.clients,
            requests: k.counts.requests,
            failed: k.counts.failed,
            connections: k.connections_opened,
            stale_retried: k.stale_retried,
            stale_failed: k.stale_failed,
        }
    }

    fn add(&self, o: &ClientFigures) -> ClientFigures {
        ClientFigures {
            clients: self.clients.max(o.clients),
            requests: self.requests + o.requests,
            failed: self.failed + o.failed,
            connections: self.connections + o.connections,
            stale_retried: self.stale_retried + o.stale_retried,
            stale_failed: self.stale_failed + o.stale_failed,
        }
    }
}

impl LoadFigures {
    pub fn of(s: &Summary) -> LoadFigures {
        let m = |k: &str| {
            s.by_method
                .get(k)
                .map_or((0, 0), |c| (c.requests, c.failed))
        };
        LoadFigures {
            requests: s.totals.requests,
            failed: s.totals.failed,
            get: m("GET"),
            post: m("POST"),
            by_kind: s.totals.failed_by_kind.clone(),
            versions: s
                .versions
                .iter()
                .map(|(k, v)| (k.clone(), v.requests))
                .collect(),
            seconds: s.elapsed_s,
            close: ClientFigures::of(&s.by_client_kind.close),
            keepalive: ClientFigures::of(&s.by_client_kind.keepalive),
        }
    }

    pub fn add(&self, o: &LoadFigures) -> LoadFigures {
        let mut by_kind = self.by_kind.clone();
        for (k, v) in &o.by_kind {
            *by_kind.entry(k.clone()).or_default() += v;
        }
        let mut versions = self.versions.clone();
        for (k, v) in &o.versions {
            *versions.entry(k.clone()).or_default() += v;
        }
        LoadFigures {
            requests: self.requests + o.requests,
            failed: self.failed + o.failed,
            get: (self.get.0 + o.get.0, self.get.1 + o.get.1),
            post: (self.post.0 + o.post.0, self.post.1 + o.post.1),
            by_kind,
            versions,
            seconds: self.seconds.max(o.seconds),
            close: self.close.add(&o.close),
            keepalive: self.keepalive.add(&o.keepalive),
        }
    }

    /// The keep-alive clients' figures in a few words (for the report's table).
    pub fn keepalive_cell(&self) -> String {
        let k = &self.keepalive;
        format!(
            "{} on {} conns, stale {} retried / {} failed",
            k.requests, k.connections, k.stale_retried, k.stale_failed
        )
    }

    pub fn line(&self) -> String {
        let (c, k) = (&self.close, &self.keepalive);
        format!(
            "{} requests in {:.1}s, {} failed (GET {} of {}, POST {} of {}){}; versions served {:?}; \
             one-request-per-connection clients ({}): {} requests, {} failed; keep-alive clients ({}): \
             {} requests on {} connections, {} met a connection nginx closed while idle (reload): \
             {} retried, {} failed (POSTs are not retried); {} failed in all",
            self.requests,
            self.seconds,
            self.failed,
            self.get.1,
            self.get.0,
            self.post.1,
            self.post.0,
            if self.by_kind.is_empty() {
                String::new()
            } else {
                format!(" by kind {:?}", self.by_kind)
            },
            self.versions,
            c.clients,
            c.requests,
            c.failed,
            k.clients,
            k.requests,
            k.connections,
            k.stale_retried + k.stale_failed,
            k.stale_retried,
            k.stale_failed,
            k.failed
        )
    }
}

// --- HTTP -------------------------------------------------------------------------------------

/// A response of [`http_get`].
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` over HTTP/1.0 to a loopback `addr` (`127.x.y.z:port`), 5 s timeout.
pub fn http_get(addr: &str, path: &str) -> Result<Response, String> {
    http_get_with(addr, path, &[])
}

/// `GET path` with extra request headers (`name`, `value`).
pub fn http_get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
    let sa: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    assert!(sa.ip().is_loopback(), "only loopback: {addr}");
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&sa, timeout).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}\r\n").map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("{addr}{path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}{path}: no header end in {text:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{addr}{path}: bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_string(),
    })
}
