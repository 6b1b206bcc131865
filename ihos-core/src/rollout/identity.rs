//! Who runs a rollout and its id, as the lock, the journal and the records name them.

/// `user@machine`: the user from the system's user database (`getpwuid_r`, so LDAP and
/// SSSD users too), the machine's host name.
pub(crate) fn operator() -> String {
    let user = whoami::fallible::username()
        .ok()
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let host = whoami::fallible::hostname().unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// A new rollout's id: its start time, and a few digits apart two started in the same
/// second.
pub(crate) fn new_rollout_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("r{}-{}", crate::time::now_compact(), nanos % 100_000)
}
