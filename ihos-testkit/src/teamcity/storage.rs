//! A fake external artifact storage (S3 behind TeamCity's S3 artifact storage plugin) on
//! `127.0.0.2`: another host than the TeamCity fake on `127.0.0.1`. TeamCity answers an
//! artifact download with a 302 to a presigned URL (teamcity-s3-artifact-storage-plugin
//! `S3ArtifactDownloadProcessor.processDownload`: `sendRedirect(presignedUrl)` with
//! `Cache-Control: max-age=<ttl>`); the storage answers as Amazon S3 documents its REST
//! errors (an XML `<Error><Code>..</Code><Message>..</Message>`):
//! - a presigned request that also carries an `Authorization` header: 400
//!   `InvalidArgument`, "Only one auth mechanism allowed; ..." (what a client that forwards
//!   the TeamCity token to the storage gets);
//! - a wrong or missing signature: 403 `SignatureDoesNotMatch`; an expired URL: 403
//!   `AccessDenied` "Request has expired"; no such object: 404 `NoSuchKey`;
//! - `Range: bytes=N-`: 206 with `Content-Range`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::TeamCityRequest;
use super::http::{Reply, Server, encode};

/// The signature every presigned URL of this storage carries.
const SIGNATURE: &str = "fake0signature0f00d";

#[derive(Default)]
pub(super) struct StorageState {
    objects: BTreeMap<String, Vec<u8>>,
    expired: bool,
    requests: Vec<TeamCityRequest>,
}

/// The storage server. Dropping it stops it.
pub struct FakeStorage {
    server: Server,
    state: Arc<Mutex<StorageState>>,
}

impl FakeStorage {
    /// Starts the storage on `127.0.0.2` (a free port): another host than TeamCity's.
    pub fn start() -> std::io::Result<FakeStorage> {
        Self::start_on("127.0.0.2")
    }

    /// Starts the storage on loopback address `ip` (`127.0.0.1`: TeamCity's host, on
    /// another port, as a MinIO beside it).
    pub fn start_on(ip: &str) -> std::io::Result<FakeStorage> {
        let state = Arc::new(Mutex::new(StorageState::default()));
        let server = {
            let state = state.clone();
            super::http::start(ip, move |mut request| {
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                let reply = answer(&s, &request);
                request.status = reply.status;
                s.requests.push(request);
                reply
            })?
        };
        Ok(FakeStorage { server, state })
    }

    fn lock(&self) -> MutexGuard<'_, StorageState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `bytes` under `key` and gives the presigned URL of it.
    pub(super) fn presign(&self, key: &str, bytes: &[u8]) -> String {
        self.lock().objects.insert(key.to_string(), bytes.to_vec());
        let path: String = key.split('/').map(encode).collect::<Vec<_>>().join("/");
        format!(
            "http://{}/artifacts/{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGNATURE}",
            self.server.addr
        )
    }

    /// From now on every URL has expired.
    pub fn expire(&self) {
        self.lock().expired = true;
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<TeamCityRequest> {
        self.lock().requests.clone()
    }

    /// `http://127.0.0.2:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }
}

fn s3_error(status: u16, code: &str, message: &str) -> Reply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
    );
    Reply {
        status,
        headers: vec![("Content-Type", "application/xml".into())],
        body: body.into_bytes(),
        cut_after: None,
        details: None,
    }
}

fn answer(s: &StorageState, req: &TeamCityRequest) -> Reply {
    let presigned = req.param("X-Amz-Algorithm").is_some();
    if presigned && req.authorization.is_some() {
        return s3_error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        );
    }
    if req.param("X-Amz-Signature") != Some(SIGNATURE) {
        return s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        );
    }
    if s.expired {
        return s3_error(403, "AccessDenied", "Request has expired");
    }
    let key = req.path.strip_prefix("/artifacts/").unwrap_or_default();
    let Some(bytes) = s.objects.get(key) else {
        return s3_error(404, "NoSuchKey", "The specified key does not exist.");
    };
    let from = req
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<usize>().ok());
    let mut reply = Reply {
        status: 200,
        headers: vec![
            ("Content-Type", "application/octet-stream".into()),
            ("Accept-Ranges", "bytes".into()),
        ],
        body: bytes.clone(),
        cut_after: None,
        details: None,
    };
    match from {
        Some(from) if from >= bytes.len() => s3_error(
            416,
            "InvalidRange",
            "The requested range is not satisfiable",
        ),
        Some(from) => {
            reply.status = 206;
            reply.headers.push((
                "Content-Range",
                format!("bytes {from}-{}/{}", bytes.len() - 1, bytes.len()),
            ));
            reply.body = bytes[from..].to_vec();
            reply
        }
        None => reply,
    }
}
