//! The fake Tomcat app: what happens when its container starts (it loads
//! `webapps/ihos.war`), becomes ready after its start delay (Tomcat's startup line in
//! `logs/catalina.YYYY-MM-DD.log` and in the app's `logs/logFile.YYYY-MM-DD.log`, the WAR
//! exploded into `webapps/ihos/` (its `AppSpec::war_name` without `.war`), an injected
//! exception line later, in the app's log only), stops (requests in flight are cut), and
//! how many connections it has (from nginx's routing and draining, plus held ones).

use super::World;
use super::fs::ROOT;
use crate::clock::VirtualTime;
use crate::container::{AppPhase, dated};
use crate::log::EventKind;
use crate::sha::sha256_hex;

impl World {
    /// Starts an app container at `at`: new pid, loads the WAR present now.
    pub(crate) fn app_start(&mut self, host: &str, name: &str, at: VirtualTime) {
        let pid = self.pid();
        let h = self.host_mut(host);
        let Some(spec) = h.containers.get(name).and_then(|c| c.app_spec()).cloned() else {
            return;
        };
        let war = format!("{}/{}", spec.webapps, spec.war_name);
        let serving = h.fs.get(&war).map(sha256_hex);
        let deployed: Vec<String> =
            h.fs.list(&spec.webapps)
                .into_iter()
                .filter(|n| n.ends_with(".war") && h.fs.is_file(&format!("{}/{n}", spec.webapps)))
                .collect();
        let c = h.containers.get_mut(name).expect("container exists");
        c.running = true;
        c.pid = pid;
        c.started = Some(at);
        c.finished = None;
        c.exit_code = 0;
        c.starts += 1;
        c.app.ready_logged = false;
        c.app.pending_log.clear();
        c.app.pending_log.push((
            at,
            "INFO [main] org.apache.catalina.startup.VersionLoggerListener.log Server version name:   Apache Tomcat/10.1.16".into(),
            true,
        ));
        for w in &deployed {
            c.app.pending_log.push((
                at,
                format!(
                    "INFO [main] org.apache.catalina.startup.HostConfig.deployWAR Deploying web application archive [/usr/local/tomcat/webapps/{w}]"
                ),
                true,
            ));
        }
        c.app.serving = serving;
        c.app.deployed = deployed;
        self.app_agenda.insert((host.to_string(), name.to_string()));
        self.push_event(
            host,
            at,
            EventKind::Container {
                container: name.into(),
                change: format!("started pid {pid}"),
            },
        );
    }

    /// Stops a running app container at `now`, cutting its requests in flight.
    pub(crate) fn app_stop(
        &mut self,
        host: &str,
        name: &str,
        now: VirtualTime,
        exit_code: i64,
        how: &str,
    ) {
        if !self.ctr(host, name).is_some_and(|c| c.running) {
            return;
        }
        self.sync_apps(now);
        let conns = self.connections(host, name, now);
        self.cut(
            format!("{host}/{name}"),
            conns,
            format!("{how} with {conns} requests in flight"),
        );
        let c = self.ctr_mut(host, name).expect("container exists");
        c.running = false;
        c.finished = Some(now);
        c.exit_code = exit_code;
        c.app.held.clear();
        c.app.pending_log.retain(|(t, ..)| *t <= now);
        self.app_agenda.insert((host.to_string(), name.to_string()));
        let c = self.ctr_mut(host, name).expect("container exists");
        c.app.pending_log.push((
            now,
            "INFO [main] org.apache.catalina.core.StandardServer.await A valid shutdown command was received via the shutdown port. Stopping the Server instance.".into(),
            true,
        ));
        self.flush_app_log(host, name, now);
        self.push_event(
            host,
            now,
            EventKind::Container {
                container: name.into(),
                change: format!("{how}: exited with {exit_code}"),
            },
        );
    }

    /// Readiness and log lines of every app up to `now`.
    pub(crate) fn sync_apps(&mut self, now: VirtualTime) {
        // This runs before every command: only the apps on the agenda are looked at, and
        // those with nothing pending any more leave it.
        let mut apps: Vec<(String, String)> = Vec::new();
        let mut idle: Vec<(String, String)> = Vec::new();
        for (h, n) in &self.app_agenda {
            let Some(c) = self.ctr(h, n) else {
                idle.push((h.clone(), n.clone()));
                continue;
            };
            let waiting_ready = c.running && c.ready_at().is_some() && !c.app.ready_logged;
            if !waiting_ready && c.app.pending_log.is_empty() {
                idle.push((h.clone(), n.clone()));
                continue;
            }
            let due = c.running
                && c.app_spec().is_some()
                && (c
                    .ready_at()
                    .is_some_and(|r| r <= now && !c.app.ready_logged)
                    || c.app.pending_log.iter().any(|(t, ..)| *t <= now));
            if due {
                apps.push((h.clone(), n.clone()));
            }
        }
        for key in idle {
            self.app_agenda.remove(&key);
        }
        for (host, name) in apps {
            let c = self.ctr_mut(&host, &name).expect("listed");
            if let Some(ready) = c.ready_at().filter(|r| *r <= now && !c.app.ready_logged) {
                c.app.ready_logged = true;
                let ms = c.spec.start_delay.as_millis();
                c.app.pending_log.push((
                    ready,
                    format!(
                        "INFO [main] org.apache.catalina.startup.Catalina.start Server startup in [{ms}] milliseconds"
                    ),
                    true,
                ));
                if let Some((after, line)) = c.spec.exception.clone().filter(|_| c.faults_apply()) {
                    c.app.pending_log.push((
                        ready.plus(after),
                        format!("ERROR [http-nio-8080-exec-1] com.ihos.web.Application - {line}\n\tat com.ihos.web.Application.handle(Application.java:42)\n\tat java.base/java.lang.Thread.run(Thread.java:840)"),
                        false,
                    ));
                }
                let serving = c.app.serving.clone();
                let spec = c.app_spec().expect("app");
                let webapps = spec.webapps.clone();
                // Tomcat explodes `NAME.war` into `NAME/`.
                let exploded = spec
                    .war_name
                    .strip_suffix(".war")
                    .unwrap_or(&spec.war_name)
                    .to_string();
                let phase = c.phase(now);
                if let Some(sha) = serving {
                    let h = self.host_mut(&host);
                    h.fs.put_file(
                        &format!("{webapps}/{exploded}/META-INF/MANIFEST.MF"),
                        format!("Manifest-Version: 1.0\nIhos-War-Sha256: {sha}\n").as_bytes(),
                        ROOT,
                        0o644,
                    );
                }
                self.push_event(
                    &host,
                    ready,
                    EventKind::Container {
                        container: name.clone(),
                        change: format!("Tomcat started: {phase:?}"),
                    },
                );
            }
            self.flush_app_log(&host, &name, now);
        }
    }

    /// Writes the log lines due by `now` into the day's log files: Tomcat's lines into
    /// Tomcat's log and the app's, the app's own lines into the app's.
    fn flush_app_log(&mut self, host: &str, name: &str, now: VirtualTime) {
        let h = self.host_mut(host);
        let Some(c) = h.containers.get_mut(name) else {
            return;
        };
        let Some(spec) = c.app_spec().cloned() else {
            return;
        };
        let mut due: Vec<(VirtualTime, String, bool)> = Vec::new();
        c.app.pending_log.retain(|(t, line, tomcat)| {
            if *t <= now {
                due.push((*t, line.clone(), *tomcat));
                false
            } else {
                true
            }
        });
        due.sort_by_key(|(t, ..)| *t);
        for (t, line, tomcat) in due {
            let mut files = vec![dated(&spec.app_log, t)];
            if tomcat {
                files.push(dated(&spec.tomcat_log, t));
            }
            for file in files {
                let path = format!("{}/{file}", spec.logs);
                let mut bytes = h.fs.get(&path).map(<[u8]>::to_vec).unwrap_or_default();
                bytes.extend_from_slice(format!("{} {line}\n", t.tomcat_stamp()).as_bytes());
                let (owner, mode) =
                    h.fs.stat(&path)
                        .map_or((ROOT.to_string(), 0o640), |i| (i.owner, i.mode));
                h.fs.put_file(&path, &bytes, &owner, mode);
            }
        }
    }

    /// Upstream addresses registered for an app container.
    pub(crate) fn addresses_of(&self, host: &str, name: &str) -> Vec<String> {
        self.backends_of
            .get(&(host.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Established connections of an app container at `now`: requests nginx routes or
    /// still drains to it (when it answers), plus held ones.
    pub(crate) fn connections(&self, host: &str, name: &str, now: VirtualTime) -> usize {
        let Some(c) = self.ctr(host, name) else {
            return 0;
        };
        if !c.running {
            return 0;
        }
        let held: usize = c
            .app
            .held
            .iter()
            .filter(|(until, _)| *until > now)
            .map(|(_, n)| n)
            .sum();
        if c.phase(now) != AppPhase::Ready {
            return held;
        }
        let addrs = self.addresses_of(host, name);
        let mut n = held;
        for (h, l) in &self.lbs {
            if let Some(lb) = self.ctr(h, l).filter(|c| c.running) {
                for a in &addrs {
                    if lb.nginx.routing.contains(a)
                        || lb.nginx.draining.get(a).is_some_and(|until| *until > now)
                    {
                        n += self.connections_per_backend;
                    }
                }
            }
        }
        n
    }
}
