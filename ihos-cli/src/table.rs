//! Plain-text tables whose columns are as wide as their widest cell (names and statuses of
//! any length stay aligned), with free lines under a row (`server-release: ...`).

/// A table being built.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<(Vec<String>, Vec<String>)>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(header: I) -> Self {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; `notes` are printed under it, indented, outside the columns. Cells hold
    /// what hosts report (names, states, commits): control characters and line breaks in
    /// them are shown escaped, so that no cell can redraw the terminal or break the rows.
    pub fn row(&mut self, cells: Vec<String>, notes: Vec<String>) {
        let one_line = |s: String| {
            let s = s.replace('\n', "\\n").replace('\t', "\\t");
            crate::output::printable(&s).into_owned()
        };
        self.rows.push((
            cells.into_iter().map(one_line).collect(),
            notes.into_iter().map(one_line).collect(),
        ));
    }

    /// The table, one line per row (no trailing spaces).
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(|(c, _)| c.len())
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for cells in std::iter::once(&self.header).chain(self.rows.iter().map(|(c, _)| c)) {
            for (w, cell) in widths.iter_mut().zip(cells) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(cell);
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
            out
        };
        let mut out = line(&self.header);
        for (cells, notes) in &self.rows {
            out.push_str(&line(cells));
            for n in notes {
                out.push_str(&format!("  {n}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn columns_fit_their_widest_cell() {
        let mut t = Table::new(["NAME", "STATE"]);
        t.row(vec!["a-long-instance-name".into(), "ok".into()], vec![]);
        t.row(vec!["b".into(), "running".into()], vec!["note".into()]);
        assert_eq!(
            t.render(),
            "NAME                 STATE\n\
             a-long-instance-name ok\n\
             b                    running\n  note\n"
        );
    }
}
