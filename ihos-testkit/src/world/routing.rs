//! What the config an nginx runs means for routing: [`NginxRt::load`] makes a config the
//! active one and works out which backends get new requests. A reload of a fleet-wide
//! rotation change turns a few of thousands of servers, so it is compared server by server
//! with the config before, not counted whole.

use std::collections::HashMap;

use super::container::{Loaded, NginxRt};

impl NginxRt {
    /// Makes `new` the config nginx runs: its routing and servers follow. Returns the
    /// addresses whose routing changed. Compared server by server with the config before
    /// when both have as many (a rotation change), else counted whole.
    pub(crate) fn load(&mut self, new: Loaded) -> Vec<String> {
        let mut touched: Vec<&String> = Vec::new();
        match self.active.as_ref() {
            Some(old) if old.servers.len() == new.servers.len() => {
                for (o, n) in old.servers.iter().zip(&new.servers) {
                    if o != n {
                        count(&mut self.counts, o, -1);
                        count(&mut self.counts, n, 1);
                        touched.extend([&o.0, &n.0]);
                    }
                }
            }
            old => {
                touched.extend(old.iter().flat_map(|o| o.servers.iter().map(|s| &s.0)));
                touched.extend(self.routing.iter());
                self.counts.clear();
                for s in &new.servers {
                    count(&mut self.counts, s, 1);
                    touched.push(&s.0);
                }
            }
        }
        let mut touched: Vec<String> = touched.into_iter().cloned().collect();
        touched.sort_unstable();
        touched.dedup();
        let mut changed = Vec::new();
        for a in touched {
            let (lines, enabled) = self.counts.get(&a).copied().unwrap_or_default();
            if lines == 0 {
                self.counts.remove(&a);
                self.servers.remove(&a);
            } else {
                self.servers.insert(a.clone());
            }
            let routed = enabled > 0;
            if routed != self.routing.contains(&a) {
                if routed {
                    self.routing.insert(a.clone());
                } else {
                    self.routing.remove(&a);
                }
                changed.push(a);
            }
        }
        self.active = Some(new);
        changed
    }
}

/// Counts a server line in (`by` 1) or out (-1).
fn count(counts: &mut HashMap<String, (u32, u32)>, (address, enabled): &(String, bool), by: i32) {
    let e = counts.entry(address.clone()).or_default();
    e.0 = e.0.saturating_add_signed(by);
    if *enabled {
        e.1 = e.1.saturating_add_signed(by);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::container::Parsed;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    fn loaded(servers: &[(u8, bool)]) -> Loaded {
        Arc::new(Parsed {
            doc: ihos_nginx::Document::parse("").unwrap(),
            servers: servers
                .iter()
                .map(|(a, e)| (format!("10.0.0.{a}:80"), *e))
                .collect(),
        })
    }

    /// Routing and servers counted whole from the server lines.
    fn whole(servers: &[(u8, bool)]) -> (BTreeSet<String>, BTreeSet<String>) {
        let all = servers
            .iter()
            .map(|(a, _)| format!("10.0.0.{a}:80"))
            .collect();
        let routed = servers
            .iter()
            .filter(|(_, e)| *e)
            .map(|(a, _)| format!("10.0.0.{a}:80"))
            .collect();
        (routed, all)
    }

    proptest! {
        /// Config after config (the same servers turned, or others added and removed), with
        /// addresses written twice: what is routed is what counting each config whole says,
        /// and what a load reports changed is exactly what moved in or out of routing.
        #[test]
        fn loading_config_after_config_routes_as_counted_whole(
            configs in prop::collection::vec(
                prop::collection::vec((0u8..6, any::<bool>()), 1..8), 1..8),
        ) {
            let mut rt = NginxRt::default();
            for servers in &configs {
                let before = rt.routing.clone();
                let changed: BTreeSet<String> = rt.load(loaded(servers)).into_iter().collect();
                let (routed, all) = whole(servers);
                prop_assert_eq!(&rt.routing, &routed);
                prop_assert_eq!(&rt.servers, &all);
                let moved: BTreeSet<String> =
                    before.symmetric_difference(&routed).cloned().collect();
                prop_assert_eq!(changed, moved);
            }
        }
    }
}
