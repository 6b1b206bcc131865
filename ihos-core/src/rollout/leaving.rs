//! [`Leaving`]: the backends of this run that passed the `max_unavailable` check and are on
//! their way out of rotation (or out), until they are back.
//!
//! The first wave's members check the limit at the same moment, each against what the load
//! balancer says; none of them is out yet, so each alone would pass even when one more
//! than the limit would then be out (one taken out by hand before the run). Each one that
//! passes is recorded here, and every check counts these with what the load balancer says.
//! A backend is forgotten once it is back in rotation: a check that read the load balancer
//! before it came back counts it as out (one too many: safe), and one that read it before
//! it left still finds it here (it is recorded before it leaves).

use std::collections::BTreeSet;

use super::step::StepError;
use crate::lb::LoadBalancer;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Leaving(std::sync::Mutex<BTreeSet<String>>);

impl Leaving {
    /// Fails if `max_unavailable` or more backends other than `backend` are out of rotation
    /// (on `lb`, or leaving in this run); else records `backend` as leaving.
    pub(crate) async fn check(
        &self,
        lb: &dyn LoadBalancer,
        max_unavailable: usize,
        backend: &str,
    ) -> Result<(), StepError> {
        let mut out = lb.out_of_rotation().await?;
        let mut leaving = self.lock();
        for other in leaving.iter() {
            if !out.contains(other) {
                out.push(other.clone());
            }
        }
        within_limit(out, &[backend], max_unavailable)?;
        leaving.insert(backend.to_string());
        Ok(())
    }

    /// `backend` is back in rotation (or its instance is done: what it left is on the load
    /// balancer).
    pub(crate) fn back(&self, backend: &str) {
        self.lock().remove(backend);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Fails if `max_unavailable` or more of `out` (backends out of rotation), other than
/// `besides`, are out.
pub(crate) fn within_limit(
    mut out: Vec<String>,
    besides: &[&str],
    max_unavailable: usize,
) -> Result<(), StepError> {
    out.retain(|a| !besides.contains(&a.as_str()));
    if out.len() >= max_unavailable {
        return Err(StepError::TooManyUnavailable {
            out,
            max: max_unavailable,
        });
    }
    Ok(())
}
