//! The deployed release of a running app must not change under it: Tomcat deploys from
//! webapps while it runs (`autoDeploy`: a WAR removed is undeployed, one replaced is
//! redeployed), so ihos touches the deployed WAR and its exploded directory only once the
//! container's Tomcat is gone. Every command is looked at: what it changed of the deployed
//! WAR (its inode or bytes) and exploded directory (there or not, its manifest) of an app
//! running before and after it is a [`ViolationKind::DeployedChangedWhileRunning`]. What
//! Tomcat itself does (exploding the WAR as it starts) is not a command's doing.
//!
//! [`ViolationKind::DeployedChangedWhileRunning`]: crate::ViolationKind::DeployedChangedWhileRunning

use std::hash::{DefaultHasher, Hash, Hasher};

use super::World;

/// A running app container's name and a print of its deployed release.
pub(crate) type DeployedPrints = Vec<(String, DeployedPrint)>;

/// What ihos may not change while the app runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeployedPrint {
    /// The WAR: inode and a hash of its bytes.
    war: Option<(u64, u64)>,
    /// The exploded directory: inode, and a hash of its manifest's bytes.
    exploded: Option<(u64, Option<u64>)>,
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl World {
    /// The deployed release of each app container running on `host`.
    pub(crate) fn deployed_prints(&self, host: &str) -> DeployedPrints {
        let h = self.host(host);
        h.containers
            .iter()
            .filter(|(_, c)| c.running)
            .filter_map(|(name, c)| {
                let spec = c.app_spec()?;
                let war = format!("{}/{}", spec.webapps, spec.war_name);
                let stem = spec.war_name.strip_suffix(".war").unwrap_or(&spec.war_name);
                let exploded = format!("{}/{stem}", spec.webapps);
                let manifest = format!("{exploded}/META-INF/MANIFEST.MF");
                let print = DeployedPrint {
                    war: (h.fs.stat(&war)).map(|i| (i.inode, h.fs.get(&war).map_or(0, hash))),
                    exploded: (h.fs.stat(&exploded))
                        .map(|i| (i.inode, h.fs.get(&manifest).map(hash))),
                };
                Some((name.clone(), print))
            })
            .collect()
    }

    /// Notes, for the checker, each app running before a command (`before`) and after it
    /// whose deployed release the command changed.
    pub(crate) fn note_deployed_changes(&mut self, host: &str, before: DeployedPrints) {
        let after = self.deployed_prints(host);
        for (name, was) in before {
            let Some((_, now)) = after.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            let mut what = Vec::new();
            if was.war != now.war {
                what.push("the deployed WAR");
            }
            if was.exploded != now.exploded {
                what.push("the exploded webapp");
            }
            if !what.is_empty() {
                self.deployed_changes
                    .push((format!("{host}/{name}"), what.join(" and ")));
            }
        }
    }
}
