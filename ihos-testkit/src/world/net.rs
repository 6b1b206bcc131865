//! The network commands: `curl` health probes answered by the app container published on
//! the URL's port, and `nsenter -t PID -n ss -Htn state established` listing the
//! established connections in a container's network namespace.

use ihos_core::Output;

use super::fs::Cred;
use super::ns_exec::cannot_open;
use super::{World, out};
use crate::clock::VirtualTime;
use crate::container::AppPhase;

/// `(host, port)` of an `http://` or `https://` URL.
fn host_port(url: &str) -> Option<(String, u16)> {
    let (rest, default) = if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else {
        (url.strip_prefix("https://")?, 443)
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default)),
    }
}

impl World {
    /// `curl -fsS -o /dev/null -w %{http_code} --max-time N URL` or
    /// `curl -sS -o /dev/null -w %{http_code} --max-time N -- URL`.
    pub(crate) fn curl(&mut self, host: &str, args: &[String], now: VirtualTime) -> Option<Output> {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (fail_on_error, secs, url) = match a.as_slice() {
            [
                "-fsS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                secs,
                url,
            ] => (true, *secs, *url),
            [
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                secs,
                "--",
                url,
            ] => (false, *secs, *url),
            _ => return None,
        };
        secs.parse::<f64>().ok()?;
        let (target, port) = host_port(url)?;
        let refused = || {
            out(
                7,
                "000",
                format!(
                    "curl: (7) Failed to connect to {target} port {port} after 0 ms: Couldn't connect to server\n"
                ),
            )
        };
        let local = ["127.0.0.1", "localhost", "::1"].contains(&target.as_str());
        let on = if local {
            Some(host.to_string())
        } else {
            self.hosts
                .values()
                .find(|h| h.answers_to(&target))
                .map(|h| h.name.clone())
        };
        let Some(on) = on else {
            return Some(refused());
        };
        let app = self
            .host(&on)
            .containers
            .values()
            .find(|c| c.app_spec().is_some_and(|a| a.port == port));
        Some(match app.map(|c| c.phase(now)) {
            None | Some(AppPhase::Stopped) | Some(AppPhase::Starting) => refused(),
            Some(AppPhase::Unhealthy) if fail_on_error => out(
                22,
                "503",
                "curl: (22) The requested URL returned error: 503\n",
            ),
            Some(AppPhase::Unhealthy) => out(0, "503", ""),
            Some(AppPhase::Ready) => out(0, "200", ""),
        })
    }

    /// `nsenter -t PID -n ss -Htn state established [sport = :PORT]`: needs root.
    pub(crate) fn nsenter(
        &mut self,
        host: &str,
        cred: &Cred,
        args: &[String],
        now: VirtualTime,
    ) -> Option<Output> {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (pid, sport) = match a.as_slice() {
            ["-t", pid, "-n", "ss", "-Htn", "state", "established"] => (*pid, None),
            [
                "-t",
                pid,
                "-n",
                "ss",
                "-Htn",
                "state",
                "established",
                "sport",
                "=",
                port,
            ] => (*pid, Some(port.strip_prefix(':')?.parse::<u16>().ok()?)),
            _ => return None,
        };
        let pid: u32 = pid.parse().ok()?;
        if !cred.is_root() {
            return Some(cannot_open(pid, "net", false));
        }
        let Some((name, ip, port)) = self
            .host(host)
            .containers
            .iter()
            .find(|(_, c)| c.running && c.pid == pid)
            .map(|(n, c)| {
                let port = c.app_spec().map_or(80, |a| a.container_port);
                (n.clone(), c.ip.clone(), port)
            })
        else {
            return Some(cannot_open(pid, "net", true));
        };
        let n = if sport.is_none_or(|p| p == port) {
            self.connections(host, &name, now)
        } else {
            0
        };
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!(
                "0      0      {ip}:{port}      172.17.0.1:{}      \n",
                40000 + i
            ));
        }
        Some(out(0, s, ""))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_urls() {
        assert_eq!(
            super::host_port("http://127.0.0.1:39091/ihos/health"),
            Some(("127.0.0.1".into(), 39091))
        );
        assert_eq!(
            super::host_port("http://example.invalid/x"),
            Some(("example.invalid".into(), 80))
        );
        assert_eq!(super::host_port("ftp://x"), None);
    }
}
