//! What kind of file each of several paths is, and its size, in one command: the preflight
//! asks this of a dozen paths per instance (no link where ihos writes or reads as root,
//! directories where it expects them, the size of the deployed WAR it keeps), which took a
//! round trip each.

use std::collections::HashMap;

use crate::command::Command;
use crate::names::RemotePath;
use crate::transport::{Transport, TransportError, command_failed};

/// A path's kind, not following a link there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathKind {
    /// Nothing there.
    Missing,
    /// A symbolic link.
    Link,
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A FIFO, a socket, a device.
    Other,
}

/// A path's kind and size (stat's `%s`: a link's own size, not its target's), not
/// following a link there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathStat {
    pub kind: PathKind,
    /// Bytes; 0 when it is missing.
    pub size: u64,
}

/// The kind and size of each of `paths`, in their order: `stat -c '%f %s %n'` (GNU
/// coreutils and BusyBox: `%f` the raw mode in hex, `%s` the size in bytes, `%n` the name
/// as given; stat does not follow a link unless told to, so a link is reported as one). A
/// path that is not there is left out of stat's output (and named on stderr, exit status
/// 1): [`PathKind::Missing`]. Any other failure (no stat, no sudo) is an error.
pub(crate) async fn path_stats(
    t: &dyn Transport,
    paths: &[&RemotePath],
) -> Result<Vec<PathStat>, TransportError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let stat = Command::new("stat")
        .args(["-c", "%f %s %n", "--"])
        .args(paths.iter().map(|p| p.as_str()))
        .sudo();
    let out = t.run(&stat).await?;
    if !matches!(out.status, Some(0 | 1)) {
        return Err(command_failed(t.host(), &stat, &out));
    }
    let text = out.stdout_text();
    let found = parse(&text);
    if out.status == Some(1) && found.len() == paths.len() {
        // Every path answered, and yet stat failed: not a missing path.
        return Err(command_failed(t.host(), &stat, &out));
    }
    Ok(paths
        .iter()
        .map(|p| {
            found.get(p.as_str()).copied().unwrap_or(PathStat {
                kind: PathKind::Missing,
                size: 0,
            })
        })
        .collect())
}

/// `MODE SIZE NAME` lines (names hold no line break: [`RemotePath`] refuses them; a
/// name's own spaces stay in it).
fn parse(text: &str) -> HashMap<&str, PathStat> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ' ');
            let mode = u32::from_str_radix(fields.next()?, 16).ok()?;
            let size = fields.next()?.parse::<u64>().ok()?;
            let name = fields.next()?;
            let kind = match mode & 0o170000 {
                0o120000 => PathKind::Link,
                0o040000 => PathKind::Dir,
                0o100000 => PathKind::File,
                _ => PathKind::Other,
            };
            Some((name, PathStat { kind, size }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::transport::LocalTransport;

    #[test]
    fn reads_the_kind_from_the_raw_mode() {
        // As GNU stat 9.1 prints them (a directory, a link, a file, a FIFO).
        let found = parse(
            "41ed 4096 /srv/webapps\na1ff 11 /srv/webapps/ihos.war\n81a4 7465 /srv/a b.log\n11a4 0 /srv/p\n",
        );
        assert_eq!(found["/srv/webapps"].kind, PathKind::Dir);
        assert_eq!(found["/srv/webapps/ihos.war"].kind, PathKind::Link);
        assert_eq!(found["/srv/webapps/ihos.war"].size, 11);
        assert_eq!(found["/srv/a b.log"].kind, PathKind::File);
        assert_eq!(found["/srv/a b.log"].size, 7465);
        assert_eq!(found["/srv/p"].kind, PathKind::Other);
        assert!(parse("stat: cannot statx\n").is_empty());
        // A size that is not a number is not an answer.
        assert!(parse("81a4 x /srv/a\n").is_empty());
    }

    #[tokio::test]
    async fn every_kind_on_real_files_in_one_command() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("webapps")).unwrap();
        std::fs::write(d.join("a file.log"), b"xyz").unwrap();
        symlink("/etc/hostname", d.join("link.war")).unwrap();
        // A link to a directory is a link, not a directory.
        symlink(d.join("webapps"), d.join("dirlink")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(d.join("fifo"))
            .status()
            .unwrap();
        assert!(made.success());
        let names = [
            "webapps",
            "a file.log",
            "link.war",
            "dirlink",
            "fifo",
            "missing",
        ];
        let paths: Vec<RemotePath> = names
            .iter()
            .map(|n| RemotePath::new(d.join(n).to_str().unwrap()).unwrap())
            .collect();
        let refs: Vec<&RemotePath> = paths.iter().collect();
        let stats = path_stats(&LocalTransport::new("here"), &refs)
            .await
            .unwrap();
        let kinds: Vec<PathKind> = stats.iter().map(|s| s.kind).collect();
        use PathKind::*;
        assert_eq!(kinds, [Dir, File, Link, Link, Other, Missing]);
        // The file's own size; a link's is its target's name's length, not the target's.
        assert_eq!(stats[1].size, 3);
        assert_eq!(stats[2].size, "/etc/hostname".len() as u64);
        assert_eq!(stats[5].size, 0);
    }
}
