//! The world's event log: every command and upload on every host, with its virtual time and
//! result, plus what the fake engines did (containers started and stopped, nginx applying a
//! config, injected faults firing), in the order it happened.

use std::fmt;
use std::path::PathBuf;

use ihos_core::{Command, Output, TransportError};

use crate::clock::VirtualTime;

/// One entry of the log.
#[derive(Debug, Clone)]
pub struct Event {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When it happened.
    pub at: VirtualTime,
    /// The host it happened on.
    pub host: String,
    /// What happened.
    pub kind: EventKind,
}

/// What an [`Event`] records.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// A command finished (or failed to run).
    Command {
        /// The command, as given to [`ihos_core::Transport::run`].
        command: Command,
        /// Its result.
        result: Result<Output, TransportError>,
    },
    /// An upload finished (or failed).
    Upload {
        /// The local file.
        local: PathBuf,
        /// The destination.
        remote: String,
        /// Bytes written to the destination on success, or the error.
        result: Result<u64, TransportError>,
    },
    /// A container started, stopped, became ready, ...
    Container {
        /// Its name.
        container: String,
        /// What happened, e.g. `started pid 4001`.
        change: String,
    },
    /// nginx took a configuration into use: the backends that now get new requests.
    NginxApplied {
        /// The nginx container.
        container: String,
        /// `reload` or `start`.
        how: &'static str,
        /// Addresses of the backends receiving new traffic.
        routing: Vec<String>,
    },
    /// An injected fault fired on the command or upload logged next.
    FaultFired {
        /// The fault's id (from [`crate::FakeWorld::inject`]).
        fault: usize,
        /// What it did.
        action: String,
    },
}

/// A command from the log: [`crate::FakeWorld::commands`].
#[derive(Debug, Clone)]
pub struct CommandRecord {
    /// Position in the event log.
    pub seq: u64,
    /// When it finished.
    pub at: VirtualTime,
    /// The host.
    pub host: String,
    /// The command.
    pub command: Command,
    /// Its result.
    pub result: Result<Output, TransportError>,
}

impl CommandRecord {
    /// The argv (program and arguments, without sudo).
    pub fn argv(&self) -> Vec<&str> {
        self.command.argv()
    }

    /// Whether it asked nginx to reload: `nginx -s reload` in its container, or SIGHUP to
    /// the container (`docker kill --signal HUP`) or to nginx's master from the host.
    pub fn is_nginx_reload(&self) -> bool {
        crate::fault::is_reload_request(&self.argv())
    }

    /// The argv joined by spaces, unquoted: easy to match in assertions.
    pub fn line(&self) -> String {
        self.command.argv().join(" ")
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} {}: ", self.seq, self.at, self.host)?;
        match &self.kind {
            EventKind::Command { command, result } => {
                write!(f, "$ {command} -> ")?;
                match result {
                    Ok(out) => {
                        write!(f, "exit {}", out.status.unwrap_or(-1))?;
                        let err = out.stderr_text();
                        if !err.is_empty() {
                            write!(f, " stderr {err:?}")?;
                        }
                        Ok(())
                    }
                    Err(e) => write!(f, "error: {e}"),
                }
            }
            EventKind::Upload {
                local,
                remote,
                result,
            } => {
                write!(f, "upload {} -> {remote}: ", local.display())?;
                match result {
                    Ok(n) => write!(f, "{n} bytes"),
                    Err(e) => write!(f, "error: {e}"),
                }
            }
            EventKind::Container { container, change } => {
                write!(f, "container {container} {change}")
            }
            EventKind::NginxApplied {
                container,
                how,
                routing,
            } => write!(
                f,
                "nginx {container} {how}: routes new requests to {routing:?}"
            ),
            EventKind::FaultFired { fault, action } => write!(f, "fault #{fault} fires: {action}"),
        }
    }
}
