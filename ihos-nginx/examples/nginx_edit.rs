//! ihos-nginx on its own: parse the runbook's load balancer config from a string, list its
//! upstreams, take one server out of rotation, print the diff, put it back, and check that
//! the bytes are exactly the original ones again.
//!
//! Run with `cargo run --example nginx_edit -p ihos-nginx` (no async runtime, no SSH).

use ihos_nginx::{DisableStyle, Document, EditError, ServerState};

/// The runbook's `nginx.conf` (as in `examples/runbook-nginx/nginx.conf`), with its
/// comments and alignment: an edit must keep all of them.
const CONF: &str = "\
# The load balancer of the runbook (host 101).
worker_processes auto;

events {
    worker_connections 1024;
}

http {
    upstream service_ihos {
        server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;
        server 192.168.1.101:39092 max_fails=5 fail_timeout=10s;
        server 192.168.1.103:39091 max_fails=5 fail_timeout=10s;   # the busy one
        server 192.168.1.103:39092 max_fails=5 fail_timeout=10s;
    }

    upstream service_ihos_gray {
        server 192.168.1.102:39091 max_fails=5 fail_timeout=10s;
    }
}
";

const UPSTREAM: &str = "service_ihos";
const TARGET: &str = "192.168.1.103:39091";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let doc = Document::parse(CONF)?;
    // Lossless: rendering the tree gives back the input byte for byte.
    assert_eq!(doc.render(), CONF.as_bytes());

    println!("upstreams:");
    for upstream in doc.upstreams() {
        println!("  {} (line {})", upstream.name, upstream.line);
        for server in &upstream.servers {
            println!(
                "    line {:>2}  {:<22} {:<9} {}",
                server.line,
                server.address,
                server.state,
                server.params.join(" ")
            );
        }
    }

    // Out of rotation, the runbook's way: the line is commented out with `#`.
    let disabled = doc.disable_server(UPSTREAM, TARGET, DisableStyle::Comment, false)?;
    assert!(disabled.is_changed());
    println!("\n{}:", disabled.message());
    print!("{}", disabled.diff("nginx.conf"));
    let upstream = disabled.document().upstream(UPSTREAM)?;
    let state = upstream.servers_at(TARGET).next().map(|s| s.state);
    assert_eq!(state, Some(ServerState::Commented));
    println!(
        "{} of {} servers of {UPSTREAM} get traffic",
        upstream.enabled_count(),
        upstream.servers.len()
    );

    // Disabling it again is a no-op, not an error.
    let again =
        disabled
            .document()
            .disable_server(UPSTREAM, TARGET, DisableStyle::Comment, false)?;
    assert!(!again.is_changed());
    println!("again: {}", again.message());

    // The editor refuses what would break the site: the gray upstream has one server.
    match doc.disable_server(
        "service_ihos_gray",
        "192.168.1.102:39091",
        DisableStyle::Comment,
        false,
    ) {
        Err(e @ EditError::LastEnabledServer { .. }) => println!("refused: {e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // nginx's own `down` parameter is the other style.
    let down = doc.disable_server(UPSTREAM, TARGET, DisableStyle::Down, false)?;
    println!("\n{}:", down.message());
    print!("{}", down.diff("nginx.conf"));

    // Back into rotation: the bytes are the original ones again, comment and spacing kept.
    let enabled = disabled.document().enable_server(UPSTREAM, TARGET)?;
    println!("\n{}:", enabled.message());
    print!("{}", enabled.diff("nginx.conf"));
    assert_eq!(enabled.text(), CONF.as_bytes());
    let restored = down.document().enable_server(UPSTREAM, TARGET)?;
    assert_eq!(restored.text(), CONF.as_bytes());
    println!(
        "\nround trip: {} bytes, identical to the original",
        CONF.len()
    );
    Ok(())
}
