//! Fake hosts for testing ihos: fast, in-memory, deterministic, on tokio's (pausable) clock;
//! and [`load`], the load generator for the real sandbox. A test-support crate (not
//! published): everything but `load` is at the crate root (`load`'s error types are too),
//! and it uses ihos-core through ihos-core's root like any other user.
//!
//! # Main types
//!
//! - [`FakeWorld`] holds everything: hosts, one virtual clock ([`VirtualTime`], driven by
//!   `tokio::time::Instant`, so `#[tokio::test(start_paused = true)]` makes a 30-minute wait
//!   free), one event log ([`Event`], [`CommandRecord`]), injected [`Fault`]s, a registry of
//!   upstream backends (`host:port` as in the nginx config → host and container), and the
//!   [`InvariantChecker`].
//! - [`FakeHost`] is one host of a world and implements [`ihos_core::Transport`] by
//!   *interpreting* the commands ihos-core builds over an in-memory filesystem (paths → inodes
//!   with bytes, owner and mode, so an in-place write keeps its inode and a rename does not)
//!   and a fake docker engine. Any other command is an error
//!   (`TransportError::Failed`, stderr `fake host: unsupported command: ...`), so a new
//!   command in real code shows up in tests.
//! - Containers are declared with [`ContainerSpec`]: an app ([`AppSpec`]: Tomcat serving the
//!   WAR present in `webapps` at its start (`AppSpec::war_name`, default [`WAR_NAME`]),
//!   ready after a start delay, logging to `logs/logFile.YYYY-MM-DD.log`) or nginx ([`NginxSpec`]: a host config file bind-mounted
//!   into it; `nginx -t` parses it with [`ihos_nginx::Document`]; the backends getting new
//!   requests are the enabled servers of its upstream in the config it last loaded).
//! - [`InvariantChecker`] runs after every command on any host and records
//!   [`Violation`]s: traffic to a backend that is stopped, starting or unhealthy, no answering
//!   backend, too many backends out of rotation, requests cut by an nginx restart or by
//!   stopping an app that still has connections. [`FakeWorld::check_invariants`] gives the
//!   [`InvariantReport`].
//! - [`Runbook`] builds the runbook's production topology (DESIGN.md §1) in a fake world;
//!   [`Simulation`] builds a world from any [`ihos_core::Topology`] (one fake host per
//!   topology host, nginx with the upstream, a running app per instance), whose
//!   `hosts` go straight into [`ihos_core::Fleet::new`]: that is `ihos rollout --simulate`,
//!   and ihos-core's `embed_rollout` example.
//! - For tests on real hosts: [`DirectRefused`] (an iptables rule refusing root's direct
//!   connections to one loopback host, so that only a jump host reaches it) and [`procs`].
//! - Helpers for assertions: [`sha256_hex`] (a digest as `sha256sum` and the deployment
//!   records write it), [`log_file_name`], the runbook's [`RUNBOOK_NGINX_CONF`] and
//!   [`RUNBOOK_WAR_V1`]; [`Fault`]s (matched by a [`Matcher`]) make commands fail, hang or
//!   disconnect.
//! - [`load`] (`ihos-load` on the command line): constant-concurrency HTTP load against a
//!   loopback target, recording every request, for the sandbox's end-to-end tests; clients
//!   that send one request per connection and clients that reuse keep-alive connections (as
//!   a Java app's HTTP client pool does), counted apart. Its
//!   errors are also at the crate root: [`LoadConfigError`] (a refused target, option or
//!   value), [`LoadError`] (a run that failed), [`UnknownTokenFormat`].
//! - [`FakeTeamCity`] is a TeamCity REST server on loopback (builds, revisions, artifacts,
//!   `Range`, bearer token, injected faults) for `ihos fetch`; [`test_war`] makes WARs for it.
//!
//! # Commands interpreted
//!
//! Exactly these argument shapes (sudo per `Command::privilege`: root if the host allows
//! password-less sudo, else `sudo: a password is required`):
//!
//! | command | notes |
//! |---|---|
//! | `cat -- PATH` | |
//! | `dd of=PATH bs=65536 conv=excl,fsync oflag=nofollow status=none` | stdin → a new PATH (fails if it exists) |
//! | `dd if=SRC of=DST bs=1048576 iflag=nofollow oflag=nofollow conv=excl,fsync status=none` | copy to a new DST |
//! | `dd if=PATH iflag=skip_bytes,count_bytes,nofollow,nonblock skip=N count=M status=none` | M bytes from offset N |
//! | `dd if=PATH bs=N skip=K count=1 iflag=fullblock status=none` | block K (downloads) |
//! | `dd if=SRC of=DST bs=65536 oflag=nofollow conv=fsync status=none` | SRC's bytes into DST (truncates, keeps inode) |
//! | `dd of=PATH oflag=append conv=notrunc,fsync status=none` | stdin appended to PATH |
//! | `sha256sum -- PATH` | |
//! | `stat -c %s -- PATH` | size |
//! | `tail -c +N -- PATH` | bytes from offset N-1 |
//! | `cp -- SRC DST` | an existing DST keeps its inode, owner and mode |
//! | `rm -f -- PATH`, `rm -rf -- PATH` | |
//! | `mv -f -- SRC DST`, `mv -f -T -- SRC DST` | rename: DST gets SRC's inode (`-T`: never into a directory) |
//! | `mkdir -p -- PATH`, `mkdir -- PATH` | the latter fails with `File exists` (locks) |
//! | `test -e\|-f\|-d\|-L PATH` | no links in the fake file system: `-L` is false |
//! | `date +%Y-%m-%d` | the virtual date |
//! | `docker inspect --type container --format {{json .State}} NAME` | JSON like docker's |
//! | `docker start NAME`, `docker stop --time N NAME`, `docker restart --time N NAME` | |
//! | `docker kill --signal SIG NAME` | nginx: HUP reloads, QUIT stops gracefully |
//! | `docker exec NAME nginx [-c P] -t [-q]` | validates the mounted config |
//! | `docker exec NAME nginx [-c P] -s reload` | validates, then reloads gracefully |
//! | `docker exec NAME sh -c 'for f in /proc/[0-9]*/cmdline; ...'` | process listing |
//! | `curl -fsS -o /dev/null -w %{http_code} --max-time N URL` | the app on URL's port |
//! | `curl -sS -o /dev/null -w %{http_code} --max-time N -- URL` | same, no `-f` |
//! | `nsenter -t PID -n ss -Htn state established [sport = :PORT]` | one line per connection |
//! | `sh -c LIST sh PID` (ihos-core's listing of nginx's master) | `ps` lines, a blank line, `/proc/PID/stat` |
//! | `sh -c TEST sh PID START nginx ...` (nginx -t from the host) | 3: not that master, 4: fewer caps or another LSM label, else nsenter's answer |
//! | `sh -c HUP sh PID START` (the reload's SIGHUP from the host) | 3: not that master, else the signal |
//! | `sh -c READ sh PATH N M` (ihos-core's checked log read) | 3: not a regular file, nothing: missing, else M bytes from offset N |
//! | `sh -c SHA sh PATH` (ihos-core's checked digest) | 3: not a regular file, nothing: missing, else sha256sum's line |
//!
//! Anything else, including `docker exec` of other programs, is unsupported. Health:
//! a stopped or starting app refuses connections (curl exit 7); a started app without its
//! WAR, or with the never-healthy fault, answers 503; otherwise 200. Tomcat's lines go to
//! `logs/catalina.YYYY-MM-DD.log` and the app's `logs/logFile.YYYY-MM-DD.log`; the app's
//! own lines (injected exceptions) to the latter only.
//!
//! `upload` writes a staging file next to the destination as the login user, checks its
//! SHA-256 and renames it into place.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ihos_core::{Container, ContainerName, DockerCli};
//! use ihos_testkit::{AppSpec, ContainerSpec, FakeWorld};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let world = FakeWorld::new();
//! let host = world.add_host("app1");
//! host.write_file("/srv/pep1/webapps/ihos.war", b"PK war v1");
//! host.add_container(ContainerSpec::app("pep1", AppSpec::new("/srv/pep1", 39091)).stopped());
//! let docker = DockerCli::new(Arc::new(host.clone()), ContainerName::new("pep1").unwrap());
//! docker.start().await.unwrap();
//! assert!(docker.state().await.unwrap().running);
//! assert_eq!(world.commands().len(), 2);
//! # }
//! ```

#![warn(missing_docs)]

mod clock;
mod container;
mod fake_world;
mod fault;
mod firewall;
mod invariant;
pub mod load;
mod log;
mod loopback_server;
pub mod procs;
mod robots;
mod scenario;
mod sha;
mod simulate;
mod teamcity;
mod world;

pub use clock::{EPOCH_UNIX_SECS, VirtualTime};
pub use container::{
    AppPhase, AppSpec, ContainerInfo, ContainerKind, ContainerSpec, DOCKER_DEFAULT_CAPS, NginxSpec,
    WAR_NAME, log_file_name,
};
pub use fake_world::{FakeHost, FakeWorld};
pub use fault::{Fault, FaultAction, FaultId, Matcher, Op, When};
pub use firewall::DirectRefused;
pub use invariant::{Cause, InvariantChecker, InvariantReport, Violation, ViolationKind};
pub use load::{LoadConfigError, LoadError, UnknownTokenFormat};
pub use log::{CommandRecord, Event, EventKind};
pub use robots::{RobotMessage, RobotReceiver, RobotService};
pub use scenario::{RUNBOOK_NGINX_CONF, RUNBOOK_WAR_V1, Runbook, RunbookBackend};
pub use sha::sha256_hex;
pub use simulate::{Simulation, SimulationOptions, canary_site};
pub use teamcity::{
    BadRange, FakeBuild, FakeRevision, FakeStorage, FakeTeamCity, TeamCityRequest, test_war, zip_of,
};
pub use world::docker::PROCESS_LISTING_PREFIX;
pub use world::fs::{FileInfo, FsSnapshot};
