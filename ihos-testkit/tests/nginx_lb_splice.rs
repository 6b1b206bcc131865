//! A change of a large config sends only the bytes that differ (issue 17: config bytes moved
//! O(instances) over a rollout, not O(instances²)): the new file is made on the host from
//! the old one, checked by digest, and nginx runs the result.

use ihos_core::{LoadBalancer, NginxLbOptions};
use ihos_testkit::{RUNBOOK_NGINX_CONF, Runbook};

const A: &str = "192.168.1.101:39091";

/// The runbook's config followed by `lines` comment lines (a large file's unchanged rest).
fn padded(rb: &Runbook, lines: usize) -> String {
    let padding: String = (0..lines)
        .map(|i| format!("# note {i}: unchanged by any edit, never sent again\n"))
        .collect();
    let conf = format!("{RUNBOOK_NGINX_CONF}{padding}");
    rb.lb_host.write_file(&rb.config, &conf);
    conf
}

/// Bytes of standard input of every command so far, the largest first.
fn stdin_sizes(rb: &Runbook) -> Vec<usize> {
    let mut sizes: Vec<usize> = (rb.world.commands().iter())
        .map(|c| c.command.stdin_bytes().map_or(0, <[u8]>::len))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
}

#[tokio::test(start_paused = true)]
async fn a_large_config_is_changed_by_sending_only_the_differing_bytes() {
    let rb = Runbook::new();
    let original = padded(&rb, 400);
    assert!(original.len() > 16_000);
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let change = lb.disable(A).await.unwrap();
    assert!(change.changed());
    let expected = original.replace(&format!("server {A}"), &format!("#server {A}"));
    assert_eq!(String::from_utf8(rb.config_bytes()).unwrap(), expected);
    assert!(!rb.routing().contains(&A.to_string()), "{:?}", rb.routing());
    // No command carried the file: the largest standard input is the one changed line.
    let sizes = stdin_sizes(&rb);
    assert!(sizes[0] < 100, "{sizes:?}");
    // And back: the same.
    lb.enable(A).await.unwrap();
    assert_eq!(String::from_utf8(rb.config_bytes()).unwrap(), original);
    assert!(stdin_sizes(&rb)[0] < 100);
    let unsupported: Vec<String> = (rb.world.commands().iter())
        .filter(|c| matches!(&c.result, Err(e) if e.to_string().contains("unsupported command")))
        .map(|c| c.command.to_string())
        .collect();
    assert!(unsupported.is_empty(), "{unsupported:#?}");
    rb.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn a_small_config_is_sent_whole() {
    let rb = Runbook::new();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    lb.disable(A).await.unwrap();
    // The file (well under the few kB a splice must save) went as it is.
    assert_eq!(stdin_sizes(&rb)[0], rb.config_bytes().len());
}
