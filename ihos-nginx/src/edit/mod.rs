//! Edits of a [`Document`]: each is a few byte patches on the target lines only, and the
//! result is parsed again before it is returned, so an edit never yields text nginx would
//! reject.
//!
//! - this file: [`Edit`], the result every edit returns;
//! - `server`: disable/enable a server of an upstream ([`DisableStyle`]);
//! - `if_block`: comment/uncomment an `if` block, set its regex and match operator
//!   ([`BlockSelector`]);
//! - `comment`: commenting a directive out and back in, shared by both;
//! - `rotation`: several servers' changes of rotation as one edit ([`RotationChange`]);
//! - `patch`: the byte replacements and how they are applied.

mod comment;
mod if_block;
mod patch;
mod rotation;
mod server;

pub use self::if_block::BlockSelector;
pub use self::rotation::{GroupChange, RotationBatch, RotationChange};
pub use self::server::DisableStyle;

use self::patch::{Patch, apply_with_changes};
use crate::diff;
use crate::document::Document;
use crate::error::EditError;

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

impl Document {
    /// The edit `patches` make. The result is parsed again, so text nginx would reject is
    /// an error, never an edit.
    fn finish(&self, patches: Vec<Patch>, message: String) -> Result<Edit, EditError> {
        let (text, changes) = apply_with_changes(self.source(), patches);
        let document = self.patched(text, &changes).map_err(EditError::Reparse)?;
        Ok(Edit {
            old: self.source().to_vec(),
            document,
            message,
        })
    }

    /// A no-op edit, `message` saying why nothing was done.
    fn unchanged(&self, message: String) -> Edit {
        Edit {
            old: self.source().to_vec(),
            document: self.clone(),
            message,
        }
    }
}
