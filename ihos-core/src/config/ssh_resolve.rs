//! Resolving hosts through an OpenSSH client config (`ssh_config` in the topology, or
//! `--ssh-config`): a host's `address` is looked up as ssh would look it up, and what the
//! topology does not say itself (port, user, key, known_hosts, host key policy, jump host)
//! is taken from the config, recording where each value came from.
//!
//! `ProxyJump` hops are matched to the topology's hosts by name or address; a hop the
//! topology does not have becomes a host of its own (named after the hop, resolved through
//! the config in its turn), so that every hop is one shared session as with `proxy_jump`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::invalid::{Invalid, invalid};
use super::{HostConfig, HostKeyPolicyConfig, LoadOptions, Topology};
use crate::ssh_config::{FromConfig, HostSettings, JumpHop, SshConfig, StrictHostKeyChecking};

/// Fills in `topology`'s hosts from its ssh config, if it has one.
pub(super) fn resolve(
    topology: &mut Topology,
    raw: &toml::Table,
    options: &LoadOptions,
    file: &str,
) -> Result<(), Invalid> {
    mark_defaults(topology, raw);
    let (path, key) = match (&options.ssh_config, &topology.ssh_config) {
        (Some(p), _) => (p.clone(), "--ssh-config"),
        (None, Some(p)) => (expand(p, Path::new(file)), "ssh_config"),
        (None, None) => return Ok(()),
    };
    let config = SshConfig::load(&path).map_err(|e| invalid(key, e.to_string()))?;
    topology.warnings.extend(config.warnings().iter().cloned());
    let given = |host: &str, field: &str| {
        raw.get("hosts")
            .and_then(|h| h.get(host))
            .and_then(|h| h.get(field))
            .is_some()
    };
    let todo: Vec<Pending> = topology
        .hosts
        .iter()
        .filter(|(_, h)| !h.local)
        .map(|(name, _)| {
            let fields = ["port", "host_key_policy"]
                .into_iter()
                .filter(|f| given(name, f))
                .collect();
            Pending {
                name: name.clone(),
                fixed: fields,
                user_fallback: None,
            }
        })
        .collect();
    // Hops are matched to hosts by their names and their addresses as written (aliases),
    // whatever the order hosts are resolved in.
    let aliases: BTreeMap<String, String> = topology
        .hosts
        .iter()
        .map(|(n, h)| (n.clone(), h.address.clone()))
        .collect();
    // First every host of the topology, then the hops: linked, and the hosts made for them
    // resolved in their turn (a bound stops hops that would add hosts forever).
    let mut hops_of = Vec::new();
    for p in &todo {
        if let Some(hops) = resolve_host(topology, &config, p)? {
            hops_of.push((p.name.clone(), hops));
        }
    }
    let mut rounds = 0;
    while let Some((name, hops)) = hops_of.pop() {
        rounds += 1;
        if rounds > 1000 {
            return Err(invalid(key, "ProxyJump hops do not end"));
        }
        for p in link_hops(topology, &aliases, &name, &hops)? {
            if let Some(more) = resolve_host(topology, &config, &p)? {
                hops_of.push((p.name.clone(), more));
            }
        }
    }
    Ok(())
}

/// Records "default" as the origin of what a host's entry does not set.
fn mark_defaults(topology: &mut Topology, raw: &toml::Table) {
    for (name, h) in topology.hosts.iter_mut().filter(|(_, h)| !h.local) {
        let entry = raw.get("hosts").and_then(|t| t.get(name));
        let given = |f: &str| entry.and_then(|e| e.get(f)).is_some();
        for field in ["port", "known_hosts", "host_key_policy"] {
            if !given(field) {
                h.origins.insert(field.into(), "default".into());
            }
        }
        if h.auth.key_file.is_none() {
            h.origins.insert("key_file".into(), "default".into());
        }
    }
}

/// A host still to resolve.
struct Pending {
    name: String,
    /// Fields the topology (or the ProxyJump hop) gave: the config does not replace them.
    fixed: Vec<&'static str>,
    /// The user when neither the topology nor the config names one (ssh's default for a
    /// jump host: the local user).
    user_fallback: Option<String>,
}

/// Resolves one host; returns its `ProxyJump` hops when they are to be linked (the host has
/// no `proxy_jump` of its own).
fn resolve_host(
    topology: &mut Topology,
    config: &SshConfig,
    p: &Pending,
) -> Result<Option<FromConfig<Vec<JumpHop>>>, Invalid> {
    let name = p.name.as_str();
    let key = |f: &str| format!("hosts.{name}.{f}");
    let Some(h) = topology.hosts.get(name) else {
        return Ok(None);
    };
    let alias = h.address.clone();
    let login_user = (!h.user.is_empty()).then(|| h.user.clone());
    let s = config
        .query(&alias, login_user.as_deref())
        .map_err(|e| invalid(key("address"), e.to_string()))?;
    topology.warnings.extend(
        s.warnings
            .iter()
            .map(|w| format!("hosts.{name} ({alias}): {w}")),
    );
    let h = topology
        .hosts
        .get_mut(name)
        .ok_or_else(|| invalid("hosts", "vanished"))?;
    apply(h, &s, &alias, p, &mut topology.warnings)?;
    Ok(s.proxy_jump
        .filter(|hops| h.proxy_jump.is_none() && !hops.value.is_empty()))
}

/// `ProxyJump a,b` on `name`: through a, then b, then the host: the host's jump is b, b's is
/// a. Returns the hosts made for hops the topology does not have.
fn link_hops(
    topology: &mut Topology,
    aliases: &BTreeMap<String, String>,
    name: &str,
    hops: &FromConfig<Vec<JumpHop>>,
) -> Result<Vec<Pending>, Invalid> {
    let origin = hops.origin.to_string();
    let mut added = Vec::new();
    let mut previous: Option<String> = None;
    let mut chain = Vec::new();
    for hop in &hops.value {
        let (hop_name, new) = hop_host(topology, aliases, hop, previous.as_deref(), &origin, name)?;
        added.extend(new);
        chain.push(hop_name.clone());
        previous = Some(hop_name);
    }
    if let (Some(last), Some(h)) = (previous, topology.hosts.get_mut(name)) {
        h.proxy_jump = Some(last);
        h.origins.insert(
            "proxy_jump".into(),
            format!("{origin}: {}", chain.join(" -> ")),
        );
    }
    Ok(added)
}

/// Takes from `s` what the topology did not give.
fn apply(
    h: &mut HostConfig,
    s: &HostSettings,
    alias: &str,
    p: &Pending,
    warnings: &mut Vec<String>,
) -> Result<(), Invalid> {
    let (name, fixed) = (p.name.as_str(), p.fixed.as_slice());
    if let Some(hn) = &s.host_name {
        h.address = hn.value.clone();
        h.origins
            .insert("address".into(), format!("{} for {alias}", hn.origin));
    }
    if let (Some(p), false) = (&s.port, fixed.contains(&"port")) {
        h.port = p.value;
        h.origins.insert("port".into(), p.origin.to_string());
    }
    if h.user.is_empty() {
        match &s.user {
            Some(u) => {
                h.user = u.value.clone();
                h.origins.insert("user".into(), u.origin.to_string());
            }
            None => match &p.user_fallback {
                Some(u) => {
                    h.user = u.clone();
                    h.origins.insert(
                        "user".into(),
                        "the local user (as ssh for a jump host)".into(),
                    );
                }
                None => {
                    return Err(invalid(
                        format!("hosts.{name}.user"),
                        format!("not set, and the ssh config has no User for {alias}"),
                    ));
                }
            },
        }
    }
    let key_wanted = h
        .auth
        .methods
        .as_ref()
        .is_none_or(|m| m.contains(&super::AuthMethod::Key));
    if let (None, Some(first), true) = (&h.auth.key_file, s.identity_files.first(), key_wanted) {
        // As ssh: the agent first, then each IdentityFile that exists, in order.
        h.auth.identity_files = s.identity_files.iter().map(|k| k.value.clone()).collect();
        let more = s.identity_files.len() - 1;
        let also = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        h.origins.insert(
            "key_file".into(),
            format!("{}{also}, after the agent", first.origin),
        );
    }
    if let (None, Some(k)) = (&h.known_hosts, &s.known_hosts) {
        h.known_hosts = Some(k.value.clone());
        h.origins.insert("known_hosts".into(), k.origin.to_string());
    }
    if let (Some(c), false) = (
        &s.strict_host_key_checking,
        fixed.contains(&"host_key_policy"),
    ) {
        h.host_key_policy = match c.value {
            StrictHostKeyChecking::Yes => HostKeyPolicyConfig::Strict,
            StrictHostKeyChecking::AcceptNew => HostKeyPolicyConfig::AcceptNew,
            StrictHostKeyChecking::Ask => {
                warnings.push(format!(
                    "hosts.{name}: StrictHostKeyChecking ask ({}): ihos cannot ask, so unknown keys are refused",
                    c.origin
                ));
                HostKeyPolicyConfig::Strict
            }
            StrictHostKeyChecking::No => {
                warnings.push(format!(
                    "hosts.{name}: StrictHostKeyChecking no ({}): ihos records unknown keys (accept-new) and never accepts a changed one",
                    c.origin
                ));
                HostKeyPolicyConfig::AcceptNew
            }
        };
        h.origins
            .insert("host_key_policy".into(), c.origin.to_string());
    }
    Ok(())
}

/// The topology host a hop is, or a new one for it (then also returned as pending).
fn hop_host(
    topology: &mut Topology,
    aliases: &BTreeMap<String, String>,
    hop: &JumpHop,
    jump: Option<&str>,
    origin: &str,
    for_host: &str,
) -> Result<(String, Option<Pending>), Invalid> {
    let same = |name: &str, h: &HostConfig| {
        let named = name == hop.host
            || aliases.get(name).is_some_and(|a| *a == hop.host)
            || h.address == hop.host;
        named
            && hop.port.is_none_or(|p| p == h.port)
            && hop.user.as_ref().is_none_or(|u| *u == h.user)
    };
    if let Some((name, h)) = topology.hosts.iter().find(|(n, h)| same(n, h)) {
        if h.proxy_jump.as_deref() != jump {
            topology.warnings.push(format!(
                "hosts.{for_host}: ProxyJump ({origin}) goes through {name}{}, but {name} is reached {}: ihos reaches it its own way",
                jump.map(|j| format!(" via {j}")).unwrap_or_default(),
                h.proxy_jump.as_deref().map_or("directly".to_string(), |j| format!("through {j}")),
            ));
        }
        return Ok((name.clone(), None));
    }
    let mut name = hop.host.clone();
    let mut n = 2;
    while topology.hosts.contains_key(&name) {
        name = format!("{}-{n}", hop.host);
        n += 1;
    }
    let state_dir = topology
        .hosts
        .get(for_host)
        .map(|h| h.state_dir.clone())
        .ok_or_else(|| invalid("hosts", "vanished"))?;
    let mut origins = BTreeMap::new();
    origins.insert(
        "address".into(),
        format!("a ProxyJump hop of host {for_host} ({origin})"),
    );
    let mut fixed = Vec::new();
    if hop.port.is_some() {
        fixed.push("port");
    }
    if hop.user.is_some() {
        fixed.push("user");
    }
    topology.hosts.insert(
        name.clone(),
        HostConfig {
            address: hop.host.clone(),
            port: hop.port.unwrap_or(22),
            user: hop.user.clone().unwrap_or_default(),
            auth: Default::default(),
            known_hosts: None,
            host_key_policy: HostKeyPolicyConfig::Strict,
            sudo_password_env: None,
            staging_dir: None,
            state_dir,
            local: false,
            proxy_jump: jump.map(str::to_string),
            origins,
            defaults: None,
        },
    );
    let pending = Pending {
        name: name.clone(),
        fixed,
        user_fallback: Some(whoami::username()).filter(|u| !u.is_empty()),
    };
    Ok((name, Some(pending)))
}

/// `~/` is `$HOME`; a relative path is relative to the topology file's directory.
fn expand(p: &Path, topology_file: &Path) -> PathBuf {
    if let (Ok(rest), Some(home)) = (p.strip_prefix("~"), crate::transport::home_dir()) {
        return home.join(rest);
    }
    if p.is_relative() {
        if let Some(dir) = topology_file.parent() {
            return dir.join(p);
        }
    }
    p.to_path_buf()
}
