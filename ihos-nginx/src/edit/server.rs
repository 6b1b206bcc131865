//! Taking a server of an upstream out of rotation and back in.

use super::Edit;
use super::patch::{Origin, Patch};
use crate::document::Document;
use crate::error::EditError;
use crate::query::{FoundUpstream, Place, ServerState, Upstream};
use crate::syntax::{Directive, Item};

/// How a server is taken out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DisableStyle {
    /// Comment the line out with `#` (the runbook's way); indentation is kept.
    #[default]
    Comment,
    /// Add nginx's `down` parameter.
    Down,
}

impl Document {
    /// Takes server `address` of upstream `upstream` out of rotation.
    ///
    /// A no-op (reported in [`Edit::message`]) if it is already out. Refuses to disable the
    /// last enabled server unless `force`.
    ///
    /// ```
    /// use ihos_nginx::{DisableStyle, Document, EditError};
    ///
    /// let doc = Document::parse("upstream app {\n    server a:80 max_fails=5;\n    server b:80;\n}\n")?;
    /// let edit = doc.disable_server("app", "a:80", DisableStyle::Comment, false)?;
    /// assert_eq!(edit.text_lossy(), "upstream app {\n    #server a:80 max_fails=5;\n    server b:80;\n}\n");
    /// print!("{}", edit.diff("nginx.conf")); // a unified diff of the one line
    ///
    /// let down = doc.disable_server("app", "a:80", DisableStyle::Down, false)?;
    /// assert!(down.text_lossy().contains("server a:80 max_fails=5 down;"));
    ///
    /// // Enabling gives back the original bytes.
    /// assert_eq!(edit.document().enable_server("app", "a:80")?.text(), doc.source());
    ///
    /// // b:80 is then the last server in rotation: refused without `force`.
    /// let err = edit.document().disable_server("app", "b:80", DisableStyle::Comment, false);
    /// assert!(matches!(err, Err(EditError::LastEnabledServer { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn disable_server(
        &self,
        upstream: &str,
        address: &str,
        style: DisableStyle,
        force: bool,
    ) -> Result<Edit, EditError> {
        let found = self.find_upstream(upstream)?;
        let enabled = found.view.enabled_count();
        let planned = self.plan_disable(&found, upstream, address, style, force, enabled)?;
        self.make(planned, upstream, address, false)
    }

    /// The edit `planned` describes, checked to leave `address` enabled or not as promised.
    fn make(
        &self,
        planned: Planned,
        upstream: &str,
        address: &str,
        enabled: bool,
    ) -> Result<Edit, EditError> {
        match planned {
            Planned::Unchanged(message) => Ok(self.unchanged(message)),
            Planned::Patches {
                patches, message, ..
            } => {
                let edit = self.finish(patches, message)?;
                edit.document().check_server(upstream, address, enabled)?;
                Ok(edit)
            }
        }
    }

    /// What disabling `address` takes, `enabled` servers of the upstream being in rotation
    /// at that point.
    pub(super) fn plan_disable(
        &self,
        found: &FoundUpstream<'_>,
        upstream: &str,
        address: &str,
        style: DisableStyle,
        force: bool,
        enabled: usize,
    ) -> Result<Planned, EditError> {
        let view = &found.view;
        let matching: Vec<_> = found.servers_at(address).collect();
        if matching.is_empty() {
            return Err(unknown_server(view, upstream, address));
        }
        let targets: Vec<_> = matching.iter().filter(|s| s.state.is_enabled()).collect();
        if targets.is_empty() {
            let state = matching[0].state;
            return Ok(Planned::Unchanged(format!(
                "server {address} of upstream {upstream} is already disabled ({state})"
            )));
        }
        if !force && enabled <= targets.len() {
            return Err(EditError::LastEnabledServer {
                upstream: upstream.to_string(),
                server: address.to_string(),
            });
        }
        let mut patches = Vec::new();
        for s in &targets {
            let place = Place {
                block: found.block,
                index: s.item_index,
                parent: Some(found.directive),
            };
            match style {
                DisableStyle::Comment => patches.extend(self.comment_out(place)),
                DisableStyle::Down => {
                    let Item::Directive(d) = place.item() else {
                        continue;
                    };
                    let end = d.args.last().map_or(d.name.span.end, |a| a.token.span.end) as usize;
                    patches.push(Patch::insert(end, b" down"));
                }
            }
        }
        let how = match style {
            DisableStyle::Comment => "commented out",
            DisableStyle::Down => "marked down",
        };
        Ok(Planned::Patches {
            patches,
            message: format!("server {address} of upstream {upstream} {how}"),
            enabled_after: enabled - targets.len(),
        })
    }

    /// Puts server `address` of upstream `upstream` back into rotation: removes `down`, or
    /// uncomments it. A no-op if it is already enabled.
    pub fn enable_server(&self, upstream: &str, address: &str) -> Result<Edit, EditError> {
        let found = self.find_upstream(upstream)?;
        let enabled = found.view.enabled_count();
        let planned = self.plan_enable(&found, upstream, address, enabled)?;
        self.make(planned, upstream, address, true)
    }

    /// What enabling `address` takes, `enabled` servers of the upstream being in rotation
    /// at that point.
    pub(super) fn plan_enable(
        &self,
        found: &FoundUpstream<'_>,
        upstream: &str,
        address: &str,
        enabled: usize,
    ) -> Result<Planned, EditError> {
        let view = &found.view;
        let matching: Vec<_> = found.servers_at(address).collect();
        if matching.is_empty() {
            return Err(unknown_server(view, upstream, address));
        }
        if matching.iter().any(|s| s.state.is_enabled()) {
            return Ok(Planned::Unchanged(format!(
                "server {address} of upstream {upstream} is already enabled"
            )));
        }
        let src = self.source();
        let mut patches = Vec::new();
        let down: Vec<_> = matching
            .iter()
            .filter(|s| s.state == ServerState::Down)
            .collect();
        let back = if !down.is_empty() {
            for s in &down {
                let Item::Directive(d) = &found.block.items[s.item_index] else {
                    continue;
                };
                patches.extend(remove_down(src, d, Origin::File));
            }
            down.len()
        } else {
            if matching.len() > 1 {
                return Err(EditError::AmbiguousServer {
                    upstream: upstream.to_string(),
                    server: address.to_string(),
                    lines: matching.iter().map(|s| s.line).collect(),
                });
            }
            let Item::Disabled(dd) = &found.block.items[matching[0].item_index] else {
                return Ok(Planned::Unchanged(format!(
                    "server {address} of upstream {upstream} is already enabled"
                )));
            };
            patches.extend(self.uncomment(dd));
            let inner = &dd.inner;
            patches.extend(remove_down(
                &inner.text,
                &inner.directive,
                Origin::Inner(inner),
            ));
            1
        };
        Ok(Planned::Patches {
            patches,
            message: format!("server {address} of upstream {upstream} enabled"),
            enabled_after: enabled + back,
        })
    }

    /// Self-check after an edit: the server is in the state the edit promised.
    fn check_server(&self, upstream: &str, address: &str, enabled: bool) -> Result<(), EditError> {
        let u = self.upstream(upstream)?;
        let ok = if enabled {
            u.servers_at(address).any(|s| s.state.is_enabled())
        } else {
            !u.servers_at(address).any(|s| s.state.is_enabled())
        };
        if ok {
            Ok(())
        } else {
            Err(EditError::InvalidValue {
                value: address.to_string(),
                reason: "the edit did not take effect (editor bug)",
            })
        }
    }
}

/// Patches removing every `down` parameter of `d` (with the blank before it, when on the
/// same line); `origin` turns offsets in `text` into file offsets.
fn remove_down(text: &[u8], d: &Directive, origin: Origin<'_>) -> Vec<Patch> {
    d.args
        .iter()
        .skip(1)
        .filter(|a| a.token.raw(text) == b"down")
        .map(|a| {
            let lead = &text[a.leading.range()];
            let start = if lead.iter().all(|&b| b == b' ' || b == b'\t') {
                a.leading.start
            } else {
                a.token.span.start
            };
            Patch::delete(
                origin.map(start as usize),
                origin.map(a.token.span.end as usize),
            )
        })
        .collect()
}

/// What a server's change of rotation takes, worked out before it is made.
pub(super) enum Planned {
    /// Nothing: it is so already (the message says so).
    Unchanged(String),
    /// These patches; then `enabled_after` servers are in rotation.
    Patches {
        patches: Vec<Patch>,
        message: String,
        enabled_after: usize,
    },
}

fn unknown_server(view: &Upstream, upstream: &str, address: &str) -> EditError {
    EditError::UnknownServer {
        upstream: upstream.to_string(),
        server: address.to_string(),
        available: view
            .servers
            .iter()
            .map(|s| format!("{} ({})", s.address, s.state))
            .collect(),
    }
}
