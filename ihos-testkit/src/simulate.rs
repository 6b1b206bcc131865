//! [`Simulation`]: a fake world built from a [`Topology`], so `ihos rollout --simulate`
//! shows the whole flow (and checks the invariants) with no server at all.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ihos_core::{InstanceConfig, Topology, Transport};

use crate::{AppSpec, ContainerSpec, FakeHost, FakeWorld, NginxSpec};

/// How the simulated apps behave.
#[derive(Debug, Clone)]
pub struct SimulationOptions {
    /// Time from `docker start` to a healthy Tomcat.
    pub start_delay: Duration,
    /// Connections each backend has in flight when it leaves rotation (drained after a
    /// reload).
    pub connections_per_backend: usize,
}

impl Default for SimulationOptions {
    fn default() -> Self {
        SimulationOptions {
            start_delay: Duration::from_secs(25),
            connections_per_backend: 3,
        }
    }
}

/// A fake world with one fake host per topology host, the nginx load balancer with an
/// upstream listing every instance, and one running app per instance serving a first WAR.
pub struct Simulation {
    /// The world (invariants, event log).
    pub world: FakeWorld,
    /// A transport per topology host name.
    pub hosts: BTreeMap<String, Arc<dyn Transport>>,
}

/// The port of an `http://host:port/...` URL.
fn url_port(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// The host part of an `http://host:port/...` URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    Some(authority.rsplit_once(':').map_or(authority, |(h, _)| h))
}

impl Simulation {
    /// Builds the world for `topology`.
    pub fn new(topology: &Topology, options: &SimulationOptions) -> Simulation {
        let world = FakeWorld::new();
        let mut fake: BTreeMap<String, FakeHost> = BTreeMap::new();
        for (name, h) in &topology.hosts {
            let host = world.add_host(name);
            host.add_alias(&h.address);
            host.add_alias("127.0.0.1");
            host.add_alias("localhost");
            host.set_login_user(&h.user, &format!("/home/{}", h.user));
            host.mkdir(&h.staging(), &h.user, 0o755);
            fake.insert(name.clone(), host);
        }
        for lb in &topology.load_balancers {
            let mut conf = String::from("events {\n    worker_connections 1024;\n}\n\nhttp {\n");
            conf.push_str(&format!("    upstream {} {{\n", lb.upstream));
            for i in &topology.instances {
                conf.push_str(&format!(
                    "        server {} max_fails=5 fail_timeout=10s;\n",
                    i.backend
                ));
            }
            conf.push_str("    }\n\n    server {\n        listen 80;\n        location / {\n");
            conf.push_str(&format!(
                "            proxy_pass http://{};\n        }}\n    }}\n}}\n",
                lb.upstream
            ));
            if let Some(h) = fake.get(&lb.host) {
                h.write_file(&lb.config, conf);
                h.add_container(ContainerSpec::nginx(
                    &lb.container,
                    NginxSpec::new(&lb.config, &lb.upstream),
                ));
            }
            // Each load balancer that carries the canary route has its own site file.
            let canary = topology.canary.as_ref();
            if let (Some(c), Some(site), Some(h)) =
                (canary, lb.canary_site(canary), fake.get(&lb.host))
            {
                h.write_file(site, canary_site(&c.condition_contains));
            }
        }
        let apps = topology
            .instances
            .iter()
            .chain(topology.canary.iter().map(|c| &c.instance));
        for inst in apps {
            if let Some(h) = fake.get(&inst.host) {
                add_app(&world, h, inst, options);
            }
        }
        world.set_connections_per_backend(options.connections_per_backend);
        world.set_max_out_of_rotation(topology.policy.max_unavailable);
        let hosts = fake
            .into_iter()
            .map(|(n, h)| (n, Arc::new(h) as Arc<dyn Transport>))
            .collect();
        Simulation { world, hosts }
    }
}

/// The runbook's site file: the canary `if` block (selected by `condition`) commented
/// out, i.e. the canary route closed.
pub fn canary_site(condition: &str) -> String {
    format!(
        "server {{\n    listen 80;\n    set $a 0;\n    #id 1、3、5、7开头\n    #  if ({condition} ~* \"(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)\") {{\n    #      set $a 1;\n    #  }}\n    location / {{\n        proxy_pass http://$ihos_upstream;\n    }}\n}}\n"
    )
}

fn add_app(world: &FakeWorld, host: &FakeHost, inst: &InstanceConfig, options: &SimulationOptions) {
    let port = url_port(&inst.health.url)
        .or_else(|| {
            inst.backend
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok())
        })
        .unwrap_or(8080);
    if let Some(alias) = url_host(&inst.health.url) {
        host.add_alias(alias);
    }
    let mut app = AppSpec::new("/unused", port);
    app.webapps = inst.webapps.clone();
    app.logs = inst.logs.clone();
    app.app_log = inst.log_pattern.clone();
    app.tomcat_log = inst.health.startup_log.clone();
    app.container_port = inst.container_port;
    app.war_name = inst.war_name.clone();
    host.mkdir(&app.webapps, "root", 0o755);
    host.mkdir(&app.logs, "root", 0o755);
    host.write_file(
        &format!("{}/{}", app.webapps, inst.war_name),
        b"PK first release of the app".as_slice(),
    );
    host.add_container(ContainerSpec::app(&inst.container, app).start_delay(options.start_delay));
    world.register_backend(&inst.backend, host.name(), &inst.container);
}

#[cfg(test)]
mod tests {
    #[test]
    fn url_parts() {
        assert_eq!(super::url_port("http://127.0.0.1:39091/ihos/"), Some(39091));
        assert_eq!(
            super::url_host("http://127.0.0.1:39091/ihos/"),
            Some("127.0.0.1")
        );
        assert_eq!(super::url_port("http://h/"), None);
    }
}
