//! [`check_hosts`]: every host of the fleet reached at once, each checked for what a rollout
//! needs of it: the connection (host key and login, through its jump hosts), and on hosts
//! that run containers, sudo and docker (`sudo -n docker version`, one round trip).

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;

use crate::command::Command;
use crate::fleet::Fleet;

/// What checking one host found.
#[derive(Debug, Clone, Serialize)]
pub struct HostCheck {
    /// The host's name in the topology.
    pub host: String,
    /// The jump hosts it is reached through, nearest to ihos first.
    pub through: Vec<String>,
    /// Whether it runs containers (an instance, the canary or a load balancer): then sudo
    /// and docker are checked.
    pub runs_containers: bool,
    /// The docker server's version, when checked and found.
    pub docker: Option<String>,
    /// Seconds from the start of the check to its answer.
    pub seconds: f64,
    /// What failed, if anything.
    pub error: Option<String>,
}

impl HostCheck {
    /// Whether the host is ready for a rollout.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Checks every host of `fleet` concurrently, in the topology's order.
pub async fn check_hosts(fleet: &Fleet) -> Vec<HostCheck> {
    let t = &fleet.topology;
    let with_containers: BTreeSet<&str> = t
        .instances
        .iter()
        .chain(t.canary.iter().map(|c| &c.instance))
        .map(|i| i.host.as_str())
        .chain(t.load_balancers.iter().map(|l| l.host.as_str()))
        .collect();
    let started = Instant::now();
    let checks = fleet.hosts.iter().map(|(name, transport)| {
        let runs_containers = with_containers.contains(name.as_str());
        let mut through: Vec<String> = t.jump_chain(name).into_iter().map(str::to_string).collect();
        through.reverse();
        async move {
            let command = if runs_containers {
                Command::new("docker")
                    .args(["version", "--format", "{{.Server.Version}}"])
                    .sudo()
            } else {
                Command::new("true")
            };
            let (docker, error) = match transport.run(&command).await {
                Ok(out) if out.success() => {
                    let v = out.stdout_text().trim().to_string();
                    (runs_containers.then_some(v).filter(|v| !v.is_empty()), None)
                }
                Ok(out) => (
                    None,
                    Some(format!(
                        "`{command}` exited with {}: {}",
                        out.status
                            .map_or_else(|| "a signal".to_string(), |c| c.to_string()),
                        out.stderr_text().trim()
                    )),
                ),
                Err(e) => (None, Some(e.to_string())),
            };
            HostCheck {
                host: name.clone(),
                through,
                runs_containers,
                docker,
                seconds: started.elapsed().as_secs_f64(),
                error,
            }
        }
    });
    futures_util::future::join_all(checks).await
}
