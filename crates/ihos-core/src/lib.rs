//! ihos-core: the parts of a rolling update that touch hosts.
//!
//! - [`Command`] is a program with typed arguments; [`shell_quote`] is the only place a
//!   command line is built. [`ContainerName`] and [`RemotePath`] are names and paths from
//!   configuration that passed validation.
//! - [`Transport`] runs commands and moves files on a host: [`LocalTransport`] here,
//!   `SshTransport` over SSH, fake hosts in `ihos-testkit`.
//! - [`Container`] controls one container ([`DockerCli`] drives the `docker` CLI through a
//!   transport); [`LoadBalancer`] takes backends in and out of rotation ([`NginxLb`] edits
//!   the nginx config with `ihos-nginx`, validates it with `nginx -t` in its container and
//!   reloads, restoring the previous bytes on any failure).
//!
//! Data flows one way: engine → traits → implementations → transport.

#![warn(missing_docs)]

pub mod command;
pub mod config;
pub mod container;
pub mod lb;
pub mod names;
pub mod rollout;
pub mod sha;
pub mod time;
pub mod transport;

pub use command::{Command, Output, Privilege, shell_quote};
pub use config::{ConfigError, Topology};
pub use container::{Container, ContainerError, ContainerState, DockerCli, Health};
pub use lb::{ApplyMode, Backend, LbChange, LbError, LoadBalancer, NginxLb};
pub use names::{ContainerName, InvalidName, RemotePath};
pub use transport::{
    HostKeyPolicy, LocalTransport, SshAuth, SshOptions, SshTarget, SshTransport, Transport,
    TransportError, Uploaded,
};
