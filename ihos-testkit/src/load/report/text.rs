//! The human summary of a load run: a few lines, with a line per kind of client saying what
//! it measured.

use std::fmt::Write as _;

use crate::load::config::ClientKind;

use super::summary::{Counts, Summary};

impl Summary {
    /// The human summary: a few lines.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "ihos-load: {} requests to {} in {:.1} s ({} clients, {:.0} req/s){}",
            self.totals.requests,
            self.target,
            self.elapsed_s,
            self.concurrency,
            self.rps,
            if self.stopped_early {
                ", stopped early"
            } else {
                ""
            }
        );
        let kinds = |c: &Counts| {
            if c.failed_by_kind.is_empty() {
                String::new()
            } else {
                let v: Vec<String> = c
                    .failed_by_kind
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                format!(" ({})", v.join(", "))
            }
        };
        let _ = writeln!(s, "  failed: {}{}", self.totals.failed, kinds(&self.totals));
        let close = &self.by_client_kind.close;
        if close.clients > 0 || close.counts.requests > 0 {
            let _ = writeln!(
                s,
                "  one-request-per-connection clients ({}): {} requests on {} connections, {} failed{}",
                close.clients,
                close.counts.requests,
                close.connections_opened,
                close.counts.failed,
                kinds(&close.counts)
            );
        }
        let ka = &self.by_client_kind.keepalive;
        if ka.clients > 0 || ka.counts.requests > 0 {
            let _ = writeln!(
                s,
                "  keep-alive clients ({}): {} requests on {} connections ({:.1} per connection); \
                 {} met a stale connection (closed by the server while idle, as at an nginx \
                 reload): {} retried on a new connection, {} failed (a POST is not retried); \
                 {} failed in all{}",
                ka.clients,
                ka.counts.requests,
                ka.connections_opened,
                ka.requests_per_connection,
                ka.stale_connections(),
                ka.stale_retried,
                ka.stale_failed,
                ka.counts.failed,
                kinds(&ka.counts)
            );
        }
        for (m, c) in &self.by_method {
            let _ = writeln!(
                s,
                "  {m:<4}  {} requests, {} failed{}",
                c.requests,
                c.failed,
                kinds(c)
            );
        }
        if !self.failed_by_status.is_empty() {
            let v: Vec<String> = self
                .failed_by_status
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            let _ = writeln!(s, "  bad statuses: {}", v.join(", "));
        }
        for (c, cs) in &self.by_class {
            let _ = writeln!(
                s,
                "  {c:<4}  {} requests, latency ms p50 {} p90 {} p99 {} max {}",
                cs.counts.requests,
                cs.latency_ms.p50,
                cs.latency_ms.p90,
                cs.latency_ms.p99,
                cs.latency_ms.max
            );
        }
        for (v, vs) in &self.versions {
            let _ = writeln!(
                s,
                "  version {v}: {} responses, {:.1}–{:.1} s",
                vs.requests,
                vs.first_ms / 1000.0,
                vs.last_ms / 1000.0
            );
        }
        if !self.instances.is_empty() {
            let v: Vec<String> = self
                .instances
                .iter()
                .map(|(k, i)| format!("{k} {}", i.requests))
                .collect();
            let _ = writeln!(s, "  instances: {}", v.join(", "));
        }
        for (u, us) in &self.users {
            let v: Vec<String> = us
                .instances
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "  user {u}: {} requests, {} failed, served by {}",
                us.counts.requests,
                us.counts.failed,
                v.join(", ")
            );
        }
        for f in self.failures.iter().take(5) {
            let client = match (f.client_kind, f.retried) {
                (ClientKind::Close, _) => "",
                (ClientKind::KeepAlive, false) => " (keep-alive client)",
                (ClientKind::KeepAlive, true) => " (keep-alive client, retried)",
            };
            let _ = writeln!(
                s,
                "  failure at {:.3} s: {} {} {}{}{client} after {:.1} ms: {}",
                f.start_ms / 1000.0,
                f.method.as_str(),
                f.class.as_str(),
                f.kind.as_str(),
                f.status.map(|x| format!(" {x}")).unwrap_or_default(),
                f.latency_ms,
                f.detail
            );
        }
        s
    }
}
