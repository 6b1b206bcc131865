//! From the file as written ([`TopologySpec`]) to the [`Topology`] ihos uses: the load
//! balancers gathered, every instance resolved through the defaults sections, and the
//! checks' errors on a defaulted setting turned into errors on the line that wrote it.

use super::defaults;
use super::invalid::{self, Invalid};
use super::spec::TopologySpec;
use super::{CanaryConfig, InstanceConfig, Topology};

impl Topology {
    /// The topology as written, with every instance's settings resolved.
    pub(super) fn resolve(spec: TopologySpec, text: &str, file: &str) -> Result<Topology, Invalid> {
        let mut load_balancers = spec.load_balancers;
        if let Some(one) = spec.load_balancer {
            if !load_balancers.is_empty() {
                return Err(invalid::invalid(
                    "load_balancer",
                    "both [load_balancer] and [[load_balancers]]: list them all as [[load_balancers]]",
                ));
            }
            load_balancers.push(one);
        }
        let global = spec.defaults.as_ref();
        if let Some(d) = global {
            defaults::check_defaults(d, "defaults", false)?;
        }
        for (name, host) in &spec.hosts {
            if let Some(d) = &host.defaults {
                defaults::check_defaults(d, &format!("hosts.{name}.defaults"), true)?;
            }
        }
        let source = defaults::Source { text, file };
        let instances = spec
            .instances
            .iter()
            .enumerate()
            .map(|(i, own)| {
                let prefix = format!("instances[{i}]");
                defaults::resolve_instance(own, &prefix, &spec.hosts, global, source)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let canary = match spec.canary {
            Some(c) => Some(CanaryConfig {
                instance: defaults::resolve_instance(
                    &c.instance,
                    "canary.instance",
                    &spec.hosts,
                    global,
                    source,
                )?,
                site_file: c.site_file,
                condition_contains: c.condition_contains,
                analysis: c.analysis,
            }),
            None => None,
        };
        Ok(Topology {
            hosts: spec.hosts,
            load_balancers,
            instances,
            canary,
            policy: spec.policy,
            teamcity: spec.teamcity,
            notify: spec.notify,
            hooks: spec.hooks,
            ssh_config: spec.ssh_config,
            warnings: Vec::new(),
        })
    }

    /// A check's error on an instance's setting written in a defaults section is that
    /// section's error (the line to edit), saying for which instance; one written as a
    /// template says so.
    pub(super) fn attribute(&self, key: String, message: String) -> Invalid {
        let Some((inst, setting)) = self.instance_setting(&key) else {
            return (key, message);
        };
        let Some(origin) = inst.origins.get(setting) else {
            return (key, message);
        };
        let shown = origin
            .template
            .as_ref()
            .map(|t| format!(", written as {t:?}"))
            .unwrap_or_default();
        match &origin.section {
            Some(section) => {
                let prefix = &key[..key.len() - setting.len() - 1];
                let message = format!("{message} (in {prefix}, {}{shown})", inst.name);
                (format!("{section}.{setting}"), message)
            }
            None => match &origin.template {
                Some(t) => (key, format!("{message} (written as {t:?})")),
                None => (key, message),
            },
        }
    }

    /// The instance and the setting a key such as `instances[2].health.url` names.
    fn instance_setting<'k>(&self, key: &'k str) -> Option<(&InstanceConfig, &'k str)> {
        if let Some(setting) = key.strip_prefix("canary.instance.") {
            return Some((&self.canary.as_ref()?.instance, setting));
        }
        let (index, setting) = key.strip_prefix("instances[")?.split_once("].")?;
        Some((self.instances.get(index.parse::<usize>().ok()?)?, setting))
    }
}
