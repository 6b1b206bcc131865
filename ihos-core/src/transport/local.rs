//! [`LocalTransport`]: the [`Transport`] for this machine, through `tokio::process`.

use std::path::Path;
use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{Transport, TransportError, Uploaded, remote};
use crate::command::{Command, Output, Privilege};
use crate::names::RemotePath;
use crate::sha::Sha256;

/// Runs commands on this machine. Programs are started directly with their argument
/// vector (no shell). `sudo` is used for privileged commands unless ihos already runs as
/// root.
#[derive(Debug, Clone)]
pub struct LocalTransport {
    name: String,
    is_root: bool,
}

impl Default for LocalTransport {
    fn default() -> Self {
        Self::new("local")
    }
}

impl LocalTransport {
    /// A local transport shown as `name` in messages.
    pub fn new(name: impl Into<String>) -> Self {
        // Only root may read other users' root-only files; this is the cheap check.
        let is_root = std::fs::metadata("/proc/self").map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        });
        LocalTransport {
            name: name.into(),
            is_root: is_root.unwrap_or(false),
        }
    }

    fn io(&self, op: &'static str, path: &str, e: std::io::Error) -> TransportError {
        TransportError::Io {
            host: self.name.clone(),
            op,
            path: path.to_string(),
            reason: e.to_string(),
        }
    }
}

#[async_trait]
impl Transport for LocalTransport {
    fn host(&self) -> &str {
        &self.name
    }

    async fn run(&self, command: &Command) -> Result<Output, TransportError> {
        let argv = command.argv();
        let mut cmd = if command.privilege() == Privilege::Sudo && !self.is_root {
            let mut c = tokio::process::Command::new("sudo");
            c.arg("-n").arg("--").args(&argv);
            c
        } else {
            let mut c = tokio::process::Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        };
        cmd.stdin(if command.stdin_bytes().is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| TransportError::Failed {
            host: self.name.clone(),
            command: command.to_string(),
            status: "no start".into(),
            stderr: e.to_string(),
        })?;
        if let (Some(bytes), Some(mut stdin)) = (command.stdin_bytes(), child.stdin.take()) {
            let bytes = bytes.to_vec();
            // A writer task, so a child that does not read its input cannot block us.
            tokio::spawn(async move {
                let _ = stdin.write_all(&bytes).await;
                let _ = stdin.shutdown().await;
            });
        }
        let wait = child.wait_with_output();
        let limit = command
            .timeout_value()
            .unwrap_or(crate::command::DEFAULT_COMMAND_TIMEOUT);
        let out = match tokio::time::timeout(limit, wait).await {
            Ok(r) => r,
            Err(_) => {
                return Err(TransportError::Timeout {
                    host: self.name.clone(),
                    command: command.to_string(),
                    after: limit,
                });
            }
        }
        .map_err(|e| TransportError::Disconnected {
            host: self.name.clone(),
            during: command.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Output {
            status: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn upload(&self, local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError> {
        let local_str = local.display().to_string();
        let tmp = remote::temp_path(remote)?;
        let bytes = match tokio::fs::copy(local, tmp.as_str()).await {
            Ok(b) => b,
            Err(e) => {
                // a partial copy (full disk) must not stay behind
                let _ = tokio::fs::remove_file(tmp.as_str()).await;
                return Err(self.io("upload", &local_str, e));
            }
        };
        let (src_sum, dst_sum) = {
            let (l, t) = (local.to_path_buf(), std::path::PathBuf::from(tmp.as_str()));
            tokio::task::spawn_blocking(move || (Sha256::of_file(&l), Sha256::of_file(&t)))
                .await
                .map_err(|e| self.io("upload", &local_str, std::io::Error::other(e)))?
        };
        let src_sum = src_sum.map_err(|e| self.io("read", &local_str, e))?;
        let dst_sum = dst_sum.map_err(|e| self.io("read", tmp.as_str(), e))?;
        if src_sum != dst_sum {
            let _ = tokio::fs::remove_file(tmp.as_str()).await;
            return Err(TransportError::Checksum {
                host: self.name.clone(),
                path: tmp.to_string(),
                expected: src_sum.to_string(),
                actual: dst_sum.to_string(),
            });
        }
        if let Err(e) = tokio::fs::rename(tmp.as_str(), remote.as_str()).await {
            let _ = tokio::fs::remove_file(tmp.as_str()).await;
            return Err(self.io("rename into", remote.as_str(), e));
        }
        Ok(Uploaded {
            path: remote.clone(),
            bytes,
            sha256: src_sum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::run_checked;

    #[tokio::test]
    async fn runs_without_a_shell_and_feeds_stdin() {
        let t = LocalTransport::default();
        let out = t
            .run(&Command::new("cat").stdin(b"a'b $(x)".to_vec()))
            .await
            .unwrap();
        assert_eq!(out.stdout, b"a'b $(x)");
        let out = t
            .run(&Command::new("printf").arg("%s|").arg("$HOME").arg("a b"))
            .await
            .unwrap();
        assert_eq!(out.stdout_text(), "$HOME|a b|");
        let err = run_checked(&t, &Command::new("false")).await.unwrap_err();
        assert!(matches!(err, TransportError::Failed { .. }), "{err}");
    }

    #[tokio::test]
    async fn times_out() {
        let t = LocalTransport::default();
        let err = t
            .run(
                &Command::new("sleep")
                    .arg("5")
                    .timeout(std::time::Duration::from_millis(100)),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Timeout { .. }), "{err}");
    }

    #[tokio::test]
    async fn upload_verifies_and_renames() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.war");
        std::fs::write(&src, b"PK fake war").unwrap();
        let dest = RemotePath::new(&dir.path().join("ihos.war").display().to_string()).unwrap();
        let t = LocalTransport::default();
        let up = t.upload(&src, &dest).await.unwrap();
        assert_eq!(up.bytes, 11);
        assert_eq!(std::fs::read(dest.as_str()).unwrap(), b"PK fake war");
        assert_eq!(up.sha256, Sha256::of_bytes(b"PK fake war"));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("ihos-tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[tokio::test]
    async fn write_in_place_keeps_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nginx.conf");
        std::fs::write(&p, b"old contents, longer than the new ones").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        let t = LocalTransport::default();
        let rp = RemotePath::new(&p.display().to_string()).unwrap();
        t.write_file_in_place(&rp, b"new", Privilege::User)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
        assert_eq!(t.read_file(&rp, Privilege::User).await.unwrap(), b"new");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no staging file left"
        );
    }
}
