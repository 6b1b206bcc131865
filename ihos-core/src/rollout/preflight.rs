//! The preflight: before the first change, every instance of the run is looked at on its
//! host (the connection, host key and sudo with it): its container exists, its webapps and
//! logs are directories, and nothing where a root command of the run writes or reads (the
//! WAR, the webapp, the previous release, today's logs) is a symbolic link; and nginx accepts
//! its current configuration (`nginx -t`), so that the first edit is not refused for what is
//! already in the files. A problem on the last host stops the run before the first instance,
//! not after three.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::error::RolloutError;
use super::release::previous_path;
use crate::fleet::{Fleet, InstanceHandle};
use crate::names::RemotePath;
use crate::transport::{TransportError, remote};

/// What the preflight checked, one line per instance and one for the load balancer.
pub(crate) async fn preflight(
    fleet: &Fleet,
    todo: &[&InstanceHandle],
) -> Result<Vec<String>, RolloutError> {
    // Each host's date once (it names today's logs), not once per instance.
    let mut hosts: BTreeMap<&str, &InstanceHandle> = BTreeMap::new();
    for inst in todo {
        hosts.entry(inst.config.host.as_str()).or_insert(inst);
    }
    let dates = join_all(hosts.into_iter().map(|(host, inst)| async move {
        // The first command on each host: its connection and host key are checked here.
        match remote::host_date(inst.transport.as_ref()).await {
            Ok(date) => Ok((host, date)),
            Err(e) => Err(RolloutError::Preflight {
                instance: inst.name().to_string(),
                host: host.to_string(),
                check: "connection".into(),
                reason: e.to_string(),
            }),
        }
    }))
    .await
    .into_iter()
    .collect::<Result<BTreeMap<_, _>, _>>()?;
    let checked = join_all(todo.iter().map(|inst| {
        let date = dates
            .get(inst.config.host.as_str())
            .cloned()
            .unwrap_or_default();
        async move { check(inst, &date).await }
    }))
    .await;
    let mut lines = checked.into_iter().collect::<Result<Vec<_>, _>>()?;
    let lb = &fleet.topology.load_balancer;
    fleet
        .lb
        .check()
        .await
        .map_err(|e| RolloutError::Preflight {
            instance: "the load balancer".into(),
            host: lb.host.clone(),
            check: format!("nginx -t of its current configuration ({})", lb.config),
            reason: e.to_string(),
        })?;
    lines.push(format!(
        "load balancer on {}: nginx -t accepts its current configuration",
        lb.host
    ));
    Ok(lines)
}

async fn check(inst: &InstanceHandle, date: &str) -> Result<String, RolloutError> {
    let refuse = |what: &str, reason: String| RolloutError::Preflight {
        instance: inst.name().to_string(),
        host: inst.config.host.clone(),
        check: what.to_string(),
        reason,
    };
    let state = inst
        .container
        .state()
        .await
        .map_err(|e| refuse("container", e.to_string()))?;
    if !state.exists {
        return Err(refuse(
            "container",
            format!("no container named {}", inst.config.container),
        ));
    }
    let t = inst.transport.as_ref();
    for (what, dir) in [("webapps", &inst.webapps), ("logs", &inst.logs)] {
        if remote::is_link(t, dir).await? || !remote::is_dir(t, dir).await? {
            return Err(refuse(what, format!("{dir} is not a directory")));
        }
    }
    let paths: [(&str, Result<RemotePath, _>); 3] = [
        ("the deployed WAR", inst.war_path()),
        ("the exploded webapp", inst.exploded_path()),
        ("the previous release", previous_path(inst)),
    ];
    for (what, path) in paths {
        let path = path.map_err(TransportError::from)?;
        if remote::is_link(t, &path).await? {
            return Err(refuse(
                what,
                format!(
                    "{path} is a symbolic link: ihos does not write or read through links as root (remove it, or put the file itself there)"
                ),
            ));
        }
    }
    // Today's logs are read as root after the start: a link there (to /dev/zero, to a
    // secret) is refused now rather than when the instance is out of rotation.
    for pattern in [&inst.config.log_pattern, &inst.config.health.startup_log] {
        let log = inst
            .logs
            .join(&remote::log_name(pattern, date))
            .map_err(TransportError::from)?;
        if remote::is_link(t, &log).await? {
            return Err(refuse(
                "today's log",
                format!("{log} is a symbolic link: ihos does not read through links as root"),
            ));
        }
    }
    Ok(format!(
        "{}: container {} {}, webapps and logs are directories, no link at its WAR, webapp, previous release or today's logs",
        inst.name(),
        inst.config.container,
        state.status
    ))
}
