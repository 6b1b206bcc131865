//! `Document::change_rotation` against its definition: the same as making each group on its
//! own, one after the other, with `enable_server` / `disable_server` (`Edit::and_then`
//! within a group), a group that fails changing nothing. Random upstreams (servers enabled,
//! commented out, marked down, listed twice), random groups (unknown servers, the last
//! one in rotation, no-ops), both disable styles.

use ihos_nginx::{DisableStyle, Document, Edit, EditError, RotationChange};
use proptest::prelude::*;

fn upstream_text(states: &[u8]) -> String {
    let mut conf = String::from("http {\n    upstream app {\n        keepalive 8;\n");
    for (i, s) in states.iter().enumerate() {
        let line = match s % 4 {
            0 => format!("        server 10.0.0.{i}:80 max_fails=3;\n"),
            1 => format!("        #server 10.0.0.{i}:80;\n"),
            2 => format!("        server 10.0.0.{i}:80 down;\n"),
            _ => format!("        server 10.0.0.{i}:80; # the {i}th\n"),
        };
        conf.push_str(&line);
    }
    conf.push_str("    }\n}\n");
    conf
}

fn change(doc: &Document, c: &RotationChange, style: DisableStyle) -> Result<Edit, EditError> {
    match c {
        RotationChange::Enable(a) => doc.enable_server("app", a),
        RotationChange::Disable(a) => doc.disable_server("app", a, style, false),
    }
}

/// A group's text before and after it and its message, or its error's text.
type GroupResult = Result<(Vec<u8>, Vec<u8>, String), String>;

/// Each group alone, one after the other: (text after all, per group: Ok((before, after,
/// message)) or the error's text).
fn one_by_one(
    doc: &Document,
    groups: &[Vec<RotationChange>],
    style: DisableStyle,
) -> (Vec<u8>, Vec<GroupResult>) {
    let mut doc = doc.clone();
    let mut out = Vec::new();
    for group in groups {
        let mut edit: Result<Edit, EditError> = change(&doc, &group[0], style);
        for c in &group[1..] {
            edit = edit.and_then(|e| e.and_then(|d| change(d, c, style)));
        }
        match edit {
            Ok(e) => {
                out.push(Ok((
                    doc.source().to_vec(),
                    e.text().to_vec(),
                    e.message().to_string(),
                )));
                doc = e.into_document();
            }
            Err(e) => out.push(Err(e.to_string())),
        }
    }
    (doc.source().to_vec(), out)
}

fn groups_strategy() -> impl Strategy<Value = Vec<Vec<(bool, u8)>>> {
    prop::collection::vec(prop::collection::vec((any::<bool>(), 0u8..9), 1..3), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_batch_is_each_group_alone_one_after_the_other(
        states in prop::collection::vec(any::<u8>(), 1..8),
        raw in groups_strategy(),
        down in any::<bool>(),
    ) {
        let style = if down { DisableStyle::Down } else { DisableStyle::Comment };
        // Addresses 0..8; those past the upstream's servers are unknown. One group per server.
        let mut seen = std::collections::HashSet::new();
        let groups: Vec<Vec<RotationChange>> = raw
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .filter(|(_, n)| seen.insert(*n))
                    .map(|(enable, n)| {
                        let a = format!("10.0.0.{n}:80");
                        if enable { RotationChange::Enable(a) } else { RotationChange::Disable(a) }
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|g| !g.is_empty())
            .collect();
        prop_assume!(!groups.is_empty());
        let doc = Document::parse(upstream_text(&states)).unwrap();
        let (text, expected) = one_by_one(&doc, &groups, style);
        let batch = doc.change_rotation("app", &groups, style).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(batch.edit.text()), String::from_utf8_lossy(&text));
        prop_assert_eq!(batch.groups.len(), expected.len());
        for (got, want) in batch.groups.iter().zip(&expected) {
            match (got, want) {
                (Ok(g), Ok((before, after, message))) => {
                    prop_assert_eq!(g.before(), before.as_slice());
                    prop_assert_eq!(g.after(), after.as_slice());
                    prop_assert_eq!(g.message(), message.as_str());
                }
                (Err(g), Err(w)) => prop_assert_eq!(&g.to_string(), w),
                (g, w) => prop_assert!(false, "batch {:?} vs one by one {:?}", g, w),
            }
        }
    }
}

#[test]
fn a_server_named_by_two_groups_is_refused() {
    let doc = Document::parse(upstream_text(&[0, 0, 0])).unwrap();
    let a = || "10.0.0.1:80".to_string();
    let err = doc
        .change_rotation(
            "app",
            &[
                vec![RotationChange::Disable(a())],
                vec![RotationChange::Enable(a())],
            ],
            DisableStyle::Comment,
        )
        .unwrap_err();
    assert!(err.to_string().contains("one group"), "{err}");
}
