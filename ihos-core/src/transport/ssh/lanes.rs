//! [`Lanes`]: a host's SSH sessions, each owned by a worker thread.
//!
//! libssh2 calls block, so a session runs one job at a time on its thread. Callers that
//! ask a host several things at once (a drain poll: the load balancer's old workers, the
//! container's state, its connections) would wait for each other on one session. So a
//! job goes to an idle session; another session is connected only when every one made so
//! far is busy, up to [`SshOptions::sessions`]. A host asked one thing at a time keeps a
//! single connection (one login, one line in its auth log).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use super::options::{SshOptions, SshTarget};
use super::route::Opener;
use super::worker::{Job, Worker};
use crate::transport::TransportError;

/// One session: its worker's job queue and how many jobs it has now.
pub(super) struct Lane {
    jobs: mpsc::Sender<Job>,
    busy: AtomicUsize,
}

/// Counts a job on its lane until the caller has its answer (or stops waiting).
pub(super) struct Busy(Arc<Lane>);

impl Busy {
    /// Hands `job` to the lane's worker; `Err` if the worker has stopped.
    pub(super) fn send(&self, job: Job) -> Result<(), ()> {
        self.0.jobs.send(job).map_err(|_| ())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a new lane is made from.
struct Recipe {
    target: SshTarget,
    options: SshOptions,
    via: Option<Arc<dyn Opener>>,
}

/// A host's sessions.
pub(super) struct Lanes {
    recipe: Recipe,
    lanes: Mutex<Vec<Arc<Lane>>>,
    max: usize,
    /// A job has been answered: the host is reachable and its key known. Until then no
    /// second session is made: a host that is down is not tried several times at once,
    /// and a key accepted on first use (`accept-new`) is written to known_hosts once.
    answered: AtomicBool,
}

impl Lanes {
    /// Starts the first lane (it connects on its first job).
    pub(super) fn new(
        target: SshTarget,
        options: SshOptions,
        via: Option<Arc<dyn Opener>>,
    ) -> Result<Self, TransportError> {
        let max = options.sessions.max(1);
        let lanes = Lanes {
            recipe: Recipe {
                target,
                options,
                via,
            },
            lanes: Mutex::new(Vec::new()),
            max,
            answered: AtomicBool::new(false),
        };
        let first = lanes.start_lane()?;
        lanes.lock().push(first);
        Ok(lanes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Lane>>> {
        // A panic while the list was held cannot leave it half-changed (a push).
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_lane(&self) -> Result<Arc<Lane>, TransportError> {
        let label = self.recipe.target.label();
        let (jobs, queue) = mpsc::channel();
        let worker = Worker::new(
            self.recipe.target.clone(),
            self.recipe.options.clone(),
            self.recipe.via.clone(),
        );
        std::thread::Builder::new()
            .name(format!("ihos-ssh {label}"))
            .spawn(move || worker.serve(queue))
            .map_err(|e| TransportError::Connect {
                host: label,
                reason: format!("cannot start the SSH thread: {e}"),
            })?;
        Ok(Arc::new(Lane {
            jobs,
            busy: AtomicUsize::new(0),
        }))
    }

    /// The lane for the next job: the first idle one; else a new one if there is room;
    /// else (or if a new one cannot be started) the least busy.
    pub(super) fn pick(&self) -> Result<Busy, TransportError> {
        let mut lanes = self.lock();
        // The first of the least busy: the sessions made first, connected already, are
        // preferred.
        let least = lanes
            .iter()
            .min_by_key(|l| l.busy.load(Ordering::SeqCst))
            .cloned();
        let lane = match least {
            Some(l) if l.busy.load(Ordering::SeqCst) == 0 => l,
            least => {
                let more = if lanes.len() < self.max && self.answered.load(Ordering::SeqCst) {
                    Some(self.start_lane())
                } else {
                    None
                };
                match (more, least) {
                    (Some(Ok(l)), _) => {
                        lanes.push(Arc::clone(&l));
                        l
                    }
                    (Some(Err(_)) | None, Some(l)) => l,
                    (Some(Err(e)), None) => return Err(e),
                    (None, None) => {
                        let l = self.start_lane()?;
                        lanes.push(Arc::clone(&l));
                        l
                    }
                }
            }
        };
        lane.busy.fetch_add(1, Ordering::SeqCst);
        Ok(Busy(lane))
    }

    /// A job was answered without a connection problem.
    pub(super) fn answered(&self) {
        self.answered.store(true, Ordering::SeqCst);
    }

    /// How many sessions have been started (connected or about to be).
    pub(super) fn started(&self) -> usize {
        self.lock().len()
    }
}
