//! Another tool embedding ihos: it drives a rolling update of its own topology through the
//! library and draws its own progress from the event stream.
//!
//! - The topology is a TOML string (three instances on two hosts behind one nginx).
//! - The hosts are fake (`ihos-testkit`'s [`Simulation`] builds them from the topology), on
//!   tokio's paused clock: drains and Tomcat start-ups of minutes take no real time, so
//!   this runs anywhere in well under a second. Against real hosts, only the `hosts` map
//!   changes (one `SshTransport` per host, see the `ihos` CLI's `connect.rs`).
//! - Events arrive on a tokio channel (the same values `ihos rollout --json` prints) and
//!   a task of ours prints them.
//! - We hold the [`CancelToken`]: after the first instance is updated we ask the rollout to
//!   stop (say, for a person to look at that instance), then resume it to the end.
//!
//! Run with `cargo run --example embed_rollout -p ihos-core`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ihos_core::{
    CancelToken, Event, EventRecord, Fleet, Outcome, RolloutOptions, RolloutReport, StopLevel,
    Topology, WarFile, run_rollout, status,
};
use ihos_testkit::{Simulation, SimulationOptions};
use tokio::sync::mpsc;

/// The tool's own deployment: two hosts, nginx on the first, three Tomcats.
const TOPOLOGY: &str = r#"
[hosts.web1]
address = "10.1.0.11"
user = "deploy"

[hosts.web2]
address = "10.1.0.12"
user = "deploy"

[load_balancer]
host = "web1"
container = "shop_lb"
config = "/srv/lb/nginx.conf"
upstream = "shop"

[[instances]]
name = "shop-a"
host = "web1"
container = "shop_a"
backend = "10.1.0.11:8081"
webapps = "/srv/shop-a/webapps"
logs = "/srv/shop-a/logs"
health = { url = "http://127.0.0.1:8081/shop/" }

[[instances]]
name = "shop-b"
host = "web2"
container = "shop_b"
backend = "10.1.0.12:8081"
webapps = "/srv/shop-b/webapps"
logs = "/srv/shop-b/logs"
health = { url = "http://127.0.0.1:8081/shop/" }

[[instances]]
name = "shop-c"
host = "web2"
container = "shop_c"
backend = "10.1.0.12:8082"
webapps = "/srv/shop-c/webapps"
logs = "/srv/shop-c/logs"
health = { url = "http://127.0.0.1:8082/shop/" }

[policy]
drain = { min = "0s", idle = "5s", max = "10m" }
start_timeout = "3m"
"#;

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    // Current-thread runtime on a paused clock: virtual time jumps whenever every task
    // waits on a timer. (A real deployment uses an ordinary runtime.)
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    runtime.block_on(embed())
}

async fn embed() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let topology = Topology::from_toml(TOPOLOGY, "embedded topology")?;
    let sim = Simulation::new(&topology, &SimulationOptions::default());
    let fleet = Fleet::new(topology, sim.hosts.clone())?;

    let dir = tempfile::tempdir()?;
    let war = WarFile::open(&write_war(dir.path())?)?.with_commit(Some("4f1c2e9".into()));
    println!(
        "deploying ihos.war (sha256 {}, {} bytes) to {} instances",
        war.short_sha(),
        war.bytes,
        fleet.instances.len()
    );

    // Run 1: stop after the first updated instance, through the token we hold.
    let cancel = CancelToken::new();
    let options = RolloutOptions::new().operator("embed-example");
    let first = watched_rollout(&fleet, &war, &options, &cancel, true).await?;

    // Run 2: continue where it stopped (the journal on the load balancer's host says
    // where), with a fresh token.
    let options = options.resume(true);
    let second = watched_rollout(&fleet, &war, &options, &CancelToken::new(), false).await?;

    println!("\nsummary");
    for (run, r) in [("run 1", &first), ("run 2", &second)] {
        println!(
            "  {run}: {:?} after {:.0}s (virtual): updated {:?}, not updated {:?}",
            r.outcome, r.seconds, r.updated, r.not_updated
        );
    }
    let (views, lb_error) = status(&fleet).await;
    if let Some(e) = lb_error {
        return Err(e.into());
    }
    let mut all_new = true;
    for v in &views {
        let sha = v.deployed.as_ref().map_or("-", |d| d.short_sha());
        all_new &= sha == war.short_sha() && v.healthy;
        println!(
            "  {:<7} {:<15} {:<8} http {:?}  deployed {sha}",
            v.instance,
            v.backend,
            v.rotation.map_or("?".to_string(), |s| s.to_string()),
            v.health_status.unwrap_or(0),
        );
    }
    let invariants = sim.world.check_invariants();
    println!(
        "  safety invariants: {}",
        if invariants.is_clean() {
            "held throughout (no request to a stopped or starting Tomcat)".to_string()
        } else {
            invariants.to_string()
        }
    );
    let ok = first.outcome == Outcome::Interrupted
        && second.outcome == Outcome::Completed
        && all_new
        && invariants.is_clean();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs one rollout with our progress printer on its event stream. With `pause_after_first`,
/// the printer asks the rollout to stop once an instance is updated.
async fn watched_rollout(
    fleet: &Fleet,
    war: &WarFile,
    options: &RolloutOptions,
    cancel: &CancelToken,
    pause_after_first: bool,
) -> Result<RolloutReport, Box<dyn std::error::Error>> {
    let (events, rx) = mpsc::unbounded_channel::<EventRecord>();
    let printer = tokio::spawn(print_progress(
        rx,
        pause_after_first.then(|| cancel.clone()),
    ));
    let result = run_rollout(fleet, war, options, &events, cancel).await;
    drop(events); // closes the channel: the printer ends after the last event
    printer.await?;
    Ok(result?)
}

/// Our own progress display; `stop` is the token to use after the first updated instance.
async fn print_progress(mut rx: mpsc::UnboundedReceiver<EventRecord>, stop: Option<CancelToken>) {
    while let Some(record) = rx.recv().await {
        let t = record.elapsed;
        match record.event {
            Event::RolloutStarted {
                rollout_id,
                instances,
                resumed,
                ..
            } => println!(
                "\n[{t:>5.0}s] rollout {rollout_id}{}: {}",
                if resumed { " (resumed)" } else { "" },
                instances.join(", ")
            ),
            Event::Uploaded { host, bytes, .. } => {
                println!("[{t:>5.0}s]   {host}: WAR uploaded and checked ({bytes} bytes)")
            }
            // Only the steps that have something to say.
            Event::StepFinished {
                instance,
                step,
                seconds,
                detail: Some(detail),
            } => println!("[{t:>5.0}s]   {instance}: {step} ({seconds:.0}s): {detail}"),
            Event::InstanceUpdated { instance, seconds } => {
                println!("[{t:>5.0}s] ✓ {instance} updated in {seconds:.0}s");
                // The channel lags behind the engine: by the time we read this, the next
                // instance may have begun; it is finished, and no other is started. (A
                // closure sink runs inside the engine, if a tool must stop at an exact
                // point.)
                if let Some(token) = &stop {
                    if token.level() == StopLevel::None {
                        println!(
                            "[{t:>5.0}s]   asking the rollout to stop (the instance in progress, if any, is finished)"
                        );
                        token.request(StopLevel::AfterCurrent);
                    }
                }
            }
            Event::InstanceFailed {
                instance,
                step,
                error,
            } => println!("[{t:>5.0}s] ✗ {instance} failed at {step}: {error}"),
            Event::Warning { instance, message } => println!(
                "[{t:>5.0}s]   warning {}: {message}",
                instance.unwrap_or_default()
            ),
            Event::StopRequested { level } => {
                println!("[{t:>5.0}s]   stop requested ({level:?})")
            }
            Event::RolloutFinished {
                outcome, updated, ..
            } => println!(
                "[{t:>5.0}s] rollout finished: {outcome:?}, updated {}",
                updated.join(", ")
            ),
            // Events are #[non_exhaustive]: a tool ignores what it does not know.
            _ => {}
        }
    }
}

/// A minimal WAR: a zip with `WEB-INF/` (ihos refuses anything else).
fn write_war(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("ihos.war");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path)?);
    let opts = zip::write::SimpleFileOptions::default();
    zip.add_directory("WEB-INF/", opts)?;
    zip.start_file("WEB-INF/web.xml", opts)?;
    zip.write_all(b"<web-app/>")?;
    zip.start_file("index.html", opts)?;
    zip.write_all(b"shop 2.0")?;
    zip.finish()?;
    Ok(path)
}
