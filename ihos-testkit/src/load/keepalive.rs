//! Keep-alive clients: request after request on one kept-alive connection, as a Java app's
//! pooled HTTP client does (Apache HttpClient 4.x, OkHttp), with their retry rule for a
//! connection the server closed while it was idle.
//!
//! Why it matters: at every reload, nginx's old workers close their idle keep-alive client
//! connections (graceful shutdown: `ngx_close_idle_connections`), and an nginx that answered
//! `keepalive_requests` requests (default 1000) on a connection, or left it idle for
//! `keepalive_timeout` (default 75 s), closes it too. A client that writes its next request
//! onto such a connection (it does not look first, see below) gets EOF or a reset before any
//! byte of a response: a *stale connection*. So each kept-alive connection open at a reload
//! costs one stale connection at its next use: fewer reloads, fewer of them. One-request-per-connection clients never meet one, so the summary
//! counts the two kinds apart (DESIGN.md §6).
//!
//! The rules, and the real client each comes from:
//! - One request at a time, each response read exactly (`Content-Length`, chunked, or until
//!   the close; see [`super::http::parse_framed`]); no pipelining. Bytes after a complete
//!   response are a `protocol` failure and the connection is dropped: they cannot belong to
//!   the next request, which is not sent yet.
//! - The connection is kept after a response unless it says `Connection: close` (nginx sends
//!   it with the `keepalive_requests`-th response), is HTTP/1.0 without `Connection:
//!   keep-alive`, or has a body ended by the close (HttpClient's
//!   `DefaultConnectionReuseStrategy`, OkHttp's `CallServerInterceptor` do the same); the next
//!   request opens a new one. Such a reconnect is no failure.
//! - No check before reusing a connection: HttpClient 4.5 checks a pooled connection only
//!   after 2 s idle (`validateAfterInactivity`), OkHttp only after 10 s idle and only for
//!   requests other than GET (`RealConnection.isHealthy`); these clients pause milliseconds.
//! - A stale connection (on a *reused* connection: EOF or reset before the first byte of the
//!   response, or the request could not be written) is retried once on a new connection
//!   when the method is idempotent (GET) or the request was not completely written: Apache
//!   HttpClient 4.x `DefaultHttpRequestRetryHandler` (`handleAsIdempotent` or not
//!   `isRequestSent`; `requestSentRetryEnabled` is false by default). Its default allows 3
//!   retries, but a retry runs on a new connection, which cannot be stale, so one is enough.
//! - A POST written completely is not retried: it is a user-visible failure of kind
//!   `stale_closed`. That is HttpClient's rule; OkHttp (`retryOnConnectionFailure`, on by
//!   default) would send a POST whose body is not one-shot again, so for an OkHttp app the
//!   `stale_closed` count is an upper bound.
//! - A failure on a *new* connection is not a stale connection: not retried here (HttpClient
//!   never retries a refused connect, `ConnectException`), counted by its own kind.
//! - The whole request, retry included, is bounded by the run's `timeout`; a timed-out
//!   connection is dropped.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::Method;
use super::http::{self, ErrorKind, Failure, MAX_RESPONSE, Response, fail, io_failure};

/// What one user-visible request of a keep-alive client gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The response (any status), or why there is none; after a retry, the retry's.
    pub result: Result<Response, Failure>,
    /// The request first met a stale connection (a reused connection the server had closed).
    pub stale: bool,
    /// It was then sent again on a new connection (a GET, or a request not completely
    /// written).
    pub retried: bool,
}

/// One attempt's failure.
enum AttemptError {
    /// On a reused connection, before any byte of a response: the server had closed it.
    /// `sent`: the request was completely written.
    Stale { failure: Failure, sent: bool },
    /// Anything else.
    Failed(Failure),
}

impl AttemptError {
    fn into_failure(self) -> Failure {
        match self {
            AttemptError::Stale { failure, .. } | AttemptError::Failed(failure) => failure,
        }
    }
}

/// Whether a request that met a stale connection is sent again: Apache HttpClient 4.x's
/// `DefaultHttpRequestRetryHandler` (idempotent, or not completely sent).
pub fn retry_on_stale(method: Method, sent: bool) -> bool {
    method == Method::Get || !sent
}

/// A keep-alive client's connection to one target: at most one open connection, reused
/// request after request.
#[derive(Debug)]
pub struct KeepAliveClient {
    addr: SocketAddr,
    conn: Option<TcpStream>,
    opened: u64,
}

impl KeepAliveClient {
    /// A client of `addr`; it connects at its first request.
    pub fn new(addr: SocketAddr) -> Self {
        KeepAliveClient {
            addr,
            conn: None,
            opened: 0,
        }
    }

    /// Connections established so far.
    pub fn connections_opened(&self) -> u64 {
        self.opened
    }

    /// Whether a connection is kept for the next request.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Sends `request` (the bytes of a `method` request) and reads its response, on the kept
    /// connection if there is one, retrying a stale connection as the module doc says; all
    /// within `timeout`.
    pub async fn send(&mut self, method: Method, request: &[u8], timeout: Duration) -> Exchange {
        let mut stale = false;
        let mut retried = false;
        let exchange = self.exchange(method, request, &mut stale, &mut retried);
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => {
                // The connection was taken by the attempt and dropped with it.
                self.conn = None;
                Err(fail(
                    ErrorKind::Timeout,
                    format!("no complete response within {timeout:?}"),
                ))
            }
        };
        Exchange {
            result,
            stale,
            retried,
        }
    }

    async fn exchange(
        &mut self,
        method: Method,
        request: &[u8],
        stale: &mut bool,
        retried: &mut bool,
    ) -> Result<Response, Failure> {
        match self.attempt(request).await {
            Ok(r) => Ok(r),
            Err(AttemptError::Failed(f)) => Err(f),
            Err(AttemptError::Stale { failure, sent }) => {
                *stale = true;
                if retry_on_stale(method, sent) {
                    *retried = true;
                    // The stale connection is gone: this attempt opens a new one.
                    self.attempt(request)
                        .await
                        .map_err(AttemptError::into_failure)
                } else {
                    Err(fail(
                        ErrorKind::StaleClosed,
                        format!(
                            "{} on a reused keep-alive connection the server had closed ({} not retried once sent)",
                            failure.detail,
                            method.as_str()
                        ),
                    ))
                }
            }
        }
    }

    /// One request on the kept connection, else on a new one. Keeps the connection when the
    /// response allows it.
    async fn attempt(&mut self, request: &[u8]) -> Result<Response, AttemptError> {
        let (mut s, reused) = match self.conn.take() {
            Some(s) => (s, true),
            None => {
                let s = http::connect(self.addr)
                    .await
                    .map_err(AttemptError::Failed)?;
                self.opened += 1;
                (s, false)
            }
        };
        // Only a reused connection can be stale, and only before any response byte came.
        let stale_or_failed = |failure: Failure, sent: bool, any_byte: bool| {
            if reused && !any_byte {
                AttemptError::Stale { failure, sent }
            } else {
                AttemptError::Failed(failure)
            }
        };
        if let Err(e) = s.write_all(request).await {
            return Err(stale_or_failed(
                io_failure(&e, "sending the request"),
                false,
                false,
            ));
        }
        let mut buf = Vec::with_capacity(1024);
        let mut any_byte = false;
        let mut chunk = [0u8; 8192];
        loop {
            let n = match s.read(&mut chunk).await {
                Ok(n) => n,
                Err(e) => {
                    return Err(stale_or_failed(
                        io_failure(&e, "reading the response"),
                        true,
                        any_byte,
                    ));
                }
            };
            if n == 0 && !any_byte {
                return Err(stale_or_failed(
                    fail(ErrorKind::Closed, "connection closed before any response"),
                    true,
                    false,
                ));
            }
            any_byte = true;
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE {
                return Err(AttemptError::Failed(fail(
                    ErrorKind::Protocol,
                    "response over 1 MiB",
                )));
            }
            let eof = n == 0;
            // Everything received may hold an interim response and the final one.
            while let Some(f) = http::parse_framed(&buf, eof).map_err(AttemptError::Failed)? {
                let status = f.response.status;
                if (100..200).contains(&status) && status != 101 {
                    // An interim response (100 Continue, 103 Early Hints): the final follows.
                    buf.drain(..f.len);
                    continue;
                }
                if f.len < buf.len() {
                    return Err(AttemptError::Failed(fail(
                        ErrorKind::Protocol,
                        format!(
                            "{} bytes after a complete response (one request at a time, none pipelined)",
                            buf.len() - f.len
                        ),
                    )));
                }
                if f.reusable && !eof {
                    self.conn = Some(s);
                }
                return Ok(f.response);
            }
            if eof {
                return Err(AttemptError::Failed(fail(
                    ErrorKind::Closed,
                    "connection closed in the middle of the response",
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_stale_requests_are_retried() {
        assert!(retry_on_stale(Method::Get, true));
        assert!(retry_on_stale(Method::Get, false));
        assert!(retry_on_stale(Method::Post, false), "not completely sent");
        assert!(!retry_on_stale(Method::Post, true));
    }
}
