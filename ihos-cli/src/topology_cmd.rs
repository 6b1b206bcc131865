//! `ihos validate`: what the topology file describes, or where it is wrong; for each host,
//! the connection ihos will make and where each of its values came from.

use std::path::Path;

use ihos_core::{HostConfig, HostKeyPolicyConfig, SshAuth, Topology};

use crate::exit::CliError;
use crate::output;

/// `ihos validate [--effective [--json]]`.
pub fn validate(config: &Path, effective: bool, json: bool) -> Result<(), CliError> {
    let t = crate::connect::topology(config)?;
    output::message(&format!("{}: ok", config.display()));
    for (name, h) in &t.hosts {
        for line in host_lines(&t, name, h, &config.display().to_string()) {
            output::message(&line);
        }
        if h.auth.uses_password() && !h.local {
            output::message(&format!(
                "warning: hosts.{name}.auth: logs in with a password; SSH keys are recommended \
                 (no secret in the environment, and sshd can refuse passwords altogether)"
            ));
        }
    }
    for lb in &t.load_balancers {
        output::message(&format!(
            "load balancer: {} on {} ({}, upstream {}, apply {:?})",
            lb.container, lb.host, lb.config, lb.upstream, lb.apply
        ));
    }
    for i in &t.instances {
        output::message(&format!(
            "instance {}: {} on {}, backend {}",
            i.name, i.container, i.host, i.backend
        ));
    }
    if let Some(c) = &t.canary {
        let sites: Vec<String> = t
            .load_balancers
            .iter()
            .filter_map(|lb| {
                lb.canary_site(Some(c))
                    .map(|site| format!("{site} on {}", lb.host))
            })
            .collect();
        output::message(&format!(
            "canary {}: {} on {}, rule in {}",
            c.instance.name,
            c.instance.container,
            c.instance.host,
            sites.join(", ")
        ));
    }
    let p = &t.policy;
    output::message(&format!(
        "policy: max_unavailable {}, drain min {} idle {} max {}, start timeout {}, on failure {:?}",
        p.max_unavailable, p.drain.min, p.drain.idle, p.drain.max, p.start_timeout, p.on_failure
    ));
    if effective {
        crate::effective::print(&t, &config.display().to_string(), json)?;
    }
    Ok(())
}

/// `host NAME: user@address:port [through A -> B]`, then each setting and its origin.
fn host_lines(t: &Topology, name: &str, h: &HostConfig, file: &str) -> Vec<String> {
    if h.local {
        return vec![format!("host {name}: this machine (local = true)")];
    }
    let mut chain = t.jump_chain(name);
    // Nearest to ihos first, as `ssh -J` lists them.
    chain.reverse();
    let through = if chain.is_empty() {
        String::new()
    } else {
        format!(" through {}", chain.join(" -> "))
    };
    let from = |field: &str| {
        h.origins
            .get(field)
            .cloned()
            .unwrap_or_else(|| file.to_string())
    };
    let mut lines = vec![format!(
        "host {name}: {}@{}:{}{through}",
        h.user, h.address, h.port
    )];
    let login = describe(&h.auth.to_ssh_auth(|p| p.to_path_buf()));
    let known = h
        .known_hosts
        .as_ref()
        .map_or("~/.ssh/known_hosts".to_string(), |k| {
            k.display().to_string()
        });
    let policy = match h.host_key_policy {
        HostKeyPolicyConfig::Strict => "strict",
        HostKeyPolicyConfig::AcceptNew => "accept-new",
    };
    let rows = [
        ("address", h.address.clone()),
        ("port", h.port.to_string()),
        ("user", h.user.clone()),
        ("login", login),
        ("known_hosts", known),
        ("host_key_policy", policy.to_string()),
        (
            "proxy_jump",
            h.proxy_jump.clone().unwrap_or_else(|| "none".into()),
        ),
    ];
    for (field, value) in rows {
        // A password or an order of methods is only ever the topology's own; a key file
        // may come from the OpenSSH config (IdentityFile) or be the default keys.
        let own_login = h.auth.password_env.is_some() || h.auth.methods.is_some();
        let origin = if field == "login" && own_login && h.auth.key_file.is_none() {
            file.to_string()
        } else if field == "login" {
            from("key_file")
        } else if field == "proxy_jump" && h.proxy_jump.is_none() {
            "default".to_string()
        } else {
            from(field)
        };
        lines.push(format!("    {field:<16} {value:<40} {origin}"));
    }
    lines
}

/// The login methods, in the order they are tried.
fn describe(auth: &SshAuth) -> String {
    match auth {
        SshAuth::Agent => "agent".into(),
        SshAuth::KeyFile { path, .. } => format!("key {}", path.display()),
        SshAuth::DefaultKeys => "~/.ssh/id_ed25519, id_ecdsa, id_rsa".into(),
        SshAuth::AgentThenDefaultKeys => "agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa".into(),
        SshAuth::Password { password_env } => format!("password from ${password_env}"),
        SshAuth::Chain(all) => all.iter().map(describe).collect::<Vec<_>>().join(", then "),
    }
}
