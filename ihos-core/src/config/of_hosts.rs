//! A topology of hosts only, for `ihos init`, which connects before there is a file.

use std::collections::BTreeMap;

use super::{ConfigError, HostConfig, LoadOptions, Policy, Topology, ssh_resolve};

impl Topology {
    /// A topology of `hosts` only (`name`, `address`, login `user`), their connections
    /// resolved through `options.ssh_config` as a loaded topology's are: what `ihos init`
    /// connects with before there is a topology file.
    pub fn of_hosts(
        hosts: &[(String, String)],
        user: Option<&str>,
        options: &LoadOptions,
    ) -> Result<Topology, ConfigError> {
        let mut raw = toml::Table::new();
        let mut table = toml::Table::new();
        let mut configs = BTreeMap::new();
        for (name, address) in hosts {
            let mut entry = toml::Table::new();
            entry.insert("address".into(), address.clone().into());
            if let Some(u) = user {
                entry.insert("user".into(), u.into());
            }
            let text = toml::to_string(&entry).unwrap_or_default();
            let host: HostConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                file: "--lb".into(),
                key: format!("hosts.{name}"),
                message: e.message().to_string(),
                position: None,
            })?;
            table.insert(name.clone(), entry.into());
            configs.insert(name.clone(), host);
        }
        raw.insert("hosts".into(), table.into());
        let mut topology = Topology {
            hosts: configs,
            load_balancers: Vec::new(),
            instances: Vec::new(),
            canary: None,
            policy: Policy::default(),
            teamcity: None,
            notify: Vec::new(),
            hooks: Vec::new(),
            ssh_config: None,
            warnings: Vec::new(),
        };
        ssh_resolve::resolve(&mut topology, &raw, options, "ihos init").map_err(
            |(key, message)| ConfigError::Invalid {
                file: "--ssh-config".into(),
                key,
                message,
                position: None,
            },
        )?;
        Ok(topology)
    }
}
