//! [`Runbook`]: the production topology of the runbook (DESIGN.md §1) as a fake world, ready
//! for tests: nginx on `192.168.1.101` with `upstream service_ihos` over four Tomcat
//! instances, `pep1`/`pep2` on `192.168.1.101` and `192.168.1.103`.

use std::sync::Arc;

use ihos_core::{ContainerName, DockerCli, NginxLb, NginxLbOptions, RemotePath};

use crate::container::{AppSpec, ContainerSpec, NginxSpec};
use crate::fake_world::{FakeHost, FakeWorld};

/// The nginx config of the runbook topology.
pub const RUNBOOK_NGINX_CONF: &str = "\
user  nginx;
worker_processes  2;

events {
    worker_connections  1024;
}

http {
    upstream service_ihos {
        server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;
        server 192.168.1.101:39092 max_fails=5 fail_timeout=10s;
        server 192.168.1.103:39091 max_fails=5 fail_timeout=10s;
        server 192.168.1.103:39092 max_fails=5 fail_timeout=10s;
    }

    server {
        listen 80;
        location / {
            proxy_pass http://service_ihos;
        }
    }
}
";

/// The WAR every instance runs at the start.
pub const RUNBOOK_WAR_V1: &[u8] = b"PK\x03\x04 ihos.war build 1 (fake)";

/// One app instance of the runbook topology.
#[derive(Debug, Clone)]
pub struct RunbookBackend {
    /// Its address in the upstream, e.g. `192.168.1.101:39091`.
    pub address: String,
    /// Its host.
    pub host: FakeHost,
    /// Its container, e.g. `ihos_pep1_official_1`.
    pub container: String,
    /// Its webapps directory on the host.
    pub webapps: String,
    /// Its logs directory on the host.
    pub logs: String,
}

/// The runbook's topology in a fake world.
#[derive(Debug, Clone)]
pub struct Runbook {
    /// The world.
    pub world: FakeWorld,
    /// The host running nginx (`192.168.1.101`).
    pub lb_host: FakeHost,
    /// The nginx container (`ihos_nginx_proxy_official_1`).
    pub nginx: String,
    /// The config file on `lb_host`.
    pub config: String,
    /// The upstream (`service_ihos`).
    pub upstream: String,
    /// The four app instances, in upstream order.
    pub backends: Vec<RunbookBackend>,
}

impl Default for Runbook {
    fn default() -> Self {
        Self::new()
    }
}

impl Runbook {
    /// The topology with default container specs (running and ready, 2 s start delay).
    pub fn new() -> Self {
        Self::with_apps(|spec| spec)
    }

    /// The topology, each app container's spec passed through `customize` (e.g. to set a
    /// start delay or a fault on one of them).
    pub fn with_apps(customize: impl Fn(ContainerSpec) -> ContainerSpec) -> Self {
        let world = FakeWorld::new();
        let h101 = world.add_host("192.168.1.101");
        let h103 = world.add_host("192.168.1.103");
        let config = "/opt/docker/ihos/nginx_proxy/nginx.conf".to_string();
        h101.write_file(&config, RUNBOOK_NGINX_CONF);
        let mut backends = Vec::new();
        for host in [&h101, &h103] {
            for (pep, port) in [("pep1", 39091u16), ("pep2", 39092)] {
                let base = format!("/opt/docker/ihos/{pep}/tomcat");
                let app = AppSpec::new(&base, port);
                host.mkdir(&app.webapps, "root", 0o755);
                host.mkdir(&app.logs, "root", 0o755);
                host.write_file(&format!("{}/ihos.war", app.webapps), RUNBOOK_WAR_V1);
                let container = format!("ihos_{pep}_official_1");
                host.add_container(customize(ContainerSpec::app(&container, app.clone())));
                let address = format!("{}:{port}", host.name());
                world.register_backend(&address, host.name(), &container);
                backends.push(RunbookBackend {
                    address,
                    host: host.clone(),
                    container,
                    webapps: app.webapps,
                    logs: app.logs,
                });
            }
        }
        let nginx = "ihos_nginx_proxy_official_1".to_string();
        h101.add_container(ContainerSpec::nginx(
            &nginx,
            NginxSpec::new(&config, "service_ihos"),
        ));
        Runbook {
            world,
            lb_host: h101,
            nginx,
            config,
            upstream: "service_ihos".into(),
            backends,
        }
    }

    /// The backend with this address.
    ///
    /// # Panics
    /// If there is none.
    pub fn backend(&self, address: &str) -> &RunbookBackend {
        self.backends
            .iter()
            .find(|b| b.address == address)
            .unwrap_or_else(|| panic!("no backend {address}"))
    }

    /// `DockerCli` for a container on `host` (through sudo).
    pub fn docker(&self, host: &FakeHost, container: &str) -> DockerCli<FakeHost> {
        DockerCli::new(
            Arc::new(host.clone()),
            ContainerName::new(container).expect("valid container name"),
        )
    }

    /// `NginxLb` for the topology's nginx.
    pub fn nginx_lb(&self, options: NginxLbOptions) -> NginxLb<FakeHost, DockerCli<FakeHost>> {
        NginxLb::new(
            Arc::new(self.lb_host.clone()),
            Arc::new(self.docker(&self.lb_host, &self.nginx)),
            RemotePath::new(&self.config).expect("valid path"),
            self.upstream.clone(),
            options,
        )
    }

    /// Backends nginx sends new requests to.
    pub fn routing(&self) -> Vec<String> {
        self.world.routing(self.lb_host.name(), &self.nginx)
    }

    /// The config file's bytes on the host.
    pub fn config_bytes(&self) -> Vec<u8> {
        self.lb_host.read(&self.config).expect("config exists")
    }
}
