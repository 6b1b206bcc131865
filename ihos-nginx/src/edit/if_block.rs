//! Edits of an `if` block chosen by a [`BlockSelector`]: commenting it out or in, and
//! setting its condition's regex and match operator.

use super::Edit;
use super::patch::{Origin, Patch};
use crate::document::Document;
use crate::error::EditError;
use crate::query::{IfBlock, Place, REGEX_OPERATORS, regex_arg};
use crate::syntax::Item;

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

impl Document {
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
