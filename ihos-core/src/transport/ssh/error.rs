//! How libssh2 failures become [`TransportError`]s.
//!
//! Every failure is sorted into one of three kinds: the connection is gone (the session is
//! dropped and the next job reconnects), a blocking call or deadline timed out, or only the
//! channel failed (the session stays usable).

use std::io;
use std::time::Duration;

use ssh2::{ErrorCode, Session};

use crate::transport::TransportError;

// libssh2 error codes (libssh2.h), as ssh2 reports them.
const TIMEOUT: i32 = -9;
const SOCKET_TIMEOUT: i32 = -30;
const EAGAIN: i32 = -37;
const CHANNEL_CODES: &[i32] = &[
    -20, // CHANNEL_OUTOFORDER
    -21, // CHANNEL_FAILURE
    -22, // CHANNEL_REQUEST_DENIED
    -23, // CHANNEL_UNKNOWN
    -24, // CHANNEL_WINDOW_EXCEEDED
    -25, // CHANNEL_PACKET_EXCEEDED
    -26, // CHANNEL_CLOSED
    -27, // CHANNEL_EOF_SENT
    -28, // SCP_PROTOCOL
    -47, // CHANNEL_WINDOW_FULL
];

/// A classified SSH failure, before it is given a host and an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Non-blocking call has to be retried when the socket is ready.
    WouldBlock,
    /// A blocking call or a deadline expired.
    TimedOut(String),
    /// The channel failed; the session is fine.
    Channel(String),
    /// The connection is unusable.
    Lost(String),
    /// sudo asked for its password again: the one given is wrong.
    SudoRefused,
    /// The command wrote more than ihos takes (it was stopped).
    TooMuchOutput(String),
}

impl Failure {
    /// Whether the session must be dropped after this failure.
    pub(crate) fn breaks_session(&self) -> bool {
        matches!(self, Failure::Lost(_) | Failure::TimedOut(_))
    }

    /// The failure as a transport error for `during` on `host`; `after` is the limit that
    /// applied, for timeouts.
    pub(crate) fn into_error(self, host: &str, during: &str, after: Duration) -> TransportError {
        match self {
            Failure::TimedOut(_) => TransportError::Timeout {
                host: host.to_string(),
                command: during.to_string(),
                after,
            },
            Failure::Channel(reason) => TransportError::Protocol {
                host: host.to_string(),
                command: during.to_string(),
                reason,
            },
            Failure::WouldBlock => TransportError::Disconnected {
                host: host.to_string(),
                during: during.to_string(),
                reason: "operation would block".into(),
            },
            Failure::Lost(reason) => TransportError::Disconnected {
                host: host.to_string(),
                during: during.to_string(),
                reason,
            },
            Failure::SudoRefused => TransportError::SudoPasswordRefused {
                host: host.to_string(),
                command: during.to_string(),
            },
            Failure::TooMuchOutput(reason) => TransportError::Protocol {
                host: host.to_string(),
                command: during.to_string(),
                reason,
            },
        }
    }
}

impl From<ssh2::Error> for Failure {
    fn from(e: ssh2::Error) -> Self {
        classify(e.code(), e.message())
    }
}

fn classify(code: ErrorCode, message: &str) -> Failure {
    let what = match code {
        ErrorCode::Session(-7) => "the connection broke while sending",
        ErrorCode::Session(-13) => "the host closed the connection",
        ErrorCode::Session(-43) => "the connection was closed or reset while receiving",
        _ => message,
    };
    let reason = format!("{what} (libssh2 {code})");
    match code {
        ErrorCode::Session(EAGAIN) => Failure::WouldBlock,
        ErrorCode::Session(TIMEOUT | SOCKET_TIMEOUT) => Failure::TimedOut(reason),
        ErrorCode::Session(c) if CHANNEL_CODES.contains(&c) => Failure::Channel(reason),
        _ => Failure::Lost(reason),
    }
}

/// Classifies an `io::Error` from a channel read or write. ssh2 keeps only the message in
/// it, so the session's last error gives the code back.
pub(crate) fn from_io(session: &Session, e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::WouldBlock => Failure::WouldBlock,
        io::ErrorKind::TimedOut => Failure::TimedOut(e.to_string()),
        _ => match ssh2::Error::last_session_error(session) {
            Some(last) if last.message() == e.to_string() => Failure::from(last),
            _ => Failure::Lost(e.to_string()),
        },
    }
}

/// A local file error (`local` as the host).
pub(crate) fn local_io(op: &'static str, path: &std::path::Path, e: &io::Error) -> TransportError {
    TransportError::Io {
        host: "local".into(),
        op,
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_into_kinds() {
        assert_eq!(
            classify(ErrorCode::Session(EAGAIN), "x"),
            Failure::WouldBlock
        );
        assert!(matches!(
            classify(ErrorCode::Session(-9), "timed out"),
            Failure::TimedOut(_)
        ));
        assert!(matches!(
            classify(ErrorCode::Session(-26), "closed channel"),
            Failure::Channel(_)
        ));
        for lost in [-7, -13, -43, -14, -12] {
            let f = classify(ErrorCode::Session(lost), "socket");
            assert!(matches!(f, Failure::Lost(_)), "{lost}: {f:?}");
            assert!(f.breaks_session());
        }
        let e = Failure::Lost("eof".into()).into_error("h", "true", Duration::ZERO);
        assert!(matches!(e, TransportError::Disconnected { .. }), "{e}");
        let e = Failure::TimedOut("t".into()).into_error("h", "true", Duration::from_secs(1));
        assert!(matches!(e, TransportError::Timeout { .. }), "{e}");
    }
}
