//! A firewall rule for tests on real hosts: root's own TCP connections to one loopback
//! address and port are refused while a [`DirectRefused`] lives.
//!
//! Why root only: the tests (and ihos under test) run as root, while an sshd forwarding a
//! `direct-tcpip` channel connects as the user who logged in (OpenSSH forwards from the
//! session's unprivileged child). So with the rule in place a host answers through a jump
//! host and refuses every direct connection: a test that passes really went through the
//! jump host.

use std::process::Command;

/// Rejects (TCP reset) root's connections to `addr:port` on the loopback interface until
/// dropped. Only loopback addresses are accepted.
#[derive(Debug)]
pub struct DirectRefused {
    rule: Vec<String>,
}

impl DirectRefused {
    /// Inserts the rule (after deleting any copy an earlier, killed run left behind).
    pub fn new(addr: &str, port: u16) -> Result<DirectRefused, String> {
        match addr.parse::<std::net::Ipv4Addr>() {
            Ok(ip) if ip.is_loopback() => {}
            _ => return Err(format!("DirectRefused: {addr} is not a 127.x.y.z address")),
        }
        let port = port.to_string();
        let rule: Vec<String> = [
            "OUTPUT",
            "-o",
            "lo",
            "-p",
            "tcp",
            "-d",
            addr,
            "--dport",
            &port,
            "-m",
            "owner",
            "--uid-owner",
            "0",
            // `scripts/sandbox up` and `down` remove rules with this tag: a killed test
            // run never drops its guard.
            "-m",
            "comment",
            "--comment",
            "ihos-test-direct-refused",
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        while Command::new("iptables")
            .arg("-D")
            .args(&rule)
            .output()
            .is_ok_and(|o| o.status.success())
        {}
        let out = Command::new("iptables")
            .arg("-I")
            .args(&rule)
            .output()
            .map_err(|e| format!("iptables: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "iptables -I {}: {}",
                rule.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(DirectRefused { rule })
    }
}

impl Drop for DirectRefused {
    fn drop(&mut self) {
        let _ = Command::new("iptables").arg("-D").args(&self.rule).output();
    }
}
