//! A real sshd "host" on a loopback address for the SSH tests, started and stopped with
//! `scripts/lib/sshd-hosts.sh` (needs root; installs openssh-server and sudo on first use).
//! Without root or sshd the tests print a message and skip, unless `IHOS_REQUIRE_SANDBOX=1`
//! (as `scripts/test` sets it): then they fail.
#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::sync::Mutex;
use std::time::Duration;

use ihos_core::{SshAuth, SshOptions, SshTarget, SshTransport};

pub const ADDR: &str = "127.0.0.11";

/// `up` edits users and sudoers: one at a time.
pub static SCRIPT: Mutex<()> = Mutex::new(());

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/sshd-hosts.sh")
}

/// One test sshd; `down` when dropped.
pub struct Host {
    dir: tempfile::TempDir,
    pub port: u16,
    pub addr: &'static str,
    /// Extra environment for sshd-hosts.sh (`IHOS_SSHD_*` settings).
    env: Vec<(&'static str, String)>,
}

impl Host {
    /// The sandbox host for a test, or `None` (skip) when it cannot be had and the sandbox
    /// is not required.
    pub fn up(test: &str, port: u16) -> Option<Host> {
        Self::up_with(test, ADDR, port, &[])
    }

    /// A host on `addr`, with `IHOS_SSHD_*` settings for sshd-hosts.sh.
    pub fn up_with(
        test: &str,
        addr: &'static str,
        port: u16,
        env: &[(&'static str, &str)],
    ) -> Option<Host> {
        // RUST_LOG=ihos_core=debug shows what the transport does.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let env = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        match Self::try_up(addr, port, env) {
            Ok(h) => Some(h),
            Err(why) => {
                if std::env::var("IHOS_REQUIRE_SANDBOX").as_deref() == Ok("1") {
                    panic!("{test}: sandbox required (IHOS_REQUIRE_SANDBOX=1) but {why}");
                }
                // Straight to stderr: the test harness would swallow eprintln! output.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP {test}: {why} (set IHOS_REQUIRE_SANDBOX=1 to fail instead)"
                );
                None
            }
        }
    }

    fn try_up(
        addr: &'static str,
        port: u16,
        env: Vec<(&'static str, String)>,
    ) -> Result<Host, String> {
        let uid = Proc::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("ihos-ssh-test")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let host = Host {
            dir,
            port,
            addr,
            env,
        };
        host.sh_up()?;
        Ok(host)
    }

    pub fn sh_up(&self) -> Result<(), String> {
        let _one = SCRIPT.lock().unwrap_or_else(|e| e.into_inner());
        let out = Proc::new("bash")
            .arg(script())
            .arg("up")
            .arg(self.ssh_dir())
            .arg(self.addr)
            .env("IHOS_SSH_PORT", self.port.to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| format!("cannot run sshd-hosts.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "sshd-hosts.sh up failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    pub fn ssh_dir(&self) -> PathBuf {
        self.dir.path().join("ssh")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.ssh_dir().join("known_hosts")
    }

    pub fn target(&self, user: &str) -> SshTarget {
        SshTarget::new(self.addr, self.port, user)
    }

    pub fn options(&self) -> SshOptions {
        SshOptions {
            known_hosts: Some(self.known_hosts()),
            auth: SshAuth::KeyFile {
                path: self.ssh_dir().join("id_ed25519"),
                passphrase_env: None,
            },
            connect_timeout: Duration::from_secs(5),
            ..SshOptions::default()
        }
    }

    pub async fn connect(&self, user: &str) -> SshTransport {
        SshTransport::connect(self.target(user), self.options())
            .await
            .expect("connect")
    }

    /// `SHA256:...` of the host's key, from ssh-keygen.
    pub fn host_fingerprint(&self) -> String {
        let pubkey = self
            .ssh_dir()
            .join("hostkeys")
            .join(format!("{}_ed25519.pub", self.addr));
        let out = Proc::new("ssh-keygen")
            .arg("-lf")
            .arg(pubkey)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }

    /// `ssh-ed25519 AAAA...` of the host's key.
    pub fn host_key_line(&self) -> String {
        let pubkey = self
            .ssh_dir()
            .join("hostkeys")
            .join(format!("{}_ed25519.pub", self.addr));
        let text = std::fs::read_to_string(pubkey).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// SIGKILLs the host's sshd and every sshd process below it (the connections).
    pub fn kill_sshd(&self) {
        let pid_file = self
            .ssh_dir()
            .join(format!("sshd.{}.harness-pid", self.addr));
        let pid: u32 = std::fs::read_to_string(pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let sshds: Vec<String> = ihos_testkit::procs::sshd_tree(pid)
            .iter()
            .map(u32::to_string)
            .collect();
        assert!(!sshds.is_empty());
        let st = Proc::new("kill")
            .arg("-KILL")
            .args(&sshds)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _one = SCRIPT.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Proc::new("bash")
            .arg(script())
            .arg("down")
            .arg(self.ssh_dir())
            .env("IHOS_SSH_PORT", self.port.to_string())
            .output();
    }
}
