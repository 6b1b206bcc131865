//! nginx's worker processes as the container lists them: old workers still finishing their
//! connections after a reload are what a drain waits for.

/// Lists processes as `PID CMDLINE` lines from /proc (nginx images often lack `ps`). A
/// fixed script: nothing from configuration goes into it.
pub(super) const LIST_PROCESSES: &str = r#"for f in /proc/[0-9]*/cmdline; do p=${f#/proc/}; printf '%s ' "${p%/cmdline}"; tr '\0' ' ' < "$f" 2>/dev/null; echo; done"#;

/// One nginx worker process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxWorker {
    /// Its pid (in the container's namespace).
    pub pid: u32,
    /// Whether it is an old worker finishing its connections after a reload.
    pub shutting_down: bool,
}

pub(super) fn parse_workers(listing: &str) -> Vec<NginxWorker> {
    listing
        .lines()
        .filter_map(|line| {
            let (pid, cmd) = line.trim().split_once(' ')?;
            let cmd = cmd.trim();
            cmd.starts_with("nginx: worker process").then(|| {
                Some(NginxWorker {
                    pid: pid.parse().ok()?,
                    shutting_down: cmd.contains("is shutting down"),
                })
            })?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_worker_listing() {
        let listing = "1 nginx: master process nginx -g daemon off; \n31 nginx: worker process \n29 nginx: worker process is shutting down \n40 sh -c for f in \n41 \n";
        assert_eq!(
            parse_workers(listing),
            vec![
                NginxWorker {
                    pid: 31,
                    shutting_down: false
                },
                NginxWorker {
                    pid: 29,
                    shutting_down: true
                }
            ]
        );
    }
}
