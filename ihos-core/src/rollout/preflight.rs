//! The preflight: before the first change, every instance of the run is looked at on its
//! host (the connection, host key and sudo with it): its container exists, its webapps and
//! logs are directories, its webapps directory has room for the new WAR and its exploded
//! webapp, and nothing where a root command of the run writes or reads (the WAR, the
//! webapp, the previous release, today's logs) is a symbolic link. And nginx accepts its
//! current configuration (`nginx -t`), so that the first edit is not refused for what is
//! already in the files. A problem on the last host stops the run before the first
//! instance, not after three.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::error::RolloutError;
use super::journal::Journal;
use super::kept;
use super::release::previous_path;
use crate::fleet::{Fleet, InstanceHandle};
use crate::lb::LbError;
use crate::names::RemotePath;
use crate::transport::{TransportError, remote};

/// What the preflight checked, one line per instance and one for the load balancer.
/// `war_bytes`: the size of the WAR a deploy installs (`None` for a rollback, which puts
/// back what was there).
pub(crate) async fn preflight(
    fleet: &Fleet,
    todo: &[&InstanceHandle],
    war_bytes: Option<u64>,
    resumed: Option<&Journal>,
) -> Result<Vec<String>, RolloutError> {
    // The load balancers' checks begin at once, beside the instances' hosts' first
    // commands: theirs are the longest chain (nginx -t in its container, its processes),
    // and on a host shared with instances they would otherwise queue behind those.
    let lbs = join_all(fleet.lbs.iter().map(|h| async move {
        let lb = &h.config;
        h.lb.check().await.map_err(|e| RolloutError::Preflight {
            instance: "the load balancer".into(),
            host: lb.host.clone(),
            // A refusal is nginx's; anything else is reaching nginx (its container, its
            // processes, its config file), which every change needs too.
            check: match &e {
                LbError::CurrentRejected { .. } => {
                    format!("nginx -t of its current configuration ({})", lb.config)
                }
                _ => format!("reaching nginx, its processes and {}", lb.config),
            },
            reason: e.to_string(),
        })?;
        Ok::<_, RolloutError>(format!(
            "load balancer on {}: nginx -t accepts its current configuration",
            lb.host
        ))
    }));
    let instances = async {
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
        // Every instance at once (beside the load balancers): each check is a round trip
        // or two, and the first refusal in the usual order is reported.
        let instances = join_all(todo.iter().map(|inst| {
            let date = dates
                .get(inst.config.host.as_str())
                .cloned()
                .unwrap_or_default();
            async move { check(inst, &date, war_bytes).await }
        }));
        Ok::<_, RolloutError>(instances.await)
    };
    let (checked, lbs_checked) = tokio::join!(instances, lbs);
    // A host that cannot be reached is said first, then the instances, then the load
    // balancers.
    let mut lines = checked?
        .into_iter()
        .chain(lbs_checked)
        .collect::<Result<Vec<_>, _>>()?;
    // A canary deploy must know whether to reopen the cohort route: a route that cannot be
    // read, or that differs between the load balancers, stops it before any change. A
    // resume whose journal already says whether it was open accepts a route closed on some
    // load balancers only (a close cut off midway): it closes and reopens it on all.
    let canary = fleet.canary.as_ref().map(|c| c.name());
    if let (Some(name), Some(route)) = (canary, fleet.canary_route.as_ref()) {
        if todo.iter().any(|i| i.name() == name) {
            let remembered = resumed
                .and_then(|j| j.entry(name))
                .and_then(|e| e.canary_was_open);
            let rule = match remembered {
                Some(true) => route.rule_to_resume().await,
                Some(false) | None => route.rule().await,
            };
            let carriers: Vec<&str> = fleet
                .lbs
                .iter()
                .filter(|h| {
                    h.config
                        .canary_site(fleet.topology.canary.as_ref())
                        .is_some()
                })
                .map(|h| h.config.host.as_str())
                .collect();
            let rule = rule.map_err(|e| RolloutError::Preflight {
                instance: name.to_string(),
                host: carriers.join(", "),
                check: "the canary route (on each load balancer that carries it)".into(),
                reason: e.to_string(),
            })?;
            lines.push(format!(
                "canary route: {} ({}:{})",
                if rule.open { "open" } else { "closed" },
                rule.file,
                rule.line
            ));
        }
    }
    Ok(lines)
}

async fn check(
    inst: &InstanceHandle,
    date: &str,
    war_bytes: Option<u64>,
) -> Result<String, RolloutError> {
    let refuse = |what: &str, reason: String| RolloutError::Preflight {
        instance: inst.name().to_string(),
        host: inst.config.host.clone(),
        check: what.to_string(),
        reason,
    };
    let t = inst.transport.as_ref();
    let dirs = [("webapps", &inst.webapps), ("logs", &inst.logs)];
    let mut links: Vec<(&str, RemotePath)> = Vec::new();
    for (what, path) in [
        ("the deployed WAR", inst.war_path()),
        ("the exploded webapp", inst.exploded_path()),
        ("the previous release", previous_path(inst)),
        ("the kept releases", kept::kept_dir(inst)),
        ("the kept releases' index", kept::index_path(inst)),
    ] {
        links.push((what, path.map_err(TransportError::from)?));
    }
    // Today's logs are read as root after the start: a link there (to /dev/zero, to a
    // secret) is refused now rather than when the instance is out of rotation.
    for pattern in [&inst.config.log_pattern, &inst.config.health.startup_log] {
        let log = inst
            .logs
            .join(&remote::log_name(pattern, date))
            .map_err(TransportError::from)?;
        links.push(("today's log", log));
    }
    // Every check at once (one round trip's time, where one after the other they took
    // eleven); judged below in the order a person fixes them.
    // Every path's kind in one command: the directories must be directories (not links
    // to one), and no link may be where ihos writes or reads as root.
    let paths: Vec<&RemotePath> = (dirs.iter().map(|(_, d)| *d))
        .chain(links.iter().map(|(_, p)| p))
        .collect();
    let war_at = dirs.len();
    let (state, stats, spaces, index) = tokio::join!(
        inst.container.state(),
        remote::path_stats(t, &paths),
        free_spaces(inst, war_bytes.is_some()),
        read_index(inst)
    );
    let stats = stats.map_err(|e| refuse("the kinds of its paths", e.to_string()))?;
    let kinds: Vec<remote::PathKind> = stats.iter().map(|s| s.kind).collect();
    let (dir_kinds, link_kinds) = kinds.split_at(dirs.len());
    // The deployed WAR (the first of the links) is what the run keeps.
    let deployed = stats
        .get(war_at)
        .filter(|s| s.kind != remote::PathKind::Missing)
        .map(|s| s.size);
    let (free, keeping) = match spaces {
        Ok(spaces) => (
            spaces.webapps.map(Ok),
            keeping_room(inst, deployed, Ok(spaces.state_dir), index).await,
        ),
        // Not reached, timed out, refused by sudo: said for both, not asked again (a hung
        // mount would take one more timeout per question).
        Err(e)
            if !matches!(
                e,
                TransportError::Failed { .. } | TransportError::Protocol { .. }
            ) =>
        {
            (
                war_bytes.map(|_| Err(e.clone())),
                match deployed {
                    Some(_) => Err(e),
                    None => Ok(None),
                },
            )
        }
        // df said no, or an answer it was not (one of them is not there: the state
        // directory, before the first run): each asked on its own.
        Err(e) => {
            tokio::join!(
                async {
                    match war_bytes {
                        Some(_) => Some(remote::free_space(t, &inst.webapps).await),
                        None => None,
                    }
                },
                keeping_room(inst, deployed, Err(e), index)
            )
        }
    };
    let state = state.map_err(|e| refuse("container", e.to_string()))?;
    if !state.exists {
        return Err(refuse(
            "container",
            format!("no container named {}", inst.config.container),
        ));
    }
    for ((what, dir), kind) in dirs.iter().zip(dir_kinds) {
        if *kind != remote::PathKind::Dir {
            return Err(refuse(what, format!("{dir} is not a directory")));
        }
    }
    let mut space = String::new();
    let mut webapps_fs = None;
    if let (Some(bytes), Some(free)) = (war_bytes, free) {
        // The new WAR, and Tomcat's exploded webapp of about its size again.
        let need = bytes.saturating_mul(2);
        let free = free.map_err(|e| refuse("free disk space", e.to_string()))?;
        webapps_fs = Some((free.filesystem, free.bytes, bytes));
        let free = free.bytes;
        if free < need {
            return Err(refuse(
                "free disk space",
                format!(
                    "{} has {} free; the new WAR ({}) and its exploded webapp need about {}",
                    inst.webapps,
                    mib(free),
                    mib(bytes),
                    mib(need)
                ),
            ));
        }
        space = format!(", {} free for the WAR", mib(free));
    }
    let keeping =
        keeping.map_err(|e| refuse("room to keep the release it replaces", e.to_string()))?;
    if let Some(room) = &keeping {
        if room.free < room.deployed {
            return Err(refuse(
                "room to keep the release it replaces",
                format!(
                    "{} has {} free; the deployed WAR ({}) is kept there before it is replaced (it keeps {} release(s), {}; policy.keep_releases prunes them)",
                    room.dir,
                    mib(room.free),
                    mib(room.deployed),
                    room.kept,
                    mib(room.kept_bytes)
                ),
            ));
        }
        // One file system for both: the copy of the deployed WAR (made while the instance
        // drains) and the new WAR's copy into webapps (made while it stops, before the old
        // one is removed) are there at the same moment.
        if let Some((fs, free, bytes)) = webapps_fs.filter(|(fs, ..)| *fs == room.filesystem) {
            let need = room
                .deployed
                .saturating_add(bytes)
                .max(bytes.saturating_mul(2));
            if free < need {
                return Err(refuse(
                    "free disk space",
                    format!(
                        "{} and {} are on one file system ({fs}) with {} free; the deployed WAR's copy ({}) and the new WAR ({}) are there at once while it stops: about {} needed",
                        inst.webapps,
                        room.dir,
                        mib(free),
                        mib(room.deployed),
                        mib(bytes),
                        mib(need)
                    ),
                ));
            }
        }
        space.push_str(&format!(
            ", {} free for the release it replaces (keeps {}, {})",
            mib(room.free),
            room.kept,
            mib(room.kept_bytes)
        ));
    }
    for ((what, path), kind) in links.iter().zip(link_kinds) {
        if *kind == remote::PathKind::Link {
            let reason = if *what == "today's log" {
                format!("{path} is a symbolic link: ihos does not read through links as root")
            } else {
                format!(
                    "{path} is a symbolic link: ihos does not write or read through links as root (remove it, or put the file itself there)"
                )
            };
            return Err(refuse(what, reason));
        }
    }
    Ok(format!(
        "{}: container {} {}, webapps and logs are directories{space}, no link at its WAR, webapp, previous release or today's logs",
        inst.name(),
        inst.config.container,
        state.status
    ))
}

/// Where the release a run replaces is kept, and whether it fits.
struct KeepingRoom {
    dir: RemotePath,
    free: u64,
    /// The state dir's file system (see [`remote::FreeSpace`]).
    filesystem: String,
    /// The deployed WAR's size (copied there before it is replaced).
    deployed: u64,
    kept: usize,
    kept_bytes: u64,
}

/// The free space of the webapps directory (when a WAR goes in) and of the state
/// directory, in one command.
struct Spaces {
    webapps: Option<remote::FreeSpace>,
    state_dir: remote::FreeSpace,
}

async fn free_spaces(inst: &InstanceHandle, webapps: bool) -> Result<Spaces, TransportError> {
    let t = inst.transport.as_ref();
    let mut dirs = vec![&inst.state_dir];
    if webapps {
        dirs.push(&inst.webapps);
    }
    let mut spaces = remote::free_spaces(t, &dirs).await?;
    let webapps = if webapps { spaces.pop() } else { None };
    let state_dir = spaces.pop().ok_or_else(|| TransportError::Protocol {
        host: t.host().to_string(),
        command: "df".into(),
        reason: "no answer for the state directory".into(),
    })?;
    Ok(Spaces { webapps, state_dir })
}

/// The kept releases' index as the preflight needs it: an unreadable or missing one is
/// said by the step that rewrites it; here it keeps nothing (one command: read, never
/// asked whether it exists).
async fn read_index(inst: &InstanceHandle) -> Vec<kept::KeptRelease> {
    let Ok(path) = kept::index_path(inst) else {
        return Vec::new();
    };
    match remote::read_from(inst.transport.as_ref(), &path, 0).await {
        Ok(bytes) => kept::parse_index(&path, &bytes).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// The room on the state directory's file system (or its nearest existing ancestor's,
/// before the first run made it) for the deployed WAR of `deployed` bytes, which the run
/// keeps there (`None`: no WAR deployed). `here`: the state directory's free space as
/// asked already, assuming it exists (it does after the first run); it is looked for only
/// if that failed.
async fn keeping_room(
    inst: &InstanceHandle,
    deployed: Option<u64>,
    here: Result<remote::FreeSpace, TransportError>,
    kept: Vec<kept::KeptRelease>,
) -> Result<Option<KeepingRoom>, TransportError> {
    let t = inst.transport.as_ref();
    let Some(deployed) = deployed else {
        return Ok(None);
    };
    let mut dir = inst.state_dir.clone();
    let free = match here {
        Ok(free) => free,
        Err(e) => {
            // Before the first run the state directory may not exist: its nearest
            // ancestor that does is on the disk it will be made on.
            if remote::is_dir(t, &dir).await? {
                // It is there: the failure was df's own (or the webapps directory's,
                // asked with it), asked again alone to say which.
                remote::free_space(t, &dir).await.map_err(|_| e)?
            } else {
                loop {
                    let up = dir.parent();
                    if up == dir || remote::is_dir(t, &up).await? {
                        dir = up;
                        break;
                    }
                    dir = up;
                }
                remote::free_space(t, &dir).await?
            }
        }
    };
    Ok(Some(KeepingRoom {
        dir,
        free: free.bytes,
        filesystem: free.filesystem,
        deployed,
        kept: kept.len(),
        // Sizes an index says (a hand-edited one may say anything): never an overflow.
        kept_bytes: kept.iter().fold(0u64, |n, r| n.saturating_add(r.bytes)),
    }))
}

/// Bytes in MiB with one decimal, for people.
fn mib(bytes: u64) -> String {
    // A display value: the precision lost above 2^53 bytes does not matter.
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / f64::from(1 << 20);
    format!("{m:.1} MiB")
}
