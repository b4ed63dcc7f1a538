//! Form templates: a page, and the boxes, rules, labels, check boxes, QR
//! codes and value fields drawn on it, with their bindings to order fields.
//!
//! Templates are TOML files (one per document in `forms/`). Coordinates are
//! millimetres from the top-left corner of the page.

use serde::Deserialize;

use crate::FormsError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Machine name (`application`, `seal-sheet`, ...).
    pub name: String,
    /// The document's Chinese title, also the PDF title.
    pub title: String,
    #[serde(default)]
    pub page: Page,
    /// Default size of values and labels, points.
    #[serde(default = "default_size")]
    pub font_size: f32,
    /// Values shrink down to this size before they wrap, points.
    #[serde(default = "default_min_size")]
    pub min_font_size: f32,
    #[serde(rename = "item", default)]
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub width_mm: f32,
    pub height_mm: f32,
}

impl Default for Page {
    /// A4 portrait.
    fn default() -> Self {
        Page {
            width_mm: 210.0,
            height_mm: 297.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// One thing drawn on the page.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Item {
    /// Fixed text (titles, labels, the applicant's declaration).
    Text {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        text: String,
        size: Option<f32>,
        #[serde(default)]
        align: Align,
        #[serde(default = "yes")]
        wrap: bool,
    },
    /// A value from the order, fitted into its box.
    Field {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        bind: String,
        size: Option<f32>,
        #[serde(default)]
        align: Align,
        #[serde(default = "yes")]
        wrap: bool,
    },
    /// A bordered box with a label on the left and, when bound, a value on
    /// the right; unbound cells stay empty for handwriting or a stamp.
    Cell {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        label: String,
        #[serde(default = "default_label_w")]
        label_w: f32,
        bind: Option<String>,
        size: Option<f32>,
    },
    /// A rectangle outline.
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        #[serde(default = "default_line")]
        line: f32,
        /// Dashed outline (stamp here).
        #[serde(default)]
        dashed: bool,
    },
    /// A straight rule.
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        #[serde(default = "default_line")]
        line: f32,
    },
    /// A drawn check box with its label; ticked when the flag is set.
    Check {
        x: f32,
        y: f32,
        #[serde(default = "default_check")]
        size: f32,
        bind: String,
        label: String,
    },
    /// The QR code of a value (the order id), with its quiet zone.
    Qr {
        x: f32,
        y: f32,
        size: f32,
        bind: String,
    },
    /// A table of repeated rows (fee lines): one column per key.
    Rows {
        x: f32,
        y: f32,
        row_h: f32,
        bind: String,
        max_rows: usize,
        columns: Vec<Column>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub key: String,
    pub header: String,
    pub w: f32,
    #[serde(default)]
    pub align: Align,
}

fn yes() -> bool {
    true
}
fn default_size() -> f32 {
    10.0
}
fn default_min_size() -> f32 {
    6.0
}
fn default_label_w() -> f32 {
    30.0
}
fn default_line() -> f32 {
    0.6
}
fn default_check() -> f32 {
    3.5
}

impl Template {
    /// Parses a template and checks that everything sits on the page.
    pub fn from_toml(name: &str, text: &str) -> Result<Template, FormsError> {
        let t: Template = toml::from_str(text).map_err(|e| FormsError::Template {
            name: name.to_string(),
            problem: e.to_string(),
        })?;
        t.check()?;
        Ok(t)
    }

    /// Every value this template binds to: fields, flags and row sets.
    pub fn bindings(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Field { bind, .. }
                | Item::Check { bind, .. }
                | Item::Qr { bind, .. }
                | Item::Rows { bind, .. } => Some(bind.as_str()),
                Item::Cell { bind, .. } => bind.as_deref(),
                _ => None,
            })
            .collect()
    }

    fn check(&self) -> Result<(), FormsError> {
        let Page {
            width_mm: pw,
            height_mm: ph,
        } = self.page;
        let bad = |problem: String| FormsError::Template {
            name: self.name.clone(),
            problem,
        };
        for (n, item) in self.items.iter().enumerate() {
            let (x, y, w, h) = match item {
                Item::Text { x, y, w, h, .. }
                | Item::Field { x, y, w, h, .. }
                | Item::Cell { x, y, w, h, .. }
                | Item::Rect { x, y, w, h, .. } => (*x, *y, *w, *h),
                Item::Line { x1, y1, x2, y2, .. } => {
                    (x1.min(*x2), y1.min(*y2), (x2 - x1).abs(), (y2 - y1).abs())
                }
                Item::Check { x, y, size, .. } => (*x, *y, *size, *size),
                Item::Qr { x, y, size, .. } => (*x, *y, *size, *size),
                Item::Rows {
                    x,
                    y,
                    row_h,
                    max_rows,
                    columns,
                    ..
                } => (
                    *x,
                    *y,
                    columns.iter().map(|c| c.w).sum(),
                    row_h * (*max_rows as f32 + 1.0),
                ),
            };
            if x < 0.0 || y < 0.0 || w < 0.0 || h < 0.0 || x + w > pw + 0.01 || y + h > ph + 0.01 {
                return Err(bad(format!(
                    "item {} ({x}, {y}, {w}×{h} mm) does not fit the {pw}×{ph} mm page",
                    n + 1
                )));
            }
            if let Item::Cell { w, label_w, .. } = item {
                if label_w >= w {
                    return Err(bad(format!("item {}: label wider than its cell", n + 1)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_off_the_page_are_refused() {
        let t = r#"
            name = "t"
            title = "测试"
            [[item]]
            kind = "rect"
            x = 200
            y = 10
            w = 20
            h = 10
        "#;
        let e = Template::from_toml("t", t).unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
    }

    #[test]
    fn unknown_kinds_are_refused() {
        let t = "name = 't'\ntitle = 't'\n[[item]]\nkind = 'circle'\n";
        assert!(Template::from_toml("t", t).is_err());
    }
}
