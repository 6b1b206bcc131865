//! The fake nginx: validates its bind-mounted config like `nginx -t` (parsing it with
//! `ihos_nginx::Document`), and decides which backends get new requests: the enabled
//! servers of its upstream in the config it last loaded. A reload is graceful (old workers
//! keep serving in-flight requests for the drain time); a stop or restart is not (requests
//! in flight are cut).

use ihos_core::Output;
use ihos_nginx::{Document, ParseErrorKind, ServerState};

use std::sync::Arc;

use super::container::{Loaded, Parsed, RejectRule, Worker};
use super::fs::Cred;
use super::{World, out};
use crate::clock::VirtualTime;
use crate::container::AppPhase;
use crate::log::EventKind;

/// Why the fake nginx refuses a config. The text is real nginx's `[emerg]` message after
/// `nginx: [emerg] `, `... in FILE:LINE`: it becomes the output of the fake `nginx -t`,
/// `nginx -s reload` and the container's start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NginxConfigError {
    /// An injected rejection ([`crate::FakeWorld::nginx_rejects`]), reported at line 1.
    #[error("{message} in {file}:1")]
    Rejected {
        /// The fault's message.
        message: String,
        /// The config file as nginx names it.
        file: String,
    },
    /// A syntax error.
    #[error("{kind} in {file}:{line}")]
    Syntax {
        /// What is wrong (nginx's wording).
        kind: ParseErrorKind,
        /// The config file as nginx names it.
        file: String,
        /// Where nginx stops reading.
        line: u32,
    },
    /// An upstream whose servers are all commented out.
    #[error("no servers are inside upstream in {file}:{line}")]
    EmptyUpstream {
        /// The config file as nginx names it.
        file: String,
        /// The `upstream` directive's line.
        line: u32,
    },
}

/// Why docker refuses to start the nginx container; the text is docker's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NginxStartError {
    /// The bind-mounted config file does not exist on the host.
    #[error(
        "Error response from daemon: invalid mount config for type \"bind\": bind source path does not exist: {path}"
    )]
    BindSourceMissing {
        /// The config file on the host.
        path: String,
    },
}

/// Checks a config as `nginx -t` does (syntax, and every upstream has a server) and reads
/// `upstream`'s servers from it. `last`: the config parsed before: the same bytes are that
/// one again, other bytes are parsed from it (the same result as a whole parse, in time of
/// what changed: a fleet-wide run reloads once per wave); it becomes the new one when that
/// parses.
pub(crate) fn validate(
    bytes: &[u8],
    file: &str,
    rejects: &[RejectRule],
    upstream: &str,
    last: &mut Option<Loaded>,
) -> Result<Loaded, NginxConfigError> {
    for (pred, message) in rejects {
        if pred(bytes) {
            return Err(NginxConfigError::Rejected {
                message: message.clone(),
                file: file.to_string(),
            });
        }
    }
    if let Some(same) = last.as_ref().filter(|l| l.doc.source() == bytes) {
        return Ok(Arc::clone(same));
    }
    let parsed = match last.as_ref() {
        Some(before) => before.doc.reparse(bytes),
        None => Document::parse(bytes),
    };
    let doc = parsed.map_err(|e| NginxConfigError::Syntax {
        kind: e.kind,
        file: file.to_string(),
        line: e.position.line,
    })?;
    let mut servers = Vec::new();
    for up in doc.upstreams() {
        if up.servers.iter().all(|s| s.state == ServerState::Commented) {
            return Err(NginxConfigError::EmptyUpstream {
                file: file.to_string(),
                line: up.line,
            });
        }
        if up.name == upstream {
            servers.extend((up.servers.into_iter()).map(|s| (s.address, s.state.is_enabled())));
        }
    }
    let loaded = Arc::new(Parsed { doc, servers });
    *last = Some(Arc::clone(&loaded));
    Ok(loaded)
}

/// `2026/01/05 09:00:00`, nginx's error log time.
fn nginx_stamp(t: VirtualTime) -> String {
    t.strftime("%Y/%m/%d %H:%M:%S")
}

/// What `nginx ARGS` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NginxOp {
    /// `-t` (quiet with `-q`).
    Test { quiet: bool },
    /// `-s reload`.
    Reload,
}

/// Parses `[-c PATH] (-t [-q] | -s reload)`.
pub(crate) fn parse_nginx_args<'a>(args: &[&'a str]) -> Option<(Option<&'a str>, NginxOp)> {
    let (conf, rest) = match args {
        ["-c", p, rest @ ..] => (Some(*p), rest),
        rest => (None, rest),
    };
    let op = match rest {
        ["-t", "-q"] => NginxOp::Test { quiet: true },
        ["-t"] => NginxOp::Test { quiet: false },
        ["-s", "reload"] => NginxOp::Reload,
        _ => return None,
    };
    Some((conf, op))
}

impl World {
    /// The config bytes the nginx container sees (the inode its bind mount holds).
    pub(crate) fn nginx_view(&self, host: &str, name: &str) -> Option<Vec<u8>> {
        let c = self.ctr(host, name)?;
        let ino = c.nginx.pinned?;
        self.host(host).fs.inode(ino)?.data.clone()
    }

    fn spawn_workers(&mut self, host: &str, name: &str) {
        let c = self.ctr_mut(host, name).expect("nginx container");
        let n = c.nginx_spec().map_or(1, |s| s.workers);
        for _ in 0..n {
            c.nginx.next_inner_pid += 1;
            let pid = c.nginx.next_inner_pid;
            c.nginx.workers.push(Worker {
                pid,
                retiring_until: None,
            });
        }
    }

    /// Starts an nginx container at `at`: the bind mount takes the config file's current
    /// inode; an invalid config makes the container exit with 1 at once. `Err`: docker
    /// refuses to start it (the mount source is missing).
    pub(crate) fn nginx_start(
        &mut self,
        host: &str,
        name: &str,
        at: VirtualTime,
    ) -> Result<(), NginxStartError> {
        let spec = self
            .ctr(host, name)
            .and_then(|c| c.nginx_spec())
            .cloned()
            .expect("nginx container");
        let h = self.host(host);
        let ino =
            h.fs.lookup(&spec.config, &Cred::root())
                .ok()
                .filter(|_| h.fs.is_file(&spec.config))
                .ok_or_else(|| NginxStartError::BindSourceMissing {
                    path: spec.config.clone(),
                })?;
        let pid = self.pid();
        let c = self.ctr_mut(host, name).expect("nginx container");
        c.nginx.pinned = Some(ino);
        c.pid = pid;
        c.started = Some(at);
        c.finished = None;
        c.starts += 1;
        c.nginx.next_inner_pid = 20;
        c.nginx.workers.clear();
        c.nginx.routing.clear();
        c.nginx.servers.clear();
        c.nginx.counts.clear();
        c.nginx.active = None;
        c.nginx.draining.clear();
        c.nginx.pending = None;
        let bytes = self.nginx_view(host, name).unwrap_or_default();
        let c = self.ctr_mut(host, name).expect("nginx container");
        match validate(
            &bytes,
            &spec.config_in_container,
            &c.nginx.rejects,
            &spec.upstream,
            &mut c.nginx.parsed,
        ) {
            Err(msg) => {
                c.running = false;
                c.exit_code = 1;
                c.finished = Some(at);
                self.push_event(
                    host,
                    at,
                    EventKind::Container {
                        container: name.into(),
                        change: format!("started pid {pid}, exited with 1: nginx: [emerg] {msg}"),
                    },
                );
            }
            Ok(loaded) => {
                c.running = true;
                c.exit_code = 0;
                c.nginx.load(loaded);
                let routing = c.nginx.routing.iter().cloned().collect();
                self.spawn_workers(host, name);
                self.push_event(
                    host,
                    at,
                    EventKind::Container {
                        container: name.into(),
                        change: format!("started pid {pid}"),
                    },
                );
                self.push_event(
                    host,
                    at,
                    EventKind::NginxApplied {
                        container: name.into(),
                        how: "start",
                        routing,
                    },
                );
            }
        }
        Ok(())
    }

    /// Stops nginx at `now`. Not graceful: requests in flight (to backends that answer,
    /// including those old workers were draining) are cut.
    pub(crate) fn nginx_stop(
        &mut self,
        host: &str,
        name: &str,
        now: VirtualTime,
        graceful: bool,
        exit_code: i64,
    ) {
        let Some(c) = self.ctr(host, name).filter(|c| c.running) else {
            return;
        };
        let in_flight: Vec<&String> = c
            .nginx
            .routing
            .iter()
            .chain(
                c.nginx
                    .draining
                    .iter()
                    .filter(|(_, until)| **until > now)
                    .map(|(a, _)| a),
            )
            .collect();
        let answering = in_flight
            .iter()
            .filter(|a| self.backend_phase(a, now) == Some(AppPhase::Ready))
            .count();
        let cut = if graceful {
            0
        } else {
            answering * self.connections_per_backend
        };
        self.cut(
            format!("{host}/{name}"),
            cut,
            format!("nginx stopped with {cut} requests in flight"),
        );
        let c = self.ctr_mut(host, name).expect("nginx container");
        c.running = false;
        c.finished = Some(now);
        c.exit_code = exit_code;
        c.nginx.routing.clear();
        c.nginx.draining.clear();
        c.nginx.workers.clear();
        c.nginx.pending = None;
        self.push_event(
            host,
            now,
            EventKind::Container {
                container: name.into(),
                change: format!("stopped, exit {exit_code}"),
            },
        );
    }

    /// The phase of the app behind an upstream address, if registered.
    pub(crate) fn backend_phase(&self, address: &str, now: VirtualTime) -> Option<AppPhase> {
        let (h, c) = self.registry.get(address)?;
        Some(self.ctr(h, c).map_or(AppPhase::Stopped, |c| c.phase(now)))
    }

    /// A graceful reload taking effect at `at` with `loaded`.
    fn nginx_activate(&mut self, host: &str, name: &str, at: VirtualTime, loaded: Loaded) {
        let c = self.ctr_mut(host, name).expect("nginx container");
        let spec = c.nginx_spec().cloned().expect("nginx");
        let until = at.plus(spec.drain);
        let changed = c.nginx.load(loaded);
        for a in &changed {
            if c.nginx.routing.contains(a) {
                c.nginx.draining.remove(a);
            } else {
                c.nginx.draining.insert(a.clone(), until);
            }
        }
        for w in c.nginx.workers.iter_mut() {
            w.retiring_until.get_or_insert(until);
        }
        let routing = c.nginx.routing.iter().cloned().collect();
        // The checker looks at the backends whose routing changed, not at every one.
        let lb = format!("{host}/{name}");
        self.check.rerouted.entry(lb).or_default().extend(changed);
        self.spawn_workers(host, name);
        self.push_event(
            host,
            at,
            EventKind::NginxApplied {
                container: name.into(),
                how: "reload",
                routing,
            },
        );
    }

    /// Reload requested at `now` (`nginx -s reload` or SIGHUP): validates what the
    /// container sees and takes it into use (after the spec's reload delay).
    pub(crate) fn nginx_reload(
        &mut self,
        host: &str,
        name: &str,
        now: VirtualTime,
    ) -> Result<(), NginxConfigError> {
        let bytes = self.nginx_view(host, name).unwrap_or_default();
        let c = self.ctr_mut(host, name).expect("nginx container");
        let spec = c.nginx_spec().cloned().expect("nginx");
        let loaded = validate(
            &bytes,
            &spec.config_in_container,
            &c.nginx.rejects,
            &spec.upstream,
            &mut c.nginx.parsed,
        )?;
        if spec.reload_delay.is_zero() {
            self.nginx_activate(host, name, now, loaded);
        } else {
            c.nginx.pending = Some((now.plus(spec.reload_delay), loaded));
        }
        Ok(())
    }

    /// Pending reloads and draining up to `now`.
    pub(crate) fn sync_nginx(&mut self, now: VirtualTime) {
        // The nginx containers alone: this runs before every command.
        let lbs: Vec<(String, String)> = (self.lbs.iter())
            .filter(|(h, n)| self.ctr(h, n).is_some_and(|c| c.running))
            .cloned()
            .collect();
        for (host, name) in lbs {
            let c = self.ctr_mut(&host, &name).expect("listed");
            if let Some((at, loaded)) = c.nginx.pending.take_if(|(at, _)| *at <= now) {
                self.nginx_activate(&host, &name, at, loaded);
            }
            let c = self.ctr_mut(&host, &name).expect("listed");
            c.nginx.draining.retain(|_, until| *until > now);
            c.nginx
                .workers
                .retain(|w| w.retiring_until.is_none_or(|u| u > now));
        }
    }

    /// `docker exec NAME nginx [-c P] (-t [-q] | -s reload)` in an nginx container.
    pub(crate) fn nginx_exec(
        &mut self,
        host: &str,
        name: &str,
        args: &[String],
        now: VirtualTime,
    ) -> Option<Output> {
        let spec = self.ctr(host, name)?.nginx_spec()?.clone();
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (conf, op) = parse_nginx_args(&a)?;
        let conf = conf.map_or_else(|| spec.config_in_container.clone(), str::to_string);
        let test = match op {
            NginxOp::Test { quiet } => Some(quiet),
            NginxOp::Reload => None,
        };
        if conf != spec.config_in_container {
            let mut msg =
                format!("nginx: [emerg] open() \"{conf}\" failed (2: No such file or directory)\n");
            if test.is_some() {
                msg.push_str(&format!("nginx: configuration file {conf} test failed\n"));
            }
            return Some(out(1, "", msg));
        }
        Some(match test {
            Some(quiet) => {
                let bytes = self.nginx_view(host, name).unwrap_or_default();
                let nginx = &mut self.ctr_mut(host, name)?.nginx;
                match validate(
                    &bytes,
                    &conf,
                    &nginx.rejects,
                    &spec.upstream,
                    &mut nginx.parsed,
                ) {
                    Ok(_) if quiet => out(0, "", ""),
                    Ok(_) => out(
                        0,
                        "",
                        format!(
                            "nginx: the configuration file {conf} syntax is ok\nnginx: configuration file {conf} test is successful\n"
                        ),
                    ),
                    Err(m) => out(
                        1,
                        "",
                        format!(
                            "nginx: [emerg] {m}\nnginx: configuration file {conf} test failed\n"
                        ),
                    ),
                }
            }
            None => match self.nginx_reload(host, name, now) {
                Ok(()) => {
                    let pid = self.ctr(host, name)?.nginx.next_inner_pid + 1;
                    out(
                        0,
                        "",
                        format!(
                            "{} [notice] {pid}#{pid}: signal process started\n",
                            nginx_stamp(now)
                        ),
                    )
                }
                Err(m) => out(1, "", format!("nginx: [emerg] {m}\n")),
            },
        })
    }
}
