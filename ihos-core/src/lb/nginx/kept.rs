//! The config file as last seen ([`Cached`]: its bytes, digest and parse, and what is
//! worked out from them once per version), kept between changes so that a change reads
//! only a digest, not the file ([`Kept`]).

use std::sync::Arc;

use ihos_nginx::Document;

use super::NginxLb;
use crate::container::Container;
use crate::lb::{Backend, LbError};
use crate::sha::Sha256;
use crate::transport::{Transport, remote_sha256};

/// The kept copy, and how many times it was replaced or forgotten: a read that began before
/// a change does not keep what it read over what the change wrote.
#[derive(Default)]
pub(super) struct Kept {
    generation: u64,
    seen: Option<Arc<Cached>>,
}

/// A config file's bytes as last seen, their digest and their parse.
pub(super) struct Cached {
    pub(super) bytes: Vec<u8>,
    pub(super) sha: Sha256,
    pub(super) doc: Document,
    /// The upstream's servers, worked out once per version (each instance's checks ask).
    pub(super) backends: std::sync::OnceLock<Result<Vec<Backend>, LbError>>,
    /// Those of them out of rotation (same reason).
    pub(super) out: std::sync::OnceLock<Result<Vec<String>, LbError>>,
}

impl Cached {
    pub(super) fn new(bytes: Vec<u8>, doc: Document) -> Self {
        Cached {
            sha: Sha256::of_bytes(&bytes),
            bytes,
            doc,
            backends: std::sync::OnceLock::new(),
            out: std::sync::OnceLock::new(),
        }
    }
}

impl<T: Transport + ?Sized, C: Container + ?Sized> NginxLb<T, C> {
    pub(super) fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached config, if any.
    pub(super) fn cached(&self) -> Option<Arc<Cached>> {
        self.kept().seen.clone()
    }

    /// Keeps `seen` as the config last seen, or forgets it (`None`).
    pub(super) fn remember(&self, seen: Option<Arc<Cached>>) {
        let mut kept = self.kept();
        kept.generation += 1;
        kept.seen = seen;
    }

    /// Reads and parses the config file, and keeps it unless the kept copy changed while
    /// it was read (a change made meanwhile knows better).
    pub(super) async fn read_fresh(&self) -> Result<Arc<Cached>, LbError> {
        let generation = self.kept().generation;
        let bytes = self
            .transport
            .read_file(&self.config, self.options.privilege)
            .await?;
        let doc = self.parse(bytes.clone())?;
        let seen = Arc::new(Cached::new(bytes, doc));
        let mut kept = self.kept();
        if kept.generation == generation {
            kept.generation += 1;
            kept.seen = Some(Arc::clone(&seen));
        }
        Ok(seen)
    }

    pub(super) fn parse(&self, bytes: Vec<u8>) -> Result<Document, LbError> {
        Document::parse(bytes).map_err(|error| LbError::Parse {
            host: self.host(),
            path: self.config.to_string(),
            error: Box::new(error),
        })
    }

    /// The config file as it is now: the kept copy when the file's digest on the host says
    /// it is still that (one small command, the file is not sent again), else read.
    pub(super) async fn read(&self) -> Result<Arc<Cached>, LbError> {
        if let Some(c) = self.cached() {
            let now = remote_sha256(
                self.transport.as_ref(),
                &self.config,
                self.options.privilege,
            )
            .await?;
            if now == c.sha {
                return Ok(c);
            }
        }
        self.read_fresh().await
    }

    /// The upstream's servers in `seen`, worked out once per version.
    pub(super) fn backends_of<'s>(&self, seen: &'s Cached) -> &'s Result<Vec<Backend>, LbError> {
        seen.backends.get_or_init(|| {
            let up = seen
                .doc
                .upstream(&self.upstream)
                .map_err(|error| LbError::Edit {
                    host: self.host(),
                    path: self.config.to_string(),
                    error: Box::new(error),
                })?;
            Ok(up
                .servers
                .into_iter()
                .map(|s| Backend {
                    address: s.address,
                    state: s.state,
                    line: s.line,
                })
                .collect())
        })
    }
}
