//! What `docker` says on a host: a container's bind mounts (`docker inspect`), the
//! container publishing a port (`docker ps`), and the WAR in a webapps directory.

use serde::Deserialize;

use super::{DiscoveredInstance, docker_out};
use crate::command::{Command, Privilege};
use crate::transport::{Transport, TransportError, run_checked};

/// One entry of `docker inspect`'s `.Mounts` (Docker Engine API: `MountPoint`).
#[derive(Debug, Deserialize)]
pub(super) struct Mount {
    #[serde(rename = "Type", default)]
    pub(super) kind: String,
    #[serde(rename = "Source", default)]
    pub(super) source: String,
    #[serde(rename = "Destination", default)]
    pub(super) destination: String,
}

/// The bind mounts of `container`.
pub(super) async fn mounts(
    host: &dyn Transport,
    container: &str,
) -> Result<Vec<Mount>, TransportError> {
    let out = docker_out(
        host,
        &["inspect", "--format", "{{json .Mounts}}", container],
    )
    .await?;
    let all: Vec<Mount> = serde_json::from_str(out.trim()).unwrap_or_default();
    Ok(all.into_iter().filter(|m| m.kind == "bind").collect())
}

/// The container of `docker ps` lines (`NAME\tPORTS`) that publishes `port` on `address`
/// (or on every address), and the port inside it. Ports look like
/// `0.0.0.0:39091->8080/tcp, :::39091->8080/tcp`.
pub(super) fn publisher(ps: &str, address: &str, port: &str) -> Option<(String, u16)> {
    for line in ps.lines() {
        let Some((name, ports)) = line.split_once('\t') else {
            continue;
        };
        for mapping in ports.split(',').map(str::trim) {
            let Some((outside, inside)) = mapping.split_once("->") else {
                continue;
            };
            let Some((ip, published)) = outside.rsplit_once(':') else {
                continue;
            };
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let any = ip.is_empty() || ip == "0.0.0.0" || ip == "::";
            if published == port && (any || ip == address) {
                let inside = inside.split('/').next()?.parse().ok()?;
                return Some((name.to_string(), inside));
            }
        }
    }
    None
}

/// Fills in what `host` says about `found`'s backend; what it cannot tell goes to `todo`.
pub(super) async fn backend(host: &dyn Transport, found: &mut DiscoveredInstance) {
    let port = found
        .backend
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let ps = match docker_out(host, &["ps", "--format", "{{.Names}}\t{{.Ports}}"]).await {
        Ok(ps) => ps,
        Err(e) => {
            found
                .todo
                .push(format!("docker ps on {}: {e}", host.host()));
            return;
        }
    };
    let Some((container, inside)) = publisher(&ps, &found.address, &port) else {
        found.todo.push(format!(
            "no running container on {} publishes port {port}: set container, webapps, logs",
            host.host()
        ));
        return;
    };
    found.container = Some(container.clone());
    found.container_port = Some(inside);
    let mounts = match mounts(host, &container).await {
        Ok(m) => m,
        Err(e) => {
            found.todo.push(format!("docker inspect {container}: {e}"));
            return;
        }
    };
    let ending = |suffix: &str| {
        mounts
            .iter()
            .find(|m| m.destination.trim_end_matches('/').ends_with(suffix))
            .map(|m| m.source.trim_end_matches('/').to_string())
    };
    found.webapps = ending("/webapps");
    found.logs = ending("/logs");
    for (what, value) in [("webapps", &found.webapps), ("logs", &found.logs)] {
        if value.is_none() {
            found
                .todo
                .push(format!("{container} has no bind mount of Tomcat's {what}"));
        }
    }
    if let Some(webapps) = found.webapps.clone() {
        let cmd = Command::new("find")
            .args([
                webapps.as_str(),
                "-maxdepth",
                "1",
                "-type",
                "f",
                "-name",
                "*.war",
                "-printf",
                "%f\\n",
            ])
            .with_privilege(Privilege::Sudo)
            .timeout(std::time::Duration::from_secs(30));
        let wars: Vec<String> = run_checked(host, &cmd)
            .await
            .map(|o| o.stdout_text().lines().map(str::to_string).collect())
            .unwrap_or_default();
        match wars.as_slice() {
            [one] => found.war_name = Some(one.clone()),
            [] => found.todo.push(format!(
                "no *.war in {webapps}: war_name left at its default"
            )),
            many => found.todo.push(format!(
                "several WARs in {webapps} ({}): set war_name",
                many.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::publisher;

    #[test]
    fn the_container_publishing_a_port_is_found() {
        let ps = "nginx\t0.0.0.0:8080->80/tcp\npep1\t127.0.0.11:39091->8080/tcp\npep2\t0.0.0.0:39092->8080/tcp, :::39092->8080/tcp\nidle\t\n";
        assert_eq!(
            publisher(ps, "127.0.0.11", "39091"),
            Some(("pep1".into(), 8080))
        );
        assert_eq!(
            publisher(ps, "10.0.0.5", "39092"),
            Some(("pep2".into(), 8080))
        );
        assert_eq!(
            publisher(ps, "127.0.0.13", "39091"),
            None,
            "published on another address"
        );
        assert_eq!(publisher(ps, "127.0.0.11", "3909"), None);
        assert_eq!(publisher("garbage\nno tab", "a", "1"), None);
    }
}
