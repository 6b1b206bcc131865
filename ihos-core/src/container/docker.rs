//! [`DockerCli`]: a [`Container`] driven by `docker` commands through a transport.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Container, ContainerError, ContainerState, Health, Process};
use crate::command::{Command, Output, Privilege};
use crate::names::ContainerName;
use crate::transport::{Transport, TransportError, check_output};

/// Time allowed for docker commands that do not wait on the container.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

/// One container, controlled with the `docker` CLI on its host (through `sudo` by default,
/// as the runbook's `deploy` user needs).
#[derive(Debug)]
pub struct DockerCli<T: ?Sized> {
    transport: Arc<T>,
    name: ContainerName,
    privilege: Privilege,
}

impl<T: ?Sized> Clone for DockerCli<T> {
    fn clone(&self) -> Self {
        DockerCli {
            transport: Arc::clone(&self.transport),
            name: self.name.clone(),
            privilege: self.privilege,
        }
    }
}

/// `docker inspect --format '{{json .State}}'`, the fields ihos reads.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectState {
    status: String,
    running: bool,
    #[serde(default)]
    pid: i64,
    #[serde(default)]
    exit_code: i64,
    #[serde(default)]
    started_at: String,
    #[serde(default)]
    health: Option<InspectHealth>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectHealth {
    status: String,
}

impl<T: Transport + ?Sized> DockerCli<T> {
    /// The container `name` on the host behind `transport`, controlled through sudo.
    pub fn new(transport: Arc<T>, name: ContainerName) -> Self {
        DockerCli {
            transport,
            name,
            privilege: Privilege::Sudo,
        }
    }

    /// Uses `privilege` for docker commands (e.g. [`Privilege::User`] for a user in the
    /// `docker` group).
    pub fn with_privilege(mut self, privilege: Privilege) -> Self {
        self.privilege = privilege;
        self
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<T> {
        &self.transport
    }

    fn docker(&self) -> Command {
        Command::new("docker")
            .with_privilege(self.privilege)
            .timeout(DOCKER_TIMEOUT)
    }

    async fn run(&self, cmd: Command) -> Result<Output, ContainerError> {
        let out = self.transport.run(&cmd).await?;
        if out.success() {
            return Ok(out);
        }
        let stderr = out.stderr_text();
        if stderr.contains("No such container") || stderr.contains("No such object") {
            return Err(ContainerError::NotFound {
                host: self.transport.host().into(),
                container: self.name.to_string(),
            });
        }
        match check_output(self.transport.host(), &cmd, out) {
            Err(e @ TransportError::SudoPassword { .. }) => Err(e.into()),
            _ => Err(ContainerError::Docker {
                host: self.transport.host().into(),
                container: self.name.to_string(),
                command: cmd.to_string(),
                reason: stderr,
            }),
        }
    }
}

/// Whole seconds for `--time`, rounded up (a 500 ms grace is 1 s, not 0).
fn grace_secs(grace: Duration) -> u64 {
    grace.as_secs() + u64::from(grace.subsec_nanos() > 0)
}

/// Parses `docker inspect --format '{{json .State}}'` output.
pub(crate) fn parse_state(json: &str) -> Result<ContainerState, serde_json::Error> {
    let s: InspectState = serde_json::from_str(json.trim())?;
    let health = match s.health.as_ref().map(|h| h.status.as_str()) {
        None | Some("") | Some("none") => Health::None,
        Some("starting") => Health::Starting,
        Some("healthy") => Health::Healthy,
        Some(_) => Health::Unhealthy,
    };
    let never = s.started_at.is_empty() || s.started_at.starts_with("0001-01-01");
    Ok(ContainerState {
        exists: true,
        running: s.running,
        status: s.status,
        health,
        pid: (s.running && s.pid > 0).then_some(s.pid as u32),
        started_at: (!never).then_some(s.started_at),
        exit_code: (!s.running).then_some(s.exit_code),
    })
}

/// Parses `docker top NAME -o pid,args`: a header line (`PID COMMAND`), then one process
/// per line, its pid, spaces, its command line. `None` if it is not that.
pub(crate) fn parse_top(text: &str) -> Option<Vec<Process>> {
    let mut lines = text.lines();
    if !lines.next()?.trim_start().starts_with("PID") {
        return None;
    }
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim_start();
            let (pid, command) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            Some(Process {
                pid: pid.parse().ok()?,
                command: command.trim().to_string(),
            })
        })
        .collect()
}

#[async_trait]
impl<T: Transport + ?Sized> Container for DockerCli<T> {
    fn name(&self) -> &ContainerName {
        &self.name
    }

    async fn state(&self) -> Result<ContainerState, ContainerError> {
        let cmd = self.docker().args([
            "inspect",
            "--type",
            "container",
            "--format",
            "{{json .State}}",
            self.name.as_str(),
        ]);
        match self.run(cmd.clone()).await {
            Ok(out) => parse_state(&out.stdout_text()).map_err(|e| ContainerError::Docker {
                host: self.transport.host().into(),
                container: self.name.to_string(),
                command: cmd.to_string(),
                reason: format!("unexpected docker inspect output: {e}"),
            }),
            Err(ContainerError::NotFound { .. }) => Ok(ContainerState::missing()),
            Err(e) => Err(e),
        }
    }

    async fn start(&self) -> Result<(), ContainerError> {
        self.run(self.docker().args(["start", self.name.as_str()]))
            .await
            .map(|_| ())
    }

    async fn stop(&self, grace: Duration) -> Result<(), ContainerError> {
        let cmd = self
            .docker()
            .args([
                "stop",
                "--time",
                &grace_secs(grace).to_string(),
                self.name.as_str(),
            ])
            .timeout(grace.saturating_add(DOCKER_TIMEOUT));
        self.run(cmd).await.map(|_| ())
    }

    async fn restart(&self, grace: Duration) -> Result<(), ContainerError> {
        let cmd = self
            .docker()
            .args([
                "restart",
                "--time",
                &grace_secs(grace).to_string(),
                self.name.as_str(),
            ])
            .timeout(grace.saturating_add(DOCKER_TIMEOUT));
        self.run(cmd).await.map(|_| ())
    }

    async fn exec(&self, argv: &[String]) -> Result<Output, ContainerError> {
        let cmd = self
            .docker()
            .arg("exec")
            .arg(self.name.as_str())
            .args(argv.iter().cloned());
        let out = self.transport.run(&cmd).await?;
        if !out.success() && out.stderr_text().contains("is not running") {
            return Err(ContainerError::NotRunning {
                host: self.transport.host().into(),
                container: self.name.to_string(),
            });
        }
        if !out.success() && out.stderr_text().contains("No such container") {
            return Err(ContainerError::NotFound {
                host: self.transport.host().into(),
                container: self.name.to_string(),
            });
        }
        if !out.success() {
            if let Err(e @ TransportError::SudoPassword { .. }) =
                check_output(self.transport.host(), &cmd, out.clone())
            {
                return Err(e.into());
            }
        }
        Ok(out)
    }

    async fn processes(&self) -> Result<Vec<Process>, ContainerError> {
        let cmd = self
            .docker()
            .args(["top", self.name.as_str(), "-o", "pid,args"]);
        match self.run(cmd.clone()).await {
            Ok(out) => parse_top(&out.stdout_text()).ok_or_else(|| ContainerError::Docker {
                host: self.transport.host().into(),
                container: self.name.to_string(),
                command: cmd.to_string(),
                reason: format!("unexpected docker top output: {:?}", out.stdout_text()),
            }),
            // dockerd: "Error response from daemon: container <id> is not running".
            Err(ContainerError::Docker { reason, .. }) if reason.contains("is not running") => {
                Err(ContainerError::NotRunning {
                    host: self.transport.host().into(),
                    container: self.name.to_string(),
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn signal(&self, signal: &str) -> Result<(), ContainerError> {
        if signal.is_empty()
            || !signal
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(ContainerError::InvalidSignal(signal.to_string()));
        }
        self.run(
            self.docker()
                .args(["kill", "--signal", signal, self.name.as_str()]),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_top() {
        // As docker 20.10 prints it for an nginx container after a reload.
        let text = "PID                 COMMAND\n2066                nginx: master process nginx -g daemon off;\n6480                nginx: worker process\n6391                nginx: worker process is shutting down\n";
        let ps = parse_top(text).unwrap();
        assert_eq!(ps.len(), 3);
        assert_eq!(ps[0].pid, 2066);
        assert_eq!(ps[0].command, "nginx: master process nginx -g daemon off;");
        assert_eq!(ps[2].command, "nginx: worker process is shutting down");
        assert_eq!(parse_top("PID COMMAND\n").unwrap(), Vec::new());
        assert!(parse_top("").is_none());
        assert!(parse_top("Error: something\n").is_none());
        assert!(parse_top("PID COMMAND\nabc nginx\n").is_none());
    }

    #[test]
    fn parses_docker_inspect_state() {
        let running = r#"{"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":4242,"ExitCode":0,"Error":"","StartedAt":"2026-11-25T10:00:00.123Z","FinishedAt":"0001-01-01T00:00:00Z","Health":{"Status":"healthy","FailingStreak":0,"Log":[]}}"#;
        let s = parse_state(running).unwrap();
        assert!(s.exists && s.running);
        assert_eq!(s.pid, Some(4242));
        assert_eq!(s.health, Health::Healthy);
        assert_eq!(s.started_at.as_deref(), Some("2026-11-25T10:00:00.123Z"));
        assert_eq!(s.exit_code, None);

        let created = r#"{"Status":"created","Running":false,"Pid":0,"ExitCode":0,"StartedAt":"0001-01-01T00:00:00Z"}"#;
        let s = parse_state(created).unwrap();
        assert!(!s.running);
        assert_eq!(s.pid, None);
        assert_eq!(s.started_at, None);
        assert_eq!(s.health, Health::None);
        assert!(parse_state("garbage").is_err());
    }
}
