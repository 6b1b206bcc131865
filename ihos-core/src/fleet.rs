//! [`Fleet`]: the topology resolved into handles the engine drives: a transport per host,
//! a container per instance, the load balancer.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::jump_chain;
use crate::config::{HostConfig, HostKeyPolicyConfig, InstanceConfig, LbConfig, Topology};
use crate::container::{Container, DockerCli};
use crate::lb::{
    CanaryRoute, LoadBalancer, MultiCanaryRoute, MultiLb, NginxLb, NginxLbOptions,
    nginx_canary_route,
};
use crate::names::{ContainerName, InvalidName, RemotePath};
use crate::transport::{
    HostKeyPolicy, JumpHost, LocalTransport, SshOptions, SshTarget, SshTransport, Transport,
    TransportError,
};

/// One app instance and the handles to reach it.
#[derive(Clone)]
pub struct InstanceHandle {
    /// Its configuration.
    pub config: InstanceConfig,
    /// Its host's transport.
    pub transport: Arc<dyn Transport>,
    /// Its container.
    pub container: Arc<dyn Container>,
    /// Where ihos keeps records on its host.
    pub state_dir: RemotePath,
    /// Where uploads go on its host.
    pub staging_dir: RemotePath,
    /// Its webapps directory.
    pub webapps: RemotePath,
    /// Its logs directory.
    pub logs: RemotePath,
}

impl InstanceHandle {
    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The deployed WAR: `webapps/<war_name>`.
    pub fn war_path(&self) -> Result<RemotePath, InvalidName> {
        self.webapps.join(&self.config.war_name)
    }

    /// The directory Tomcat explodes the WAR into: `webapps/<war_name without .war>`.
    pub fn exploded_path(&self) -> Result<RemotePath, InvalidName> {
        let stem = self
            .config
            .war_name
            .strip_suffix(".war")
            .unwrap_or(&self.config.war_name);
        self.webapps.join(stem)
    }

    /// `state_dir/releases/<instance>`: the previous release, kept outside webapps.
    pub fn releases_dir(&self) -> Result<RemotePath, InvalidName> {
        self.state_dir.join("releases")?.join(&self.config.name)
    }

    /// `state_dir/deployments/<instance>.json`.
    pub fn record_path(&self) -> Result<RemotePath, InvalidName> {
        self.state_dir
            .join("deployments")?
            .join(&format!("{}.json", self.config.name))
    }
}

/// One load balancer of the fleet.
#[derive(Clone)]
pub struct LbHandle {
    /// Its configuration.
    pub config: LbConfig,
    /// It alone.
    pub lb: Arc<dyn LoadBalancer>,
    /// Its host's transport.
    pub transport: Arc<dyn Transport>,
}

/// Everything a rollout drives.
#[derive(Clone)]
pub struct Fleet {
    /// The configuration it was built from.
    pub topology: Topology,
    /// Transport per host name.
    pub hosts: BTreeMap<String, Arc<dyn Transport>>,
    /// The load balancer (with several, [`MultiLb`]: every change on all of them or none).
    pub lb: Arc<dyn LoadBalancer>,
    /// Each load balancer on its own, in the topology's order (for status, per-LB checks).
    pub lbs: Vec<LbHandle>,
    /// The first load balancer's configuration: its host holds the lock, the journal and
    /// the audit log.
    pub lb_config: LbConfig,
    /// The first load balancer host's transport.
    pub lb_transport: Arc<dyn Transport>,
    /// The load balancer host's state directory (lock, journal, audit log).
    pub lb_state_dir: RemotePath,
    /// The instances, in rollout order.
    pub instances: Vec<InstanceHandle>,
    /// The canary instance, if configured.
    pub canary: Option<InstanceHandle>,
    /// The rule routing a cohort of users to the canary, if a canary is configured.
    pub canary_route: Option<Arc<dyn CanaryRoute>>,
}

/// A name that is not one of the fleet's instances.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no instance named {name:?} (instances: {available})")]
pub struct UnknownInstance {
    /// The name asked for.
    pub name: String,
    /// The instances there are, comma-separated.
    pub available: String,
}

/// Why a fleet could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// No transport for a host the topology names.
    #[error("no connection for host {0:?}")]
    MissingHost(String),
    /// The topology has no load balancer.
    #[error("the topology has no load balancer")]
    NoLoadBalancer,
    /// A host's jump hosts lead back to it (`proxy_jump`).
    #[error("the jump hosts of host {0:?} form a loop")]
    JumpLoop(String),
    /// A name or path from the topology was refused.
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    /// A host's transport could not be set up ([`Fleet::connect`]).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// `~/x` → `$HOME/x`, as the configuration's paths are written.
fn expand_home(p: &std::path::Path) -> std::path::PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// The SSH options a host's configuration asks for.
fn ssh_options(h: &HostConfig) -> SshOptions {
    SshOptions {
        known_hosts: h.known_hosts.as_deref().map(expand_home),
        host_key_policy: match h.host_key_policy {
            HostKeyPolicyConfig::Strict => HostKeyPolicy::Strict,
            HostKeyPolicyConfig::AcceptNew => HostKeyPolicy::AcceptNew,
        },
        auth: h.auth.to_ssh_auth(expand_home),
        sudo_password_env: h.sudo_password_env.clone(),
        ..SshOptions::default()
    }
}

/// One transport per host of `topology`: this machine for `local = true`, else SSH
/// (through one shared session to each jump host).
pub(crate) fn host_transports(
    topology: &Topology,
) -> Result<BTreeMap<String, Arc<dyn Transport>>, FleetError> {
    let mut jumps = BTreeMap::new();
    let mut hosts: BTreeMap<String, Arc<dyn Transport>> = BTreeMap::new();
    for (name, h) in &topology.hosts {
        let t: Arc<dyn Transport> = if h.local {
            Arc::new(LocalTransport::new(name.clone()))
        } else {
            let target = ssh_target(h);
            match &h.proxy_jump {
                Some(j) => Arc::new(SshTransport::through(
                    jump_host(topology, j, &mut jumps)?,
                    target,
                    ssh_options(h),
                )?),
                None => Arc::new(SshTransport::new(target, ssh_options(h))?),
            }
        };
        hosts.insert(name.clone(), t);
    }
    Ok(hosts)
}

fn ssh_target(h: &HostConfig) -> SshTarget {
    SshTarget::new(h.address.clone(), h.port, h.user.clone())
}

/// The jump host named `name`, made once and shared by every host behind it (one session),
/// with the jump hosts in front of it made first.
fn jump_host(
    topology: &Topology,
    name: &str,
    made: &mut BTreeMap<String, Arc<JumpHost>>,
) -> Result<Arc<JumpHost>, FleetError> {
    if let Some(j) = made.get(name) {
        return Ok(Arc::clone(j));
    }
    let chain = jump_chain(&topology.hosts, name);
    if chain.contains(&name) {
        // Validation refuses loops; a topology built in code may not have been validated.
        return Err(FleetError::JumpLoop(name.to_string()));
    }
    let h = topology
        .hosts
        .get(name)
        .ok_or_else(|| FleetError::MissingHost(name.to_string()))?;
    let jump = match &h.proxy_jump {
        Some(parent) => {
            let parent = jump_host(topology, parent, made)?;
            JumpHost::behind(parent, ssh_target(h), ssh_options(h))?
        }
        None => JumpHost::new(ssh_target(h), ssh_options(h))?,
    };
    made.insert(name.to_string(), Arc::clone(&jump));
    Ok(jump)
}

impl Fleet {
    /// Builds the fleet the way the `ihos` CLI does: an [`SshTransport`] per host (a
    /// [`LocalTransport`] for hosts with `local = true`, through a shared [`JumpHost`] for
    /// hosts with `proxy_jump`), with the host's known_hosts, host key policy, login methods
    /// and sudo password variable; then [`Fleet::new`]. Connections are
    /// made on first use, so this does not touch the network.
    ///
    /// ```no_run
    /// use ihos_core::{Fleet, Topology};
    ///
    /// let topology = Topology::load("ihos.toml".as_ref())?;
    /// let fleet = Fleet::connect(topology)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect(topology: Topology) -> Result<Fleet, FleetError> {
        let hosts = host_transports(&topology)?;
        Fleet::new(topology, hosts)
    }

    /// Builds the fleet from a validated topology and one transport per host, with
    /// `docker` and nginx driven through those transports.
    pub fn new(
        topology: Topology,
        hosts: BTreeMap<String, Arc<dyn Transport>>,
    ) -> Result<Fleet, FleetError> {
        let host = |name: &str| {
            hosts
                .get(name)
                .cloned()
                .ok_or_else(|| FleetError::MissingHost(name.to_string()))
        };
        let mut lbs = Vec::with_capacity(topology.load_balancers.len());
        let mut canary_routes = Vec::new();
        for lbc in &topology.load_balancers {
            let transport = host(&lbc.host)?;
            let container: Arc<dyn Container> = Arc::new(DockerCli::new(
                Arc::clone(&transport),
                ContainerName::new(&lbc.container)?,
            ));
            let options = NginxLbOptions {
                apply: lbc.apply,
                style: lbc.style,
                config_in_container: lbc.config_in_container.clone(),
                ..NginxLbOptions::default()
            };
            let lb: Arc<dyn LoadBalancer> = Arc::new(NginxLb::new(
                Arc::clone(&transport),
                Arc::clone(&container),
                RemotePath::new(&lbc.config)?,
                lbc.upstream.clone(),
                options.clone(),
            ));
            // The canary rule lives in a site file nginx includes: the same transaction
            // (backup, in-place write, `nginx -t` of the whole config, reload) on that file,
            // on each load balancer that carries the route.
            if let (Some(c), Some(site)) =
                (&topology.canary, lbc.canary_site(topology.canary.as_ref()))
            {
                canary_routes.push(nginx_canary_route(
                    NginxLb::new(
                        Arc::clone(&transport),
                        container,
                        RemotePath::new(site)?,
                        lbc.upstream.clone(),
                        options,
                    ),
                    &c.condition_contains,
                ));
            }
            lbs.push(LbHandle {
                config: lbc.clone(),
                lb,
                transport,
            });
        }
        let lb: Arc<dyn LoadBalancer> = match lbs.as_slice() {
            [one] => Arc::clone(&one.lb),
            all => Arc::new(MultiLb::new(
                all.iter().map(|h| Arc::clone(&h.lb)).collect(),
            )),
        };
        let mut fleet = Self::with_load_balancer(topology, hosts, lb)?;
        fleet.lbs = lbs;
        fleet.canary_route = match canary_routes.len() {
            0 => None,
            1 => canary_routes.pop(),
            _ => Some(Arc::new(MultiCanaryRoute::new(canary_routes))),
        };
        Ok(fleet)
    }

    /// Replaces the canary route (tests, another kind of rule).
    pub fn set_canary_route(&mut self, route: Arc<dyn CanaryRoute>) {
        self.canary_route = Some(route);
    }

    /// Like [`Fleet::new`] with a load balancer of the caller's (a mock, another kind). The
    /// fleet has no canary route: [`Fleet::set_canary_route`] gives it one.
    pub fn with_load_balancer(
        topology: Topology,
        hosts: BTreeMap<String, Arc<dyn Transport>>,
        lb: Arc<dyn LoadBalancer>,
    ) -> Result<Fleet, FleetError> {
        let handle = |inst: &InstanceConfig| -> Result<InstanceHandle, FleetError> {
            let transport = hosts
                .get(&inst.host)
                .cloned()
                .ok_or_else(|| FleetError::MissingHost(inst.host.clone()))?;
            let hc = &topology.hosts[&inst.host];
            let container: Arc<dyn Container> = Arc::new(DockerCli::new(
                Arc::clone(&transport),
                ContainerName::new(&inst.container)?,
            ));
            Ok(InstanceHandle {
                config: inst.clone(),
                transport,
                container,
                state_dir: RemotePath::new(&hc.state_dir)?,
                staging_dir: RemotePath::new(&hc.staging())?,
                webapps: RemotePath::new(&inst.webapps)?,
                logs: RemotePath::new(&inst.logs)?,
            })
        };
        let instances = topology
            .instances
            .iter()
            .map(handle)
            .collect::<Result<Vec<_>, _>>()?;
        let canary = topology
            .canary
            .as_ref()
            .map(|c| handle(&c.instance))
            .transpose()?;
        let lbc = topology
            .primary_lb()
            .cloned()
            .ok_or(FleetError::NoLoadBalancer)?;
        let lb_transport = hosts
            .get(&lbc.host)
            .cloned()
            .ok_or_else(|| FleetError::MissingHost(lbc.host.clone()))?;
        let lb_state_dir = RemotePath::new(
            &topology
                .hosts
                .get(&lbc.host)
                .ok_or_else(|| FleetError::MissingHost(lbc.host.clone()))?
                .state_dir,
        )?;
        let lbs = vec![LbHandle {
            config: lbc.clone(),
            lb: Arc::clone(&lb),
            transport: Arc::clone(&lb_transport),
        }];
        Ok(Fleet {
            topology,
            hosts,
            lb,
            lbs,
            lb_config: lbc,
            lb_transport,
            lb_state_dir,
            instances,
            canary,
            canary_route: None,
        })
    }

    /// Replaces an instance's container handle (tests, other container runtimes).
    pub fn set_container(&mut self, instance: &str, container: Arc<dyn Container>) {
        for i in self.instances.iter_mut().chain(self.canary.iter_mut()) {
            if i.config.name == instance {
                i.container = Arc::clone(&container);
            }
        }
    }

    /// The fleet instance called `name` (not the canary).
    pub fn find_instance(&self, name: &str) -> Result<&InstanceHandle, UnknownInstance> {
        self.instances
            .iter()
            .find(|i| i.name() == name)
            .ok_or_else(|| self.unknown(name))
    }

    /// The fleet instances named in `only`, in the topology's order (all when empty).
    pub fn select(&self, only: &[String]) -> Result<Vec<&InstanceHandle>, UnknownInstance> {
        if let Some(missing) = only.iter().find(|o| self.find_instance(o).is_err()) {
            return Err(self.unknown(missing));
        }
        Ok(self
            .instances
            .iter()
            .filter(|i| only.is_empty() || only.iter().any(|o| o == i.name()))
            .collect())
    }

    fn unknown(&self, name: &str) -> UnknownInstance {
        UnknownInstance {
            name: name.to_string(),
            available: self
                .instances
                .iter()
                .map(|i| i.name())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The instance called `name` (fleet or canary).
    pub fn instance(&self, name: &str) -> Option<&InstanceHandle> {
        self.instances
            .iter()
            .chain(self.canary.iter())
            .find(|i| i.config.name == name)
    }
}
