//! The engine's decisions, with mockall mocks of the container and the load balancer: an
//! instance leaves rotation before its container stops, and comes back only after its new
//! container started and passed the checks; a failure rolls it back in the same order.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ihos_core::{
    Backend, CancelToken, Command, ContainerState, EventRecord, Fleet, Health, LbChange,
    MockContainer, MockLoadBalancer, Outcome, Output, RemotePath, RolloutOptions, ServerState,
    Topology, Transport, TransportError, Uploaded, WarFile, run_rollout,
};
use mockall::Sequence;
use sha2::{Digest, Sha256};

/// SHA-256 as `sha256sum` prints it.
fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

const TOPOLOGY: &str = r#"
[hosts.h1]
address = "127.0.0.1"
user = "deploy"

[load_balancer]
host = "h1"
container = "lb"
config = "/etc/nginx/nginx.conf"
upstream = "app"

[[instances]]
name = "a"
host = "h1"
container = "app_a"
backend = "10.0.0.1:8080"
webapps = "/srv/a/webapps"
logs = "/srv/a/logs"
health = { url = "http://127.0.0.1:8081/health" }

[[instances]]
name = "b"
host = "h1"
container = "app_b"
backend = "10.0.0.2:8080"
webapps = "/srv/b/webapps"
logs = "/srv/b/logs"
health = { url = "http://127.0.0.1:8082/health" }
"#;

/// A host that answers the engine's file and probe commands plausibly, remembering only the
/// small files written through `dd` (lock owner, journal, records): the decisions under test
/// are made through the mocks.
struct ScriptedHost {
    sha: String,
    app_log: Mutex<String>,
    commands: Mutex<Vec<String>>,
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl ScriptedHost {
    fn new(sha: &str, app_log: &str) -> Arc<Self> {
        Arc::new(ScriptedHost {
            sha: sha.to_string(),
            app_log: Mutex::new(app_log.to_string()),
            commands: Mutex::new(vec![]),
            files: Mutex::new(BTreeMap::new()),
        })
    }
}

#[async_trait]
impl Transport for ScriptedHost {
    fn host(&self) -> &str {
        "h1"
    }

    async fn run(&self, c: &Command) -> Result<Output, TransportError> {
        self.commands.lock().unwrap().push(c.to_string());
        let args = c.arguments();
        let last = args.last().map(String::as_str).unwrap_or("");
        let ok = |s: &str| {
            Ok(Output {
                status: Some(0),
                stdout: s.as_bytes().to_vec(),
                stderr: vec![],
            })
        };
        let mut files = self.files.lock().unwrap();
        match c.program() {
            "dd" if args[0].starts_with("of=") => {
                let path = args[0].trim_start_matches("of=").to_string();
                let bytes = c.stdin_bytes().unwrap_or_default().to_vec();
                if args.iter().any(|a| a == "oflag=append") {
                    files.entry(path).or_default().extend_from_slice(&bytes);
                } else {
                    files.insert(path, bytes);
                }
                ok("")
            }
            "cp" => {
                if let Some(b) = files.get(&args[1]).cloned() {
                    files.insert(args[2].clone(), b);
                }
                ok("")
            }
            // A log read (`dd if=LOG iflag=...`) or a copy (`dd if=SRC of=DST ...`).
            "dd" if args[0].starts_with("if=") && args[1].starts_with("of=") => {
                let src = args[0].trim_start_matches("if=");
                if let Some(b) = files.get(src).cloned() {
                    files.insert(args[1].trim_start_matches("of=").to_string(), b);
                }
                ok("")
            }
            // A log read: `sh -c SCRIPT sh LOG SKIP COUNT`, the script a checked `dd`.
            "sh" if args[1].contains("iflag=skip_bytes") && args[3].contains("catalina") => {
                ok("INFO Server startup in [1200] milliseconds\n")
            }
            "sh" if args[1].contains("iflag=skip_bytes") => ok(&self.app_log.lock().unwrap()),
            // The watch for the container's main process to end (`sh -c SCRIPT sh PID`): this
            // host has no processes to look at, so it cannot tell (status 3, the script's
            // answer where processes are hidden) and the WAR waits for `docker stop`.
            "sh" if args[1].contains("/proc/1/stat") => Ok(Output {
                status: Some(3),
                ..Output::default()
            }),
            "dd" if args[0].contains("catalina") => {
                ok("INFO Server startup in [1200] milliseconds\n")
            }
            "dd" if args[0].starts_with("if=") => ok(&self.app_log.lock().unwrap()),
            // `sh -c SCRIPT sh PATH`: a checked `sha256sum -- PATH` (PATH is `last`).
            "sh" | "sha256sum" if c.program() == "sha256sum" || args[1].contains("sha256sum") => {
                match files.get(last) {
                    Some(b) => ok(&format!("{}  {last}\n", sha256_hex(b))),
                    None => ok(&format!("{}  {last}\n", self.sha)),
                }
            }
            "cat" => ok(&String::from_utf8_lossy(
                files.get(last).map_or(&b"{}"[..], |v| v),
            )),
            // The kinds of paths (GNU stat's raw mode): the directories are directories,
            // WARs and logs regular files, nothing else is there.
            "stat" if args[1] == "%f %s %n" => ok(&args[3..]
                .iter()
                .filter_map(|p| {
                    if p.ends_with("/webapps") || p.ends_with("/logs") {
                        Some(format!("41ed 4096 {p}\n"))
                    } else if p.ends_with(".war") || p.ends_with(".log") {
                        Some(format!("81a4 1 {p}\n"))
                    } else {
                        None
                    }
                })
                .collect::<String>()),
            "stat" => ok("0\n"),
            "date" => ok("2026-11-25\n"),
            "curl" => ok("200"),
            "tail" if last.contains("catalina") => {
                ok("INFO Server startup in [1200] milliseconds\n")
            }
            "tail" => ok(&self.app_log.lock().unwrap()),
            "test"
                if args[0] == "-L"
                    || last.ends_with("journal.ndjson")
                    || last.ends_with("/lock") =>
            {
                Ok(Output {
                    status: Some(1),
                    ..Output::default()
                })
            }
            "nsenter" => ok(""),
            // The preflight asks docker about each instance's container.
            "docker" if args.iter().any(|a| a == "inspect") => ok(
                r#"{"Status":"running","Running":true,"Pid":4242,"ExitCode":0,"StartedAt":"2026-11-25T08:00:00Z"}"#,
            ),
            // The kept releases: linked, and the kept directory listed (empty here).
            "test" | "mkdir" | "mv" | "rm" | "chmod" | "ln" | "ls" => ok(""),
            // The preflight's free space (POSIX `df -P -k`: one line per directory).
            "df" => ok(&format!(
                "Filesystem 1024-blocks Used Available Capacity Mounted on\n{}",
                "/dev/sda1 104857600 1048576 103809024 1% /\n".repeat(args.len() - 3)
            )),
            other => panic!("unexpected command {other}: {c}"),
        }
    }

    async fn upload(&self, _local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError> {
        Ok(Uploaded {
            path: remote.clone(),
            bytes: 1,
            sha256: ihos_core::Sha256::parse(&self.sha).unwrap(),
        })
    }
}

fn running() -> ContainerState {
    ContainerState {
        exists: true,
        running: true,
        status: "running".into(),
        health: Health::None,
        pid: Some(4242),
        started_at: Some("2026-11-25T10:00:00Z".into()),
        exit_code: None,
    }
}

fn change(msg: &str) -> LbChange {
    LbChange {
        before: b"x".to_vec(),
        after: b"y".to_vec(),
        diff: String::new(),
        message: msg.into(),
    }
}

fn war(dir: &Path) -> WarFile {
    use std::io::Write;
    let path = dir.join("app.war");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    z.start_file("WEB-INF/web.xml", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(b"<web-app/>").unwrap();
    z.finish().unwrap();
    WarFile::open(&path).unwrap()
}

fn container(seq: &mut Sequence, times: usize) -> MockContainer {
    let mut c = MockContainer::new();
    c.expect_state().returning(|| Ok(running()));
    for _ in 0..times {
        c.expect_stop()
            .times(1)
            .in_sequence(seq)
            .returning(|_| Ok(()));
        c.expect_start()
            .times(1)
            .in_sequence(seq)
            .returning(|| Ok(()));
    }
    c
}

fn fleet(
    host: Arc<ScriptedHost>,
    lb: MockLoadBalancer,
    a: MockContainer,
    b: Option<MockContainer>,
) -> Fleet {
    let topology = Topology::from_toml(TOPOLOGY, "test.toml").unwrap();
    let mut hosts: BTreeMap<String, Arc<dyn Transport>> = BTreeMap::new();
    hosts.insert("h1".into(), host);
    let mut fleet = Fleet::with_load_balancer(topology, hosts, Arc::new(lb)).unwrap();
    fleet.set_container("a", Arc::new(a));
    if let Some(b) = b {
        fleet.set_container("b", Arc::new(b));
    }
    fleet
}

fn backends() -> Vec<Backend> {
    ["10.0.0.1:8080", "10.0.0.2:8080"]
        .iter()
        .enumerate()
        .map(|(i, a)| Backend {
            address: a.to_string(),
            state: ServerState::Enabled,
            line: i as u32 + 2,
        })
        .collect()
}

/// The addresses [`backends`] has out of rotation, as a load balancer answers.
fn out_of_rotation() -> Vec<String> {
    backends()
        .into_iter()
        .filter(|b| !b.state.is_enabled())
        .map(|b| b.address)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn out_of_rotation_before_stop_and_back_only_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let war = war(dir.path());
    let host = ScriptedHost::new(&war.sha256, "");

    let mut seq = Sequence::new();
    let mut lb = MockLoadBalancer::new();
    lb.expect_backends().returning(|| Ok(backends()));
    lb.expect_out_of_rotation()
        .returning(|| Ok(out_of_rotation()));
    lb.expect_check().returning(|| Ok(()));
    lb.expect_old_workers().returning(|| Ok(0));
    // a: disable, stop, start; a back with b out; b: stop, start, enable. The mocks enforce
    // the order.
    let mut a = MockContainer::new();
    let mut b = MockContainer::new();
    a.expect_state().returning(|| Ok(running()));
    b.expect_state().returning(|| Ok(running()));
    lb.expect_disable()
        .withf(|x| x == "10.0.0.1:8080")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(change("a out")));
    a.expect_stop()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    a.expect_start()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    // a back and b out: one change (one reload), after a started and before b stops.
    lb.expect_swap()
        .withf(|x, y| x == "10.0.0.1:8080" && y == "10.0.0.2:8080")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(change("a in, b out")));
    b.expect_stop()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    b.expect_start()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    lb.expect_enable()
        .withf(|x| x == "10.0.0.2:8080")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(change("b in")));

    let fleet = fleet(Arc::clone(&host), lb, a, Some(b));
    let events = Mutex::new(Vec::<EventRecord>::new());
    let sink = |r: &EventRecord| events.lock().unwrap().push(r.clone());
    let report = run_rollout(
        &fleet,
        &war,
        &RolloutOptions::default(),
        &sink,
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(report.updated, vec!["a", "b"]);
    // The WAR went into webapps by a name Tomcat does not deploy and a rename.
    let cmds = host.commands.lock().unwrap().join("\n");
    assert!(cmds.contains("dd if=/home/deploy/.ihos/ihos-"), "{cmds}");
    assert!(
        cmds.lines().any(|l| l
            .contains("mv -f -T -- /srv/a/webapps/.ihos.war.ihos-next /srv/a/webapps/ihos.war")),
        "{cmds}"
    );
    assert!(cmds.contains("rm -rf -- /srv/a/webapps/ihos"), "{cmds}");
}

#[tokio::test(start_paused = true)]
async fn an_exception_in_the_log_rolls_back_in_order_and_stops_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let war = war(dir.path());
    let host = ScriptedHost::new(
        &war.sha256,
        "2026-11-25 INFO x\njava.lang.IllegalStateException: boom\n",
    );
    let mut seq = Sequence::new();
    let mut lb = MockLoadBalancer::new();
    lb.expect_backends().returning(|| Ok(backends()));
    lb.expect_out_of_rotation()
        .returning(|| Ok(out_of_rotation()));
    lb.expect_check().returning(|| Ok(()));
    lb.expect_old_workers().returning(|| Ok(0));
    lb.expect_disable()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(change("a out")));
    // update: stop, start; rollback: stop, start; then back into rotation. Never b.
    let a = container(&mut seq, 2);
    lb.expect_enable()
        .withf(|x| x == "10.0.0.1:8080")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(change("a in")));
    let fleet = fleet(Arc::clone(&host), lb, a, None);
    let report = run_rollout(
        &fleet,
        &war,
        &RolloutOptions::default(),
        &|_: &EventRecord| {},
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{report:?}");
    assert_eq!(report.rolled_back.len(), 1);
    assert!(
        report.rolled_back[0].to_string().contains("scan log"),
        "{report:?}"
    );
    assert_eq!(report.not_updated, vec!["b"]);
    let cmds = host.commands.lock().unwrap().join("\n");
    assert!(
        cmds.contains("previous.war of=/srv/a/webapps/.ihos.war.ihos-tmp"),
        "the previous WAR went back: {cmds}"
    );
}
