//! Host key verification against an OpenSSH known_hosts file, with libssh2's `KnownHosts`
//! (plain, hashed `|1|salt|hash` and `[host]:port` entries).
//!
//! Lines libssh2 cannot parse (e.g. key types it does not know) are skipped instead of
//! failing the whole file; `@cert-authority` lines are skipped; a key listed as `@revoked`
//! is always refused.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use ssh2::{CheckResult, KnownHostFileKind, MethodType, Session};
use tracing::{debug, info};

use super::options::{HostKeyPolicy, SshTarget};
use crate::transport::TransportError;

/// The known_hosts lines, read once per connection attempt.
pub(crate) struct KnownHostsFile {
    path: std::path::PathBuf,
    /// `None` when the file does not exist.
    lines: Option<Vec<String>>,
}

impl KnownHostsFile {
    /// Reads `path` (a missing file is an empty list).
    pub(crate) fn read(path: &Path, host: &str) -> Result<Self, TransportError> {
        let lines = match std::fs::read(path) {
            Ok(bytes) => Some(
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from)
                    .collect(),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(TransportError::HostKey {
                    host: host.to_string(),
                    reason: format!("cannot read known_hosts file {}: {e}", path.display()),
                });
            }
        };
        Ok(KnownHostsFile {
            path: path.to_path_buf(),
            lines,
        })
    }

    fn entries(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().flatten().map(String::as_str)
    }

    /// Puts the host key types known_hosts has for `name` first in the session's host key
    /// preferences (as OpenSSH does), so the server offers a key we can check.
    pub(crate) fn prefer_known_key_types(&self, session: &Session, name: &str) {
        let mut known: Vec<String> = Vec::new();
        for line in self.entries().filter(|l| !l.starts_with('@')) {
            let Some(key_type) = line.split_whitespace().nth(1) else {
                continue;
            };
            // A one-line collection checked with a key that matches nothing: a mismatch
            // means the line is about this host (hashed names included).
            let Ok(mut kh) = session.known_hosts() else {
                return;
            };
            if kh.read_str(line, KnownHostFileKind::OpenSSH).is_err() {
                continue;
            }
            if matches!(kh.check(name, b"ihos-probe"), CheckResult::Mismatch) {
                let algs: &[&str] = match key_type {
                    "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
                    other => &[other][..],
                };
                known.extend(algs.iter().map(|a| a.to_string()));
            }
        }
        if known.is_empty() {
            return;
        }
        let Ok(supported) = session.supported_algs(MethodType::HostKey) else {
            return;
        };
        let is_known = |a: &&str| known.iter().any(|k| k == a);
        let prefs: Vec<&str> = supported
            .iter()
            .copied()
            .filter(is_known)
            .chain(supported.iter().copied().filter(|a| !is_known(a)))
            .collect();
        let prefs = prefs.join(",");
        debug!(host = name, prefs = %prefs, "host key algorithm preference");
        if let Err(e) = session.method_pref(MethodType::HostKey, &prefs) {
            debug!(host = name, error = %e, "cannot set host key preference");
        }
    }

    /// Checks the key the server presented (after the handshake).
    pub(crate) fn verify(
        &self,
        session: &Session,
        target: &SshTarget,
        policy: HostKeyPolicy,
    ) -> Result<(), TransportError> {
        let host = target.label();
        let refuse = |reason: String| TransportError::HostKey {
            host: host.clone(),
            reason,
        };
        let Some((blob, _)) = session.host_key() else {
            return Err(refuse("the server presented no host key".into()));
        };
        let name = target.known_hosts_name();
        let key_type = key_type_name(blob)
            .unwrap_or("unknown-key-type")
            .to_string();
        let fingerprint = fingerprint(blob);
        let b64 = base64(blob, true);
        let file = self.path.display();

        for line in self.entries().filter(|l| l.starts_with("@revoked")) {
            if line.split_whitespace().nth(3) == Some(b64.as_str()) {
                return Err(refuse(format!(
                    "the {key_type} key {fingerprint} of {name} is marked @revoked in {file}"
                )));
            }
        }

        let mut kh = session
            .known_hosts()
            .map_err(|e| refuse(format!("cannot check host keys: {e}")))?;
        for line in self.entries().filter(|l| !l.starts_with('@')) {
            if let Err(e) = kh.read_str(line, KnownHostFileKind::OpenSSH) {
                debug!(file = %file, error = %e, "skipping a known_hosts line libssh2 cannot parse");
            }
        }
        match kh.check(&name, blob) {
            CheckResult::Match => {
                debug!(host = %name, key = %fingerprint, "host key matches known_hosts");
                Ok(())
            }
            CheckResult::Mismatch => Err(refuse(format!(
                "the host key of {name} has CHANGED: the server offered {key_type} {fingerprint}, \
                 which does not match the entry in {file}. Someone may be intercepting the \
                 connection. If the host was re-keyed on purpose, check the new fingerprint \
                 with its administrator, remove the old entry (ssh-keygen -R '{name}' -f {file}) \
                 and add the new one"
            ))),
            CheckResult::NotFound => match policy {
                HostKeyPolicy::Strict => Err(refuse(format!(
                    "{name} is not in {file}{missing} (the server offered {key_type} \
                     {fingerprint}). Check that fingerprint with the host's administrator, then \
                     add the key, e.g. `ssh-keyscan -p {port} -t {key_type} {hostarg} >> {file}`, \
                     or connect once with host key policy accept-new",
                    missing = if self.lines.is_none() {
                        " (the file does not exist)"
                    } else {
                        ""
                    },
                    port = target.port,
                    hostarg = target.host,
                ))),
                HostKeyPolicy::AcceptNew => {
                    self.append(&name, &key_type, &b64).map_err(|e| {
                        refuse(format!("cannot record the new host key in {file}: {e}"))
                    })?;
                    info!(host = %name, key = %fingerprint, file = %file, "recorded new host key");
                    Ok(())
                }
            },
            CheckResult::Failure => Err(refuse(format!(
                "libssh2 could not check the host key of {name} against {file}"
            ))),
        }
    }

    /// Appends `name key_type key` to the file (created with mode 0600, its directory 0700).
    fn append(&self, name: &str, key_type: &str, b64: &str) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        // Start on a new line if the file does not end with one.
        let needs_newline = std::fs::read(&self.path)
            .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
            .unwrap_or(false);
        let line = format!(
            "{}{name} {key_type} {b64}\n",
            if needs_newline { "\n" } else { "" }
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        f.write_all(line.as_bytes())?;
        f.sync_all()
    }
}

/// The key type named at the start of an SSH public key blob (`ssh-ed25519`, ...).
pub(crate) fn key_type_name(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(blob.get(4..4usize.checked_add(len)?)?).ok()
}

/// `SHA256:<base64, no padding>` of a key blob, as OpenSSH prints fingerprints.
pub(crate) fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", base64(&Sha256::digest(blob), false))
}

/// Standard base64, with or without padding.
pub(crate) fn base64(bytes: &[u8], pad: bool) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    if pad {
        STANDARD.encode(bytes)
    } else {
        STANDARD_NO_PAD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (input, padded, bare) in [
            (&b""[..], "", ""),
            (b"f", "Zg==", "Zg"),
            (b"fo", "Zm8=", "Zm8"),
            (b"foo", "Zm9v", "Zm9v"),
            (b"foob", "Zm9vYg==", "Zm9vYg"),
            (b"fooba", "Zm9vYmE=", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input, true), padded);
            assert_eq!(base64(input, false), bare);
        }
    }

    #[test]
    fn key_blob_type_and_fingerprint() {
        // `ssh-keygen -lf` on this (made-up) ed25519 key prints
        // 256 SHA256:gNSIRW+2Iyiuvsdp/bgjy38bvWHw6wQm3tuoXrl3WjQ x (ED25519)
        let blob: Vec<u8> = [
            &[0, 0, 0, 11][..],
            b"ssh-ed25519",
            &[0, 0, 0, 32],
            &[7u8; 32],
        ]
        .concat();
        assert_eq!(key_type_name(&blob), Some("ssh-ed25519"));
        assert_eq!(
            fingerprint(&blob),
            "SHA256:gNSIRW+2Iyiuvsdp/bgjy38bvWHw6wQm3tuoXrl3WjQ"
        );
        assert_eq!(key_type_name(&[0, 0, 0, 9, b'x']), None);
        assert_eq!(key_type_name(&[0, 0]), None);
    }
}
