//! Processes of real sandbox hosts, found through `/proc`: tests that cut a host off (kill
//! its sshd and every connection it serves) find what to kill here, by PID, never by name
//! across the machine.

/// The direct children of `parent`.
pub fn children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    let parent = parent.to_string();
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after "(comm)" (which may itself hold ") "): state ppid ...
        let Some(rest) = stat.rsplit(") ").next() else {
            continue;
        };
        if rest.split_whitespace().nth(1) == Some(parent.as_str()) {
            out.push(pid);
        }
    }
    out
}

/// `pid` and every process below it.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        all.extend(children(all[i]));
        i += 1;
    }
    all
}

/// The sshd processes at and below `listener` (the listener and its connections), by the
/// name the kernel gives them (`sshd`, or `sshd-session` on newer OpenSSH).
pub fn sshd_tree(listener: u32) -> Vec<u32> {
    descendants(listener)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim().starts_with("sshd"))
        })
        .collect()
}
