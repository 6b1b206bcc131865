//! Containers of the fake docker engine as tests see them: what a test declares
//! ([`ContainerSpec`] with an [`AppSpec`] or [`NginxSpec`]) and what it can observe
//! ([`ContainerInfo`], [`AppPhase`]); the app's WAR and log file names. The runtime state
//! the engine keeps is in `world::container`.

use std::time::Duration;

use crate::clock::VirtualTime;

/// The WAR the app serves, in its webapps directory.
pub const WAR_NAME: &str = "ihos.war";

/// The default app log file name for a date: `logFile.YYYY-MM-DD.log`.
pub fn log_file_name(at: VirtualTime) -> String {
    dated("logFile.%Y-%m-%d.log", at)
}

/// `pattern` with `%Y`, `%m`, `%d` replaced by `at`'s date.
pub(crate) fn dated(pattern: &str, at: VirtualTime) -> String {
    let date = at.date();
    pattern
        .replace("%Y", &date[..4])
        .replace("%m", &date[5..7])
        .replace("%d", &date[8..10])
}

/// A Tomcat app container: its host directories and published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    /// Host directory mounted as Tomcat's `webapps` (holds `ihos.war`).
    pub webapps: String,
    /// Host directory mounted as Tomcat's `logs`.
    pub logs: String,
    /// The app's log file name, `%Y`, `%m`, `%d` replaced by the date (default
    /// `logFile.%Y-%m-%d.log`): Tomcat's lines and the app's own (exceptions).
    pub app_log: String,
    /// Tomcat's own log file name (default `catalina.%Y-%m-%d.log`): Tomcat's lines only.
    pub tomcat_log: String,
    /// Host port published for Tomcat (the port in the nginx upstream).
    pub port: u16,
    /// The port Tomcat listens on inside the container (default 8080); `ss` shows
    /// connections to it.
    pub container_port: u16,
    /// The WAR's file name in `webapps` (default [`WAR_NAME`], `ihos.war`).
    pub war_name: String,
}

impl AppSpec {
    /// `base/webapps` and `base/logs` (e.g. base `/opt/docker/ihos/pep1/tomcat`), `port`.
    pub fn new(base: &str, port: u16) -> Self {
        let base = base.trim_end_matches('/');
        AppSpec {
            webapps: format!("{base}/webapps"),
            logs: format!("{base}/logs"),
            app_log: "logFile.%Y-%m-%d.log".into(),
            tomcat_log: "catalina.%Y-%m-%d.log".into(),
            port,
            container_port: 8080,
            war_name: WAR_NAME.into(),
        }
    }
}

/// docker's default bounding set (docker 20.10, `oci/caps/defaults.go`): CHOWN,
/// DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
/// NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
pub const DOCKER_DEFAULT_CAPS: u64 = 0xa804_25fb;

/// An nginx container whose config is a single host file bind-mounted into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxSpec {
    /// The config file on the host.
    pub config: String,
    /// Where it is mounted in the container (nginx's default config path).
    pub config_in_container: String,
    /// The upstream whose enabled servers get the traffic.
    pub upstream: String,
    /// How long old workers keep serving in-flight requests after a reload.
    pub drain: Duration,
    /// How long after `nginx -s reload` returns the new workers take over.
    pub reload_delay: Duration,
    /// Worker processes.
    pub workers: usize,
    /// The container's main process is a shell that started nginx (`sh -c 'nginx -g
    /// "daemon off;"'` where the shell stays, e.g. a script with more than one command):
    /// a signal to the container reaches the shell, which as PID 1 without a handler
    /// ignores it (Linux: the kernel drops signals PID 1 has no handler for), so
    /// `docker kill --signal HUP` does not reload nginx.
    pub behind_shell: bool,
    /// The user id nginx's master runs as on the host: 0 (the official image), or e.g.
    /// 101 for `nginxinc/nginx-unprivileged`, whose image sets `USER 101` (so `docker
    /// exec` runs as 101 too).
    pub master_uid: u32,
    /// The bounding capability set of its processes (proc(5) `CapBnd`): docker's default
    /// set (`00000000a80425fb`, docker 20.10) unless the container drops some.
    pub cap_bnd: u64,
    /// Its processes' LSM label (proc(5) `/proc/PID/attr/current`): `None` on a host with
    /// no LSM (this machine kind), `docker-default (enforce)` under AppArmor, a
    /// `container_t` label under SELinux.
    pub lsm_label: Option<String>,
}

impl NginxSpec {
    /// Config `config` on the host, mounted at `/etc/nginx/nginx.conf`, routing to
    /// `upstream`; 5 s drain, reloads take effect at once, 2 workers.
    pub fn new(config: &str, upstream: &str) -> Self {
        NginxSpec {
            config: config.into(),
            config_in_container: "/etc/nginx/nginx.conf".into(),
            upstream: upstream.into(),
            drain: Duration::from_secs(5),
            reload_delay: Duration::ZERO,
            workers: 2,
            behind_shell: false,
            master_uid: 0,
            cap_bnd: DOCKER_DEFAULT_CAPS,
            lsm_label: None,
        }
    }

    /// Started with `--cap-drop` of the capabilities in `mask` (bit N: capability N).
    pub fn drops_caps(mut self, mask: u64) -> Self {
        self.cap_bnd &= !mask;
        self
    }

    /// Its processes confined by the LSM label `label`.
    pub fn labelled(mut self, label: &str) -> Self {
        self.lsm_label = Some(label.into());
        self
    }

    /// nginx runs as `uid` (master and workers), as in an unprivileged image.
    pub fn runs_as(mut self, uid: u32) -> Self {
        self.master_uid = uid;
        self
    }

    /// Started by a shell that stays the container's main process (see
    /// [`NginxSpec::behind_shell`]).
    pub fn behind_shell(mut self) -> Self {
        self.behind_shell = true;
        self
    }

    /// Mounted at `path` in the container.
    pub fn mounted_at(mut self, path: &str) -> Self {
        self.config_in_container = path.into();
        self
    }

    /// Old workers serve in-flight requests for `drain` after a reload.
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// New workers take over `delay` after `nginx -s reload` returns.
    pub fn reload_delay(mut self, delay: Duration) -> Self {
        self.reload_delay = delay;
        self
    }
}

/// What kind of container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerKind {
    /// A Tomcat app.
    App(AppSpec),
    /// nginx.
    Nginx(NginxSpec),
}

/// A container to create with [`crate::FakeWorld::add_container`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub(crate) name: String,
    pub(crate) kind: ContainerKind,
    pub(crate) start_delay: Duration,
    pub(crate) never_healthy: bool,
    pub(crate) warm_up: Duration,
    pub(crate) exception: Option<(Duration, String)>,
    /// When set, `never_healthy` and `exception` hit only while serving this WAR.
    pub(crate) faulty_build: Option<String>,
    pub(crate) healthcheck: bool,
    pub(crate) running_since: Option<Duration>,
}

impl ContainerSpec {
    fn new(name: &str, kind: ContainerKind) -> Self {
        ContainerSpec {
            name: name.into(),
            kind,
            start_delay: Duration::from_secs(2),
            never_healthy: false,
            warm_up: Duration::ZERO,
            exception: None,
            faulty_build: None,
            healthcheck: false,
            running_since: Some(Duration::from_secs(3600)),
        }
    }

    /// A Tomcat app container; running (and ready) since an hour before the world's start,
    /// 2 s from start to ready, no docker health check.
    pub fn app(name: &str, app: AppSpec) -> Self {
        Self::new(name, ContainerKind::App(app))
    }

    /// An nginx container, running since an hour before the world's start.
    pub fn nginx(name: &str, nginx: NginxSpec) -> Self {
        Self::new(name, ContainerKind::Nginx(nginx))
    }

    /// Time from `docker start` until Tomcat has started and the app answers.
    pub fn start_delay(mut self, d: Duration) -> Self {
        self.start_delay = d;
        self
    }

    /// Fault: Tomcat starts but the app never answers its health probe (HTTP 503; docker
    /// health `unhealthy` with [`ContainerSpec::with_healthcheck`]).
    pub fn never_healthy(mut self) -> Self {
        self.never_healthy = true;
        self
    }

    /// After its startup line, the app answers its health probe with 503 for `d` more (a
    /// health endpoint that waits for a cache or a connection pool to warm up).
    pub fn warm_up(mut self, d: Duration) -> Self {
        self.warm_up = d;
        self
    }

    /// Fault: `after` each time it has started (become ready), the app logs `line` as an
    /// ERROR with a stack frame.
    pub fn exception_after_start(mut self, after: Duration, line: &str) -> Self {
        self.exception = Some((after, line.into()));
        self
    }

    /// The faults of this spec ([`ContainerSpec::never_healthy`],
    /// [`ContainerSpec::exception_after_start`]) hit only while the app serves the WAR whose
    /// SHA-256 is `sha256` (a bad build); any other release runs normally, so a rollback to
    /// the previous release succeeds.
    pub fn faults_only_serving(mut self, sha256: &str) -> Self {
        self.faulty_build = Some(sha256.into());
        self
    }

    /// The container has a docker health check (inspect shows `Health`).
    pub fn with_healthcheck(mut self) -> Self {
        self.healthcheck = true;
        self
    }

    /// Created but stopped at the world's start.
    pub fn stopped(mut self) -> Self {
        self.running_since = None;
        self
    }

    /// Started `ago` before the world's start (zero: starts with the world).
    pub fn running_since(mut self, ago: Duration) -> Self {
        self.running_since = Some(ago);
        self
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its kind.
    pub fn kind(&self) -> &ContainerKind {
        &self.kind
    }
}

/// Where an app container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AppPhase {
    /// Not running.
    Stopped,
    /// Running; Tomcat has not finished starting (connections refused).
    Starting,
    /// Running, started, but the app does not answer OK (fault, or no WAR).
    Unhealthy,
    /// Running and answering.
    Ready,
}

/// What a test can see of a container: [`crate::FakeHost::container`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Its name.
    pub name: String,
    /// Whether it runs.
    pub running: bool,
    /// Docker's status word: `running`, `exited`, `created`.
    pub status: String,
    /// Main process id (new at each start), when running.
    pub pid: Option<u32>,
    /// When it last started.
    pub started_at: Option<VirtualTime>,
    /// For an app: its phase now.
    pub phase: Option<AppPhase>,
    /// For an app: SHA-256 of the `ihos.war` it loaded at its last start.
    pub serving: Option<String>,
    /// Exit code of the last run.
    pub exit_code: i64,
    /// How many times it was started (by docker start/restart) since the world began.
    pub starts: u32,
}
