//! Changes asked of one `NginxLb` at the same moment are made as one (one write, one
//! `nginx -t`, one reload), each caller still getting its own result: an edit refused on its
//! own fails alone, and content nginx refuses fails only the change that brought it.

mod common;

use common::{count, reloads};
use ihos_core::{LbError, LoadBalancer, NginxLbOptions};
use ihos_testkit::{RUNBOOK_NGINX_CONF, Runbook};

const A: &str = "192.168.1.101:39091";
const B: &str = "192.168.1.101:39092";
const C: &str = "192.168.1.103:39091";

fn runbook() -> Runbook {
    let rb = Runbook::new();
    // About the file and nginx, not the policy: three out at once is the test's doing.
    rb.world.set_max_out_of_rotation(4);
    rb
}

#[tokio::test(start_paused = true)]
async fn three_changes_asked_at_once_are_one_write_one_test_and_one_reload() {
    let rb = runbook();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let (a, b, c) = tokio::join!(lb.disable(A), lb.disable(B), lb.disable(C));
    for (name, change) in [(A, a), (B, b), (C, c)] {
        let change = change.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(change.changed(), "{name}");
        // Each caller's own diff: its server, not the others'.
        let added: Vec<&str> = change
            .diff
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .collect();
        assert_eq!(added.len(), 1, "{}", change.diff);
        assert!(
            added[0].contains(&format!("#server {name}")),
            "{}",
            change.diff
        );
    }
    assert_eq!(reloads(&rb.world), 1);
    assert_eq!(count(&rb.world, "nginx -t"), 1);
    let conf = String::from_utf8(rb.config_bytes()).unwrap();
    for name in [A, B, C] {
        assert!(conf.contains(&format!("#server {name}")), "{conf}");
    }
    assert_eq!(rb.routing(), ["192.168.1.103:39092"]);
    rb.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn an_edit_refused_on_its_own_fails_alone() {
    let rb = runbook();
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let (a, bad, c) = tokio::join!(lb.disable(A), lb.disable("10.9.9.9:1"), lb.disable(C));
    assert!(a.unwrap().changed());
    assert!(c.unwrap().changed());
    assert!(matches!(bad, Err(LbError::Edit { .. })), "{bad:?}");
    assert_eq!(reloads(&rb.world), 1);
    assert_eq!(rb.routing(), [B, "192.168.1.103:39092"]);
    rb.world.assert_invariants();
}

#[tokio::test(start_paused = true)]
async fn content_nginx_refuses_fails_only_the_change_that_brought_it() {
    let rb = runbook();
    // nginx refuses any config where B is commented out (as if a directive that needs it
    // were elsewhere).
    rb.world.nginx_rejects(
        rb.lb_host.name(),
        &rb.nginx,
        |conf| String::from_utf8_lossy(conf).contains("#server 192.168.1.101:39092"),
        "host not found in upstream \"x\"",
    );
    let lb = rb.nginx_lb(NginxLbOptions::default());
    let (a, b, c) = tokio::join!(lb.disable(A), lb.disable(B), lb.disable(C));
    assert!(a.unwrap().changed());
    assert!(c.unwrap().changed());
    assert!(matches!(b, Err(LbError::Validation { .. })), "{b:?}");
    // Together (refused), then each alone: A and C each went through; B was put back.
    let conf = String::from_utf8(rb.config_bytes()).unwrap();
    assert!(conf.contains("#server 192.168.1.101:39091"), "{conf}");
    assert!(conf.contains("#server 192.168.1.103:39091"), "{conf}");
    assert!(!conf.contains("#server 192.168.1.101:39092"), "{conf}");
    assert_eq!(rb.routing(), [B, "192.168.1.103:39092"]);
    // Back to the start: the kept copy follows the file through all of it.
    let (a, c) = tokio::join!(lb.enable(A), lb.enable(C));
    assert!(a.unwrap().changed() && c.unwrap().changed());
    assert_eq!(rb.config_bytes(), RUNBOOK_NGINX_CONF.as_bytes());
    rb.world.assert_invariants();
}
