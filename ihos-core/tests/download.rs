//! `Transport::download`: a remote file copied here in chunks, checked against the host's
//! SHA-256, and put in place only when complete. Run with `LocalTransport`, so the chunks
//! are real `dd` commands on real files.

use std::path::Path;

use async_trait::async_trait;
use ihos_core::{
    Command, LocalTransport, Output, Privilege, RemotePath, Sha256, Transport, TransportError,
    Uploaded,
};

const CHUNK: usize = 4 << 20;

fn remote(path: &Path) -> RemotePath {
    RemotePath::new(path.to_str().unwrap()).unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 4099) as u8).collect()
}

#[tokio::test]
async fn sizes_around_the_chunk_boundary_arrive_whole() {
    let dir = tempfile::tempdir().unwrap();
    let t = LocalTransport::new("here");
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 17] {
        let src = dir.path().join(format!("src-{len}"));
        let bytes = pattern(len);
        std::fs::write(&src, &bytes).unwrap();
        let dst = dir.path().join(format!("copy-{len}.war"));
        let got = t
            .download(&remote(&src), &dst, Privilege::User)
            .await
            .unwrap();
        assert_eq!(got.bytes, len as u64, "{len}");
        assert_eq!(got.sha256, Sha256::of_bytes(&bytes), "{len}");
        assert_eq!(got.path, dst);
        assert!(
            std::fs::read(&dst).unwrap() == bytes,
            "{len}: content differs"
        );
    }
    // Nothing but the copies: no temporary file left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("src-"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("copy-")), "{names:?}");
}

/// A host whose `dd` answers flip one byte of the second chunk: what a bad network or a
/// file changed during the copy looks like to the client.
struct Corrupting(LocalTransport);

#[async_trait]
impl Transport for Corrupting {
    fn host(&self) -> &str {
        self.0.host()
    }

    async fn run(&self, command: &Command) -> Result<Output, TransportError> {
        let mut out = self.0.run(command).await?;
        if command.to_string().contains("skip=1 ") && !out.stdout.is_empty() {
            out.stdout[0] ^= 0xff;
        }
        Ok(out)
    }

    async fn upload(&self, local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError> {
        self.0.upload(local, remote).await
    }
}

#[tokio::test]
async fn a_copy_that_differs_from_the_host_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("webapps-ihos.war");
    std::fs::write(&src, pattern(CHUNK + 100)).unwrap();
    let dst = dir.path().join("cache").join("ihos.war");
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::write(&dst, b"the copy from before").unwrap();
    let t = Corrupting(LocalTransport::new("flaky"));
    let err = t
        .download(&remote(&src), &dst, Privilege::User)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Checksum { .. }),
        "expected a checksum error, got {err}"
    );
    // The target is untouched and no temporary file is left next to it.
    assert_eq!(std::fs::read(&dst).unwrap(), b"the copy from before");
    assert_eq!(std::fs::read_dir(dst.parent().unwrap()).unwrap().count(), 1);
}

#[tokio::test]
async fn a_missing_remote_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let t = LocalTransport::new("here");
    let dst = dir.path().join("x.war");
    let err = t
        .download(&remote(&dir.path().join("nope.war")), &dst, Privilege::User)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope.war"), "{err}");
    assert!(!dst.exists());
}
