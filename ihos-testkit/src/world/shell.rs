//! The file commands ihos-core sends, interpreted over a host's in-memory filesystem with
//! GNU coreutils' messages. Only the exact argument shapes ihos-core builds are accepted;
//! anything else is unsupported (so a new command in real code shows up in tests).

use ihos_core::Output;

use super::fs::{Cred, FsError, normalize};
use super::{HostState, out};
use crate::clock::VirtualTime;
use crate::sha::sha256_hex;

fn fail(msg: String) -> Output {
    out(1, "", format!("{msg}\n"))
}

/// Runs `argv` on `h`, or `None` if it is not a supported command. `limit`: bytes that can
/// still be written before the disk is full (an injected fault).
pub(crate) fn run(
    h: &mut HostState,
    cred: &Cred,
    argv: &[String],
    stdin: Option<&[u8]>,
    limit: Option<u64>,
    now: VirtualTime,
) -> Option<Output> {
    let a: Vec<&str> = argv.iter().map(String::as_str).collect();
    if let Some(done) = super::splice::run(h, cred, &a, stdin, limit) {
        return Some(done);
    }
    let home = h.home.clone();
    let p = |s: &str| normalize(s, &home);
    let writes = matches!(a.first(), Some(&"dd") | Some(&"cp"))
        && !a.get(2).is_some_and(|f| f.starts_with("iflag=skip_bytes"));
    let supported = matches!(
        a.as_slice(),
        ["cat", "--", _]
            | [
                "dd",
                _,
                _,
                "bs=65536",
                "oflag=nofollow",
                "conv=fsync",
                "status=none"
            ]
            | [
                "dd",
                _,
                "bs=65536",
                "conv=excl,fsync",
                "oflag=nofollow",
                "status=none"
            ]
            | [
                "dd",
                _,
                _,
                "bs=1048576",
                "iflag=nofollow",
                "oflag=nofollow",
                "conv=excl,fsync",
                "status=none"
            ]
            | [
                "dd",
                _,
                "iflag=skip_bytes,count_bytes,nofollow,nonblock",
                _,
                _,
                "status=none"
            ]
            | ["dd", _, "oflag=append", "conv=notrunc,fsync", "status=none"]
            | ["dd", _, _, _, "count=1", "iflag=fullblock", "status=none"]
            | ["sha256sum", "--", _]
            | ["stat", "-c", "%s", "--", _]
            | ["stat", "-c", "%f %s %n", "--", _, ..]
            | ["tail", "-c", _, "--", _]
            | ["mkdir", "--", _]
            | ["date", "+%Y-%m-%d"]
            | ["cp", "--", _, _]
            | ["rm", "-f" | "-rf", "--", _]
            | ["mv", "-f", "--", _, _]
            | ["mv", "-f", "-T", "--", _, _]
            | ["ln", "-f", "-T", "--", _, _]
            | ["ls", "-1", "-A", "--", _]
            | ["mkdir", "-p", "--", _]
            | ["test", "-e" | "-f" | "-d" | "-L", _]
            | ["df", "-P", "-k", "--", _, ..]
            | ["chmod", "0700" | "0600", "--", _]
    ) && (a[0] != "dd" || a[1].starts_with("of=") || a[1].starts_with("if="))
        && (a[0] != "tail"
            || a[2]
                .strip_prefix('+')
                .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0)));
    if !supported {
        return None;
    }
    if limit.is_some() && !writes {
        return Some(fail(format!("{}: No space left on device", a[0])));
    }
    let fs = &mut h.fs;
    Some(match a.as_slice() {
        ["cat", "--", path] => match fs.read(&p(path), cred) {
            Ok(bytes) => out(0, bytes, ""),
            Err(e) => fail(format!("cat: {path}: {}", e.text())),
        },
        // Reading one block, as GNU dd documents it: `skip=K` skips K blocks of `bs=N`
        // bytes of the input, `count=1` copies one block, `iflag=fullblock` makes it a full
        // one unless the file ends first (then what is left, or nothing past the end).
        [
            "dd",
            input,
            bs,
            skip,
            "count=1",
            "iflag=fullblock",
            "status=none",
        ] if input.starts_with("if=") => {
            let path = &input["if=".len()..];
            let number =
                |arg: &str, key: &str| arg.strip_prefix(key).and_then(|n| n.parse::<usize>().ok());
            let (Some(bs), Some(skip)) = (number(bs, "bs="), number(skip, "skip=")) else {
                return Some(fail(format!("dd: invalid number in {bs} {skip}")));
            };
            match fs.read(&p(path), cred) {
                Ok(bytes) => {
                    let start = bs.saturating_mul(skip).min(bytes.len());
                    let end = start.saturating_add(bs).min(bytes.len());
                    out(0, bytes[start..end].to_vec(), "")
                }
                Err(e) => fail(format!("dd: failed to open '{path}': {}", e.text())),
            }
        }
        // A copy as GNU dd does it with `conv=excl` (O_EXCL: fails if anything, even a
        // link, is at the output's name) and `nofollow` on both ends. This fake file system
        // has no links, so only the exclusivity shows.
        [
            "dd",
            input,
            output,
            "bs=1048576",
            "iflag=nofollow",
            "oflag=nofollow",
            "conv=excl,fsync",
            "status=none",
        ] => {
            let (src, dst) = (&input["if=".len()..], &output["of=".len()..]);
            if fs.lookup(&p(dst), cred).is_ok() {
                return Some(fail(format!("dd: failed to open '{dst}': File exists")));
            }
            let mode = fs
                .lookup(&p(src), cred)
                .ok()
                .and_then(|ino| fs.inode(ino))
                .map_or(0o644, |i| i.mode)
                & !0o022;
            let bytes = match fs.read(&p(src), cred) {
                Ok(b) => b,
                Err(e) => return Some(fail(format!("dd: failed to open '{src}': {}", e.text()))),
            };
            match fs.write(&p(dst), cred, &bytes, mode, limit) {
                Ok(_) => out(0, "", ""),
                Err(FsError::NoSpace) => fail(format!(
                    "dd: error writing '{dst}': No space left on device"
                )),
                Err(e) => fail(format!("dd: failed to open '{dst}': {}", e.text())),
            }
        }
        // A copy onto an existing file as GNU dd does it without `conv=notrunc`: the target
        // is truncated and rewritten (same inode, owner and mode), or created; a full disk
        // leaves it partial, as a real one would.
        [
            "dd",
            input,
            output,
            "bs=65536",
            "oflag=nofollow",
            "conv=fsync",
            "status=none",
        ] if input.starts_with("if=") && output.starts_with("of=") => {
            let (src, dst) = (&input["if=".len()..], &output["of=".len()..]);
            let bytes = match fs.read(&p(src), cred) {
                Ok(b) => b,
                Err(e) => return Some(fail(format!("dd: failed to open '{src}': {}", e.text()))),
            };
            match fs.write(&p(dst), cred, &bytes, 0o644, limit) {
                Ok(_) => out(0, "", ""),
                Err(FsError::NoSpace) => fail(format!(
                    "dd: error writing '{dst}': No space left on device"
                )),
                Err(e) => fail(format!("dd: failed to open '{dst}': {}", e.text())),
            }
        }
        // Reading a byte range (GNU dd: `skip_bytes`/`count_bytes` make skip and count
        // bytes, not blocks).
        [
            "dd",
            input,
            "iflag=skip_bytes,count_bytes,nofollow,nonblock",
            skip,
            count,
            "status=none",
        ] => {
            let path = &input["if=".len()..];
            let number =
                |arg: &str, key: &str| arg.strip_prefix(key).and_then(|n| n.parse::<usize>().ok());
            let (Some(skip), Some(count)) = (number(skip, "skip="), number(count, "count=")) else {
                return Some(fail(format!("dd: invalid number in {skip} {count}")));
            };
            match fs.read(&p(path), cred) {
                Ok(bytes) => {
                    let start = skip.min(bytes.len());
                    let end = start.saturating_add(count).min(bytes.len());
                    out(0, bytes[start..end].to_vec(), "")
                }
                Err(e) => fail(format!("dd: failed to open '{path}': {}", e.text())),
            }
        }
        ["dd", of, mode, ..] => {
            let path = &of["of=".len()..];
            let bytes = stdin.unwrap_or_default();
            let written = if *mode == "oflag=append" {
                fs.append(&p(path), cred, bytes, limit)
            } else if fs.lookup(&p(path), cred).is_ok() {
                // conv=excl
                Err(FsError::Exists)
            } else {
                fs.write(&p(path), cred, bytes, 0o644, limit)
            };
            match written {
                Ok(_) => out(0, "", ""),
                Err(FsError::NoSpace) => fail(format!(
                    "dd: error writing '{path}': No space left on device"
                )),
                Err(e) => fail(format!("dd: failed to open '{path}': {}", e.text())),
            }
        }
        ["sha256sum", "--", path] => match fs.read_ref(&p(path), cred) {
            // GNU coreutils: a name with a backslash or a newline is escaped and the line
            // starts with a backslash.
            Ok(bytes) if path.contains(['\\', '\n']) => {
                let escaped = path.replace('\\', "\\\\").replace('\n', "\\n");
                out(0, format!("\\{}  {escaped}\n", sha256_hex(bytes)), "")
            }
            Ok(bytes) => out(0, format!("{}  {path}\n", sha256_hex(bytes)), ""),
            Err(e) => fail(format!("sha256sum: {path}: {}", e.text())),
        },
        ["cp", "--", src, dst] => {
            let (s, d) = (p(src), fs.target_in_dir(&p(dst), &p(src)));
            let ino = match fs.lookup(&s, cred) {
                Ok(ino) => ino,
                Err(e) => return Some(fail(format!("cp: cannot stat '{src}': {}", e.text()))),
            };
            if fs.is_dir(&s) {
                return Some(fail(format!(
                    "cp: -r not specified; omitting directory '{src}'"
                )));
            }
            if fs.stat(&d).is_some_and(|i| i.inode == ino) {
                return Some(fail(format!("cp: '{src}' and '{d}' are the same file")));
            }
            let mode = fs.inode(ino).map_or(0o644, |i| i.mode) & !0o022;
            let bytes = match fs.read(&s, cred) {
                Ok(b) => b,
                Err(e) => {
                    return Some(fail(format!(
                        "cp: cannot open '{src}' for reading: {}",
                        e.text()
                    )));
                }
            };
            match fs.write(&d, cred, &bytes, mode, limit) {
                Ok(_) => out(0, "", ""),
                Err(FsError::NoSpace) => {
                    fail(format!("cp: error writing '{d}': No space left on device"))
                }
                Err(e) => fail(format!(
                    "cp: cannot create regular file '{d}': {}",
                    e.text()
                )),
            }
        }
        // GNU stat: `%f` the raw mode in hex, `%s` the size in bytes, `%n` the name as
        // given; a missing path is named on stderr and makes the exit status 1, the others
        // are still printed. No links in this file system.
        ["stat", "-c", "%f %s %n", "--", paths @ ..] => {
            let (mut stdout, mut stderr) = (String::new(), String::new());
            for path in paths {
                let full = p(path);
                match fs.lookup(&full, cred) {
                    Ok(ino) => {
                        let mode = if fs.is_dir(&full) { 0o040755 } else { 0o100644 };
                        let size = fs
                            .inode(ino)
                            .and_then(|i| i.data.as_ref())
                            .map_or(4096, Vec::len);
                        stdout.push_str(&format!("{mode:x} {size} {path}\n"));
                    }
                    Err(e) => {
                        stderr.push_str(&format!("stat: cannot statx '{path}': {}\n", e.text()))
                    }
                }
            }
            out(i32::from(!stderr.is_empty()), stdout, stderr)
        }
        ["stat", "-c", "%s", "--", path] => match fs.lookup(&p(path), cred) {
            Ok(ino) => {
                let size = fs
                    .inode(ino)
                    .and_then(|i| i.data.as_ref())
                    .map_or(4096, Vec::len);
                out(0, format!("{size}\n"), "")
            }
            Err(e) => fail(format!("stat: cannot statx '{path}': {}", e.text())),
        },
        ["tail", "-c", from, "--", path] => {
            let skip: usize = from[1..].parse::<usize>().unwrap_or(1) - 1;
            match fs.read(&p(path), cred) {
                Ok(bytes) => out(0, bytes.get(skip..).unwrap_or_default().to_vec(), ""),
                Err(e) => fail(format!(
                    "tail: cannot open '{path}' for reading: {}",
                    e.text()
                )),
            }
        }
        ["mkdir", "--", path] => match fs.mkdir(&p(path), cred, 0o755) {
            Ok(()) => out(0, "", ""),
            Err(e) => fail(format!(
                "mkdir: cannot create directory '{path}': {}",
                e.text()
            )),
        },
        ["date", _] => out(0, format!("{}\n", now.date()), ""),
        ["rm", "-f", "--", path] => match fs.remove_file(&p(path), cred) {
            Ok(()) | Err(FsError::NotFound) => out(0, "", ""),
            Err(e) => fail(format!("rm: cannot remove '{path}': {}", e.text())),
        },
        ["rm", "-rf", "--", path] => match fs.remove_tree(&p(path), cred) {
            Ok(()) | Err(FsError::NotFound) => out(0, "", ""),
            Err(FsError::Invalid) => fail(format!(
                "rm: it is dangerous to operate recursively on '{path}'\nrm: use --no-preserve-root to override this failsafe"
            )),
            Err(e) => fail(format!("rm: cannot remove '{path}': {}", e.text())),
        },
        // `-T`: the target is never a directory to move into; one there is an error.
        ["mv", "-f", "-T", "--", src, dst] => {
            let (s, d) = (p(src), p(dst));
            if let Err(e) = fs.lookup(&s, cred) {
                return Some(fail(format!("mv: cannot stat '{src}': {}", e.text())));
            }
            if fs.is_dir(&d) {
                return Some(fail(format!(
                    "mv: cannot overwrite directory '{dst}' with non-directory"
                )));
            }
            match fs.rename(&s, &d, cred) {
                Ok(()) => out(0, "", ""),
                Err(e) => fail(format!("mv: cannot move '{src}' to '{dst}': {}", e.text())),
            }
        }
        // GNU ls: one name a line (`-1`), dot files but not `.` and `..` (`-A`), sorted;
        // a directory it may not read, or none, is its error (status 2).
        ["ls", "-1", "-A", "--", dir] => {
            let d = p(dir);
            match fs.lookup(&d, cred) {
                Ok(_) if fs.is_dir(&d) => match fs.read_dir_allowed(&d, cred) {
                    true => {
                        let mut names = fs.list(&d);
                        names.sort();
                        let text: String = names.iter().map(|n| format!("{n}\n")).collect();
                        out(0, text, "")
                    }
                    false => out(
                        2,
                        "",
                        format!("ls: cannot open directory '{dir}': Permission denied\n"),
                    ),
                },
                Ok(_) => out(0, format!("{dir}\n"), ""),
                Err(e) => out(2, "", format!("ls: cannot access '{dir}': {}\n", e.text())),
            }
        }
        // GNU ln's messages (coreutils src/ln.c): a hard link, never a copy.
        ["ln", "-f", "-T", "--", src, dst] => match fs.link(&p(src), &p(dst), cred) {
            Ok(()) => out(0, "", ""),
            Err(FsError::Denied) if fs.is_dir(&p(src)) => {
                fail(format!("ln: {src}: hard link not allowed for directory"))
            }
            Err(FsError::IsDir) => fail(format!("ln: '{dst}': cannot overwrite directory")),
            Err(FsError::NotFound) if fs.lookup(&p(src), cred).is_err() => fail(format!(
                "ln: failed to access '{src}': No such file or directory"
            )),
            Err(e) => fail(format!(
                "ln: failed to create hard link '{dst}' => '{src}': {}",
                e.text()
            )),
        },
        ["mv", "-f", "--", src, dst] => {
            let s = p(src);
            if let Err(e) = fs.lookup(&s, cred) {
                return Some(fail(format!("mv: cannot stat '{src}': {}", e.text())));
            }
            let d = fs.target_in_dir(&p(dst), &s);
            match fs.rename(&s, &d, cred) {
                Ok(()) => out(0, "", ""),
                Err(e) => fail(format!("mv: cannot move '{src}' to '{d}': {}", e.text())),
            }
        }
        ["mkdir", "-p", "--", path] => match fs.mkdir_p(&p(path), cred, 0o755) {
            Ok(()) => out(0, "", ""),
            Err(e) => fail(format!(
                "mkdir: cannot create directory '{path}': {}",
                e.text()
            )),
        },
        // POSIX output (`df -P`): a header, then one line per argument, in their order,
        // whose 4th field is the space available to unprivileged users in 1024-byte
        // blocks. GNU df: an argument that is not there is named on stderr, left out, and
        // makes the exit status 1.
        ["df", "-P", "-k", "--", paths @ ..] => {
            let free_k = fs.free() / 1024;
            let used_k = fs.used() / 1024;
            let mut stdout = String::from(
                "Filesystem     1024-blocks      Used Available Capacity Mounted on\n",
            );
            let mut stderr = String::new();
            for path in paths {
                match fs.lookup(&p(path), cred) {
                    Ok(_) => stdout.push_str(&format!(
                        "fakefs {} {used_k} {free_k} 1% /\n",
                        used_k.saturating_add(free_k)
                    )),
                    Err(e) => stderr.push_str(&format!("df: {path}: {}\n", e.text())),
                }
            }
            out(i32::from(!stderr.is_empty()), stdout, stderr)
        }
        ["chmod", mode, "--", path] => {
            match fs.chmod(&p(path), cred, if *mode == "0600" { 0o600 } else { 0o700 }) {
                Ok(()) => out(0, "", ""),
                Err(e) => fail(format!(
                    "chmod: changing permissions of '{path}': {}",
                    e.text()
                )),
            }
        }
        ["test", flag, path] => {
            let path = p(path);
            let found = fs.lookup(&path, cred).is_ok();
            let yes = found
                && match *flag {
                    "-f" => fs.is_file(&path),
                    "-d" => fs.is_dir(&path),
                    // No links in this file system.
                    "-L" => false,
                    _ => true,
                };
            out(i32::from(!yes), "", "")
        }
        _ => unreachable!("checked above"),
    })
}
