//! The files of a release on an instance's host: the deployed WAR and its exploded
//! directory in webapps, and the previous release kept outside webapps (Tomcat deploys
//! every `*.war` it finds there) so a failure can go back to it; with it, the releases
//! kept for `ihos rollback --to` ([`super::kept`]).

use super::deployment_record::record_if_readable;
use super::kept::{self, Before, KeptRelease};
use super::step::StepError;
use crate::command::{Command, Privilege};
use crate::fleet::InstanceHandle;
use crate::names::{InvalidName, RemotePath};
use crate::sha::Sha256;
use crate::transport::{remote, run_checked};

/// `releases/<instance>/previous.war`.
pub(crate) fn previous_path(inst: &InstanceHandle) -> Result<RemotePath, InvalidName> {
    inst.releases_dir()?.join("previous.war")
}

/// The previous release as [`stage_previous`] left it.
pub(crate) enum Previous {
    /// Nothing to keep (no WAR deployed, or it is already the new one): why.
    Nothing(String),
    /// The deployed WAR copied (and checked) under a temporary name beside the previous
    /// release: [`commit_previous`] puts it in place, [`discard_previous`] removes it.
    Staged {
        tmp: RemotePath,
        previous: RemotePath,
        /// What it is, for the kept releases.
        retired: Box<KeptRelease>,
        /// The kept releases as they were.
        before: Before,
    },
}

/// Copies the deployed WAR next to the previous release, unless there is none or it already
/// is `new` (a rerun). Done while the instance drains: nothing takes the place of the
/// previous release until [`commit_previous`], after the drain, so a drain that fails (a
/// stop, a lost host) leaves the previous release as it was, and a second `ihos rollback`
/// still finds the release it goes back to. What the kept releases need (the deployed
/// WAR's record and size, the kept index) is read meanwhile.
pub(crate) async fn stage_previous(
    inst: &InstanceHandle,
    war: &RemotePath,
    new: &Sha256,
) -> Result<Previous, StepError> {
    let t = inst.transport.as_ref();
    let dir = inst.releases_dir()?;
    let top = inst.state_dir.join("releases")?;
    let kept_dir = kept::kept_dir(inst)?;
    // The releases directories are made while the WAR's digest is read (one round trip's
    // time); an empty directory left when there is nothing to keep is harmless.
    let (current, made) = tokio::join!(
        remote::sha256_if_exists(t, war),
        remote::mkdir_private(t, &top, &kept_dir)
    );
    let Some(current) = current? else {
        return Ok(Previous::Nothing(
            "no WAR deployed yet: nothing to keep".into(),
        ));
    };
    if &current == new {
        return Ok(Previous::Nothing(
            "the deployed WAR is already the new one: previous release left as it is".into(),
        ));
    }
    made?;
    let previous = dir.join("previous.war")?;
    let tmp = remote::temp_path(&previous)?;
    // Checked by digest under its temporary name: what goes in place is what ran.
    let (copied, record, index) = tokio::join!(
        remote::copy_new(t, war, &tmp, &current, Privilege::Sudo),
        record_if_readable(inst),
        kept::read_index(inst)
    );
    if let Err(e) = copied {
        remote::remove_quietly(t, &tmp, Privilege::Sudo).await;
        return Err(match e {
            crate::transport::TransportError::Checksum { actual, .. } => StepError::Mismatch {
                context: "saving the previous release: ",
                path: tmp.to_string(),
                got: Some(actual),
                after: "",
                expected: current.to_string(),
            },
            other => other.into(),
        });
    }
    // A record that cannot be read only describes the kept release less.
    let bytes = remote::file_size(t, &tmp).await.ok().flatten().unwrap_or(0);
    Ok(Previous::Staged {
        tmp,
        previous,
        retired: Box::new(KeptRelease::retired(current, bytes, record.as_ref())),
        before: Before { index },
    })
}

/// What [`commit_previous`] did: the step's detail, and a warning when the kept releases
/// could not be brought up to date (the previous release itself is in place).
pub(crate) struct Committed {
    pub detail: String,
    pub warning: Option<String>,
}

/// Puts a staged previous release in place (a rename: never seen half-written), then keeps
/// it among the instance's releases (pruned once the new one is healthy).
pub(crate) async fn commit_previous(
    inst: &InstanceHandle,
    staged: Previous,
) -> Result<Committed, StepError> {
    match staged {
        Previous::Nothing(why) => Ok(Committed {
            detail: why,
            warning: None,
        }),
        Previous::Staged {
            tmp,
            previous,
            retired,
            before,
        } => {
            let t = inst.transport.as_ref();
            if let Err(e) = remote::rename_over(t, &tmp, &previous, Privilege::Sudo).await {
                remote::remove_quietly(t, &tmp, Privilege::Sudo).await;
                return Err(e.into());
            }
            let short = retired.sha256.short().to_string();
            let saved = format!("previous release {short} kept in {previous}");
            // The previous release is in place: a failure here only leaves the list of
            // kept releases behind, which must not stop the update.
            Ok(
                match kept::keep_retired(inst, &previous, *retired, before).await {
                    Ok((kept, warning)) => Committed {
                        detail: format!("{saved}; {kept}"),
                        warning,
                    },
                    Err(e) => Committed {
                        detail: saved,
                        warning: Some(format!(
                            "the kept releases of {} were not brought up to date: {e}",
                            inst.name()
                        )),
                    },
                },
            )
        }
    }
}

/// Removes a staged previous release that is not to go in place.
pub(crate) async fn discard_previous(inst: &InstanceHandle, staged: Previous) {
    if let Previous::Staged { tmp, .. } = staged {
        remote::remove_quietly(inst.transport.as_ref(), &tmp, Privilege::Sudo).await;
    }
}

/// Deletes the WAR and its exploded directory, only inside the configured webapps
/// directory (invariant 4).
pub(crate) async fn remove_deployed(inst: &InstanceHandle) -> Result<(), StepError> {
    let t = inst.transport.as_ref();
    let war = inst.war_path()?;
    let exploded = inst.exploded_path()?;
    for p in [&war, &exploded] {
        if !p.is_inside(&inst.webapps) {
            return Err(StepError::OutsideWebapps {
                path: p.to_string(),
                webapps: inst.webapps.to_string(),
            });
        }
    }
    // Two independent removals at once: one round trip's time.
    let rm_war = Command::new("rm").args(["-f", "--", war.as_str()]).sudo();
    let rm_exploded = Command::new("rm")
        .args(["-rf", "--", exploded.as_str()])
        .sudo();
    let (war_gone, exploded_gone) =
        tokio::join!(run_checked(t, &rm_war), run_checked(t, &rm_exploded));
    war_gone?;
    exploded_gone?;
    Ok(())
}

/// The new WAR copied into webapps under a name of its own while the container stops:
/// Tomcat deploys only `*.war`, and `.<war>.ihos-next` does not end so, so nothing runs it
/// and the deployed WAR is untouched until [`install`] renames the copy in place. It is
/// created exclusively (never written through a file or link planted there) and not read
/// back here: Tomcat may still run, and what it can write it can replace with a link or a
/// FIFO that a root `sha256sum` would follow or block on. [`install`] checks the digest
/// once the container is stopped, through the regular-file guard. The caller removes the
/// copy ([`discard_prepared`]) if the update stops before that. The name is fixed, not
/// unique: a copy a crash left is removed by the next attempt, before its own is made.
pub(crate) async fn prepare_install(
    inst: &InstanceHandle,
    staged: &RemotePath,
) -> Result<RemotePath, StepError> {
    let t = inst.transport.as_ref();
    let war = inst.war_path()?;
    let next = war
        .parent()
        .join(&format!(".{}.ihos-next", war.file_name()))?;
    if !next.is_inside(&inst.webapps) {
        return Err(StepError::OutsideWebapps {
            path: next.to_string(),
            webapps: inst.webapps.to_string(),
        });
    }
    let rm = Command::new("rm").args(["-f", "--", next.as_str()]).sudo();
    run_checked(t, &rm).await?;
    if let Err(e) = run_checked(t, &remote::copy_to_new(staged, &next, Privilege::Sudo)).await {
        remote::remove_quietly(t, &next, Privilege::Sudo).await;
        return Err(e.into());
    }
    Ok(next)
}

/// Removes a prepared copy that is not to go in place.
pub(crate) async fn discard_prepared(inst: &InstanceHandle, prepared: &RemotePath) {
    remote::remove_quietly(inst.transport.as_ref(), prepared, Privilege::Sudo).await;
}

/// Checks that the prepared copy ([`prepare_install`]) is `expected`, once the container
/// is stopped (through the regular-file guard: what the container could write it could
/// have replaced with a link or a FIFO).
pub(crate) async fn check_prepared(
    inst: &InstanceHandle,
    prepared: &RemotePath,
    expected: &Sha256,
) -> Result<(), StepError> {
    let got = remote::sha256_if_exists(inst.transport.as_ref(), prepared).await?;
    if got.as_ref() != Some(expected) {
        return Err(StepError::Mismatch {
            context: "",
            path: prepared.to_string(),
            got: got.map(String::from),
            after: " before install",
            expected: expected.to_string(),
        });
    }
    Ok(())
}

/// Renames the prepared copy, checked by [`check_prepared`], in place as the deployed WAR
/// (never seen half-written; the rename keeps its bytes, and nothing else writes webapps
/// while the container is stopped).
pub(crate) async fn install(
    inst: &InstanceHandle,
    prepared: &RemotePath,
    expected: &Sha256,
) -> Result<String, StepError> {
    let t = inst.transport.as_ref();
    let war = inst.war_path()?;
    if let Err(e) = remote::rename_over(t, prepared, &war, Privilege::Sudo).await {
        discard_prepared(inst, prepared).await;
        return Err(e.into());
    }
    Ok(format!("{war} sha256 {}", expected.short()))
}

/// Puts the previous release back as the deployed WAR (the rollback's part in webapps).
pub(crate) async fn restore_previous(inst: &InstanceHandle) -> Result<(), StepError> {
    let t = inst.transport.as_ref();
    let previous = previous_path(inst)?;
    if !remote::exists(t, &previous).await? {
        return Err(StepError::NoPreviousRelease {
            path: previous.to_string(),
        });
    }
    remove_deployed(inst).await?;
    let war = inst.war_path()?;
    remote::copy_atomic(t, &previous, &war)
        .await
        .map_err(|e| StepError::during("restoring the previous WAR")(e.into()))
}
