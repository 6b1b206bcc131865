//! nginx's worker processes as the container's process list shows them: old workers still
//! finishing their connections after a reload are what a drain waits for.

use crate::container::Process;

/// One nginx worker process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxWorker {
    /// Its pid (as the host sees it: compared only with other listings').
    pub pid: u32,
    /// Whether it is an old worker finishing its connections after a reload.
    pub shutting_down: bool,
}

/// The nginx workers among a container's processes (nginx retitles them: `nginx: worker
/// process`, and `... is shutting down` once a reload has retired them).
pub(super) fn workers_among(processes: &[Process]) -> Vec<NginxWorker> {
    processes
        .iter()
        .filter(|p| p.command.starts_with("nginx: worker process"))
        .map(|p| NginxWorker {
            pid: p.pid,
            shutting_down: p.command.contains("is shutting down"),
        })
        .collect()
}

/// nginx's master among a container's processes (`nginx: master process ...`), when there
/// is exactly one.
pub(super) fn master_among(processes: &[Process]) -> Option<u32> {
    let mut masters = processes
        .iter()
        .filter(|p| p.command.starts_with("nginx: master process"));
    match (masters.next(), masters.next()) {
        (Some(m), None) => Some(m.pid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workers_and_which_are_shutting_down() {
        let ps = [
            (1, "nginx: master process nginx -g daemon off;"),
            (31, "nginx: worker process"),
            (29, "nginx: worker process is shutting down"),
            (40, "sh -c nginx: worker process"),
            (41, "nginx: cache manager process"),
        ]
        .map(|(pid, command)| Process {
            pid,
            command: command.to_string(),
        });
        assert_eq!(
            workers_among(&ps),
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
        assert_eq!(master_among(&ps), Some(1));
        assert_eq!(master_among(&ps[1..]), None);
        let two = [
            ps[0].clone(),
            Process {
                pid: 2,
                ..ps[0].clone()
            },
        ];
        assert_eq!(master_among(&two), None);
    }
}
