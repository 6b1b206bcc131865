//! ihos-core: the library behind the `ihos` command. Zero-downtime rolling updates of Java
//! web apps (Tomcat in Docker) behind nginx, over SSH; another tool can drive everything
//! the CLI does through it.
//!
//! Everything public is at the crate root (`use ihos_core::{Fleet, Topology, run_rollout};`);
//! the modules behind it are private.
//!
//! # Main types and how they relate
//!
//! - **Configuration**: a [`Topology`] is the deployment read from TOML: hosts
//!   ([`HostConfig`]), the nginx load balancer ([`LbConfig`]), the app instances in rollout
//!   order ([`InstanceConfig`], with their [`HealthConfig`]), the [`CanaryConfig`] and the
//!   rollout [`Policy`] (drain, timeouts, `max_unavailable`, what to do [`OnFailure`]).
//!   [`Topology::from_toml`] and [`Topology::load`] validate it, applying `[defaults]`,
//!   per-host defaults and templates (each resolved setting keeps its [`SettingOrigin`]);
//!   a [`ConfigError`] names the key at fault and, when it is in the file, its line.
//! - **Hosts**: a [`Transport`] runs [`Command`]s and moves files on one host:
//!   [`SshTransport`] (SSH), [`LocalTransport`] (this machine), the fake hosts of
//!   `ihos-testkit`, or a caller's own (two methods: `run` and `upload`; see
//!   `examples/custom_transport.rs`); its provided methods read, write in place and
//!   [`Transport::download`] (streamed, checked against the host's [`Sha256`]). A
//!   [`Command`] holds typed arguments;
//!   [`shell_quote`] is the only place a command line is built; [`run_checked`] turns a
//!   failed command into a [`TransportError`]. [`ContainerName`] and [`RemotePath`] are
//!   names and paths from configuration that passed validation.
//! - **Containers and the load balancer**: [`Container`] controls one container
//!   ([`DockerCli`] drives the `docker` CLI through a transport); [`LoadBalancer`] takes
//!   backends in and out of rotation ([`NginxLb`] edits the nginx config with `ihos-nginx`,
//!   validates it with `nginx -t` in its container and reloads, restoring the previous
//!   bytes on any failure).
//! - **The rollout**: a [`Fleet`] is the topology resolved into those handles (one
//!   transport per host, an [`InstanceHandle`] per instance: [`Fleet::connect`] makes SSH
//!   ones like the CLI, [`Fleet::new`] takes the caller's). [`run_rollout`] updates its
//!   instances with a validated [`WarFile`] one at a time (or `max_unavailable` at a
//!   time): out of rotation, drain, stop, keep the previous release, install, start,
//!   health, log scan, back into rotation, record (the [`Step`]s). It returns a
//!   [`RolloutReport`] whose [`Outcome`] is also the CLI's exit code; a failed instance is
//!   rolled back and reported there as an [`InstanceFailure`] (which step, the typed
//!   [`StepError`], and whether the rollback failed too: the [`Problem`]), not as an error.
//!   A [`RolloutError`] means the rollout could not start and nothing was changed.
//!   [`run_rollback`] puts the previous releases back; [`run_rollback_to`] any release the
//!   instances keep ([`releases`] lists each one's [`KeptRelease`]s, named by a
//!   [`ReleaseRef`]). [`RolloutOptions`] holds the
//!   per-run choices (defaults match the CLI's). [`plan()`] tells, without changing
//!   anything, what a rollout would do: a [`Plan`] of [`PlannedStep`]s per
//!   [`PlannedInstance`], with its current state. A WAR's digest is a [`Sha256`].
//! - **The CLI's other commands**: [`status`] ([`InstanceView`] per instance),
//!   [`drain_instance`], [`enable_instance`], [`history`] ([`DeploymentRecord`]s),
//!   [`lock_status`] ([`LockOwner`]), [`lock_release`], and [`journal()`]: where the last
//!   rollout stands ([`Journal`]), which [`RolloutOptions::resume`] continues.
//! - **Canary cohorts**: a [`Cohort`] is the list of user-id prefixes the canary rule
//!   selects; [`Cohort::regex`] writes the nginx regex for it in a [`RegexStyle`] (exact,
//!   for the case-sensitive `~`, or the runbook's form), [`Cohort::from_regex`] reads a live
//!   rule back, [`decode_token`] tells which id a sample token carries, and
//!   [`rule_matches`] evaluates the live rule's own operator and regex on a token as nginx
//!   does ([`is_exact_rule`]: whether that rule selects exactly its cohort).
//! - **The canary**: a [`CanaryRoute`] opens and closes the cohort's route to the canary
//!   ([`NginxCanaryRoute`]: the `if` block of a site file); [`open_canary`] (only to a
//!   healthy canary), [`close_canary`], [`canary_status`] (the route, the canary's release
//!   against the fleet's), [`run_canary_deploy`] (the rollout's steps on the canary, its
//!   route closed meanwhile and reopened as it was) and [`canary_war`] (the exact WAR it
//!   runs, to promote to the fleet).
//! - **Telling the team**: a [`Notifier`] built from the topology's [`NotifyConfig`]s and
//!   the run's [`RunInfo`] turns its events ([`Notifier::sink`]) and canary verdicts into
//!   [`Notice`]s for DingTalk, WeCom, Feishu, Slack or a webhook, on a thread of its own:
//!   a refusing service is a warning, never a change to the run.
//! - **Events**: the engine reports progress as [`Event`]s, each stamped in an
//!   [`EventRecord`] (the values `ihos rollout --json` prints, one per line), to an
//!   [`EventSink`]: a closure, a `tokio::sync::mpsc::UnboundedSender<EventRecord>`, or a
//!   type of the caller's.
//! - **Cancellation**: a [`CancelToken`] held by the caller asks a running rollout to stop
//!   ([`StopLevel::AfterCurrent`], then [`StopLevel::Now`]); every instance is left
//!   consistent and in rotation, and [`RolloutOptions::resume`] continues later. The CLI's
//!   Ctrl-C is one user of it.
//! - **Getting the WAR**: [`TeamCityClient`] finds the latest successful finished build of
//!   the topology's TeamCity build configuration ([`TeamCityConfig`]), or a pinned one, and
//!   [`TeamCityClient::fetch`] downloads its WAR by that build's id (resumably), checks it,
//!   and saves it with a [`WarSidecar`] naming the build and its commit.
//!   [`WarFile::open_with_sidecar`] hands that commit to the rollout's records.
//! - **Starting from what runs**: [`discover`] reads the load balancer's nginx config and
//!   upstream and, on each backend's host ([`connect_addresses`]), the container behind
//!   each server; [`render_discovered`] writes a first topology (`ihos init`).
//!
//! Data flows one way: engine → traits → implementations → transport. In the source, each
//! concept has its file: `config/` (topology, policy, durations), `fleet.rs`, `war.rs`,
//! `sha.rs`, `transport/` (SSH, local, the remote file helpers, download), `container/`,
//! `lb/`, `cohort/`, `artifact/` (TeamCity), `discover/` (`ihos init`) and `rollout/`,
//! whose own overview lists its files in the order data flows through them.
//!
//! # Errors
//!
//! One typed error per operation family, each `#[non_exhaustive]` and naming the host,
//! instance, file or command concerned: [`ConfigError`], [`TransportError`],
//! [`ContainerError`], [`LbError`], [`FleetError`], [`WarError`], [`RolloutError`] (with
//! [`UnknownInstance`], shared with [`OpError`]), [`StepError`] (inside a report's
//! [`InstanceFailure`]), [`OpError`], [`CohortError`], [`TokenError`], [`RuleMatchError`],
//! [`CanaryError`] and [`FetchError`].
//!
//! # Example: a rollout
//!
//! Against fake hosts built from the topology, on a paused clock (a 25-second Tomcat start
//! takes no time); with real hosts, `Fleet::connect(topology)?` is the only change.
//!
//! ```
//! use ihos_core::{CancelToken, EventRecord, Fleet, Outcome, RolloutOptions, Topology, WarFile};
//! # use std::io::Write;
//! # const TOPOLOGY: &str = r#"
//! # [hosts.h1]
//! # address = "10.0.0.1"
//! # user = "deploy"
//! # [load_balancer]
//! # host = "h1"
//! # container = "lb"
//! # config = "/etc/lb/nginx.conf"
//! # upstream = "app"
//! # [[instances]]
//! # name = "a"
//! # host = "h1"
//! # container = "app_a"
//! # backend = "10.0.0.1:8081"
//! # webapps = "/srv/a/webapps"
//! # logs = "/srv/a/logs"
//! # health = { url = "http://127.0.0.1:8081/" }
//! # [[instances]]
//! # name = "b"
//! # host = "h1"
//! # container = "app_b"
//! # backend = "10.0.0.1:8082"
//! # webapps = "/srv/b/webapps"
//! # logs = "/srv/b/logs"
//! # health = { url = "http://127.0.0.1:8082/" }
//! # "#;
//! # let dir = tempfile::tempdir()?;
//! # let war_path = dir.path().join("app.war");
//! # let mut z = zip::ZipWriter::new(std::fs::File::create(&war_path)?);
//! # z.add_directory("WEB-INF/", zip::write::SimpleFileOptions::default())?;
//! # z.finish()?;
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()?
//! #     .block_on(async {
//! let topology = Topology::from_toml(TOPOLOGY, "ihos.toml")?;
//! let sim = ihos_testkit::Simulation::new(&topology, &Default::default());
//! let fleet = Fleet::new(topology, sim.hosts)?;
//! let war = WarFile::open(&war_path)?;
//!
//! let (events, mut rx) = tokio::sync::mpsc::unbounded_channel::<EventRecord>();
//! let progress = tokio::spawn(async move {
//!     while let Some(record) = rx.recv().await {
//!         println!("{:6.1}s {}", record.elapsed, serde_json::to_string(&record.event).unwrap());
//!     }
//! });
//! let cancel = CancelToken::new(); // cancel.escalate() from elsewhere stops it cleanly
//! let report = ihos_core::run_rollout(&fleet, &war, &RolloutOptions::new(), &events, &cancel).await?;
//! drop(events);
//! progress.await?;
//! assert_eq!(report.outcome, Outcome::Completed);
//! assert_eq!(report.updated, ["a", "b"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `mocks`: [mockall](https://docs.rs/mockall) mocks of the traits, `MockTransport`,
//!   `MockContainer` and `MockLoadBalancer` (at the root like everything else), for the
//!   tests of code built on ihos-core. mockall mocks a trait's default methods too: a
//!   rollout over `MockTransport`s calls `warm_up` on each, so give it an expectation
//!   (`expect_warm_up().returning(|| ())`). Enable it in the dev-dependencies only:
//!
//!   ```toml
//!   [dev-dependencies]
//!   ihos-core = { version = "0.1", features = ["mocks"] }
//!   mockall = "0.13"
//!   ```
//!
//!   A downstream crate testing its own logic (here: quarantine a backend whose container
//!   is unhealthy) without any host:
//!
//!   ```
//!   use ihos_core::{
//!       Container, ContainerState, Health, LbChange, LoadBalancer, MockContainer,
//!       MockLoadBalancer,
//!   };
//!   use mockall::predicate::eq;
//!
//!   /// The downstream tool's code under test.
//!   async fn quarantine(
//!       container: &dyn Container,
//!       lb: &dyn LoadBalancer,
//!       backend: &str,
//!   ) -> Result<bool, Box<dyn std::error::Error>> {
//!       let state = container.state().await?;
//!       if state.running && state.health != Health::Unhealthy {
//!           return Ok(false);
//!       }
//!       Ok(lb.disable(backend).await?.changed())
//!   }
//!
//!   # #[tokio::main(flavor = "current_thread")]
//!   # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!   // #[tokio::test] async fn unhealthy_backend_leaves_rotation() {
//!   let mut container = MockContainer::new();
//!   container.expect_state().returning(|| {
//!       Ok(ContainerState {
//!           exists: true,
//!           running: true,
//!           health: Health::Unhealthy,
//!           status: "running".into(),
//!           ..ContainerState::missing()
//!       })
//!   });
//!   let mut lb = MockLoadBalancer::new();
//!   lb.expect_disable()
//!       .with(eq("10.0.0.2:8080"))
//!       .times(1)
//!       .returning(|_| {
//!           Ok(LbChange {
//!               before: b"server 10.0.0.2:8080;".to_vec(),
//!               after: b"#server 10.0.0.2:8080;".to_vec(),
//!               diff: String::new(),
//!               message: "commented out".into(),
//!           })
//!       });
//!   assert!(quarantine(&container, &lb, "10.0.0.2:8080").await?);
//!
//!   // A healthy container: the load balancer is not touched (no expectation set).
//!   let mut healthy = MockContainer::new();
//!   healthy.expect_state().returning(|| {
//!       Ok(ContainerState {
//!           exists: true,
//!           running: true,
//!           health: Health::Healthy,
//!           status: "running".into(),
//!           ..ContainerState::missing()
//!       })
//!   });
//!   assert!(!quarantine(&healthy, &MockLoadBalancer::new(), "10.0.0.2:8080").await?);
//!   # Ok(())
//!   # }
//!   ```
//!
//!   The mocks are `mockall::automock` mocks: `expect_<method>()` for every trait method.
//!   `ihos-testkit`'s fake hosts are the other way to test: they interpret the commands
//!   ihos sends and check safety invariants.

#![warn(missing_docs)]
// The public API is exactly the root re-exports below: a `pub` item they do not reach
// must say `pub(crate)` (tests/surface.rs also checks that no module is public).
#![warn(unreachable_pub)]

mod analysis;
mod artifact;
mod cohort;
mod command;
mod config;
mod container;
mod discover;
mod fleet;
mod hosts_check;
mod lb;
mod names;
mod notify;
mod rollout;
mod sha;
mod ssh_config;
mod time;
mod transport;
mod war;

// Commands, names and hosts.
pub use command::{Command, DEFAULT_COMMAND_TIMEOUT, Output, Privilege, shell_quote};

// Canary cohorts.
pub use cohort::{
    Base64Alphabet, Cohort, CohortError, MAX_REGEX_LEN, RegexStyle, RuleMatchError, TokenError,
    TokenInfo, decode_token, is_exact_rule, rule_matches,
};
pub use names::{ContainerName, InvalidName, RemotePath};
#[cfg(feature = "mocks")]
pub use transport::MockTransport;

// TeamCity: fetching the WAR, and its sidecar (build, commit).
pub use artifact::{
    BuildArtifact, BuildRevision, FetchError, FetchOptions, FetchProgress, FetchedWar,
    SidecarCheck, TeamCityBuild, TeamCityClient, WarSidecar,
};
pub use transport::{
    Downloaded, HostKeyPolicy, JumpHost, LocalTransport, SshAuth, SshOptions, SshTarget,
    SshTransport, Transport, TransportError, Uploaded, run_checked,
};

// The OpenSSH client config (`ssh_config` in the topology).
pub use ssh_config::{
    FromConfig, HostSettings, JumpHop, Origin, SshConfig, SshConfigError, StrictHostKeyChecking,
};

// Canary analysis from the access log.
pub use analysis::{
    Analysis, Analyzer, BackendCount, Backends, COMBINED, Escape, Field, Fingerprint, FormatError,
    Histogram, LineReader, LogCursor, LogFormat, LogRead, MannWhitney, Metric, MetricResult,
    Mismatch, Side, SideSummary, SideTally, Tally, Thresholds, Unparsed, Verdict, Window, end_of,
    fisher_greater, hodges_lehmann, mann_whitney_greater, read_head, read_new,
};

// Digests and the WAR.
pub use sha::{Sha256, short_sha};
pub use war::{WarError, WarFile};

// Configuration.
pub use config::{
    AnalysisConfig, AuthConfig, AuthMethod, CanaryConfig, ConfigError, DrainPolicy, Dur, Fraction,
    HealthConfig, HostConfig, HostKeyPolicyConfig, InstanceConfig, LbConfig, LoadOptions,
    OnFailure, Policy, SettingOrigin, TeamCityConfig, Topology,
};
pub use config::{HookConfig, HookOn, HookRun, Lang, NotifyConfig, NotifyKind, NotifyOn};

// Telling the team: chat robots and webhooks.
pub use notify::{InstanceProblem, Notice, Notifier, NotifyingSink, RunInfo, RunKind, WarInfo};

// Containers and the load balancer.
#[cfg(feature = "mocks")]
pub use container::MockContainer;
pub use container::{Container, ContainerError, ContainerState, DockerCli, Health, Process};
pub use lb::{
    ApplyMode, Backend, CanaryRoute, CanaryRule, DisableStyle, LbChange, LbError, LoadBalancer,
    MultiCanaryRoute, MultiLb, NginxCanaryRoute, NginxLb, NginxLbOptions, ServerState,
};
#[cfg(feature = "mocks")]
pub use lb::{MockCanaryRoute, MockLoadBalancer};

// The fleet, the rollout and the operations around it.
pub use fleet::{Fleet, FleetError, InstanceHandle, LbHandle, UnknownInstance};

// `ihos init`: a topology from what is running.
pub use discover::{
    DiscoverConnectError, DiscoverError, DiscoverOptions, Discovered, DiscoveredInstance,
    DiscoveredLb, HostOf, connect_addresses, discover, render as render_discovered,
};
pub use hosts_check::{HostCheck, check_hosts};
pub use rollout::{
    CancelToken, DeploymentRecord, EVENT_SCHEMA, Event, EventRecord, EventSink, InstanceFailure,
    InstanceStatus, InstanceView, Journal, JournalEntry, LbRotation, Left, LockOwner, OpError,
    Outcome, Plan, PlannedInstance, PlannedStep, Problem, RolloutError, RolloutOptions,
    RolloutReport, Step, StepError, StopLevel, drain_instance, enable_instance, history, journal,
    lb_rotations, lock_release, lock_status, plan, run_rollback, run_rollout, status,
};

// The canary.
pub use rollout::{
    AnalyzeError, AnalyzeWindow, CanaryAnalysis, LogSource, RouteTimes, Since, WatchError,
    WatchOptions, WatchProgress, WatchStart, analyze_canary, analyze_local_log,
    run_canary_rollback, watch_canary, watch_start,
};
pub use rollout::{
    CanaryError, CanaryStatus, Release, canary_status, canary_war, close_canary, open_canary,
    run_canary_deploy,
};
pub use rollout::{RampJournal, RampState, ramp_journal, save_ramp_journal};

// Kept releases and going back to one of them.
pub use rollout::{
    BadReleaseRef, InstanceReleases, KeptRelease, ReleaseRef, RunningRelease, describe_kept,
    find_kept_release, releases, run_rollback_to,
};
