//! [`Record`]: one request as it happened, and its NDJSON line.

use std::sync::Arc;

use serde::Serialize;

use super::round3;
use crate::load::config::{Class, ClientKind, Method};
use crate::load::http::ErrorKind;

/// One request as it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Start, in ms since the run started.
    pub start_ms: f64,
    /// Time to a complete response (or to the failure), in ms.
    pub latency_ms: f64,
    /// The client that sent it.
    pub client: u32,
    /// That client's kind: one request per connection, or keep-alive.
    pub client_kind: ClientKind,
    /// A keep-alive client's request that met a stale connection (closed by the server while
    /// idle) and was sent again on a new connection; the other fields are the retry's, the
    /// latency covers both attempts. See [`crate::load::keepalive`].
    pub retried: bool,
    /// GET or POST.
    pub method: Method,
    /// Fast or slow.
    pub class: Class,
    /// HTTP status, if a response came.
    pub status: Option<u16>,
    /// `X-Ihos-Version` of the response.
    pub version: Option<Arc<str>>,
    /// `X-Ihos-Instance` of the response.
    pub instance: Option<Arc<str>>,
    /// Why it failed; `None`: it succeeded (2xx).
    pub error: Option<ErrorKind>,
    /// The user whose token it carried.
    pub user: Option<Arc<str>>,
}

impl Record {
    /// Whether it met a stale keep-alive connection: retried after one, or failed as
    /// `stale_closed` (not retried).
    pub fn met_stale_connection(&self) -> bool {
        self.retried || self.error == Some(ErrorKind::StaleClosed)
    }

    /// One NDJSON line (no newline).
    pub fn to_json_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            start_ms: f64,
            latency_ms: f64,
            client: u32,
            client_kind: &'static str,
            retried: bool,
            method: &'static str,
            class: &'static str,
            status: Option<u16>,
            version: Option<&'a str>,
            instance: Option<&'a str>,
            error: Option<&'static str>,
            user: Option<&'a str>,
        }
        serde_json::to_string(&Line {
            start_ms: round3(self.start_ms),
            latency_ms: round3(self.latency_ms),
            client: self.client,
            client_kind: self.client_kind.as_str(),
            retried: self.retried,
            method: self.method.as_str(),
            class: self.class.as_str(),
            status: self.status,
            version: self.version.as_deref(),
            instance: self.instance.as_deref(),
            error: self.error.map(ErrorKind::as_str),
            user: self.user.as_deref(),
        })
        .expect("a record serializes")
    }
}
