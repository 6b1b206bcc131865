//! [`Socket`]: what a session runs over: a TCP connection, or one end of a local socket pair
//! whose other end a jump host's tunnel pumps into a forwarded channel.

use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

/// A session's byte stream.
#[derive(Debug)]
pub(crate) enum Socket {
    /// Straight to the host.
    Tcp(TcpStream),
    /// Through a jump host ([`super::jump::JumpHost`]).
    Tunnel(UnixStream),
}

impl Socket {
    /// A second handle on the same socket (one is given to libssh2).
    pub(crate) fn try_clone(&self) -> std::io::Result<Socket> {
        Ok(match self {
            Socket::Tcp(s) => Socket::Tcp(s.try_clone()?),
            Socket::Tunnel(s) => Socket::Tunnel(s.try_clone()?),
        })
    }

    /// Shuts both directions down: the peer (or the tunnel) sees the end at once, and a
    /// libssh2 call waiting on it fails instead of waiting.
    pub(crate) fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Both),
            Socket::Tunnel(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Tunnel(s) => s.as_raw_fd(),
        }
    }
}
