//! Helpers shared by the integration tests: fixtures copied into a temp dir, and the real
//! `ihos` binary run on them. The 192.168 addresses in the fixtures are only text.

#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The runbook's nginx.conf (upstreams `service_ihos` with 4 servers, `service_ihos_gray`).
pub const NGINX_CONF: &str = include_str!("../fixtures/nginx.conf");
/// The runbook's site file, with the canary `if` block commented out (lines 8-10).
pub const SITE: &str = include_str!("../fixtures/site-ihos");
/// A config missing a `;` (line 3), so the `}` at 4:5 is the error.
pub const BROKEN: &str = include_str!("../fixtures/broken.conf");

/// A fixture copied into its own temp dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Fixture {
    pub fn new(name: &str, content: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write fixture");
        Fixture { dir, path }
    }

    pub fn nginx_conf() -> Self {
        Fixture::new("nginx.conf", NGINX_CONF)
    }

    pub fn site() -> Self {
        Fixture::new("ihos", SITE)
    }

    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("read fixture")
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.bytes()).expect("utf-8")
    }

    pub fn ino(&self) -> u64 {
        std::fs::metadata(&self.path).expect("metadata").ino()
    }

    /// The file's path as a string, as passed on the command line.
    pub fn arg(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }

    /// Backup files next to the fixture (`.NAME.ihos-*.bak`), sorted.
    pub fn backups(&self) -> Vec<PathBuf> {
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name");
        let prefix = format!(".{name}.ihos-");
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".bak"))
            })
            .collect();
        v.sort();
        v
    }

    /// Runs `ihos nginx SUBCOMMAND FILE ARGS...`.
    pub fn nginx(&self, subcommand: &str, args: &[&str]) -> Run {
        let mut all = vec!["nginx", subcommand, self.arg()];
        all.extend_from_slice(args);
        ihos(&all)
    }
}

/// The outcome of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the real `ihos` binary.
pub fn ihos(args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_ihos"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ihos");
    Run {
        code: out.status.code().expect("exit code (not a signal)"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Runs `ihos ARGS` with `stdin` on its standard input.
pub fn ihos_stdin(args: &[&str], stdin: &str) -> Run {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ihos"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ihos");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().expect("exit code (not a signal)"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// A JWT-shaped token (`header.payload.signature`, base64url) whose payload is `payload`.
pub fn jwt(payload: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode([0xA5u8; 32])
    )
}

/// `text` with the first `from` replaced by `to`; panics if `from` is absent.
pub fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in text");
    text.replacen(from, to, 1)
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

/// What the hosts of a [`loopback_topology`] are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosts {
    /// SSH to 127.0.0.201-203 on port 1, where nothing listens: a command that should not
    /// connect fails at once if it does, and never leaves this machine.
    Unreachable,
    /// This machine (`local = true`), with container names nobody uses: for commands that
    /// only read a file (the canary's site file).
    Local,
}

/// The runbook's topology (examples/ihos.toml) written to `dir/ihos.toml` with every host
/// on loopback (see [`Hosts`]), the backends on 127.0.0.201-203, and the canary's site file
/// at `site_file`. Panics if an address is left that is not a loopback one.
pub fn loopback_topology(dir: &Path, hosts: Hosts, site_file: &Path) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ihos.toml");
    let mut text = std::fs::read_to_string(example).expect("examples/ihos.toml");
    for n in 1..=3 {
        let host = match hosts {
            Hosts::Unreachable => format!("address = \"127.0.0.20{n}\"\nport = 1"),
            Hosts::Local => format!("address = \"127.0.0.20{n}\"\nport = 1\nlocal = true"),
        };
        text = replace_once(&text, &format!("address = \"192.168.1.10{n}\""), &host);
        text = text.replace(&format!("192.168.1.10{n}:"), &format!("127.0.0.20{n}:"));
    }
    text = replace_once(
        &text,
        "site_file = \"/opt/docker/ihos/nginx_proxy/sites-enabled/ihos\"",
        &format!("site_file = {:?}", site_file.display().to_string()),
    );
    if hosts == Hosts::Local {
        text = text.replace("container = \"ihos_", "container = \"absent-ihos-cli-test-");
    }
    let path = dir.join("ihos.toml");
    std::fs::write(&path, &text).expect("write the topology");
    // Nothing but loopback, read back as ihos reads it.
    let topology = ihos_core::Topology::load(&path).expect("a valid topology");
    for (name, h) in &topology.hosts {
        let ip: std::net::IpAddr = h.address.parse().expect("an IP address");
        assert!(ip.is_loopback() && h.port == 1, "host {name}: {h:?}");
    }
    let mut settings = text.lines().filter(|l| !l.trim_start().starts_with('#'));
    assert!(settings.all(|l| !l.contains("192.168.")), "{text}");
    path
}
