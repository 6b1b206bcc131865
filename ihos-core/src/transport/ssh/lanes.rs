//! [`Lanes`]: a host's SSH sessions, each owned by a worker thread.
//!
//! libssh2 calls block, so a session runs one job at a time on its thread. Callers that
//! ask a host several things at once (a drain poll: the load balancer's old workers, the
//! container's state, its connections) would wait for each other on one session. So a
//! job goes to an idle session; another session is connected only when every one made so
//! far is busy, up to [`SshOptions::sessions`]. A host asked one thing at a time keeps a
//! single connection (one login, one line in its auth log), unless warmed up
//! ([`Lanes::fill`]: a rollout logs in every session it is about to use, once the host let
//! its first one in).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

use super::logged_in::LoggedIn;
use super::options::{SshOptions, SshTarget};
use super::route::Opener;
use super::worker::{Job, Reply, Worker};
use crate::transport::TransportError;

/// One session: its worker's job queue, how many jobs it has now, and whether one of them
/// was answered (the session got in).
pub(super) struct Lane {
    jobs: mpsc::Sender<(Job, Held)>,
    busy: AtomicUsize,
    answered: AtomicBool,
}

/// Counts a job on its lane until its worker is done with it: a caller that stops waiting
/// does not free the session, whose thread still runs the command (until it ends or is
/// stopped), so the next job goes to another session instead of queueing behind it.
pub(super) struct Held(Arc<Lane>);

impl Held {
    /// Counts one more job on `lane`.
    fn on(lane: &Arc<Lane>) -> Self {
        lane.busy.fetch_add(1, Ordering::SeqCst);
        Held(Arc::clone(lane))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A job's lane, as its caller sees it; the count is [`Held`], which goes with the job.
pub(super) struct Busy(Arc<Lane>, std::sync::Mutex<Option<Held>>);

impl Busy {
    /// Hands `job` to the lane's worker; `Err` if the worker has stopped.
    pub(super) fn send(&self, job: Job) -> Result<(), ()> {
        let held = self.1.lock().unwrap_or_else(|p| p.into_inner()).take();
        let held = held.unwrap_or_else(|| Held::on(&self.0));
        // A job that is not delivered drops its count with it.
        self.0.jobs.send((job, held)).map_err(|_| ())
    }

    /// Its job was answered: this session, and so the host, let ihos in.
    pub(super) fn answered(&self, lanes: &Lanes) {
        lanes.let_in(&self.0);
    }

    /// Whether `error` is this session failing to get in while another one did: an extra
    /// session the host refuses (PAM `maxlogins`, `MaxStartups`, a rate limit). The job
    /// never ran.
    pub(super) fn refused_extra(&self, lanes: &Lanes, error: &TransportError) -> bool {
        let never_in = !self.0.answered.load(Ordering::SeqCst);
        let not_run = matches!(
            error,
            TransportError::Connect { .. } | TransportError::Auth { .. }
        );
        never_in && not_run && (lanes.answered.load(Ordering::SeqCst) || lanes.logged_in.is_in())
    }
}

/// A warmed-up session logging in, and where its answer comes.
pub(super) type Logging = (Arc<Lane>, oneshot::Receiver<Result<(), TransportError>>);

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
    /// Lowered when the host refuses an extra session: no more are tried.
    max: AtomicUsize,
    /// A job has been answered: the host is reachable and its key known. Until then no
    /// second session is made: a host that is down is not tried several times at once,
    /// and a key accepted on first use (`accept-new`) is written to known_hosts once.
    answered: AtomicBool,
    /// A session got in (maybe still running the job it logged in for).
    logged_in: Arc<LoggedIn>,
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
            max: AtomicUsize::new(max),
            answered: AtomicBool::new(false),
            logged_in: Arc::default(),
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
            Arc::clone(&self.logged_in),
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
            answered: AtomicBool::new(false),
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
                let room = lanes.len() < self.max.load(Ordering::SeqCst);
                let more = if room && self.answered.load(Ordering::SeqCst) {
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
        let held = Held::on(&lane);
        Ok(Busy(lane, std::sync::Mutex::new(Some(held))))
    }

    /// `lane` let ihos in, and so the host.
    fn let_in(&self, lane: &Lane) {
        lane.answered.store(true, Ordering::SeqCst);
        self.answered.store(true, Ordering::SeqCst);
    }

    /// Returns once a session of the host has logged in.
    pub(super) async fn wait_logged_in(&self) {
        self.logged_in.wait().await;
    }

    /// Takes `lane` out of the list (its thread has stopped, or the host refused it). The
    /// first lane stays even then: a later job reconnects it.
    pub(super) fn retire(&self, lane: &Busy) {
        self.retire_lane(&lane.0);
    }

    fn retire_lane(&self, lane: &Arc<Lane>) {
        let mut lanes = self.lock();
        if lanes.len() > 1 {
            lanes.retain(|l| !Arc::ptr_eq(l, lane));
        } else if let Some(first) = lanes.first_mut() {
            if Arc::ptr_eq(first, lane) {
                // Its thread is gone: a fresh one for the next job.
                if let Ok(fresh) = self.start_lane() {
                    *first = fresh;
                }
            }
        }
    }

    /// The first session logging in now, if nothing has asked the host anything yet (a
    /// run's hosts log in beside its lock, not with their first command). Counted busy
    /// while it logs in: a job asked meanwhile queues behind it and, if the login fails,
    /// gets its failure (see the worker): a host that is down is still tried once.
    pub(super) fn first_login(&self, connect: impl FnOnce(Reply<()>) -> Job) -> Option<Logging> {
        if self.answered.load(Ordering::SeqCst) {
            return None;
        }
        let lanes = self.lock();
        let [first] = lanes.as_slice() else {
            return None;
        };
        if first.busy.load(Ordering::SeqCst) != 0 || first.answered.load(Ordering::SeqCst) {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        let held = Held::on(first);
        first.jobs.send((connect(reply), held)).ok()?;
        Some((Arc::clone(first), answer))
    }

    /// Starts the sessions not made yet, up to the most allowed, each logging in now
    /// (`connect` makes its job from the reply it sends), once the host let one in or one
    /// logged in (until then nothing: a host that is down is not tried several times at
    /// once, and a key accepted on first use is written once). Each
    /// session's answer is then [`Lanes::settle`]d.
    pub(super) fn fill(&self, connect: impl Fn(Reply<()>) -> Job) -> Vec<Logging> {
        let mut started = Vec::new();
        if !self.answered.load(Ordering::SeqCst) && !self.logged_in.is_in() {
            return started;
        }
        let mut lanes = self.lock();
        while lanes.len() < self.max.load(Ordering::SeqCst) {
            let Ok(lane) = self.start_lane() else {
                break;
            };
            let (reply, answer) = oneshot::channel();
            let held = Held::on(&lane);
            // Counted busy while it logs in: jobs meanwhile go to a session that is in.
            if lane.jobs.send((connect(reply), held)).is_err() {
                break;
            }
            lanes.push(Arc::clone(&lane));
            started.push((lane, answer));
        }
        started
    }

    /// A warmed-up session's answer: in, or out of the list with no more sessions tried
    /// (the host refused one more: PAM `maxlogins`, `MaxStartups`, a rate limit), so that
    /// no job is sent to a session that cannot get in.
    pub(super) fn settle(&self, lane: &Arc<Lane>, answer: Result<(), TransportError>) {
        match answer {
            Ok(()) => self.let_in(lane),
            Err(e) => {
                tracing::warn!(
                    host = %self.recipe.target.label(),
                    error = %e,
                    "the host refused another SSH session: going on with the ones it let in"
                );
                self.retire_lane(lane);
                self.no_more();
            }
        }
    }

    /// No more sessions than there are now.
    pub(super) fn no_more(&self) {
        let now = self.lock().len();
        self.max.store(now.max(1), Ordering::SeqCst);
    }

    /// How many sessions have been started (connected or about to be).
    pub(super) fn started(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn warmed_up_sessions_the_host_refuses_are_dropped_and_no_more_are_tried() {
        // Nothing listens on loopback's port 1: every login is refused at once, as a host
        // refuses logins beyond its limit (the first session is taken as in, as after the
        // run's first command).
        let options = SshOptions {
            connect_timeout: Duration::from_secs(2),
            ..SshOptions::default()
        };
        let lanes = Lanes::new(SshTarget::new("127.0.0.1", 1, "deploy"), options, None).unwrap();
        // Nothing before the host let one in.
        assert!(lanes.fill(|reply| Job::Connect { reply }).is_empty());
        let first = Arc::clone(&lanes.lock()[0]);
        lanes.let_in(&first);
        let started = lanes.fill(|reply| Job::Connect { reply });
        assert_eq!(started.len(), 2);
        assert_eq!(lanes.started(), 3);
        for (lane, answer) in started {
            let answer = answer.await.unwrap();
            assert!(answer.is_err(), "{answer:?}");
            lanes.settle(&lane, answer);
        }
        // Only the session that got in is left, and no more are made: by a warm-up or by
        // jobs at once.
        assert_eq!(lanes.started(), 1);
        assert!(lanes.fill(|reply| Job::Connect { reply }).is_empty());
        let (a, b) = (lanes.pick().unwrap(), lanes.pick().unwrap());
        assert!(Arc::ptr_eq(&a.0, &first) && Arc::ptr_eq(&b.0, &first));
        assert_eq!(lanes.started(), 1);
    }
}
