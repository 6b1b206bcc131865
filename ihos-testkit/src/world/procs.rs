//! What a container's process list shows: `docker top` from the host, or the `/proc`
//! listing script run inside it. nginx's master and workers (old ones "shutting down"
//! after a reload), or Tomcat's java.

use super::World;

impl World {
    /// `docker top NAME -o pid,args`: a `PID COMMAND` header, then the container's
    /// processes with their pids as the host sees them (another pid namespace than inside
    /// the container: offset here), left-aligned in a column as docker prints them.
    pub(crate) fn process_table(&mut self, host: &str, name: &str) -> String {
        const HOST_PIDS: u32 = 40_000;
        let c = self.ctr_mut(host, name).expect("container");
        let mut rows: Vec<(u32, String)> = Vec::new();
        if c.nginx_spec().is_some() {
            // The master is the container's main process (the official image runs
            // `nginx -g 'daemon off;'`): its host pid is the one `docker inspect` gives as
            // State.Pid, as on a real engine (checked with docker 20.10).
            let behind_shell = c.nginx_spec().is_some_and(|n| n.behind_shell);
            if behind_shell {
                rows.push((
                    c.pid,
                    "/bin/sh -c nginx -g 'daemon off;'; echo stopped".into(),
                ));
            }
            let master = if behind_shell { HOST_PIDS + 1 } else { c.pid };
            rows.push((master, "nginx: master process nginx -g daemon off;".into()));
            for w in &c.nginx.workers {
                let state = if w.retiring_until.is_some() {
                    " is shutting down"
                } else {
                    ""
                };
                rows.push((HOST_PIDS + w.pid, format!("nginx: worker process{state}")));
            }
        } else {
            rows.push((
                HOST_PIDS + 1,
                "/opt/java/openjdk/bin/java -Dcatalina.base=/usr/local/tomcat org.apache.catalina.startup.Bootstrap start".into(),
            ));
        }
        let mut s = format!("{:<20}{}\n", "PID", "COMMAND");
        for (pid, command) in rows {
            s.push_str(&format!("{pid:<20}{command}\n"));
        }
        s
    }

    /// `PID CMDLINE` lines of the processes in a container (what the `/proc` listing script
    /// prints): nginx's master and workers, or Tomcat's java, then the listing shell.
    pub(crate) fn process_listing(&mut self, host: &str, name: &str, script: &str) -> String {
        let c = self.ctr_mut(host, name).expect("container");
        let mut s = String::new();
        if c.nginx_spec().is_some() {
            s.push_str("1 nginx: master process nginx -g daemon off; \n");
            for w in &c.nginx.workers {
                let state = if w.retiring_until.is_some() {
                    " is shutting down"
                } else {
                    ""
                };
                s.push_str(&format!("{} nginx: worker process{state} \n", w.pid));
            }
        } else {
            s.push_str("1 /opt/java/openjdk/bin/java -Dcatalina.base=/usr/local/tomcat org.apache.catalina.startup.Bootstrap start \n");
        }
        c.nginx.next_inner_pid += 1;
        s.push_str(&format!("{} sh -c {script} \n", c.nginx.next_inner_pid));
        s
    }
}
