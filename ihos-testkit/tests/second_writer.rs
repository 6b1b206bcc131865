//! A second writer at the worst moment: another resume of the same rollout, a manual drain
//! while a rollout runs, a person editing nginx's config between ihos's read and its write.
//! The first keeps going, the second is refused, nothing of anyone's is lost.

mod rollout_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ihos_core::{
    CancelToken, Command, ContainerName, DockerCli, Event, LbError, LoadBalancer, NginxLb,
    NginxLbOptions, OpError, Outcome, Output, RemotePath, RolloutError, RolloutOptions, Transport,
    TransportError, Uploaded, drain_instance,
};
use ihos_testkit::{FakeHost, RUNBOOK_NGINX_CONF, Runbook};
use rollout_support::{Env, Recorder};

/// Crashes a rollout at its first drain (the lock and the journal stay, as after a kill).
async fn crashed_rollout(env: &Env) {
    let (fleet, crashed) = env.crashable_fleet();
    let rec = Recorder::new();
    let killed = Arc::new(tokio::sync::Notify::new());
    {
        let killed = Arc::clone(&killed);
        rec.once(
            |e| {
                matches!(
                    e,
                    Event::StepStarted {
                        step: ihos_core::Step::Drain,
                        ..
                    }
                )
            },
            move || {
                crashed.store(true, Ordering::SeqCst);
                killed.notify_one();
            },
        );
    }
    let (options, cancel) = (RolloutOptions::default(), CancelToken::new());
    tokio::select! {
        r = ihos_core::run_rollout(&fleet, &env.war, &options, &*rec, &cancel) => {
            panic!("ended before the crash: {r:?}")
        }
        () = killed.notified() => {}
    }
}

/// Two operators resume the same interrupted rollout at once: one resumes it, the other
/// is refused because the first holds the lock (it is alive), and the end is clean.
#[tokio::test(start_paused = true)]
async fn two_resumes_at_once_run_it_once() {
    let env = Env::runbook();
    crashed_rollout(&env).await;
    assert!(env.lock_held());
    let resume = RolloutOptions::new().resume(true);
    let (cancel_a, cancel_b) = (CancelToken::new(), CancelToken::new());
    let (a, b) = tokio::join!(
        env.rollout(&resume, &|_: &_| {}, &cancel_a),
        env.rollout(&resume, &|_: &_| {}, &cancel_b),
    );
    let (done, refused) = match (a, b) {
        (Ok(r), Err(e)) | (Err(e), Ok(r)) => (r, e),
        (a, b) => panic!("exactly one resume must run: {a:?}\n{b:?}"),
    };
    assert_eq!(done.outcome, Outcome::Completed, "{done:#?}");
    assert!(
        matches!(refused, RolloutError::LockHeld { .. }),
        "{refused}"
    );
    env.assert_all_on(&env.war.sha256);
    let inv = env.invariants();
    assert!(inv.is_clean(), "{inv}");
    assert!(!env.lock_held());
}

/// A manual `ihos drain` while a rollout runs is refused: it would take a second backend
/// out behind the rollout's back.
#[tokio::test(start_paused = true)]
async fn a_manual_drain_during_a_rollout_is_refused() {
    let env = Env::runbook();
    let fleet = env.fleet();
    let rec = Recorder::new();
    let tried = Arc::new(tokio::sync::Notify::new());
    {
        let tried = Arc::clone(&tried);
        rec.once(
            |e| {
                matches!(
                    e,
                    Event::StepStarted {
                        step: ihos_core::Step::Drain,
                        ..
                    }
                )
            },
            move || tried.notify_one(),
        );
    }
    let (options, cancel) = (RolloutOptions::default(), CancelToken::new());
    let rollout = ihos_core::run_rollout(&fleet, &env.war, &options, &*rec, &cancel);
    let other = env.fleet();
    let drain_cancel = CancelToken::new();
    let drain = async {
        tried.notified().await;
        drain_instance(&other, "103-pep2", &|_: &_| {}, &drain_cancel).await
    };
    let (report, drained) = tokio::join!(rollout, drain);
    assert!(
        matches!(drained, Err(OpError::LockHeld { .. })),
        "{drained:?}"
    );
    let report = report.unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
    let inv = env.invariants();
    assert!(inv.is_clean(), "{inv}");
}

/// The load balancer's host, where someone saves their own edit of nginx.conf (with `vi`)
/// the moment ihos has read the file and is about to write its own.
struct Editing {
    host: FakeHost,
    config: String,
    edited: AtomicBool,
}

const THEIR_EDIT: &str = "\n# added by hand: keep\n";

#[async_trait]
impl Transport for Editing {
    fn host(&self) -> &str {
        self.host.host()
    }

    async fn run(&self, command: &Command) -> Result<Output, TransportError> {
        // The checked write (one `sh -c`, its staging name among its arguments) or one of
        // its steps run on their own.
        let stages = |a: &String| {
            a.contains(".nginx.conf.ihos-tmp-")
                && (command.program() == "sh" || a.starts_with("of="))
        };
        let writes_config =
            matches!(command.program(), "dd" | "sh") && command.arguments().iter().any(stages);
        let checks_config =
            command.program() == "sha256sum" && command.arguments().last() == Some(&self.config);
        if (writes_config || checks_config) && !self.edited.swap(true, Ordering::SeqCst) {
            let mut bytes = self.host.read(&self.config).unwrap();
            bytes.extend_from_slice(THEIR_EDIT.as_bytes());
            self.host.write_file(&self.config, bytes);
        }
        self.host.run(command).await
    }

    async fn upload(&self, local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError> {
        self.host.upload(local, remote).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_config_edited_by_someone_else_meanwhile_is_not_overwritten() {
    let rb = Runbook::new();
    let t = Arc::new(Editing {
        host: rb.lb_host.clone(),
        config: rb.config.clone(),
        edited: AtomicBool::new(false),
    });
    let lb = NginxLb::new(
        Arc::clone(&t),
        Arc::new(DockerCli::new(
            Arc::clone(&t),
            ContainerName::new(&rb.nginx).unwrap(),
        )),
        RemotePath::new(&rb.config).unwrap(),
        "service_ihos",
        NginxLbOptions::default(),
    );
    let err = lb.disable("192.168.1.101:39091").await.unwrap_err();
    assert!(matches!(err, LbError::ChangedConcurrently { .. }), "{err}");
    let now = String::from_utf8(rb.config_bytes()).unwrap();
    assert!(now.ends_with(THEIR_EDIT), "their edit is kept:\n{now}");
    assert!(
        !now.contains("#server 192.168.1.101:39091"),
        "ihos's edit was not written over theirs:\n{now}"
    );
    assert_eq!(rb.routing().len(), 4, "nginx routes as before");
}

/// ihos keeps the config as it wrote it and does not read it again for its next change
/// (one read per run): a person's edit between two of ihos's changes is found by the
/// write's digest check, the file read again, and ihos's change made on top of theirs.
#[tokio::test(start_paused = true)]
async fn an_edit_between_two_changes_is_kept_and_the_next_change_made_on_top() {
    let rb = Runbook::new();
    // This is about the file, not the policy: two out at once is the test's doing.
    rb.world.set_max_out_of_rotation(4);
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let reads = || {
        rb.world
            .commands()
            .iter()
            .filter(|c| c.line() == format!("cat -- {}", rb.config))
            .count()
    };
    assert!(lb.disable("192.168.1.101:39091").await.unwrap().changed());
    assert!(lb.disable("192.168.1.101:39092").await.unwrap().changed());
    assert!(lb.enable("192.168.1.101:39092").await.unwrap().changed());
    assert_eq!(reads(), 1, "one read for three changes");

    // Someone edits by hand: a comment, and server .103:39091 taken out.
    let mut theirs = String::from_utf8(rb.config_bytes())
        .unwrap()
        .replace("server 192.168.1.103:39091", "#server 192.168.1.103:39091");
    theirs.push_str(THEIR_EDIT);
    rb.lb_host.write_file(&rb.config, &theirs);
    // What ihos reports as the rotation is the file's, not its kept copy.
    let out: Vec<String> = lb
        .backends()
        .await
        .unwrap()
        .into_iter()
        .filter(|b| !b.state.is_enabled())
        .map(|b| b.address)
        .collect();
    assert_eq!(out, ["192.168.1.101:39091", "192.168.1.103:39091"]);

    assert!(lb.enable("192.168.1.101:39091").await.unwrap().changed());
    let now = String::from_utf8(rb.config_bytes()).unwrap();
    assert!(now.ends_with(THEIR_EDIT), "their comment is kept:\n{now}");
    assert!(
        now.contains("#server 192.168.1.103:39091"),
        "their change is kept:\n{now}"
    );
    assert!(
        now.contains("\n        server 192.168.1.101:39091"),
        "ihos's change is made:\n{now}"
    );
    assert_eq!(
        reads(),
        2,
        "read again once, after the digest said it changed"
    );
    assert_eq!(
        rb.routing(),
        [
            "192.168.1.101:39091",
            "192.168.1.101:39092",
            "192.168.1.103:39092"
        ]
    );
    rb.world.assert_invariants();
}

/// "Already out" is the file's answer, not the kept copy's: a server a person put back by
/// hand after ihos took it out is taken out again when ihos is asked to, not reported
/// out while nginx still sends it requests.
#[tokio::test(start_paused = true)]
async fn a_server_put_back_by_hand_is_taken_out_again_not_reported_out() {
    let rb = Runbook::new();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    assert!(lb.disable("192.168.1.101:39091").await.unwrap().changed());
    rb.lb_host.write_file(&rb.config, RUNBOOK_NGINX_CONF);
    let again = lb.disable("192.168.1.101:39091").await.unwrap();
    assert!(again.changed(), "{}", again.message);
    assert!(
        String::from_utf8(rb.config_bytes())
            .unwrap()
            .contains("#server 192.168.1.101:39091")
    );
    assert_eq!(rb.routing().len(), 3);
}

/// A run that died keeps its lock (no new rollout before a human looks), but the human's
/// repair, `ihos enable` of the instance it left out, is not blocked by it; the kept lock
/// stays for `ihos lock release`.
#[tokio::test(start_paused = true)]
async fn the_lock_of_a_dead_run_does_not_block_the_repair() {
    let env = Env::runbook();
    crashed_rollout(&env).await;
    assert!(env.lock_held());
    let change = ihos_core::enable_instance(&env.fleet(), "101-pep1")
        .await
        .unwrap_or_else(|e| panic!("the repair was refused: {e}"));
    assert!(change.changed(), "{}", change.message);
    assert!(env.lock_held(), "the kept lock stays");
    // A new rollout is still refused until the lock is released.
    let err = env
        .rollout(&RolloutOptions::default(), &|_: &_| {}, &CancelToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, RolloutError::LockHeld { .. }), "{err}");
}

/// A manual drain whose future is dropped while it holds the lock (the embedding tool's
/// timeout, a `select!`) releases the lock: no later rollout is refused for a holder that
/// is still alive (this process) but no longer does anything.
#[tokio::test(start_paused = true)]
async fn a_dropped_operation_releases_its_lock() {
    let env = Env::runbook();
    let fleet = env.fleet();
    let cancel = CancelToken::new();
    let mut drain = Box::pin(drain_instance(&fleet, "101-pep1", &|_: &_| {}, &cancel));
    let started = tokio::time::Instant::now();
    while !env.lock_held() {
        tokio::select! {
            r = &mut drain => panic!("the drain ended before it could be dropped: {r:?}"),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never took the lock"
        );
    }
    drop(drain);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!env.lock_held(), "the dropped drain's lock was left behind");
    // The fleet goes on: the operator's enable and a rollout take the lock.
    ihos_core::enable_instance(&fleet, "101-pep1")
        .await
        .unwrap();
    let report = env.roll(&Recorder::new()).await;
    assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
}
