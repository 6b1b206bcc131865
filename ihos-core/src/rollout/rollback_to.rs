//! `ihos rollback --to REF`: which kept release REF names on each instance (the same one on
//! all of them, or the run is refused before any change), and that release copied to the
//! instance's staging directory before the first instance leaves rotation (pruning during
//! the run may remove the kept file itself).

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::error::RolloutError;
use super::kept::{self, IndexError, KeptRelease};
use super::release_ref::ReleaseRef;
use super::stage::Source;
use crate::command::Privilege;
use crate::fleet::{Fleet, InstanceHandle};
use crate::names::RemotePath;
use crate::transport::{TransportError, remote, remote_sha256};

/// The release a `rollback --to` installs, and where each instance's copy comes from.
pub(crate) struct Resolved {
    pub release: KeptRelease,
    /// By instance: its kept file, or its deployed WAR when it runs that release already
    /// (a fleet a failed or partial run left half on it).
    pub from: BTreeMap<String, RemotePath>,
}

/// The kept release `reference` names on the instances of `todo`: one and the same on all;
/// each keeps it, or runs it already.
pub(crate) async fn resolve(
    todo: &[&InstanceHandle],
    reference: &ReleaseRef,
) -> Result<Resolved, RolloutError> {
    let indexes = join_all(todo.iter().map(|i| kept::read_index(i))).await;
    let mut found: Vec<(&InstanceHandle, KeptRelease)> = Vec::new();
    let mut missing: Vec<&InstanceHandle> = Vec::new();
    for (inst, index) in todo.iter().zip(indexes) {
        let list = match index {
            Ok(list) => list,
            Err(IndexError::Transport(e)) => return Err(e.into()),
            Err(e @ IndexError::Unreadable { .. }) => {
                return Err(RolloutError::Preflight {
                    instance: inst.name().to_string(),
                    host: inst.config.host.clone(),
                    check: "its kept releases".into(),
                    reason: e.to_string(),
                });
            }
        };
        let matching: Vec<(KeptRelease, &str)> = list
            .into_iter()
            .filter_map(|r| reference.matches(&r).map(|how| (r, how)))
            .collect();
        match matching.as_slice() {
            [] => missing.push(inst),
            [(one, _)] => found.push((inst, one.clone())),
            many => {
                return Err(RolloutError::ReleaseAmbiguous {
                    reference: reference.to_string(),
                    instance: inst.name().to_string(),
                    candidates: many
                        .iter()
                        .map(|(r, how)| format!("{} (by its {how})", describe_kept(r)))
                        .collect(),
                });
            }
        }
    }
    let names = |list: &[&InstanceHandle]| -> Vec<String> {
        list.iter().map(|i| i.name().to_string()).collect()
    };
    let keeping: Vec<&InstanceHandle> = found.iter().map(|(i, _)| *i).collect();
    let Some((_, first)) = found.first() else {
        return Err(RolloutError::ReleaseNotKept {
            reference: reference.to_string(),
            missing: names(&missing),
            keeping: Vec::new(),
        });
    };
    if found.iter().any(|(_, r)| r.sha256 != first.sha256) {
        return Err(RolloutError::ReleaseDiffers {
            reference: reference.to_string(),
            releases: found
                .iter()
                .map(|(i, r)| format!("{}: {}", i.name(), describe_kept(r)))
                .collect(),
        });
    }
    let release = first.clone();
    let mut from = BTreeMap::new();
    for (inst, _) in &found {
        let path = kept::kept_war(inst, &release.sha256).map_err(TransportError::from)?;
        from.insert(inst.name().to_string(), path);
    }
    // One that does not keep it may run it (never replaced it): its deployed WAR, by digest.
    let deployed = join_all(missing.iter().map(|i| running_it(i, &release))).await;
    let mut not_kept = Vec::new();
    for (inst, d) in missing.iter().zip(deployed) {
        match d? {
            Some(war) => {
                from.insert(inst.name().to_string(), war);
            }
            None => not_kept.push(*inst),
        }
    }
    if !not_kept.is_empty() {
        return Err(RolloutError::ReleaseNotKept {
            reference: reference.to_string(),
            missing: names(&not_kept),
            keeping: names(&keeping),
        });
    }
    Ok(Resolved { release, from })
}

/// The kept release `to` names on the instances `only` selects (all when empty), as
/// `ihos rollback --to` will find it: to say which release before asking to go ahead. The
/// run itself resolves it again, under the lock.
pub async fn find_kept_release(
    fleet: &Fleet,
    only: &[String],
    to: &ReleaseRef,
) -> Result<KeptRelease, RolloutError> {
    let todo = fleet.select(only)?;
    Ok(resolve(&todo, to).await?.release)
}

/// A kept release for people: `3f2a9c0d1e2b (build 41, commit 9fceb02)`.
pub fn describe_kept(r: &KeptRelease) -> String {
    let mut about = Vec::new();
    if let Some(b) = &r.build {
        about.push(format!("build {b}"));
    }
    if let Some(c) = &r.commit {
        about.push(format!("commit {}", crate::sha::short_sha(c)));
    }
    match about.is_empty() {
        true => r.sha256.short().to_string(),
        false => format!("{} ({})", r.sha256.short(), about.join(", ")),
    }
}

/// The instance's deployed WAR, when it is `release` (by digest).
async fn running_it(
    inst: &InstanceHandle,
    release: &KeptRelease,
) -> Result<Option<RemotePath>, TransportError> {
    let war = inst.war_path().map_err(TransportError::from)?;
    let sum = remote::sha256_if_exists(inst.transport.as_ref(), &war).await?;
    Ok((sum.as_ref() == Some(&release.sha256)).then_some(war))
}

/// Copies the release on each instance's host (its kept file, or its deployed WAR) to its
/// staging directory, checked by digest there (a kept file changed or removed since is
/// refused before any change).
pub(crate) async fn stage(
    todo: &[&InstanceHandle],
    resolved: &Resolved,
) -> Result<BTreeMap<String, Source>, RolloutError> {
    let release = &resolved.release;
    let copies = join_all(todo.iter().map(|i| async move {
        let t = i.transport.as_ref();
        let refuse = |reason: String| RolloutError::Preflight {
            instance: i.name().to_string(),
            host: i.config.host.clone(),
            check: format!("its kept release {}", release.sha256.short()),
            reason,
        };
        let Some(kept) = resolved.from.get(i.name()) else {
            return Err(refuse("not resolved for it".into()));
        };
        let src = match remote::exists(t, kept).await? {
            true => kept.clone(),
            // Gone, but the instance runs that release: its deployed WAR is the copy.
            false => match running_it(i, release).await? {
                Some(war) => war,
                None => {
                    return Err(refuse(format!(
                        "{kept} is gone (removed by hand?): `ihos releases {}` shows what it keeps",
                        i.name()
                    )));
                }
            },
        };
        let src = &src;
        remote::mkdir_p(t, &i.staging_dir, Privilege::User).await?;
        let name = format!("rollback-{}-{}.war", i.name(), release.sha256.file_tag());
        let staged = i.staging_dir.join(&name).map_err(TransportError::from)?;
        remote::copy_atomic(t, src, &staged).await?;
        let got = remote_sha256(t, &staged, Privilege::Sudo).await?;
        if got != release.sha256 {
            remote::remove_quietly(t, &staged, Privilege::Sudo).await;
            return Err(refuse(format!(
                "{src} has sha256 {} now, not {}: damaged; it is not deployed",
                got.short(),
                release.sha256.short()
            )));
        }
        // Its size as it is, not as an index says.
        let bytes = remote::file_size(t, &staged).await?.unwrap_or(0);
        Ok::<_, RolloutError>((
            i.name().to_string(),
            Source {
                staged,
                sha256: release.sha256.clone(),
                bytes,
                commit: release.commit.clone(),
                build: release.build.clone(),
            },
        ))
    }))
    .await;
    // One refused: the copies made for the others go too (nothing is left of a run that
    // did not start).
    if copies.iter().any(Result::is_err) {
        for (inst, copy) in todo.iter().zip(&copies) {
            if let Ok((_, source)) = copy {
                let t = inst.transport.as_ref();
                remote::remove_quietly(t, &source.staged, Privilege::Sudo).await;
            }
        }
    }
    copies.into_iter().collect()
}
