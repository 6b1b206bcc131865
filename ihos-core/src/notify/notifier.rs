//! The [`Notifier`]: tells the configured robots about a run from its events, on a thread
//! of its own, so that a slow or refusing service never holds the run up or changes how
//! it ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::deliver::{self, shown};
use super::notice::{InstanceProblem, Notice, RunInfo};
use super::render::render;
use super::service::{Outgoing, requests};
use crate::config::{NotifyConfig, NotifyKind, NotifyOn, is_loopback_url};
use crate::rollout::{EVENT_SCHEMA, Event, EventRecord, EventSink};

/// Time for one message to one robot, its tries included.
const MESSAGE_DEADLINE: Duration = Duration::from_secs(15);
/// Time for a message to a robot that did not answer before.
const UNRESPONSIVE_DEADLINE: Duration = Duration::from_secs(3);

/// Tells robots about a run. Built from the topology's `[[notify]]` and what the run is;
/// fed the run's events through [`Notifier::sink`] (and canary verdicts through
/// [`Notifier::notice`]); [`Notifier::finish`] waits a bounded time for the last messages
/// and returns what went wrong, to be shown as warnings. Each robot has a thread of its
/// own: one that does not answer delays nobody else.
pub struct Notifier {
    queues: Mutex<Vec<(Vec<NotifyOn>, Sender<Notice>)>>,
    ended: Mutex<Receiver<()>>,
    problems: Arc<Mutex<Vec<String>>>,
    /// Set when `finish` gives up: the threads send nothing more.
    abandoned: Arc<AtomicBool>,
    seen: Mutex<Seen>,
    robots: usize,
}

/// What the events said that the last message needs.
#[derive(Default)]
struct Seen {
    rollout_id: String,
    started: bool,
    failed: Vec<InstanceProblem>,
    rolled_back: Vec<String>,
    not_restored: Vec<InstanceProblem>,
}

/// A robot ready to be told.
struct Robot {
    name: String,
    config: NotifyConfig,
    url: String,
    secret: Option<String>,
    agent: ureq::Agent,
    next_at: Instant,
    /// It did not answer in time once: later messages get one short try.
    unresponsive: bool,
}

impl Robot {
    /// Least time between two messages: within each service's documented rate (DingTalk
    /// and WeCom 20 a minute, Feishu 5 a second, Slack about 1 a second).
    fn spacing(&self) -> Duration {
        match self.config.kind {
            NotifyKind::Dingtalk | NotifyKind::Wecom => Duration::from_millis(3100),
            NotifyKind::Feishu => Duration::from_millis(650),
            NotifyKind::Slack => Duration::from_millis(1100),
            NotifyKind::Webhook => Duration::ZERO,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Notifier {
    /// The robots of `configs`, their URLs and secrets read from the environment. Robots
    /// that cannot be told (a variable not set, a URL that would send the token in clear)
    /// are left out, each with a warning in the returned list.
    pub fn new(configs: &[NotifyConfig], run: RunInfo) -> (Notifier, Vec<String>) {
        Notifier::with_env(configs, run, &|name| std::env::var(name).ok())
    }

    /// As [`Notifier::new`], with the variables read by `env`.
    pub fn with_env(
        configs: &[NotifyConfig],
        mut run: RunInfo,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> (Notifier, Vec<String>) {
        if run.operator.is_empty() {
            // As the run's journal and lock name it.
            run.operator = crate::rollout::operator_name();
        }
        let run = Arc::new(run);
        let mut warnings = Vec::new();
        let (ended_tx, ended) = mpsc::channel();
        let problems = Arc::new(Mutex::new(Vec::new()));
        let abandoned = Arc::new(AtomicBool::new(false));
        let mut queues = Vec::new();
        for (n, config) in configs.iter().enumerate() {
            let name = format!("notify[{n}] ({})", config.kind.name());
            let robot = match robot(config, &name, env) {
                Ok(r) => r,
                Err(why) => {
                    warnings.push(format!("{name}: {why}: not notified"));
                    continue;
                }
            };
            let (tx, rx) = mpsc::channel();
            let (run, problems, abandoned, ended_tx) = (
                run.clone(),
                problems.clone(),
                abandoned.clone(),
                ended_tx.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("ihos-notify-{n}"))
                .spawn(move || {
                    work(rx, robot, &run, &problems, &abandoned);
                    let _ = ended_tx.send(());
                });
            match spawned {
                Ok(_) => queues.push((config.on.clone(), tx)),
                Err(e) => warnings.push(format!("{name}: no thread to send with: {e}")),
            }
        }
        let notifier = Notifier {
            robots: queues.len(),
            queues: Mutex::new(queues),
            ended: Mutex::new(ended),
            problems,
            abandoned,
            seen: Mutex::new(Seen::default()),
        };
        (notifier, warnings)
    }

    /// How many robots are told.
    pub fn robots(&self) -> usize {
        self.robots
    }

    /// Queues `notice` for the robots subscribed to it; returns at once.
    pub fn notice(&self, notice: Notice) {
        let category = notice.category();
        for (on, queue) in lock(&self.queues).iter() {
            if on.contains(&category) {
                let _ = queue.send(notice.clone());
            }
        }
    }

    /// The run that was said to start ended with `error` before its end could be told
    /// (an upload that failed, a lost host): said as a failure. Nothing when no start was
    /// told, or its end was.
    pub fn aborted(&self, error: &str) {
        let rollout_id = {
            let mut seen = lock(&self.seen);
            if !seen.started {
                return;
            }
            seen.started = false;
            seen.rollout_id.clone()
        };
        self.notice(Notice::Aborted {
            rollout_id,
            error: error.to_string(),
        });
    }

    /// Turns a run's event into what robots are told.
    pub fn observe(&self, event: &Event) {
        let notice = {
            let mut seen = lock(&self.seen);
            match event {
                Event::RolloutStarted {
                    rollout_id,
                    instances,
                    resumed,
                    ..
                } => {
                    *seen = Seen {
                        rollout_id: rollout_id.clone(),
                        started: true,
                        ..Seen::default()
                    };
                    Some(Notice::Started {
                        rollout_id: rollout_id.clone(),
                        instances: instances.clone(),
                        resumed: *resumed,
                    })
                }
                Event::InstanceUpdated { instance, .. } => Some(Notice::Instances {
                    updated: vec![instance.clone()],
                    rolled_back: vec![],
                }),
                Event::RolledBack { instance } => {
                    seen.rolled_back.push(instance.clone());
                    Some(Notice::Instances {
                        updated: vec![],
                        rolled_back: vec![instance.clone()],
                    })
                }
                Event::InstanceFailed {
                    instance,
                    step,
                    error,
                } => {
                    seen.failed.push(InstanceProblem {
                        instance: instance.clone(),
                        error: format!("{step}: {error}"),
                    });
                    None
                }
                Event::RollbackFailed { instance, error } => {
                    seen.not_restored.push(InstanceProblem {
                        instance: instance.clone(),
                        error: error.clone(),
                    });
                    None
                }
                Event::RolloutFinished {
                    outcome,
                    updated,
                    seconds,
                } => {
                    let seen = std::mem::take(&mut *seen);
                    // Not every instance a human must look at failed its rollback (one
                    // may not have gone back into rotation): then its failure says why,
                    // unless it was rolled back.
                    let not_restored = if seen.not_restored.is_empty()
                        && *outcome == crate::Outcome::NotRestored
                    {
                        (seen.failed.iter())
                            .filter(|f| !seen.rolled_back.contains(&f.instance))
                            .cloned()
                            .collect()
                    } else {
                        seen.not_restored
                    };
                    Some(Notice::Finished {
                        rollout_id: seen.rollout_id,
                        outcome: *outcome,
                        seconds: *seconds,
                        updated: updated.clone(),
                        failed: seen.failed,
                        not_restored,
                    })
                }
                _ => None,
            }
        };
        if let Some(n) = notice {
            self.notice(n);
        }
    }

    /// A sink that hands every event to `inner` and tells the robots; a message a robot
    /// refused comes out of it as a warning event.
    pub fn sink<'a>(&'a self, inner: &'a dyn EventSink) -> NotifyingSink<'a> {
        NotifyingSink {
            inner,
            notifier: self,
        }
    }

    /// What went wrong since the last call.
    pub fn take_problems(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.problems))
    }

    /// Waits at most `wait` for the queued messages to go out; returns what went wrong
    /// that was not taken yet. Whatever is still queued after `wait` is abandoned: nothing
    /// more is sent.
    pub fn finish(self, wait: Duration) -> Vec<String> {
        let robots = {
            let mut queues = lock(&self.queues);
            let n = queues.len();
            queues.clear();
            n
        };
        let deadline = Instant::now() + wait;
        let ended = lock(&self.ended);
        let mut late = 0;
        for _ in 0..robots {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(RecvTimeoutError::Timeout) = ended.recv_timeout(left) {
                late += 1;
            }
        }
        let mut problems = self.take_problems();
        if late > 0 {
            self.abandoned.store(true, Ordering::SeqCst);
            problems.push(format!(
                "{late} robot(s) still sending after {}s: their last messages abandoned",
                wait.as_secs()
            ));
        }
        problems
    }
}

/// An [`EventSink`] that also tells the robots ([`Notifier::sink`]).
pub struct NotifyingSink<'a> {
    inner: &'a dyn EventSink,
    notifier: &'a Notifier,
}

impl EventSink for NotifyingSink<'_> {
    fn emit(&self, record: &EventRecord) {
        self.inner.emit(record);
        self.notifier.observe(&record.event);
        for message in self.notifier.take_problems() {
            self.inner.emit(&EventRecord {
                schema: EVENT_SCHEMA,
                time: crate::time::now_utc(),
                elapsed: record.elapsed,
                event: Event::Warning {
                    instance: None,
                    message,
                },
            });
        }
    }
}

/// A robot from its configuration and the environment, or why it cannot be told.
fn robot(
    config: &NotifyConfig,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Robot, String> {
    let url = env(&config.url_env)
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("{} is not set", config.url_env))?;
    let uri = url.parse::<ureq::http::Uri>().ok();
    let scheme = uri.as_ref().and_then(|u| u.scheme_str());
    let has_host = uri
        .as_ref()
        .and_then(|u| u.host())
        .is_some_and(|h| !h.is_empty());
    if !matches!(scheme, Some("http" | "https")) || !has_host || url.contains(char::is_whitespace) {
        return Err(format!("{} does not hold an http(s) URL", config.url_env));
    }
    let loopback = is_loopback_url(&url);
    if scheme == Some("http") && !loopback {
        return Err(format!(
            "{} is an http:// URL to {}: the robot's token would cross the network in clear; \
             use https://",
            config.url_env,
            shown(&url)
        ));
    }
    let secret = match &config.secret_env {
        None => None,
        Some(var) => Some(
            env(var)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("{var} (its secret) is not set"))?,
        ),
    };
    Ok(Robot {
        name: name.to_string(),
        config: config.clone(),
        url,
        secret,
        agent: deliver::agent(loopback),
        next_at: Instant::now(),
        unresponsive: false,
    })
}

/// A robot's thread: notices in order; progress notices queued together go as one.
fn work(
    rx: Receiver<Notice>,
    mut robot: Robot,
    run: &RunInfo,
    problems: &Mutex<Vec<String>>,
    abandoned: &AtomicBool,
) {
    let mut held: Option<Notice> = None;
    loop {
        let notice = match held.take() {
            Some(n) => n,
            None => match rx.recv() {
                Ok(n) => n,
                Err(_) => return,
            },
        };
        let notice = match notice {
            Notice::Instances {
                mut updated,
                mut rolled_back,
            } => {
                // Waits for the robot's spacing first: what ends meanwhile joins this
                // message.
                std::thread::sleep(robot.next_at.saturating_duration_since(Instant::now()));
                loop {
                    match rx.try_recv() {
                        Ok(Notice::Instances {
                            updated: u,
                            rolled_back: b,
                        }) => {
                            updated.extend(u);
                            rolled_back.extend(b);
                        }
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                Notice::Instances {
                    updated,
                    rolled_back,
                }
            }
            other => other,
        };
        if abandoned.load(Ordering::SeqCst) {
            return;
        }
        if let Err(why) = tell(&mut robot, &notice, run) {
            lock(problems).push(format!("{}: {why}", robot.name));
        }
    }
}

/// Sends `notice` to one robot.
fn tell(robot: &mut Robot, notice: &Notice, run: &RunInfo) -> Result<(), String> {
    std::thread::sleep(robot.next_at.saturating_duration_since(Instant::now()));
    let lang = robot.config.lang();
    let message = render(notice, run, lang);
    let mention: &[String] = if notice.is_alarm() {
        &robot.config.mention
    } else {
        &[]
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let outgoing = Outgoing {
        kind: robot.config.kind,
        url: &robot.url,
        secret: robot.secret.as_deref(),
        lang,
        message: &message,
        mention,
        notice,
        run,
        now_ms,
    };
    // A robot that did not answer once gets one short try from then on: the run's
    // last messages must not wait behind it.
    let (deadline, tries) = if robot.unresponsive {
        (UNRESPONSIVE_DEADLINE, 1)
    } else {
        (MESSAGE_DEADLINE, deliver::TRIES)
    };
    let deadline = Instant::now() + deadline;
    let mut result = Ok(());
    for request in requests(&outgoing) {
        result = deliver::send(&robot.agent, robot.config.kind, &request, deadline, tries);
        if result.is_err() {
            break;
        }
    }
    robot.next_at = Instant::now() + robot.spacing();
    match result {
        Ok(()) => {
            robot.unresponsive = false;
            Ok(())
        }
        Err(deliver::Failed::Refused(why)) => {
            Err(format!("{} refused the message: {why}", shown(&robot.url)))
        }
        Err(deliver::Failed::NoAnswer(why)) => {
            robot.unresponsive = true;
            Err(format!(
                "{} did not take the message: {why}",
                shown(&robot.url)
            ))
        }
    }
}
