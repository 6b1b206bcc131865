//! ihos-core's watch for a process's end (`transport/remote/exit_watch.rs`, `EXIT_WATCH`;
//! a copy of its text in `world/host_scripts.rs`), as the host runs it: where the login
//! may see other users' processes and the process is there at its first look, it looks
//! every 10 ms for a second, then every 0.1 s, until it is gone or its pid is another
//! process's (here: no running container has it as its main process since the same start),
//! at most its LOOKS times, and is stopped at its command's time limit like any command.
//! Faults are decided when it answers (a `Fail` fails it then; it waited first).

use std::time::Duration;

use ihos_core::{Command, Output, TransportError};

use super::FakeHost;
use crate::world::host_scripts::EXIT_WATCH;

/// Runs `command` if it is the watch; `None` otherwise.
pub(super) async fn run(
    host: &FakeHost,
    command: &Command,
) -> Option<Result<Output, TransportError>> {
    let argv = command.argv();
    let ["sh", "-c", script, "sh", pid, looks] = argv.as_slice() else {
        return None;
    };
    if *script != EXIT_WATCH {
        return None;
    }
    let (pid, max_looks): (u32, u32) = (pid.parse().ok()?, looks.parse().ok()?);
    let hidden = host.world().synced(|w| w.host(host.name()).proc_hidden);
    let limit = command
        .timeout_value()
        .unwrap_or(ihos_core::DEFAULT_COMMAND_TIMEOUT);
    let began = tokio::time::Instant::now();
    let start_of = || host.world().synced(|w| w.process_start(host.name(), pid));
    if let Some(start) = start_of().filter(|_| !hidden) {
        host.world()
            .synced(|w| w.watch_saw.insert((host.name().to_string(), pid), start));
        let mut looks = 0u32;
        while looks < max_looks {
            let every = Duration::from_millis(if looks < 100 { 10 } else { 100 });
            let waited = began.elapsed();
            if waited + every > limit {
                tokio::time::sleep(limit.saturating_sub(waited)).await;
                let timed_out = Err(host.timeout(command, limit));
                return Some(host.world().lock().finish(host.name(), command, timed_out));
            }
            tokio::time::sleep(every).await;
            looks += 1;
            if start_of() != Some(start) {
                break;
            }
        }
    }
    Some(host.run_one(command).await)
}
