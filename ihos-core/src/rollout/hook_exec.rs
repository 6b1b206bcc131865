//! Running one hook's command: on this machine in a process group of its own with a
//! cleaned environment (killed as a group at its timeout), or on a host over its transport;
//! its output kept to its last lines.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::command::{Command, Privilege};
use crate::transport::Transport;

/// How a hook's command ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HookOutcome {
    /// Its exit status (`None`: killed, timed out, or not started).
    pub(crate) exit: Option<i32>,
    pub(crate) timed_out: bool,
    /// Why it could not be run at all, or was cut short.
    pub(crate) error: Option<String>,
    /// Killed on a stop request.
    pub(crate) stopped: bool,
    /// The end of its output (stdout, then stderr).
    pub(crate) output: String,
    pub(crate) seconds: f64,
}

impl HookOutcome {
    pub(crate) fn passed(&self) -> bool {
        self.exit == Some(0) && !self.timed_out && self.error.is_none()
    }

    /// Why it failed, in a few words.
    pub(crate) fn why(&self, timeout: Duration) -> String {
        match (&self.error, self.timed_out, self.exit) {
            (Some(e), _, _) => e.clone(),
            (None, true, _) => format!("did not finish within {}s", timeout.as_secs()),
            (None, false, Some(code)) => format!("exit status {code}"),
            (None, false, None) => "killed by a signal".into(),
        }
    }
}

/// Output kept per stream: the end of it, where errors are.
const KEEP: usize = 4096;
/// What a local hook sees of ihos's environment besides its `IHOS_*` variables and what it
/// names: enough to find programs and speak the right language.
const PASSED_THROUGH: [&str; 7] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"];

/// The last [`KEEP`] bytes of `bytes` as text.
fn tail(bytes: &[u8]) -> String {
    let from = bytes.len().saturating_sub(KEEP);
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

fn joined(stdout: &[u8], stderr: &[u8]) -> String {
    let (out, err) = (tail(stdout), tail(stderr));
    match (out.trim().is_empty(), err.trim().is_empty()) {
        (_, true) => out.trim_end().to_string(),
        (true, false) => err.trim_end().to_string(),
        (false, false) => format!("{}\n{}", out.trim_end(), err.trim_end()),
    }
}

/// Reads a stream to its end, keeping its last [`KEEP`] bytes.
async fn read_tail(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * KEEP {
            kept.drain(..kept.len() - KEEP);
        }
    }
    kept
}

/// A hook's process group, killed when this is dropped (the hook's future dropped by its
/// caller, or the hook ended with children left behind).
struct Group(Option<i32>);

impl Group {
    fn kill(&self) {
        if let Some(pgid) = self.0 {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory is
            // involved. The group's leader is not reaped yet (or was just now), so its id
            // names this group.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `argv` here with `vars`; at `timeout`, or when `stop` completes (a stop request),
/// it is killed with everything it started.
pub(crate) async fn run_local(
    argv: &[String],
    vars: &[(String, String)],
    timeout: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> HookOutcome {
    let started = Instant::now();
    let failed = |error: String| HookOutcome {
        exit: None,
        timed_out: false,
        error: Some(error),
        stopped: false,
        output: String::new(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let Some((program, args)) = argv.split_first() else {
        return failed("no program".into());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout kills what it started too (`sh -c` and its children).
        .process_group(0)
        .kill_on_drop(true);
    for name in PASSED_THROUGH {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.envs(vars.iter().map(|(k, v)| (k, v)));
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("{program}: {e}")),
    };
    let group = Group(child.id().and_then(|p| i32::try_from(p).ok()));
    let out = child.stdout.take().map(|s| tokio::spawn(read_tail(s)));
    let err = child.stderr.take().map(|s| tokio::spawn(read_tail(s)));
    let ended = tokio::select! {
        status = tokio::time::timeout(timeout, child.wait()) => match status {
            Ok(status) => Ok(status.ok().and_then(|s| s.code())),
            Err(_) => Err(false),
        },
        () = stop => Err(true),
    };
    let (status, timed_out, stopped) = match ended {
        Ok(code) => (code, false, false),
        Err(stopped) => {
            group.kill();
            let _ = child.wait().await;
            (None, !stopped, stopped)
        }
    };
    // What it left running in the background goes with it.
    drop(group);
    // A process that left the group may hold the pipes open: its output is not waited for.
    let collect = |h: Option<tokio::task::JoinHandle<Vec<u8>>>| async move {
        let Some(mut h) = h else {
            return Vec::new();
        };
        match tokio::time::timeout(Duration::from_secs(2), &mut h).await {
            Ok(read) => read.unwrap_or_default(),
            Err(_) => {
                h.abort();
                Vec::new()
            }
        }
    };
    let (stdout, stderr) = tokio::join!(collect(out), collect(err));
    HookOutcome {
        exit: status,
        timed_out,
        error: stopped.then(|| "stopped on request: killed".to_string()),
        stopped,
        output: joined(&stdout, &stderr),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs `argv` on a host with `vars`, through `env` (so the variables reach it whatever the
/// login shell), with sudo if asked.
pub(crate) async fn run_remote(
    t: &dyn Transport,
    argv: &[String],
    vars: &[(String, String)],
    sudo: bool,
    timeout: Duration,
) -> HookOutcome {
    let started = Instant::now();
    let command = Command::new("env")
        .args(vars.iter().map(|(k, v)| format!("{k}={v}")))
        .args(argv.iter().cloned())
        .with_privilege(if sudo {
            Privilege::Sudo
        } else {
            Privilege::User
        })
        .timeout(timeout)
        // A stop request ends it at once (its session with it), not after a moment.
        .cut_off_when_abandoned();
    match t.run(&command).await {
        Ok(out) => HookOutcome {
            exit: out.status,
            timed_out: false,
            error: None,
            stopped: false,
            output: joined(&out.stdout, &out.stderr),
            seconds: started.elapsed().as_secs_f64(),
        },
        Err(e) => {
            let timed_out = matches!(e, crate::transport::TransportError::Timeout { .. });
            HookOutcome {
                exit: None,
                timed_out,
                error: (!timed_out).then(|| format!("{}: {e}", t.host())),
                stopped: false,
                output: String::new(),
                seconds: started.elapsed().as_secs_f64(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(line: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), line.into()]
    }

    #[tokio::test]
    async fn a_local_hook_gets_its_variables_and_nothing_else_and_its_output_is_kept() {
        let vars = vec![("IHOS_INSTANCE".to_string(), "101-pep1".to_string())];
        let out = run_local(
            &sh("echo \"i=$IHOS_INSTANCE\"; env; echo oops >&2; exit 3"),
            &vars,
            Duration::from_secs(20),
            std::future::pending(),
        )
        .await;
        assert_eq!(out.exit, Some(3));
        assert!(!out.passed());
        assert_eq!(out.why(Duration::from_secs(20)), "exit status 3");
        assert!(out.output.starts_with("i=101-pep1"), "{}", out.output);
        assert!(out.output.ends_with("oops"), "{}", out.output);
        // cargo's own variables (set for this test process) do not reach it.
        assert!(!out.output.contains("CARGO_"), "{}", out.output);
    }

    #[tokio::test]
    async fn a_hook_past_its_timeout_is_killed_with_what_it_started() {
        let started = Instant::now();
        let out = run_local(
            &sh("sleep 30 & sleep 30; echo never"),
            &[],
            Duration::from_millis(300),
            std::future::pending(),
        )
        .await;
        assert!(out.timed_out && !out.passed(), "{out:?}");
        assert!(!out.output.contains("never"));
        // The background sleep held stdout open: the group's kill closed it.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_hook_that_cannot_start_says_why_and_a_long_output_keeps_its_end() {
        let out = run_local(
            &["/nonexistent/hook".to_string()],
            &[],
            Duration::from_secs(5),
            std::future::pending(),
        )
        .await;
        assert!(
            out.error
                .as_deref()
                .is_some_and(|e| e.contains("/nonexistent/hook"))
        );
        let out = run_local(
            &sh("i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done"),
            &[],
            Duration::from_secs(20),
            std::future::pending(),
        )
        .await;
        assert!(out.passed());
        assert!(out.output.len() <= KEEP && out.output.ends_with("line 4999"));
    }

    #[tokio::test]
    async fn a_stop_request_kills_a_hook_with_what_it_started() {
        let started = Instant::now();
        let out = run_local(
            &sh("sleep 30 & sleep 30"),
            &[],
            Duration::from_secs(60),
            tokio::time::sleep(Duration::from_millis(200)),
        )
        .await;
        assert!(out.stopped && !out.timed_out && !out.passed(), "{out:?}");
        assert_eq!(
            out.why(Duration::from_secs(60)),
            "stopped on request: killed"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
