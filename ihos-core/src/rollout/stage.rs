//! Staging: every WAR a run installs is on its instance's host, outside webapps, before the
//! first instance leaves rotation: the new WAR uploaded once per host (a resumed run finds
//! it there), or for a rollback each instance's previous release copied aside.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;

use super::error::RolloutError;
use super::event::{Emitter, Event};
use super::kept;
use super::release::previous_path;
use crate::command::Privilege;
use crate::fleet::InstanceHandle;
use crate::names::RemotePath;
use crate::sha::Sha256;
use crate::transport::{Transport, TransportError, remote, remote_sha256};
use crate::war::WarFile;

/// The WAR an instance gets, already on its host.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// Where it is on the instance's host (outside webapps).
    pub staged: RemotePath,
    pub sha256: Sha256,
    pub bytes: u64,
    pub commit: Option<String>,
    pub build: Option<String>,
}

/// The staged file's name: by digest, so a resumed run finds its own upload.
fn staged_name(prefix: &str, sha256: &Sha256) -> String {
    format!("{prefix}-{}.war", sha256.file_tag())
}

/// Uploads the WAR to the staging directory of every host that has an instance to update,
/// in parallel, skipping hosts that already have it (a resumed rollout).
pub(crate) async fn upload_all(
    war: &WarFile,
    todo: &[&InstanceHandle],
    emitter: &Emitter<'_>,
) -> Result<BTreeMap<String, Source>, RolloutError> {
    let mut hosts: BTreeMap<String, (Arc<dyn Transport>, RemotePath)> = BTreeMap::new();
    for i in todo {
        hosts
            .entry(i.config.host.clone())
            .or_insert_with(|| (Arc::clone(&i.transport), i.staging_dir.clone()));
    }
    let name = staged_name("ihos", &war.sha256);
    let uploads = hosts.into_iter().map(|(host, (t, dir))| {
        let name = name.clone();
        async move {
            let dest = dir.join(&name).map_err(TransportError::from)?;
            remote::mkdir_p(t.as_ref(), &dir, Privilege::User).await?;
            let started = Instant::now();
            let have = match remote_sha256(t.as_ref(), &dest, Privilege::User).await {
                Ok(sum) => sum == war.sha256,
                Err(_) => false,
            };
            if !have {
                let uploaded = t.upload(&war.path, &dest).await?;
                // A transport of the caller's, or a WAR changed on disk since it was
                // opened: what arrived must be what was checked.
                if uploaded.sha256 != war.sha256 {
                    return Err(TransportError::Checksum {
                        host: t.host().to_string(),
                        path: dest.to_string(),
                        expected: war.sha256.to_string(),
                        actual: uploaded.sha256.to_string(),
                    }
                    .into());
                }
            }
            Ok::<_, RolloutError>((
                host,
                dest,
                if have { 0 } else { war.bytes },
                started.elapsed().as_secs_f64(),
            ))
        }
    });
    let mut staged: BTreeMap<String, RemotePath> = BTreeMap::new();
    for r in futures_util::future::join_all(uploads).await {
        let (host, dest, bytes, seconds) = r?;
        emitter.emit(Event::Uploaded {
            host: host.clone(),
            bytes,
            seconds,
        });
        staged.insert(host, dest);
    }
    let mut sources = BTreeMap::new();
    for i in todo {
        if let Some(dest) = staged.get(&i.config.host) {
            let source = Source {
                staged: dest.clone(),
                sha256: war.sha256.clone(),
                bytes: war.bytes,
                commit: war.commit.clone(),
                build: war.build.clone(),
            };
            sources.insert(i.name().to_string(), source);
        }
    }
    Ok(sources)
}

/// For a rollback: copies each instance's previous release to its host's staging
/// directory (the rollback saves the release it replaces as the new previous one, which
/// would otherwise overwrite the file it installs from).
pub(crate) async fn stage_previous(
    todo: &[&InstanceHandle],
) -> Result<BTreeMap<String, Source>, RolloutError> {
    let mut sources = BTreeMap::new();
    let mut missing = Vec::new();
    for i in todo {
        let t = i.transport.as_ref();
        let previous = previous_path(i).map_err(TransportError::from)?;
        let Some(sha256) = remote::sha256_if_exists(t, &previous).await? else {
            missing.push(i.name().to_string());
            continue;
        };
        remote::mkdir_p(t, &i.staging_dir, Privilege::User).await?;
        let staged = i
            .staging_dir
            .join(&staged_name(&format!("rollback-{}", i.name()), &sha256))
            .map_err(TransportError::from)?;
        remote::copy_atomic(t, &previous, &staged).await?;
        let bytes = remote::file_size(t, &staged).await?.unwrap_or(0);
        // What it is, as its record said when it was kept (its commit and build go into
        // the new record).
        let about = kept::read_index(i)
            .await
            .ok()
            .and_then(|list| list.into_iter().find(|r| r.sha256 == sha256));
        sources.insert(
            i.name().to_string(),
            Source {
                staged,
                sha256,
                bytes,
                commit: about.as_ref().and_then(|r| r.commit.clone()),
                build: about.and_then(|r| r.build),
            },
        );
    }
    if !missing.is_empty() {
        return Err(RolloutError::NoPreviousRelease { instances: missing });
    }
    Ok(sources)
}
