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
use crate::transport::{TransportError, remote, remote_sha256};

/// The kept release `reference` names on every instance of `todo`: one and the same on all.
pub(crate) async fn resolve(
    todo: &[&InstanceHandle],
    reference: &ReleaseRef,
) -> Result<KeptRelease, RolloutError> {
    let indexes = join_all(todo.iter().map(|i| kept::read_index(i))).await;
    let mut found: Vec<(String, KeptRelease)> = Vec::new();
    let mut missing = Vec::new();
    let mut keeping = Vec::new();
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
            [] => missing.push(inst.name().to_string()),
            [(one, _)] => {
                keeping.push(inst.name().to_string());
                found.push((inst.name().to_string(), one.clone()));
            }
            many => {
                return Err(RolloutError::ReleaseAmbiguous {
                    reference: reference.to_string(),
                    instance: inst.name().to_string(),
                    candidates: many
                        .iter()
                        .map(|(r, how)| format!("{} (by its {how})", describe(r)))
                        .collect(),
                });
            }
        }
    }
    if !missing.is_empty() {
        return Err(RolloutError::ReleaseNotKept {
            reference: reference.to_string(),
            missing,
            keeping,
        });
    }
    let Some((_, first)) = found.first() else {
        return Err(RolloutError::ReleaseNotKept {
            reference: reference.to_string(),
            missing: Vec::new(),
            keeping: Vec::new(),
        });
    };
    if found.iter().any(|(_, r)| r.sha256 != first.sha256) {
        return Err(RolloutError::ReleaseDiffers {
            reference: reference.to_string(),
            releases: found
                .iter()
                .map(|(name, r)| format!("{name}: {}", describe(r)))
                .collect(),
        });
    }
    Ok(first.clone())
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
    resolve(&todo, to).await
}

/// A kept release for people: `3f2a9c0d1e2b (build 41, commit 9fceb02)`.
pub fn describe_kept(r: &KeptRelease) -> String {
    describe(r)
}

/// `3f2a9c0d1e2b (build 41, commit 9fceb02)`.
pub(crate) fn describe(r: &KeptRelease) -> String {
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

/// Copies `release`'s kept file on each instance's host to its staging directory, checked
/// by digest there (a kept file changed or removed since is refused before any change).
pub(crate) async fn stage(
    todo: &[&InstanceHandle],
    release: &KeptRelease,
) -> Result<BTreeMap<String, Source>, RolloutError> {
    let copies = join_all(todo.iter().map(|i| async move {
        let t = i.transport.as_ref();
        let refuse = |reason: String| RolloutError::Preflight {
            instance: i.name().to_string(),
            host: i.config.host.clone(),
            check: format!("its kept release {}", release.sha256.short()),
            reason,
        };
        let kept = kept::kept_war(i, &release.sha256).map_err(TransportError::from)?;
        if !remote::exists(t, &kept).await? {
            return Err(refuse(format!(
                "{kept} is gone (removed by hand?): `ihos releases {}` shows what it keeps",
                i.name()
            )));
        }
        remote::mkdir_p(t, &i.staging_dir, Privilege::User).await?;
        let name = format!("rollback-{}-{}.war", i.name(), release.sha256.file_tag());
        let staged = i.staging_dir.join(&name).map_err(TransportError::from)?;
        remote::copy_atomic(t, &kept, &staged).await?;
        let got = remote_sha256(t, &staged, Privilege::Sudo).await?;
        if got != release.sha256 {
            remote::remove_quietly(t, &staged, Privilege::Sudo).await;
            return Err(refuse(format!(
                "{kept} has sha256 {} now, not {}: damaged; it is not deployed",
                got.short(),
                release.sha256.short()
            )));
        }
        Ok::<_, RolloutError>((
            i.name().to_string(),
            Source {
                staged,
                sha256: release.sha256.clone(),
                bytes: release.bytes,
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
