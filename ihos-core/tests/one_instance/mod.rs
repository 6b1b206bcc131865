//! The smallest topology (one host, one load balancer, one instance), for the tests of a
//! section added to it.

use ihos_core::{ConfigError, Topology};

const BASE: &str = r#"
[hosts.h101]
address = "192.168.1.101"
user = "deploy"

[load_balancer]
host = "h101"
container = "nginx"
config = "/opt/nginx/nginx.conf"
upstream = "service_ihos"

[[instances]]
name = "101-pep1"
host = "h101"
container = "pep1"
backend = "192.168.1.101:39091"
webapps = "/opt/pep1/webapps"
logs = "/opt/pep1/logs"
health = { url = "http://127.0.0.1:39091/ihos/" }
"#;

/// The smallest topology with `more` after it.
pub fn load(more: &str) -> Result<Topology, ConfigError> {
    Topology::from_toml(&format!("{BASE}\n{more}"), "ihos.toml")
}

/// Checks that `more` is refused as invalid at `key` (with its line), saying `says`.
pub fn assert_invalid(more: &str, key: &str, says: &str) {
    let e = load(more).unwrap_err();
    let ConfigError::Invalid {
        key: k,
        message,
        position,
        ..
    } = &e
    else {
        panic!("{more}: {e}");
    };
    assert_eq!(k, key, "{e}");
    assert!(message.contains(says), "{e}");
    assert!(position.is_some(), "no line for {key}: {e}");
}

/// Checks that `more` is a syntax error in the file, saying `says`.
pub fn assert_syntax(more: &str, says: &str) {
    let e = load(more).unwrap_err().to_string();
    assert!(e.contains(says), "{e}");
    assert!(e.starts_with("ihos.toml:"), "{e}");
}
