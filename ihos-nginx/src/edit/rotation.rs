//! Several servers' changes of rotation made as one edit ([`Document::change_rotation`]):
//! the upstream is looked up once, every change's patches are worked out against the
//! rotation as the changes before it leave it, and the result is parsed once. A wave of
//! instances coming back while the next one leaves is then one pass over the config, not
//! one (and a re-parse) per server.

use super::patch::{Patch, apply, apply_with_changes};
use super::server::Planned;
use super::{DisableStyle, Edit};
use crate::diff;
use crate::document::Document;
use crate::error::EditError;
use crate::query::ServerState;

/// A server's change of rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationChange {
    /// Back into rotation (as [`Document::enable_server`]).
    Enable(String),
    /// Out of rotation (as [`Document::disable_server`], never the last one in).
    Disable(String),
}

impl RotationChange {
    fn address(&self) -> &str {
        match self {
            RotationChange::Enable(a) | RotationChange::Disable(a) => a,
        }
    }
}

/// What one group of a [`RotationBatch`] did: the text before and after it (the groups
/// before it applied), and what it did.
#[derive(Debug, Clone)]
pub struct GroupChange {
    before: Vec<u8>,
    after: Vec<u8>,
    message: String,
}

impl GroupChange {
    /// The text before this group's changes.
    pub fn before(&self) -> &[u8] {
        &self.before
    }

    /// The text after them.
    pub fn after(&self) -> &[u8] {
        &self.after
    }

    /// What was done, or why nothing was.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A unified diff of this group's changes, labelled `label`; empty for none.
    pub fn diff(&self, label: &str) -> String {
        diff::unified(label, &self.before, &self.after)
    }
}

/// The result of [`Document::change_rotation`]: the whole edit and each group's own result.
#[derive(Debug)]
pub struct RotationBatch {
    /// Every group that could be made, as one edit.
    pub edit: Edit,
    /// Each group's result, in order: a group that could not be made changed nothing.
    pub groups: Vec<Result<GroupChange, EditError>>,
}

impl Document {
    /// Makes `groups` of rotation changes of upstream `upstream` in order, as one edit. The
    /// changes of a group are made together or not at all (a swap: one server back, another
    /// out); a group that cannot be made (an unknown server, the last one in rotation)
    /// has its own error and the others go ahead, exactly as if each group were made on
    /// its own, one after the other, with [`Document::enable_server`] and
    /// [`Document::disable_server`]. A server may be named in one group only.
    ///
    /// ```
    /// use ihos_nginx::{DisableStyle, Document, RotationChange::{Disable, Enable}};
    ///
    /// let doc = Document::parse("upstream u {\n    #server a:1;\n    server b:1;\n    server c:1;\n}\n")?;
    /// let batch = doc.change_rotation(
    ///     "u",
    ///     &[vec![Enable("a:1".into()), Disable("b:1".into())], vec![Disable("x:1".into())]],
    ///     DisableStyle::Comment,
    /// )?;
    /// assert_eq!(batch.edit.text_lossy(), "upstream u {\n    server a:1;\n    #server b:1;\n    server c:1;\n}\n");
    /// assert!(batch.groups[0].is_ok());
    /// assert!(batch.groups[1].is_err()); // no such server: this group alone fails
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn change_rotation(
        &self,
        upstream: &str,
        groups: &[Vec<RotationChange>],
        style: DisableStyle,
    ) -> Result<RotationBatch, EditError> {
        let mut named = std::collections::HashSet::new();
        for change in groups.iter().flatten() {
            if !named.insert(change.address()) {
                return Err(EditError::InvalidValue {
                    value: change.address().to_string(),
                    reason: "a server may be changed by one group of a batch only",
                });
            }
        }
        let found = self.find_upstream(upstream)?;
        let mut enabled = found.view.enabled_count();
        // Each server's state as the groups made so far leave it (for what an error lists);
        // a group that fails puts back what it turned.
        let mut states: Vec<ServerState> = found.view.servers.iter().map(|s| s.state).collect();
        let mut turned: Vec<(usize, ServerState)> = Vec::new();
        let mut all: Vec<Patch> = Vec::new();
        // Per group: where its patches start in `all` and end, and its message; or its error.
        let mut planned: Vec<Result<(usize, usize, String), EditError>> = Vec::new();
        for group in groups {
            let mut count = enabled;
            let mut patches = Vec::new();
            let mut messages: Vec<(bool, String)> = Vec::new();
            turned.clear();
            let outcome = group.iter().try_for_each(|change| {
                let plan = match change {
                    RotationChange::Enable(a) => self.plan_enable(&found, upstream, a, count)?,
                    RotationChange::Disable(a) => {
                        self.plan_disable(&found, upstream, a, style, false, count)?
                    }
                };
                match plan {
                    Planned::Unchanged(m) => messages.push((false, m)),
                    Planned::Patches {
                        patches: p,
                        message,
                        enabled_after,
                    } => {
                        patches.extend(p);
                        messages.push((true, message));
                        count = enabled_after;
                    }
                }
                turn(
                    found.indices_of(change.address()),
                    &mut states,
                    &mut turned,
                    change,
                    style,
                );
                Ok::<(), EditError>(())
            });
            let outcome = outcome.map_err(|e| match e {
                EditError::UnknownServer {
                    upstream, server, ..
                } => EditError::UnknownServer {
                    upstream,
                    server,
                    available: (found.view.servers.iter().zip(&states))
                        .map(|(s, state)| format!("{} ({state})", s.address))
                        .collect(),
                },
                other => other,
            });
            if outcome.is_err() {
                for &(i, state) in turned.iter().rev() {
                    states[i] = state;
                }
            }
            planned.push(outcome.map(|()| {
                enabled = count;
                let from = all.len();
                all.extend(patches);
                (from, all.len(), group_message(messages))
            }));
        }
        let (text, changes) = apply_with_changes(self.source(), all.clone());
        let document = self.patched(text, &changes).map_err(EditError::Reparse)?;
        // Self-check: every change made is in the state it promised.
        let after = document.find_upstream(upstream)?;
        for (group, plan) in groups.iter().zip(&planned) {
            if plan.is_err() {
                continue;
            }
            for change in group {
                let (address, enabled) = match change {
                    RotationChange::Enable(a) => (a, true),
                    RotationChange::Disable(a) => (a, false),
                };
                if after.servers_at(address).any(|s| s.state.is_enabled()) != enabled {
                    return Err(EditError::InvalidValue {
                        value: address.clone(),
                        reason: "the edit did not take effect (editor bug)",
                    });
                }
            }
        }
        // Each group's own before and after: the patches up to it applied.
        let mut results = Vec::with_capacity(planned.len());
        let mut before = self.source().to_vec();
        for plan in planned {
            results.push(plan.map(|(from, to, message)| {
                let after = if from == to {
                    before.clone()
                } else {
                    apply(self.source(), all[..to].to_vec())
                };
                GroupChange {
                    before: std::mem::replace(&mut before, after.clone()),
                    after,
                    message,
                }
            }));
        }
        let message = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|g| g.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        Ok(RotationBatch {
            edit: Edit {
                old: self.source().to_vec(),
                document,
                message,
            },
            groups: results,
        })
    }
}

/// A group's message as [`Edit::and_then`] makes it: the changes made, or what says that
/// nothing was.
fn group_message(messages: Vec<(bool, String)>) -> String {
    let made: Vec<&str> = messages
        .iter()
        .filter(|(changed, _)| *changed)
        .map(|(_, m)| m.as_str())
        .collect();
    match (made.is_empty(), messages.first()) {
        (false, _) => made.join("; "),
        (true, Some((_, m))) => m.clone(),
        (true, None) => String::new(),
    }
}

/// The servers' states after `change` (as enable_server / disable_server make them); `at`:
/// the indices of the servers it names. Each state turned is logged in `turned` first.
fn turn(
    at: &[u32],
    states: &mut [ServerState],
    turned: &mut Vec<(usize, ServerState)>,
    change: &RotationChange,
    style: DisableStyle,
) {
    let mut set = |states: &mut [ServerState], i: usize, state: ServerState| {
        turned.push((i, states[i]));
        states[i] = state;
    };
    let at: Vec<usize> = at.iter().map(|&i| i as usize).collect();
    match change {
        RotationChange::Enable(_) => {
            if at.iter().any(|&i| states[i].is_enabled()) {
                return;
            }
            let down: Vec<usize> = at
                .iter()
                .copied()
                .filter(|&i| states[i] == ServerState::Down)
                .collect();
            let back = if down.is_empty() { at.clone() } else { down };
            for i in back {
                set(states, i, ServerState::Enabled);
            }
        }
        RotationChange::Disable(_) => {
            let out = match style {
                DisableStyle::Comment => ServerState::Commented,
                DisableStyle::Down => ServerState::Down,
            };
            for &i in &at {
                if states[i].is_enabled() {
                    set(states, i, out);
                }
            }
        }
    }
}
