//! Draws a template filled with an order's values into a PDF.

use std::collections::BTreeMap;

use printpdf::{
    Color, Line, LineDashPattern, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle,
    PdfPage, PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem,
};
use serde::Serialize;

use crate::layout::{fit, LINE_HEIGHT};
use crate::template::{Align, Item, Template};
use crate::{qr, CjkFont, FormsError};

/// The values a template binds to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FormData {
    /// Text values by binding name (`organization.name`).
    pub fields: BTreeMap<String, String>,
    /// Check boxes by binding name (`operation.new`).
    pub flags: BTreeMap<String, bool>,
    /// Row sets by binding name (`fee.lines`), each row by column key.
    pub rows: BTreeMap<String, Vec<BTreeMap<String, String>>>,
}

impl FormData {
    pub fn field(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.fields.insert(key.to_string(), value.into());
        self
    }
    pub fn flag(&mut self, key: &str, on: bool) -> &mut Self {
        self.flags.insert(key.to_string(), on);
        self
    }
}

/// A drawn document.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub pages: usize,
    /// Bindings whose value had to be cut to stay inside its box.
    pub truncated: Vec<String>,
}

const MM: f32 = 72.0 / 25.4;
/// Baseline below the top of a line, as a fraction of the size (Noto CJK).
const ASCENT: f32 = 0.88;

struct Page<'a> {
    ops: Vec<Op>,
    height_mm: f32,
    font: &'a CjkFont,
    font_handle: PdfFontHandle,
    truncated: Vec<String>,
}

/// Renders `template` with `data`. Every binding must have a value (an
/// empty one is fine): a template naming an unknown value is a bug in the
/// template and is refused rather than printed blank.
pub fn render(
    template: &Template,
    data: &FormData,
    font: &CjkFont,
) -> Result<Rendered, FormsError> {
    let missing: Vec<&str> = template
        .bindings()
        .into_iter()
        .filter(|b| {
            !data.fields.contains_key(*b)
                && !data.flags.contains_key(*b)
                && !data.rows.contains_key(*b)
        })
        .collect();
    if !missing.is_empty() {
        return Err(FormsError::Template {
            name: template.name.clone(),
            problem: format!("no value for {}", missing.join(", ")),
        });
    }
    let mut doc = PdfDocument::new(&template.title);
    let font_id = doc.add_font(&font.parsed);
    let mut page = Page {
        ops: Vec::new(),
        height_mm: template.page.height_mm,
        font,
        font_handle: PdfFontHandle::External(font_id),
        truncated: Vec::new(),
    };
    page.ops.push(Op::SetOutlineColor {
        col: Color::Rgb(Rgb::new(0.0, 0.0, 0.0, None)),
    });
    let size = template.font_size;
    let min = template.min_font_size;
    for item in &template.items {
        match item {
            Item::Text {
                x,
                y,
                w,
                h,
                text,
                size: s,
                align,
                wrap,
            } => page.text(
                "",
                text,
                (*x, *y, *w, *h),
                s.unwrap_or(size),
                min.min(s.unwrap_or(size)),
                *align,
                *wrap,
            ),
            Item::Field {
                x,
                y,
                w,
                h,
                bind,
                size: s,
                align,
                wrap,
            } => {
                let value = &data.fields[bind];
                page.text(
                    bind,
                    value,
                    (*x, *y, *w, *h),
                    s.unwrap_or(size),
                    min,
                    *align,
                    *wrap,
                )
            }
            Item::Cell {
                x,
                y,
                w,
                h,
                label,
                label_w,
                bind,
                size: s,
            } => {
                page.rect(*x, *y, *w, *h, 0.6, false);
                page.line(x + label_w, *y, x + label_w, y + h, 0.4);
                let pad = 1.5;
                page.text(
                    "",
                    label,
                    (x + pad, *y, label_w - 2.0 * pad, *h),
                    size,
                    min,
                    Align::Left,
                    true,
                );
                if let Some(bind) = bind {
                    let value = data
                        .fields
                        .get(bind)
                        .map(String::as_str)
                        .unwrap_or_default();
                    let area = (x + label_w + pad, y + 0.5, w - label_w - 2.0 * pad, h - 1.0);
                    page.text(bind, value, area, s.unwrap_or(size), min, Align::Left, true);
                }
            }
            Item::Rect {
                x,
                y,
                w,
                h,
                line,
                dashed,
            } => page.rect(*x, *y, *w, *h, *line, *dashed),
            Item::Line {
                x1,
                y1,
                x2,
                y2,
                line,
            } => page.line(*x1, *y1, *x2, *y2, *line),
            Item::Check {
                x,
                y,
                size: s,
                bind,
                label,
            } => {
                page.check(*x, *y, *s, data.flags.get(bind).copied().unwrap_or(false));
                page.text(
                    "",
                    label,
                    (x + s + 1.2, *y - 1.0, 55.0, s + 2.0),
                    size,
                    min,
                    Align::Left,
                    false,
                );
            }
            Item::Qr {
                x,
                y,
                size: s,
                bind,
            } => {
                let value = data
                    .fields
                    .get(bind)
                    .map(String::as_str)
                    .unwrap_or_default();
                page.qr(*x, *y, *s, value)?;
            }
            Item::Rows {
                x,
                y,
                row_h,
                bind,
                max_rows,
                columns,
            } => {
                let rows = data.rows.get(bind).cloned().unwrap_or_default();
                let total_w: f32 = columns.iter().map(|c| c.w).sum();
                let shown = rows.len().min(*max_rows);
                let mut cx = *x;
                for c in columns {
                    page.text(
                        "",
                        &c.header,
                        (cx + 1.5, *y, c.w - 3.0, *row_h),
                        size,
                        min,
                        c.align,
                        false,
                    );
                    cx += c.w;
                }
                for (i, row) in rows.iter().take(shown).enumerate() {
                    let ry = y + row_h * (i as f32 + 1.0);
                    let mut cx = *x;
                    for c in columns {
                        let value = row.get(&c.key).map(String::as_str).unwrap_or_default();
                        let key = format!("{bind}[{i}].{}", c.key);
                        page.text(
                            &key,
                            value,
                            (cx + 1.5, ry, c.w - 3.0, *row_h),
                            size,
                            min,
                            c.align,
                            true,
                        );
                        cx += c.w;
                    }
                }
                // The grid: one rule per row, one per column.
                let bottom = y + row_h * (shown as f32 + 1.0);
                for i in 0..=shown + 1 {
                    let ry = y + row_h * i as f32;
                    page.line(*x, ry, x + total_w, ry, if i == 1 { 0.6 } else { 0.3 });
                }
                let mut cx = *x;
                page.line(cx, *y, cx, bottom, 0.3);
                for c in columns {
                    cx += c.w;
                    page.line(cx, *y, cx, bottom, 0.3);
                }
                if rows.len() > *max_rows {
                    page.truncated.push(bind.clone());
                }
            }
        }
    }
    let Page { ops, truncated, .. } = page;
    doc.with_pages(vec![PdfPage::new(
        Mm(template.page.width_mm),
        Mm(template.page.height_mm),
        ops,
    )]);
    let mut warnings = Vec::new();
    let pdf = doc.save(&PdfSaveOptions::default(), &mut warnings);
    if pdf.len() < 100 {
        return Err(FormsError::Pdf(format!("{warnings:?}")));
    }
    Ok(Rendered {
        pdf,
        pages: 1,
        truncated,
    })
}

impl Page<'_> {
    fn pt(&self, x_mm: f32, y_mm_from_top: f32) -> Point {
        Point {
            x: Pt(x_mm * MM),
            y: Pt((self.height_mm - y_mm_from_top) * MM),
        }
    }

    /// Fits `value` into the box (mm, from the top left) and draws it,
    /// centred vertically.
    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        bind: &str,
        value: &str,
        (x, y, w, h): (f32, f32, f32, f32),
        size: f32,
        min: f32,
        align: Align,
        wrap: bool,
    ) {
        if value.trim().is_empty() {
            return;
        }
        let fitted = fit(self.font, value, w * MM, h * MM, size, min, wrap);
        if fitted.truncated && !bind.is_empty() {
            self.truncated.push(bind.to_string());
        }
        let lh = fitted.size * LINE_HEIGHT;
        let block = lh * fitted.lines.len() as f32;
        let top = (self.height_mm - y) * MM - (h * MM - block) / 2.0;
        self.ops.push(Op::StartTextSection);
        self.ops.push(Op::SetFont {
            font: self.font_handle.clone(),
            size: Pt(fitted.size),
        });
        self.ops.push(Op::SetFillColor {
            col: Color::Rgb(Rgb::new(0.0, 0.0, 0.0, None)),
        });
        for (i, line) in fitted.lines.iter().enumerate() {
            let width = self.font.text_width(line, fitted.size);
            let left = x * MM
                + match align {
                    Align::Left => 0.0,
                    Align::Center => (w * MM - width) / 2.0,
                    Align::Right => w * MM - width,
                };
            let baseline = top - lh * i as f32 - (lh - fitted.size) / 2.0 - ASCENT * fitted.size;
            self.ops.push(Op::SetTextCursor {
                pos: Point {
                    x: Pt(left),
                    y: Pt(baseline),
                },
            });
            self.ops.push(Op::ShowText {
                items: vec![TextItem::Text(line.clone())],
            });
            // Text cursor moves are relative inside one section; start anew.
            if i + 1 < fitted.lines.len() {
                self.ops.push(Op::EndTextSection);
                self.ops.push(Op::StartTextSection);
                self.ops.push(Op::SetFont {
                    font: self.font_handle.clone(),
                    size: Pt(fitted.size),
                });
            }
        }
        self.ops.push(Op::EndTextSection);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, line: f32, dashed: bool) {
        let ll = self.pt(x, y + h);
        if dashed {
            self.ops.push(Op::SetLineDashPattern {
                dash: LineDashPattern::new(0.0, &[3.0, 2.0]),
            });
        }
        self.ops.push(Op::SetOutlineThickness { pt: Pt(line) });
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect {
                x: ll.x,
                y: ll.y,
                width: Pt(w * MM),
                height: Pt(h * MM),
                mode: Some(PaintMode::Stroke),
                winding_order: None,
            },
        });
        if dashed {
            self.ops.push(Op::SetLineDashPattern {
                dash: LineDashPattern::solid(),
            });
        }
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, line: f32) {
        self.polyline(&[(x1, y1), (x2, y2)], line);
    }

    fn polyline(&mut self, points: &[(f32, f32)], line: f32) {
        self.ops.push(Op::SetOutlineThickness { pt: Pt(line) });
        let points = points
            .iter()
            .map(|(x, y)| LinePoint {
                p: self.pt(*x, *y),
                bezier: false,
            })
            .collect();
        self.ops.push(Op::DrawLine {
            line: Line {
                points,
                is_closed: false,
            },
        });
    }

    /// A square, and a tick drawn as two strokes when `on`.
    fn check(&mut self, x: f32, y: f32, s: f32, on: bool) {
        self.rect(x, y, s, s, 0.6, false);
        if on {
            self.polyline(
                &[
                    (x + s * 0.18, y + s * 0.52),
                    (x + s * 0.42, y + s * 0.80),
                    (x + s * 0.85, y + s * 0.18),
                ],
                1.2,
            );
        }
    }

    /// The QR code of `value` in a `size` mm square, quiet zone included.
    fn qr(&mut self, x: f32, y: f32, size: f32, value: &str) -> Result<(), FormsError> {
        if value.is_empty() {
            return Ok(());
        }
        let (width, dark) = qr::modules(value)?;
        let module = size / (width + 8) as f32;
        self.ops.push(Op::SetFillColor {
            col: Color::Rgb(Rgb::new(0.0, 0.0, 0.0, None)),
        });
        // One rectangle per horizontal run of dark modules keeps the page small.
        let mut by_row: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (cx, cy) in dark {
            by_row.entry(cy).or_default().push(cx);
        }
        for (cy, mut cols) in by_row {
            cols.sort_unstable();
            let mut i = 0;
            while i < cols.len() {
                let start = cols[i];
                let mut end = start;
                while i + 1 < cols.len() && cols[i + 1] == end + 1 {
                    i += 1;
                    end += 1;
                }
                i += 1;
                let rx = x + (start + 4) as f32 * module;
                let ry = y + (cy + 4) as f32 * module;
                let ll = self.pt(rx, ry + module);
                self.ops.push(Op::DrawRectangle {
                    rectangle: Rect {
                        x: ll.x,
                        y: ll.y,
                        width: Pt((end - start + 1) as f32 * module * MM),
                        height: Pt(module * MM),
                        mode: Some(PaintMode::Fill),
                        winding_order: None,
                    },
                });
            }
        }
        Ok(())
    }
}
