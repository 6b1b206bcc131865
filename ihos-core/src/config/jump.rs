//! `hosts.NAME.proxy_jump`: checks that every jump host exists, is reached over SSH, and that
//! no chain of jump hosts comes back to where it started.

use std::collections::BTreeMap;

use super::HostConfig;
use super::invalid::{Invalid, invalid};

/// The chain of jump hosts in front of `name`, nearest first (empty: reached directly).
/// The topology must have been checked ([`check_proxy_jumps`]).
pub(crate) fn jump_chain<'a>(hosts: &'a BTreeMap<String, HostConfig>, name: &str) -> Vec<&'a str> {
    let mut chain: Vec<&'a str> = Vec::new();
    let mut at: &str = name;
    while let Some(next) = hosts.get(at).and_then(|h| h.proxy_jump.as_deref()) {
        if chain.contains(&next) || chain.len() > hosts.len() {
            break;
        }
        chain.push(next);
        at = next;
    }
    chain
}

pub(super) fn check_proxy_jumps(hosts: &BTreeMap<String, HostConfig>) -> Result<(), Invalid> {
    for (name, h) in hosts {
        let Some(jump) = &h.proxy_jump else {
            continue;
        };
        let key = format!("hosts.{name}.proxy_jump");
        let Some(j) = hosts.get(jump) else {
            let names = hosts.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(invalid(
                key,
                format!("no host named {jump:?} to jump through (hosts: {names})"),
            ));
        };
        if h.local {
            return Err(invalid(
                key,
                "this host is local = true: it is not reached over SSH, so not through a jump host",
            ));
        }
        if j.local {
            return Err(invalid(
                key,
                format!("{jump:?} is local = true: a jump host must be reached over SSH"),
            ));
        }
        // Follow the chain; coming back to a host already on it is a loop.
        let mut seen = vec![name.as_str()];
        let mut at = jump.as_str();
        loop {
            if let Some(start) = seen.iter().position(|s| *s == at) {
                let mut path: Vec<&str> = seen[start..].to_vec();
                path.push(at);
                return Err(invalid(
                    key,
                    format!("jump hosts form a loop: {}", path.join(" -> ")),
                ));
            }
            seen.push(at);
            match hosts.get(at).and_then(|h| h.proxy_jump.as_deref()) {
                Some(next) => at = next,
                None => break,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(text: &str) -> BTreeMap<String, HostConfig> {
        #[derive(serde::Deserialize)]
        struct Only {
            hosts: BTreeMap<String, HostConfig>,
        }
        toml::from_str::<Only>(text).unwrap().hosts
    }

    const BASE: &str = r#"
[hosts.bastion]
address = "127.0.0.20"
user = "deploy"
[hosts.inner]
address = "10.0.0.2"
user = "deploy"
proxy_jump = "bastion"
[hosts.deep]
address = "10.0.1.2"
user = "deploy"
proxy_jump = "inner"
"#;

    #[test]
    fn chains_are_followed_nearest_first() {
        let h = hosts(BASE);
        assert!(check_proxy_jumps(&h).is_ok());
        assert_eq!(jump_chain(&h, "deep"), vec!["inner", "bastion"]);
        assert_eq!(jump_chain(&h, "inner"), vec!["bastion"]);
        assert!(jump_chain(&h, "bastion").is_empty());
    }

    #[test]
    fn loops_unknown_and_local_jump_hosts_are_refused() {
        let looped = BASE.replace(
            "address = \"127.0.0.20\"\nuser = \"deploy\"",
            "address = \"127.0.0.20\"\nuser = \"deploy\"\nproxy_jump = \"deep\"",
        );
        let e = check_proxy_jumps(&hosts(&looped)).unwrap_err();
        assert_eq!(e.0, "hosts.bastion.proxy_jump");
        assert!(
            e.1.contains("bastion -> deep -> inner -> bastion"),
            "{}",
            e.1
        );
        // And the chain walk used elsewhere stops on a loop too.
        assert_eq!(jump_chain(&hosts(&looped), "deep").len(), 3);

        let own = BASE.replace("proxy_jump = \"inner\"", "proxy_jump = \"deep\"");
        let e = check_proxy_jumps(&hosts(&own)).unwrap_err();
        assert_eq!(e.0, "hosts.deep.proxy_jump");
        assert!(e.1.contains("deep -> deep"), "{}", e.1);

        let unknown = BASE.replace("proxy_jump = \"bastion\"", "proxy_jump = \"bastoin\"");
        let e = check_proxy_jumps(&hosts(&unknown)).unwrap_err();
        assert_eq!(e.0, "hosts.inner.proxy_jump");
        assert!(
            e.1.contains("\"bastoin\"") && e.1.contains("bastion, deep, inner"),
            "{}",
            e.1
        );

        let local = BASE.replace(
            "address = \"127.0.0.20\"",
            "address = \"127.0.0.20\"\nlocal = true",
        );
        let e = check_proxy_jumps(&hosts(&local)).unwrap_err();
        assert!(e.1.contains("must be reached over SSH"), "{}", e.1);
    }
}
