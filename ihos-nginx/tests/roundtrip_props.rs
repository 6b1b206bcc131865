//! Property tests: random configurations and random bytes round-trip byte for byte; random
//! server toggles restore the original bytes exactly.

mod common;

use common::generate::config;
use ihos_nginx::{DisableStyle, Document, ServerState};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_configs_round_trip((text, _) in config()) {
        let doc = Document::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(doc.render(), text.as_bytes());
    }

    #[test]
    fn toggling_a_server_restores_the_bytes(
        (text, ups) in config(),
        pick in any::<prop::sample::Index>(),
        down in any::<bool>(),
    ) {
        let doc = Document::parse(text.as_bytes()).unwrap();
        let (name, servers) = &ups[pick.index(ups.len())];
        let (addr, enabled) = &servers[pick.index(servers.len())];
        let style = if down { DisableStyle::Down } else { DisableStyle::Comment };
        let before = doc.upstream(name).unwrap();
        if *enabled {
            let off = doc.disable_server(name, addr, style, true).unwrap();
            prop_assert!(off.is_changed());
            let after = off.document().upstream(name).unwrap();
            for (b, a) in before.servers.iter().zip(&after.servers) {
                if &b.address == addr {
                    prop_assert_ne!(a.state, ServerState::Enabled);
                } else {
                    prop_assert_eq!(a.state, b.state, "other servers keep their state");
                }
            }
            let on = off.document().enable_server(name, addr).unwrap();
            prop_assert_eq!(on.text(), text.as_bytes());
        } else {
            let on = doc.enable_server(name, addr).unwrap();
            prop_assert!(on.document().upstream(name).unwrap().servers_at(addr).any(|s| s.state.is_enabled()));
            let off = on.document().disable_server(name, addr, DisableStyle::Comment, true).unwrap();
            prop_assert_eq!(off.text(), text.as_bytes());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(doc) = Document::parse(bytes.clone()) {
            prop_assert_eq!(doc.render(), bytes);
        }
    }

    #[test]
    fn nginx_alphabet_soup_never_panics_and_round_trips(
        bytes in prop::collection::vec(prop::sample::select(b"{};#\"'\\$() \t\r\nab=".to_vec()), 0..400)
    ) {
        match Document::parse(bytes.clone()) {
            Ok(doc) => {
                prop_assert_eq!(doc.render(), bytes);
                for u in doc.upstreams() {
                    for s in &u.servers {
                        let _ = doc.disable_server(&u.name, &s.address, DisableStyle::Comment, true);
                        let _ = doc.enable_server(&u.name, &s.address);
                    }
                }
            }
            Err(e) => {
                prop_assert!(e.position.line >= 1 && e.position.column >= 1);
            }
        }
    }
}
