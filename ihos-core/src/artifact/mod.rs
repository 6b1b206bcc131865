//! Getting the WAR to deploy: the runbook's step 1, "fetch the newest WAR from TeamCity and
//! note its commit".
//!
//! [`TeamCityClient`] speaks TeamCity's REST API (bearer token from the environment variable
//! the topology's `[teamcity]` section names): it finds the latest successful finished build
//! of the build configuration (or a pinned one), reads its commit from the build's VCS
//! revisions, lists its artifacts, and [`TeamCityClient::fetch`] downloads the WAR by that
//! build's id, resumably, checks it, and saves it with a [`WarSidecar`] (`ihos.war.json`).
//! [`WarFile::open_with_sidecar`](crate::WarFile::open_with_sidecar) reads the sidecar back
//! so that the rollout's deployment records carry the commit.
//!
//! The client is blocking (`ureq`); async callers run it in `tokio::task::spawn_blocking`.

mod api;
mod client;
mod download;
mod error;
mod fetch;
mod http;
mod progress;
mod redirect;
mod sidecar;

pub use api::{BuildArtifact, BuildRevision, TeamCityBuild};
pub use client::TeamCityClient;
pub use error::FetchError;
pub use fetch::{FetchOptions, FetchedWar};
pub use progress::FetchProgress;
pub use sidecar::{SidecarCheck, WarSidecar};
