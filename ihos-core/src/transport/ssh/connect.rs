//! Making one authenticated session: TCP connect, handshake, host key check, login.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ssh2::{MethodType, Session};
use tracing::debug;

use super::auth::authenticate;
use super::known_hosts::KnownHostsFile;
use super::options::{SshOptions, SshTarget, millis_u32};
use super::route::Opener;
use super::socket::Socket;
use crate::transport::TransportError;

/// A live session and a second handle on its socket (to wait on it and to shut it down).
pub(crate) struct Conn {
    pub session: Session,
    pub sock: Socket,
    /// Whether `sudo` asks this user for a password (probed once per connection when a
    /// sudo password is configured).
    pub sudo_needs_password: Option<bool>,
    /// Whether the host has coreutils' `timeout` (asked once per connection, when a command
    /// first has a limit): without it, commands are stopped by ihos's own deadline only.
    pub has_timeout: Option<bool>,
}

impl Conn {
    /// Ends the session without waiting on the peer.
    pub(crate) fn close(self, why: &str) {
        // Best effort goodbye, without waiting for socket space.
        self.session.set_blocking(false);
        let _ = self.session.disconnect(None, why, None);
        // With the socket shut down, freeing the session fails fast instead of waiting on
        // the peer; blocking mode makes libssh2 really free it (non-blocking may leave it).
        self.sock.shutdown();
        self.session.set_blocking(true);
    }
}

/// Connects (straight, or through `via`), verifies the host key and authenticates.
pub(crate) fn connect(
    target: &SshTarget,
    opts: &SshOptions,
    via: Option<&dyn Opener>,
) -> Result<Conn, TransportError> {
    let host = target.label();
    let fail = |reason: String| TransportError::Connect {
        host: host.clone(),
        reason,
    };
    let bad_name = |s: &str| s.is_empty() || s.bytes().any(|b| b == 0 || b.is_ascii_whitespace());
    if bad_name(&target.host) || bad_name(&target.user) {
        return Err(fail(format!("invalid host or user in {target:?}")));
    }
    let known_hosts_path = opts
        .known_hosts_path()
        .ok_or_else(|| TransportError::HostKey {
            host: host.clone(),
            reason: "no known_hosts file: $HOME is not set and none is configured".into(),
        })?;
    let known_hosts = KnownHostsFile::read(&known_hosts_path, &host)?;

    let started = Instant::now();
    let stream = match via {
        None => Socket::Tcp(tcp_connect(target, opts.connect_timeout).map_err(fail)?),
        // The target's own name and port go to the jump host, which resolves and connects
        // (as OpenSSH's ProxyJump does); its host key is still checked here, under its name.
        Some(jump) => Socket::Tunnel(jump.open(target, opts.connect_timeout)?),
    };
    let sock = stream
        .try_clone()
        .map_err(|e| fail(format!("socket: {e}")))?;

    let mut session = Session::new().map_err(|e| fail(format!("libssh2: {e}")))?;
    session.set_tcp_stream(stream);
    session.set_compress(false);
    session.set_timeout(millis_u32(opts.connect_timeout));
    known_hosts.prefer_known_key_types(&session, &target.known_hosts_name());
    session
        .handshake()
        .map_err(|e| fail(format!("SSH handshake: {}", e.message())))?;
    debug!(
        host = %host,
        kex = session.methods(MethodType::Kex).unwrap_or("?"),
        hostkey = session.methods(MethodType::HostKey).unwrap_or("?"),
        cipher = session.methods(MethodType::CryptCs).unwrap_or("?"),
        mac = session.methods(MethodType::MacCs).unwrap_or("?"),
        "handshake done"
    );
    known_hosts.verify(&session, target, opts.host_key_policy)?;
    authenticate(&session, target, &opts.auth)?;
    session.set_timeout(millis_u32(opts.io_timeout));
    if let Some(every) = opts.keepalive_interval {
        let secs = u32::try_from(every.as_secs()).unwrap_or(u32::MAX).max(1);
        session.set_keepalive(false, secs);
    }
    debug!(target = %target, elapsed = ?started.elapsed(), "connected");
    Ok(Conn {
        session,
        sock,
        sudo_needs_password: None,
        has_timeout: None,
    })
}

/// A TCP connection to the first of the target's addresses that answers, within `limit`.
fn tcp_connect(target: &SshTarget, limit: Duration) -> Result<TcpStream, String> {
    let started = Instant::now();
    let addrs = resolve(&target.host, target.port, limit)?;
    let mut errors = Vec::new();
    for addr in &addrs {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            errors.push(format!("{addr}: timed out"));
            break;
        }
        match TcpStream::connect_timeout(addr, left) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(if errors.is_empty() {
        format!("{} resolves to no address", target.host)
    } else {
        errors.join("; ")
    })
}

/// The addresses of `host`, within `limit`: the system resolver has no timeout of its own
/// (a dead DNS server blocks `getaddrinfo` for its retries), so it runs on a thread of its
/// own that is left behind if it is late.
fn resolve(host: &str, port: u16, limit: Duration) -> Result<Vec<SocketAddr>, String> {
    resolve_with(host, port, limit, |name, port| {
        (name.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect::<Vec<_>>)
    })
}

/// [`resolve`] with the lookup given (tests give a slow one).
fn resolve_with(
    host: &str,
    port: u16,
    limit: Duration,
    lookup: impl FnOnce(String, u16) -> std::io::Result<Vec<SocketAddr>> + Send + 'static,
) -> Result<Vec<SocketAddr>, String> {
    // An address needs no resolver (and no thread).
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("ihos-resolve".into())
        .spawn(move || {
            let _ = tx.send(lookup(name, port));
        })
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    match rx.recv_timeout(limit) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!(
            "cannot resolve {host}: no answer from the resolver within {limit:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_resolve_without_the_resolver_and_names_within_the_limit() {
        let a = resolve("127.0.0.11", 22, Duration::ZERO).unwrap();
        assert_eq!(a, vec!["127.0.0.11:22".parse().unwrap()]);
        let a = resolve("::1", 2222, Duration::ZERO).unwrap();
        assert_eq!(a, vec!["[::1]:2222".parse().unwrap()]);
        let a = resolve("localhost", 22, Duration::from_secs(10)).unwrap();
        assert!(a.iter().all(|a| a.ip().is_loopback()), "{a:?}");
        // A resolver that does not answer in time: refused at the limit, not waited on.
        let started = Instant::now();
        let e = resolve_with("db.example", 22, Duration::from_millis(100), |_, _| {
            std::thread::sleep(Duration::from_secs(3));
            Ok(Vec::new())
        })
        .unwrap_err();
        assert!(
            e.contains("db.example") && e.contains("within 100ms"),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        let e = resolve_with("db.example", 22, Duration::from_secs(5), |_, _| {
            Err(std::io::Error::other("no such name"))
        })
        .unwrap_err();
        assert!(e.contains("no such name"), "{e}");
    }
}
