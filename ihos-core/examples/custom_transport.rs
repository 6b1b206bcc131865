//! A third-party [`Transport`] plugged into ihos's engine pieces.
//!
//! ihos reaches hosts only through the `Transport` trait: [`DockerCli`] controls containers
//! and [`NginxLb`] edits, validates and reloads nginx by running commands through it, and
//! `Fleet::new` builds a whole rollout from one transport per host. A tool whose hosts are
//! reached some other way (a management agent, `kubectl exec`, a serial console, a test
//! double) implements two methods, `run` and `upload`; reading and in-place writing have
//! default implementations built on `run`.
//!
//! Here the "host" is an in-memory appliance: a few files and one nginx container. It
//! understands exactly the commands `DockerCli` and `NginxLb` send (and validates nginx
//! configs with `ihos-nginx`, as `nginx -t` would); anything else fails like a missing
//! program. It has no shell: the one-command scripts ihos runs on an SSH host (the checked
//! write of nginx.conf, say) answer status 127 there, and ihos then runs the same steps one
//! command each. The example takes a backend out of rotation and back through `NginxLb`, and
//! prints every command the engine asked the transport to run.
//!
//! Run with `cargo run --example custom_transport -p ihos-core`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ihos_core::Sha256;
use ihos_core::{
    Command, Container, ContainerName, DockerCli, LbError, LoadBalancer, NginxLb, NginxLbOptions,
    Output, Privilege, RemotePath, Transport, TransportError, Uploaded, run_checked,
};

const CONFIG: &str = "/etc/edge/nginx.conf";
const CONTAINER: &str = "edge_nginx";

/// The appliance: files by path, one nginx container, and a log of what it was asked.
struct Appliance {
    name: String,
    state: Mutex<State>,
    log: Mutex<Vec<String>>,
}

struct State {
    files: BTreeMap<String, Vec<u8>>,
    nginx_running: bool,
    /// The pid of nginx's (single) worker; a reload replaces the worker.
    worker_pid: u32,
}

impl Appliance {
    fn new(name: &str, nginx_conf: &str) -> Self {
        Appliance {
            name: name.into(),
            state: Mutex::new(State {
                files: BTreeMap::from([(CONFIG.to_string(), nginx_conf.as_bytes().to_vec())]),
                nginx_running: true,
                worker_pid: 100,
            }),
            log: Mutex::new(Vec::new()),
        }
    }

    fn commands(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// What the appliance does with a command: `Ok(stdout)` or `Err(stderr)`.
    fn interpret(&self, command: &Command) -> Result<Vec<u8>, String> {
        let mut st = self.state.lock().unwrap();
        let argv = command.argv();
        let file = |st: &State, path: &str| {
            st.files
                .get(path)
                .cloned()
                .ok_or_else(|| format!("{path}: No such file or directory"))
        };
        match argv.as_slice() {
            ["cat", "--", path] => file(&st, path),
            ["dd", of, ..] if of.starts_with("of=") => {
                let bytes = command.stdin_bytes().unwrap_or_default().to_vec();
                st.files.insert(of["of=".len()..].to_string(), bytes);
                Ok(vec![])
            }
            // A file copied onto another (`dd if=A of=B ...`), as ihos writes in place.
            ["dd", from, to, ..] if from.starts_with("if=") && to.starts_with("of=") => {
                let bytes = file(&st, &from["if=".len()..])?;
                st.files.insert(to["of=".len()..].to_string(), bytes);
                Ok(vec![])
            }
            // A file renamed over another, as ihos replaces its own files (backups).
            ["mv", "-f", "-T", "--", from, to] => {
                let bytes = file(&st, from)?;
                st.files.remove(*from);
                st.files.insert(to.to_string(), bytes);
                Ok(vec![])
            }
            ["sha256sum", "--", path] => {
                Ok(format!("{}  {path}\n", Sha256::of_bytes(&file(&st, path)?)).into_bytes())
            }
            ["cp", "--", from, to] => {
                let bytes = file(&st, from)?;
                st.files.insert(to.to_string(), bytes);
                Ok(vec![])
            }
            ["rm", "-f", "--", path] => {
                st.files.remove(*path);
                Ok(vec![])
            }
            ["docker", rest @ ..] => {
                let name = *rest.last().unwrap_or(&"");
                // `docker exec NAME ...` and `docker top NAME -o ...` name it second.
                let named_second = matches!(rest.first(), Some(&"exec") | Some(&"top"))
                    && rest.get(1) == Some(&CONTAINER);
                if name != CONTAINER && !named_second {
                    return Err(format!("Error: No such container: {name}"));
                }
                match rest {
                    ["inspect", "--type", "container", "--format", "{{json .State}}", _] => Ok(
                        if st.nginx_running {
                            r#"{"Status":"running","Running":true,"Pid":4242,"ExitCode":0,"StartedAt":"2026-01-05T09:00:00Z"}"#
                        } else {
                            r#"{"Status":"exited","Running":false,"Pid":0,"ExitCode":0,"StartedAt":"2026-01-05T09:00:00Z"}"#
                        }
                        .as_bytes()
                        .to_vec(),
                    ),
                    ["start", _] => {
                        st.nginx_running = true;
                        Ok(vec![])
                    }
                    ["stop", "--time", _, _] => {
                        st.nginx_running = false;
                        Ok(vec![])
                    }
                    ["exec", _, program @ ..] if !st.nginx_running => Err(format!(
                        "Error response from daemon: container {CONTAINER} is not running ({})",
                        program.join(" ")
                    )),
                    // `nginx -t`: the config must parse (ihos-nginx follows nginx's grammar).
                    ["exec", _, "nginx", "-t", "-q"] => ihos_nginx::Document::parse(file(&st, CONFIG)?)
                        .map(|_| vec![])
                        .map_err(|e| format!("nginx: [emerg] {e} in {CONFIG}")),
                    // A reload: `nginx -s reload`, or SIGHUP to the container when nginx's
                    // master (pid 4242 in `docker top`) is its main process (4242 in
                    // `docker inspect`), as here.
                    ["exec", _, "nginx", "-s", "reload"] | ["kill", "--signal", "HUP", _] => {
                        st.worker_pid += 1;
                        Ok(vec![])
                    }
                    // NginxLb lists nginx's workers with `docker top` (pid and command line).
                    ["top", _, "-o", "pid,args"] if !st.nginx_running => Err(format!(
                        "Error response from daemon: Container {CONTAINER} is not running"
                    )),
                    ["top", _, "-o", "pid,args"] => Ok(format!(
                        "PID                 COMMAND\n4242                nginx: master process nginx -g daemon off;\n{:<20}nginx: worker process\n",
                        st.worker_pid
                    )
                    .into_bytes()),
                    _ => Err(format!("appliance: unsupported docker command: {command}")),
                }
            }
            _ => Err(format!("appliance: {}: command not found", argv[0])),
        }
    }
}

#[async_trait]
impl Transport for Appliance {
    fn host(&self) -> &str {
        &self.name
    }

    async fn run(&self, command: &Command) -> Result<Output, TransportError> {
        // Shown shortened: NginxLb's process listing is a long shell script.
        let mut line = command.to_string();
        if line.len() > 90 {
            line.truncate(87);
            line.push_str("...");
        }
        self.log.lock().unwrap().push(line);
        // A real transport would also honour `command.privilege()` (sudo) and
        // `command.timeout_value()`; the appliance runs everything as root at once.
        Ok(match self.interpret(command) {
            Ok(stdout) => Output {
                status: Some(0),
                stdout,
                stderr: vec![],
            },
            Err(stderr) => Output {
                status: Some(if stderr.contains("command not found") {
                    127
                } else {
                    1
                }),
                stdout: vec![],
                stderr: stderr.into_bytes(),
            },
        })
    }

    async fn upload(&self, local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError> {
        let bytes = std::fs::read(local).map_err(|e| TransportError::Failed {
            host: self.name.clone(),
            command: format!("upload {}", local.display()),
            status: "no start".into(),
            stderr: e.to_string(),
        })?;
        let uploaded = Uploaded {
            path: remote.clone(),
            bytes: bytes.len() as u64,
            sha256: Sha256::of_bytes(&bytes),
        };
        self.log
            .lock()
            .unwrap()
            .push(format!("(upload {} -> {remote})", local.display()));
        self.state
            .lock()
            .unwrap()
            .files
            .insert(remote.to_string(), bytes);
        Ok(uploaded)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let conf = "\
events {}
http {
    upstream app {
        server 10.0.0.1:8080 max_fails=3;
        server 10.0.0.2:8080 max_fails=3;
    }
    server {
        listen 80;
        location / { proxy_pass http://app; }
    }
}
";
    let host = Arc::new(Appliance::new("edge-1", conf));

    // Transport -> DockerCli: the nginx container of the appliance.
    let nginx = Arc::new(DockerCli::new(
        Arc::clone(&host),
        ContainerName::new(CONTAINER)?,
    ));
    let state = nginx.state().await?;
    println!(
        "{}: container {} is {} (pid {:?})",
        host.host(),
        nginx.name(),
        state.status,
        state.pid
    );

    // Transport + DockerCli -> NginxLb: backends in and out of rotation.
    let lb = NginxLb::new(
        Arc::clone(&host),
        Arc::clone(&nginx),
        RemotePath::new(CONFIG)?,
        "app",
        NginxLbOptions {
            privilege: Privilege::User,
            ..NginxLbOptions::default()
        },
    );
    for b in lb.backends().await? {
        println!("  backend {} {} (line {})", b.address, b.state, b.line);
    }

    let before = host.commands().len();
    let change = lb.disable("10.0.0.2:8080").await?;
    println!("\n{}; nginx reloaded:\n{}", change.message, change.diff);
    assert!(change.changed());
    println!("the commands of that one change (backup, in-place write, nginx -t, reload):");
    for c in &host.commands()[before..] {
        println!("  {c}");
    }
    println!(
        "old nginx workers still serving: {}",
        lb.old_workers().await?
    );

    // The editor refuses what would leave no backend, before anything is written.
    match lb.disable("10.0.0.1:8080").await {
        Err(e @ LbError::Edit { .. }) => println!("\nrefused: {e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    let change = lb.enable("10.0.0.2:8080").await?;
    println!("\n{}; nginx reloaded", change.message);
    assert_eq!(lb.config().await?, conf.as_bytes(), "the bytes are back");

    // Commands the appliance does not know fail as on a real host, naming it.
    let err = run_checked(host.as_ref(), &Command::new("systemctl").arg("reload"))
        .await
        .unwrap_err();
    println!("{err}");

    println!(
        "\n{} commands in all went through the custom transport",
        host.commands().len()
    );
    Ok(())
}
