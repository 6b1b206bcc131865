//! Many instances: the fake world stays fast enough for whole-fleet tests.

use std::sync::Arc;
use std::time::Duration;

use ihos_core::{ContainerName, DockerCli, LoadBalancer, NginxLb, NginxLbOptions, RemotePath};
use ihos_testkit::{AppSpec, ContainerSpec, FakeWorld, NginxSpec};

#[tokio::test(start_paused = true)]
async fn a_hundred_instances_one_at_a_time() {
    const HOSTS: usize = 10;
    const PER_HOST: usize = 10;
    let world = FakeWorld::new();
    let lb_host = world.add_host("lb");
    let mut conf = String::from("events {}\nhttp {\n    upstream app {\n");
    let mut addresses = Vec::new();
    for h in 0..HOSTS {
        let name = format!("10.0.{h}.1");
        let host = world.add_host(&name);
        for i in 0..PER_HOST {
            let port = 8000 + i as u16;
            let base = format!("/srv/app{i}");
            host.write_file(&format!("{base}/webapps/ihos.war"), b"PK v1");
            let container = format!("app{i}");
            host.add_container(ContainerSpec::app(&container, AppSpec::new(&base, port)));
            let address = format!("{name}:{port}");
            world.register_backend(&address, &name, &container);
            conf.push_str(&format!("        server {address};\n"));
            addresses.push(address);
        }
    }
    conf.push_str("    }\n    server { listen 80; location / { proxy_pass http://app; } }\n}\n");
    lb_host.write_file("/etc/nginx/nginx.conf", &conf);
    lb_host.add_container(ContainerSpec::nginx(
        "nginx",
        NginxSpec::new("/etc/nginx/nginx.conf", "app").drain(Duration::from_secs(1)),
    ));
    let lb = NginxLb::new(
        Arc::new(lb_host.clone()),
        Arc::new(DockerCli::new(
            Arc::new(lb_host.clone()),
            ContainerName::new("nginx").unwrap(),
        )),
        RemotePath::new("/etc/nginx/nginx.conf").unwrap(),
        "app",
        NginxLbOptions::default(),
    );
    let wall = std::time::Instant::now();
    for a in &addresses {
        lb.disable(a).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        lb.enable(a).await.unwrap();
    }
    eprintln!(
        "{} instances, {} commands, {:?} wall, {} virtual",
        addresses.len(),
        world.commands().len(),
        wall.elapsed(),
        world.now()
    );
    assert_eq!(world.routing("lb", "nginx").len(), HOSTS * PER_HOST);
    world.assert_invariants();
}
