//! Edits: disable/enable a server of an upstream, comment/uncomment a block, set an `if`
//! block's regex (and its match operator). Each edit is a few byte patches on the target lines only; the result is
//! parsed again before it is returned, so an edit never yields text nginx would reject.

use crate::diff;
use crate::document::Document;
use crate::error::EditError;
use crate::query::{IfBlock, Place, REGEX_OPERATORS, ServerState, regex_arg};
use crate::syntax::{Directive, DisabledDirective, InnerDirective, Item};

/// How a server is taken out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DisableStyle {
    /// Comment the line out with `#` (the runbook's way); indentation is kept.
    #[default]
    Comment,
    /// Add nginx's `down` parameter.
    Down,
}

/// Which block an edit targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockSelector {
    /// The block whose condition contains this text (must match exactly one block).
    ConditionContains(String),
    /// The block whose directive starts on this 1-based line.
    Line(u32),
}

impl std::fmt::Display for BlockSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockSelector::ConditionContains(s) => write!(f, "condition containing {s:?}"),
            BlockSelector::Line(l) => write!(f, "line {l}"),
        }
    }
}

/// The result of an edit: the new document, whether anything changed, and what.
#[derive(Debug, Clone)]
pub struct Edit {
    old: Vec<u8>,
    document: Document,
    message: String,
}

impl Edit {
    /// The edited document.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// The edited text.
    pub fn text(&self) -> &[u8] {
        self.document.source()
    }

    /// The edited text as a string (invalid UTF-8 replaced).
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(self.text()).into_owned()
    }

    /// False when the edit was a no-op (e.g. disabling a server that is already disabled).
    pub fn is_changed(&self) -> bool {
        self.old != self.document.source()
    }

    /// A one-line description of what was done or why nothing was.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A unified diff of the change, with `label` as the file name. Empty for a no-op.
    pub fn diff(&self, label: &str) -> String {
        diff::unified(label, &self.old, self.document.source())
    }

    /// Turns the edit into the new document.
    pub fn into_document(self) -> Document {
        self.document
    }

    /// Applies a second edit to this one's result: one [`Edit`] from the original text to
    /// the final one (its diff shows both), with both messages.
    ///
    /// ```
    /// use ihos_nginx::{Document, DisableStyle};
    ///
    /// let doc = Document::parse("upstream u {\n    server a:1;\n    server b:1;\n    server c:1;\n}\n")?;
    /// let both = doc
    ///     .disable_server("u", "a:1", DisableStyle::Comment, false)?
    ///     .and_then(|d| d.disable_server("u", "b:1", DisableStyle::Comment, false))?;
    /// assert!(both.diff("f").contains("-    server a:1;"));
    /// assert!(both.diff("f").contains("-    server b:1;"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn and_then(
        self,
        next: impl FnOnce(&Document) -> Result<Edit, EditError>,
    ) -> Result<Edit, EditError> {
        let second = next(&self.document)?;
        let message = if second.is_changed() && self.is_changed() {
            format!("{}; {}", self.message, second.message)
        } else if second.is_changed() {
            second.message
        } else {
            self.message
        };
        Ok(Edit {
            old: self.old,
            document: second.document,
            message,
        })
    }
}

/// A replacement of `src[start..end]` by `insert`.
#[derive(Debug, Clone)]
struct Patch {
    start: usize,
    end: usize,
    insert: Vec<u8>,
}

impl Patch {
    fn insert(at: usize, bytes: &[u8]) -> Self {
        Patch {
            start: at,
            end: at,
            insert: bytes.to_vec(),
        }
    }
    fn delete(start: usize, end: usize) -> Self {
        Patch {
            start,
            end,
            insert: Vec::new(),
        }
    }
}

fn apply(src: &[u8], mut patches: Vec<Patch>) -> Vec<u8> {
    patches.sort_by_key(|p| (p.start, p.end));
    let mut out = Vec::with_capacity(src.len() + 64);
    let mut at = 0;
    for p in patches {
        debug_assert!(p.start >= at, "overlapping patches");
        out.extend_from_slice(&src[at..p.start]);
        out.extend_from_slice(&p.insert);
        at = p.end;
    }
    out.extend_from_slice(&src[at..]);
    out
}

/// Indentation (spaces and tabs) of the line containing `offset`.
fn line_indent(src: &[u8], offset: usize) -> Vec<u8> {
    let start = memchr::memrchr(b'\n', &src[..offset]).map_or(0, |n| n + 1);
    src[start..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .copied()
        .collect()
}

/// Start offsets of the lines from the one holding `start` through the one holding `end - 1`,
/// the first being `start` itself.
fn line_starts_within(src: &[u8], start: usize, end: usize) -> Vec<usize> {
    let mut v = vec![start];
    v.extend(
        memchr::memchr_iter(b'\n', &src[start..end.saturating_sub(1).max(start)])
            .map(|n| start + n + 1),
    );
    v
}

impl Document {
    fn finish(&self, patches: Vec<Patch>, message: String) -> Result<Edit, EditError> {
        let text = if patches.is_empty() {
            self.source().to_vec()
        } else {
            apply(self.source(), patches)
        };
        let document = Document::parse(text).map_err(EditError::Reparse)?;
        Ok(Edit {
            old: self.source().to_vec(),
            document,
            message,
        })
    }

    fn unchanged(&self, message: String) -> Edit {
        Edit {
            old: self.source().to_vec(),
            document: self.clone(),
            message,
        }
    }

    /// Patches that comment out the active directive at `place`, each of its lines getting a
    /// `#` before its first non-blank byte. If the directive shares a line with other
    /// statements it is first moved onto lines of its own.
    fn comment_out(&self, place: Place<'_>) -> Vec<Patch> {
        let src = self.source();
        let Item::Directive(d) = place.item() else {
            return Vec::new();
        };
        let start = d.name.span.start as usize;
        let end = d.span().end as usize;
        let mut patches = Vec::new();
        let own_line_start = src[d.leading.range()].contains(&b'\n')
            || (place.parent.is_none() && d.leading.start == 0);
        let mut indent = line_indent(src, start);
        if !own_line_start {
            if place.index == 0 && place.parent.is_some() {
                // first statement right after `{`: one level deeper than the opening line
                indent.extend_from_slice(b"    ");
            }
            let mut replacement = b"\n".to_vec();
            replacement.extend_from_slice(&indent);
            patches.push(Patch {
                start: d.leading.start as usize,
                end: d.leading.end as usize,
                insert: replacement,
            });
        }
        // Whatever follows on the directive's last line moves to a line of its own, except a
        // trailing comment, which is commented out along with it.
        match place.block.items.get(place.index + 1) {
            Some(next) => {
                let lead = next.leading();
                if !src[lead.range()].contains(&b'\n') && !matches!(next, Item::Comment(_)) {
                    let mut replacement = b"\n".to_vec();
                    replacement.extend_from_slice(&indent);
                    patches.push(Patch {
                        start: lead.start as usize,
                        end: lead.end as usize,
                        insert: replacement,
                    });
                }
            }
            None => {
                let trailing = place.block.trailing;
                if let Some(parent) = place.parent {
                    if !src[trailing.range()].contains(&b'\n') {
                        let mut replacement = b"\n".to_vec();
                        replacement
                            .extend_from_slice(&line_indent(src, parent.name.span.start as usize));
                        patches.push(Patch {
                            start: trailing.start as usize,
                            end: trailing.end as usize,
                            insert: replacement,
                        });
                    }
                }
            }
        }
        for (k, line_start) in line_starts_within(src, start, end).into_iter().enumerate() {
            let at = if k == 0 {
                start
            } else {
                line_start
                    + src[line_start..]
                        .iter()
                        .take_while(|&&b| b == b' ' || b == b'\t')
                        .count()
            };
            patches.push(Patch::insert(at, b"#"));
        }
        patches
    }

    /// Patches that remove one `#` from each line of a disabled directive. When the `#` is
    /// followed by exactly one space and then text (`# server ...`), the space goes too.
    fn uncomment(&self, dd: &DisabledDirective) -> Vec<Patch> {
        let src = self.source();
        dd.comments
            .iter()
            .map(|c| {
                let at = c.span.start as usize;
                let after = &src[at + 1..c.span.end as usize];
                let single_space =
                    after.len() >= 2 && after[0] == b' ' && !crate::lexer::is_ws(after[1]);
                Patch::delete(at, at + 1 + usize::from(single_space))
            })
            .collect()
    }

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
        let view = &found.view;
        let matching: Vec<_> = view.servers_at(address).collect();
        if matching.is_empty() {
            return Err(EditError::UnknownServer {
                upstream: upstream.to_string(),
                server: address.to_string(),
                available: view
                    .servers
                    .iter()
                    .map(|s| format!("{} ({})", s.address, s.state))
                    .collect(),
            });
        }
        let targets: Vec<_> = matching.iter().filter(|s| s.state.is_enabled()).collect();
        if targets.is_empty() {
            let state = matching[0].state;
            return Ok(self.unchanged(format!(
                "server {address} of upstream {upstream} is already disabled ({state})"
            )));
        }
        if !force && view.enabled_count() <= targets.len() {
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
        let edit = self.finish(
            patches,
            format!("server {address} of upstream {upstream} {how}"),
        )?;
        edit.document().check_server(upstream, address, false)?;
        Ok(edit)
    }

    /// Puts server `address` of upstream `upstream` back into rotation: removes `down`, or
    /// uncomments it. A no-op if it is already enabled.
    pub fn enable_server(&self, upstream: &str, address: &str) -> Result<Edit, EditError> {
        let found = self.find_upstream(upstream)?;
        let view = &found.view;
        let matching: Vec<_> = view.servers_at(address).collect();
        if matching.is_empty() {
            return Err(EditError::UnknownServer {
                upstream: upstream.to_string(),
                server: address.to_string(),
                available: view
                    .servers
                    .iter()
                    .map(|s| format!("{} ({})", s.address, s.state))
                    .collect(),
            });
        }
        if matching.iter().any(|s| s.state.is_enabled()) {
            return Ok(self.unchanged(format!(
                "server {address} of upstream {upstream} is already enabled"
            )));
        }
        let src = self.source();
        let mut patches = Vec::new();
        let down: Vec<_> = matching
            .iter()
            .filter(|s| s.state == ServerState::Down)
            .collect();
        if !down.is_empty() {
            for s in down {
                let Item::Directive(d) = &found.block.items[s.item_index] else {
                    continue;
                };
                patches.extend(remove_down(src, d, Origin::File));
            }
        } else {
            if matching.len() > 1 {
                return Err(EditError::AmbiguousServer {
                    upstream: upstream.to_string(),
                    server: address.to_string(),
                    lines: matching.iter().map(|s| s.line).collect(),
                });
            }
            let Item::Disabled(dd) = &found.block.items[matching[0].item_index] else {
                return Ok(self.unchanged(format!(
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
        }
        let edit = self.finish(
            patches,
            format!("server {address} of upstream {upstream} enabled"),
        )?;
        edit.document().check_server(upstream, address, true)?;
        Ok(edit)
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

    fn select_if(&self, selector: &BlockSelector) -> Result<(IfBlock, Place<'_>), EditError> {
        let all = self.find_ifs();
        let available: Vec<String> = all.iter().map(|f| f.view.describe()).collect();
        let mut matching: Vec<_> = all
            .into_iter()
            .filter(|f| match selector {
                BlockSelector::ConditionContains(s) => f.view.condition.contains(s.as_str()),
                BlockSelector::Line(l) => f.view.line == *l,
            })
            .collect();
        match matching.len() {
            0 => Err(EditError::UnknownBlock {
                directive: "if".into(),
                selector: selector.to_string(),
                available,
            }),
            1 => {
                let f = matching.remove(0);
                Ok((f.view, f.place))
            }
            _ => Err(EditError::AmbiguousBlock {
                directive: "if".into(),
                selector: selector.to_string(),
                matches: matching.iter().map(|f| f.view.describe()).collect(),
            }),
        }
    }

    /// The `if` block `selector` names (active or commented out), as the edits choose it:
    /// exactly one must match.
    pub fn if_block(&self, selector: &BlockSelector) -> Result<IfBlock, EditError> {
        self.select_if(selector).map(|(view, _)| view)
    }

    /// Comments out every line of the `if` block chosen by `selector`. A no-op if it is
    /// already commented out.
    pub fn disable_block(&self, selector: &BlockSelector) -> Result<Edit, EditError> {
        let (view, place) = self.select_if(selector)?;
        if !view.enabled {
            return Ok(self.unchanged(format!(
                "if block at line {} is already commented out",
                view.line
            )));
        }
        let patches = self.comment_out(place);
        self.finish(
            patches,
            format!("if block at line {} commented out", view.line),
        )
    }

    /// Uncomments every line of the commented-out `if` block chosen by `selector`. A no-op if
    /// it is already active.
    pub fn enable_block(&self, selector: &BlockSelector) -> Result<Edit, EditError> {
        let (view, place) = self.select_if(selector)?;
        let Item::Disabled(dd) = place.item() else {
            return Ok(self.unchanged(format!("if block at line {} is already enabled", view.line)));
        };
        let patches = self.uncomment(dd);
        self.finish(patches, format!("if block at line {} enabled", view.line))
    }

    /// Replaces the regex operand of the chosen `if` block's condition (active or commented
    /// out) with `regex`, written as a double-quoted string.
    pub fn set_block_regex(
        &self,
        selector: &BlockSelector,
        regex: &str,
    ) -> Result<Edit, EditError> {
        check_regex(regex)?;
        let (view, operand) = self.regex_operand(selector)?;
        if view.regex.as_deref() == Some(regex) {
            return Ok(self.unchanged(format!(
                "if block at line {} already has that regex",
                view.line
            )));
        }
        self.finish(
            vec![operand.regex_patch(regex)],
            format!("if block at line {}: regex set", view.line),
        )
    }

    /// Sets the match operator (`~`, `~*`, `!~` or `!~*`) and the regex operand of the
    /// chosen `if` block's condition (active or commented out), changing only the bytes of
    /// whichever differs; a no-op when both already equal. The regex is written as a
    /// double-quoted string.
    ///
    /// ```
    /// use ihos_nginx::{BlockSelector, Document};
    ///
    /// let site = "location / {\n    #if ($http_x_pep_token ~* \"(eyJpZCI6IjE.*$)\") {\n    #    set $a 1;\n    #}\n}\n";
    /// let doc = Document::parse(site)?;
    /// let sel = BlockSelector::ConditionContains("x_pep_token".into());
    /// let edit = doc.set_block_condition(&sel, "~", "^eyJpZCI6Ij[EFGH]")?;
    /// assert_eq!(
    ///     edit.text_lossy(),
    ///     "location / {\n    #if ($http_x_pep_token ~ \"^eyJpZCI6Ij[EFGH]\") {\n    #    set $a 1;\n    #}\n}\n"
    /// );
    /// let block = &edit.document().if_blocks()[0];
    /// assert_eq!(block.operator.as_deref(), Some("~"));
    /// assert!(!edit.document().set_block_condition(&sel, "~", "^eyJpZCI6Ij[EFGH]")?.is_changed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_block_condition(
        &self,
        selector: &BlockSelector,
        operator: &str,
        regex: &str,
    ) -> Result<Edit, EditError> {
        if !REGEX_OPERATORS.contains(&operator) {
            return Err(EditError::InvalidValue {
                value: operator.to_string(),
                reason: "not a regex match operator (~, ~*, !~ or !~*)",
            });
        }
        check_regex(regex)?;
        let (view, operand) = self.regex_operand(selector)?;
        let mut patches = Vec::new();
        if operand.operator != operator {
            patches.push(Patch {
                start: operand.operator_span.0,
                end: operand.operator_span.1,
                insert: operator.as_bytes().to_vec(),
            });
        }
        if view.regex.as_deref() != Some(regex) {
            patches.push(operand.regex_patch(regex));
        }
        if patches.is_empty() {
            return Ok(self.unchanged(format!(
                "if block at line {} already has that condition",
                view.line
            )));
        }
        self.finish(
            patches,
            format!("if block at line {}: condition set", view.line),
        )
    }

    /// The regex operand and its operator in the chosen `if` block's condition.
    fn regex_operand(&self, selector: &BlockSelector) -> Result<(IfBlock, Operand), EditError> {
        let (view, place) = self.select_if(selector)?;
        let no_regex = |view: &IfBlock| EditError::NoRegexInCondition {
            condition: view.condition.clone(),
            line: view.line,
        };
        let (text, d, origin) = match place.item() {
            Item::Directive(d) => (self.source(), d, Origin::File),
            Item::Disabled(dd) => (
                dd.inner.text.as_slice(),
                &dd.inner.directive,
                Origin::Inner(&dd.inner),
            ),
            Item::Comment(_) => return Err(no_regex(&view)),
        };
        let Some((idx, glued)) = regex_arg(text, d) else {
            return Err(no_regex(&view));
        };
        let op = d.args[idx - 1].token;
        let tok = d.args[idx].token.span;
        let operand = Operand {
            operator: String::from_utf8_lossy(op.raw(text)).into_owned(),
            operator_span: (
                origin.map(op.span.start as usize),
                origin.map(op.span.end as usize),
            ),
            regex_span: (origin.map(tok.start as usize), origin.map(tok.end as usize)),
            glued,
        };
        Ok((view, operand))
    }
}

/// Where an `if` condition's operator and regex are, in file offsets.
struct Operand {
    /// The operator as written.
    operator: String,
    operator_span: (usize, usize),
    regex_span: (usize, usize),
    /// Whether the condition's `)` is glued to the end of the (bare) regex token.
    glued: bool,
}

impl Operand {
    /// The patch writing `regex`, quoted, over the regex token.
    fn regex_patch(&self, regex: &str) -> Patch {
        let mut quoted = quote(regex);
        if self.glued {
            quoted.push(b')');
        }
        Patch {
            start: self.regex_span.0,
            end: self.regex_span.1,
            insert: quoted,
        }
    }
}

/// A regex must fit on the condition's line.
fn check_regex(regex: &str) -> Result<(), EditError> {
    if regex.contains('\n') || regex.contains('\r') {
        return Err(EditError::InvalidValue {
            value: regex.to_string(),
            reason: "a regex may not contain a line break",
        });
    }
    Ok(())
}

/// Which text a directive's spans index: the file, or a disabled directive's inner text.
#[derive(Clone, Copy)]
enum Origin<'a> {
    File,
    Inner(&'a InnerDirective),
}

impl Origin<'_> {
    /// The file offset of an offset in that text.
    fn map(self, offset: usize) -> usize {
        match self {
            Origin::File => offset,
            Origin::Inner(inner) => inner.to_file_offset(offset),
        }
    }
}

/// `"..."` with `\` and `"` escaped, so nginx reads back exactly `value`.
fn quote(value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    out.push(b'"');
    for &b in value.as_bytes() {
        if b == b'\\' || b == b'"' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

/// Patches removing every `down` parameter of `d` (with the blank before it, when on the
/// same line); `map` turns offsets in `text` into file offsets.
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

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "server {\n    location / {\n        #if ($http_x_pep_token ~* \"(eyJpZCI6IjE.*$)\") {\n        #    set $a 1;\n        #}\n        if ($http_x ~ ^/a) { return 404; }\n        if ($http_y) { return 403; }\n    }\n}\n";

    fn sel(s: &str) -> BlockSelector {
        BlockSelector::ConditionContains(s.into())
    }

    /// The byte range where `a` and `b` differ: (common prefix length, `a`'s and `b`'s
    /// differing middles).
    fn changed<'x>(a: &'x str, b: &'x str) -> (usize, &'x str, &'x str) {
        let p = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let s = a[p..]
            .bytes()
            .rev()
            .zip(b[p..].bytes().rev())
            .take_while(|(x, y)| x == y)
            .count();
        (p, &a[p..a.len() - s], &b[p..b.len() - s])
    }

    #[test]
    fn operator_and_regex_on_a_commented_block() {
        let doc = Document::parse(SITE).unwrap();
        let edit = doc
            .set_block_condition(&sel("x_pep"), "~", "^(?:[^.]*[.])?eyJpZCI6Ij[EFGH]")
            .unwrap();
        assert!(edit.is_changed());
        let want = SITE.replace(
            "~* \"(eyJpZCI6IjE.*$)\"",
            "~ \"^(?:[^.]*[.])?eyJpZCI6Ij[EFGH]\"",
        );
        assert_eq!(edit.text_lossy(), want);
        let b = &edit.document().if_blocks()[0];
        assert!(!b.enabled);
        assert_eq!(b.operator.as_deref(), Some("~"));
        assert_eq!(b.regex.as_deref(), Some("^(?:[^.]*[.])?eyJpZCI6Ij[EFGH]"));
        // and back: the original bytes
        let back = edit
            .document()
            .set_block_condition(&sel("x_pep"), "~*", "(eyJpZCI6IjE.*$)")
            .unwrap();
        assert_eq!(back.text_lossy(), SITE);
    }

    #[test]
    fn only_the_differing_part_is_touched() {
        let doc = Document::parse(SITE).unwrap();
        let op_only = doc
            .set_block_condition(&sel("x_pep"), "!~*", "(eyJpZCI6IjE.*$)")
            .unwrap();
        let (at, old, new) = changed(SITE, std::str::from_utf8(op_only.text()).unwrap());
        assert_eq!((old, new), ("", "!"));
        assert_eq!(&SITE[at..at + 2], "~*");
        let re_only = doc
            .set_block_condition(&sel("x_pep"), "~*", "(eyJpZCI6IjM.*$)")
            .unwrap();
        let (_, old, new) = changed(SITE, std::str::from_utf8(re_only.text()).unwrap());
        assert_eq!((old, new), ("E", "M"));
        let diff = op_only.diff("site");
        let marked = |m: &str, skip: &str| {
            diff.lines()
                .filter(|l| l.starts_with(m) && !l.starts_with(skip))
                .count()
        };
        assert_eq!((marked("-", "---"), marked("+", "+++")), (1, 1), "{diff}");
    }

    #[test]
    fn no_op_when_both_equal() {
        let doc = Document::parse(SITE).unwrap();
        let edit = doc
            .set_block_condition(&sel("x_pep"), "~*", "(eyJpZCI6IjE.*$)")
            .unwrap();
        assert!(!edit.is_changed());
        assert!(edit.message().contains("already has that condition"));
        assert_eq!(edit.diff("site"), "");
    }

    #[test]
    fn active_block_with_a_glued_parenthesis() {
        let doc = Document::parse(SITE).unwrap();
        let edit = doc
            .set_block_condition(&sel("http_x "), "!~", "^/b c")
            .unwrap();
        assert!(
            edit.text_lossy()
                .contains("        if ($http_x !~ \"^/b c\") { return 404; }\n"),
            "{}",
            edit.text_lossy()
        );
        let b = &edit.document().if_blocks()[1];
        assert!(b.enabled);
        assert_eq!(
            (b.operator.as_deref(), b.regex.as_deref()),
            (Some("!~"), Some("^/b c"))
        );
    }

    #[test]
    fn refusals() {
        let doc = Document::parse(SITE).unwrap();
        for op in ["=", "~~", "", "*~"] {
            assert!(
                matches!(
                    doc.set_block_condition(&sel("x_pep"), op, "x"),
                    Err(EditError::InvalidValue { .. })
                ),
                "{op:?}"
            );
        }
        assert!(matches!(
            doc.set_block_condition(&sel("x_pep"), "~", "a\nb"),
            Err(EditError::InvalidValue { .. })
        ));
        assert!(matches!(
            doc.set_block_condition(&sel("http_y"), "~", "x"),
            Err(EditError::NoRegexInCondition { line: 7, .. })
        ));
        assert!(matches!(
            doc.set_block_condition(&sel("nothing"), "~", "x"),
            Err(EditError::UnknownBlock { .. })
        ));
    }
}
