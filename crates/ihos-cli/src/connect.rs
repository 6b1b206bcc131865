//! Turns the topology's hosts into transports: SSH, or this machine for `local = true`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ihos_core::config::{HostConfig, HostKeyPolicyConfig, Topology};
use ihos_core::rollout::Fleet;
use ihos_core::transport::{HostKeyPolicy, SshAuth, SshOptions, SshTarget, SshTransport};
use ihos_core::{LocalTransport, Transport};

use crate::exit::CliError;

/// `~/x` → `$HOME/x`.
fn expand(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

fn ssh_options(h: &HostConfig) -> SshOptions {
    SshOptions {
        known_hosts: h.known_hosts.as_deref().map(expand),
        host_key_policy: match h.host_key_policy {
            HostKeyPolicyConfig::Strict => HostKeyPolicy::Strict,
            HostKeyPolicyConfig::AcceptNew => HostKeyPolicy::AcceptNew,
        },
        auth: match &h.auth.key_file {
            Some(k) => SshAuth::KeyFile {
                path: expand(k),
                passphrase_env: h.auth.passphrase_env.clone(),
            },
            None => SshAuth::default(),
        },
        sudo_password_env: h.sudo_password_env.clone(),
        ..SshOptions::default()
    }
}

/// A transport per host. SSH connections are made lazily (on first use), so a command that
/// needs only some hosts does not wait for the others.
pub fn transports(topology: &Topology) -> Result<BTreeMap<String, Arc<dyn Transport>>, CliError> {
    let mut hosts: BTreeMap<String, Arc<dyn Transport>> = BTreeMap::new();
    for (name, h) in &topology.hosts {
        let t: Arc<dyn Transport> = if h.local {
            Arc::new(LocalTransport::new(name.clone()))
        } else {
            let target = SshTarget::new(h.address.clone(), h.port, h.user.clone());
            Arc::new(
                SshTransport::new(target, ssh_options(h))
                    .map_err(|e| CliError::Fleet(e.to_string()))?,
            )
        };
        hosts.insert(name.clone(), t);
    }
    Ok(hosts)
}

/// Loads the topology and builds the fleet.
pub fn fleet(config: &Path) -> Result<Fleet, CliError> {
    let topology = Topology::load(config)?;
    let hosts = transports(&topology)?;
    Fleet::new(topology, hosts).map_err(|e| CliError::Fleet(e.to_string()))
}
