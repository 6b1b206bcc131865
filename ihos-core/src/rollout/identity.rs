//! Who runs a rollout and its id, as the lock, the journal and the records name them.

/// `user@machine`: the user from the system's user database (`getpwuid_r`, so LDAP and
/// SSSD users too), the machine's host name.
pub(crate) fn operator() -> String {
    let user = whoami::fallible::username()
        .ok()
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let host = Some(machine())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// This machine's host name: where a lock's pid can be checked.
pub(crate) fn machine() -> String {
    whoami::fallible::hostname().unwrap_or_default()
}

/// This machine's id (`/etc/machine-id`, set at installation, unique per machine): two
/// machines with the same host name are not taken for one.
pub(crate) fn machine_id() -> Option<String> {
    read_id("/etc/machine-id")
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`, new at every boot): a process of an
/// earlier boot is gone, whatever pid and start time the new boot gives another one.
pub(crate) fn boot_id() -> Option<String> {
    read_id("/proc/sys/kernel/random/boot_id")
}

fn read_id(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let id = text.trim();
    (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
        .then(|| id.to_string())
}

/// When process `pid` started, in clock ticks since boot (`/proc/PID/stat`, field 22);
/// `None` if it does not run (or this is not Linux).
pub(crate) fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after
    // its closing one, where field 3 starts.
    let after = stat.rsplit_once(')')?.1;
    let mut fields = after.split_whitespace();
    // Field 3, the state: a zombie (or dead) process no longer holds anything.
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// A new rollout's id: its start time, and a few digits apart two started in the same
/// second.
pub(crate) fn new_rollout_id() -> String {
    // Unique in this process too (a library driving several fleets at once): one run's
    // mark must never be taken for another's.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "r{}-{}{seq:03}",
        crate::time::now_compact(),
        nanos % 100_000
    )
}
