//! [`Lanes`]: a host's SSH sessions, each owned by a worker thread.
//!
//! libssh2 calls block, so a session runs one job at a time on its thread. Callers that
//! ask a host several things at once (a drain poll: the load balancer's old workers, the
//! container's state, its connections) would wait for each other on one session. So a
//! job goes to an idle session; another session is connected only when every one made so
//! far is busy, up to [`SshOptions::sessions`]. A host asked one thing at a time keeps a
//! single connection (one login, one line in its auth log), unless warmed up
//! ([`Lanes::fill`]: a rollout logs in every session it is about to use, once the host let
//! its first one in). When every session is busy, a job waits for the first one to be
//! free, in the order jobs were asked (not behind a session chosen beforehand, which may
//! be running a `docker stop` or a health probe Tomcat holds for seconds).

use std::collections::VecDeque;
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
    /// Out of the list (its thread stopped, or the host refused it): not handed to a job.
    retired: AtomicBool,
    /// The host's jobs waiting for a free session (shared by its lanes).
    waiting: Arc<Waiting>,
}

/// Jobs waiting for a free session, first asked first: each is handed the session that
/// frees (its count goes to it, see [`Held`]), or told to look again (`None`) when a
/// session left the list (there may be room for a new one, or a fresh one idle).
type Waiting = Mutex<VecDeque<oneshot::Sender<Option<Held>>>>;

fn lock_waiting(w: &Waiting) -> std::sync::MutexGuard<'_, VecDeque<oneshot::Sender<Option<Held>>>> {
    // Nothing panics while it is held.
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// Tells every job waiting to look again (a session left the list, or one that did ended
/// a job): one told alone may have stopped waiting, and its turn would be lost.
fn wake_all(w: &Waiting) {
    let all: Vec<_> = lock_waiting(w).drain(..).collect();
    for next in all {
        let _ = next.send(None);
    }
}

/// Counts a job on its lane until its worker is done with it: a caller that stops waiting
/// does not free the session, whose thread still runs the command (until it ends or is
/// stopped), so the next job goes to another session instead of queueing behind it. When
/// it is done, the session goes to the first job waiting for one, if any.
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
        let lane = &self.0;
        let mut waiting = lock_waiting(&lane.waiting);
        // Under the queue's lock: a job that found no free session is queued before this
        // session counts as free, so none waits while a session is idle. (Only this lock:
        // a count may be dropped while the list is held.)
        if lane.busy.load(Ordering::SeqCst) == 1 && !lane.retired.load(Ordering::SeqCst) {
            if let Some(next) = waiting.pop_front() {
                drop(waiting);
                // The count goes with the session. A waiter gone meanwhile drops it again,
                // which hands the session to the next one (outside the lock).
                let _ = next.send(Some(Held(Arc::clone(lane))));
                return;
            }
        }
        lane.busy.fetch_sub(1, Ordering::SeqCst);
        drop(waiting);
        if lane.retired.load(Ordering::SeqCst) {
            // Not handed on, but it may still be the list's only one (no fresh one could
            // be started): the jobs waiting look again, and find it idle.
            wake_all(&lane.waiting);
        }
    }
}

/// A session for a job: now, or once one is free.
pub(super) enum Picked {
    Now(Busy),
    /// The session handed over, or `None`: pick again.
    Later(oneshot::Receiver<Option<Held>>),
}

/// A job's lane, as its caller sees it; the count is [`Held`], which goes with the job.
pub(super) struct Busy(Arc<Lane>, std::sync::Mutex<Option<Held>>);

impl Busy {
    /// The session a waiting job was handed.
    pub(super) fn handed(held: Held) -> Self {
        Busy(Arc::clone(&held.0), std::sync::Mutex::new(Some(held)))
    }

    /// Hands `job` to the lane's worker; `Err` if the worker has stopped.
    pub(super) fn send(&self, job: Job) -> Result<(), ()> {
        let held = self.1.lock().unwrap_or_else(|p| p.into_inner()).take();
        let held = held.unwrap_or_else(|| Held::on(&self.0));
        // A job that is not delivered drops its count with it; its session is not handed
        // to a job waiting (its thread is gone).
        self.0.jobs.send((job, held)).map_err(|undelivered| {
            self.0.retired.store(true, Ordering::SeqCst);
            drop(undelivered);
        })
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
    /// Jobs waiting for a free session.
    waiting: Arc<Waiting>,
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
            waiting: Arc::default(),
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
            retired: AtomicBool::new(false),
            waiting: Arc::clone(&self.waiting),
        }))
    }

    /// The lane for the next job: the first idle one; else a new one if there is room;
    /// else, once the host let a session in, the first to be free (waiting in line);
    /// else (before that, or if a new one cannot be started) the least busy.
    pub(super) fn pick(&self) -> Result<Picked, TransportError> {
        // The list's lock first, then the queue's (as everywhere: a job sent while the list
        // is held may drop its count, which takes the queue's). A session is freed under
        // the queue's lock (see `Held`), so what is busy holds until this job is queued.
        let lanes = self.lock();
        let mut waiting = lock_waiting(&self.waiting);
        let full = lanes.len() >= self.max.load(Ordering::SeqCst);
        let all_busy = lanes.iter().all(|l| l.busy.load(Ordering::SeqCst) > 0);
        if full && all_busy && self.answered.load(Ordering::SeqCst) {
            let (tx, rx) = oneshot::channel();
            waiting.push_back(tx);
            return Ok(Picked::Later(rx));
        }
        drop(waiting);
        drop(lanes);
        self.pick_now().map(Picked::Now)
    }

    /// [`Lanes::pick`] without waiting: the least busy lane when none is free.
    pub(super) fn pick_now(&self) -> Result<Busy, TransportError> {
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
        lane.retired.store(true, Ordering::SeqCst);
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
        drop(lanes);
        // The jobs waiting look again: there may be room for a session now, or a fresh
        // one idle. (None is handed this one when its jobs end.)
        wake_all(&self.waiting);
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
        let Picked::Now(a) = lanes.pick().unwrap() else {
            panic!("the idle session");
        };
        assert!(Arc::ptr_eq(&a.0, &first));
        // A second job at once waits for it, and gets it when it is free.
        let Picked::Later(b) = lanes.pick().unwrap() else {
            panic!("a job behind a busy session waits");
        };
        assert_eq!(lanes.started(), 1);
        drop(a);
        let b = Busy::handed(b.await.unwrap().unwrap());
        assert!(Arc::ptr_eq(&b.0, &first));
        assert_eq!(first.busy.load(Ordering::SeqCst), 1);
        drop(b);
        assert_eq!(first.busy.load(Ordering::SeqCst), 0);
    }

    /// Lanes of at most one session, which the host let in (nothing listens on the
    /// address: no session ever connects here).
    fn one_session_let_in() -> (Lanes, Arc<Lane>) {
        let options = SshOptions {
            sessions: 1,
            ..SshOptions::default()
        };
        let lanes = Lanes::new(SshTarget::new("127.0.0.1", 1, "deploy"), options, None).unwrap();
        let first = Arc::clone(&lanes.lock()[0]);
        lanes.let_in(&first);
        (lanes, first)
    }

    #[tokio::test]
    async fn a_job_waiting_for_a_session_that_is_retired_looks_again() {
        let (lanes, first) = one_session_let_in();
        let Picked::Now(running) = lanes.pick().unwrap() else {
            panic!("the idle session");
        };
        // One job stopped waiting, the next did not.
        let Picked::Later(gone) = lanes.pick().unwrap() else {
            panic!("the session is busy");
        };
        let Picked::Later(waiting) = lanes.pick().unwrap() else {
            panic!("the session is busy");
        };
        drop(gone);
        // Its thread stopped: a fresh session takes its place, and the job looks again.
        lanes.retire(&running);
        assert!(waiting.await.unwrap().is_none());
        let Picked::Now(fresh) = lanes.pick().unwrap() else {
            panic!("the fresh session is idle");
        };
        assert!(!Arc::ptr_eq(&fresh.0, &first));
        // The retired one's job ending hands it to nobody: the jobs waiting look again.
        let Picked::Later(next) = lanes.pick().unwrap() else {
            panic!("the fresh session is busy");
        };
        drop(running);
        assert_eq!(first.busy.load(Ordering::SeqCst), 0);
        assert!(next.await.unwrap().is_none());
        let Picked::Later(next) = lanes.pick().unwrap() else {
            panic!("the fresh session is still busy");
        };
        drop(fresh);
        assert!(next.await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_freed_session_goes_to_the_first_job_still_waiting() {
        let (lanes, first) = one_session_let_in();
        let Picked::Now(running) = lanes.pick().unwrap() else {
            panic!("the idle session");
        };
        let mut later = Vec::new();
        for _ in 0..3 {
            match lanes.pick().unwrap() {
                Picked::Later(rx) => later.push(rx),
                Picked::Now(_) => panic!("the session is busy"),
            }
        }
        // The first in line stopped waiting: the session goes to the second.
        let second = later.remove(1);
        drop(later.remove(0));
        drop(running);
        let held = second.await.unwrap().unwrap();
        assert_eq!(first.busy.load(Ordering::SeqCst), 1);
        // Then to the third, then it is free.
        let third = later.remove(0);
        drop(held);
        drop(third.await.unwrap().unwrap());
        assert_eq!(first.busy.load(Ordering::SeqCst), 0);
        assert!(matches!(lanes.pick().unwrap(), Picked::Now(_)));
    }
}
