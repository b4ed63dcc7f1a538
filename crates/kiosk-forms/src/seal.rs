//! Finding a red seal imprint on a scan and cutting it out as a transparent
//! PNG: only the seal's red ink stays; paper, blue ink, black print and red
//! marks away from the seal go.

use std::collections::VecDeque;
use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde::Serialize;

use crate::FormsError;

/// Where a seal-like red imprint sits, in pixels of the full picture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// Share of its bounding box covered by red ink.
    pub fill: f32,
    /// Its size relative to the picture's short side.
    pub relative_size: f32,
    #[serde(skip)]
    cells: Vec<(u32, u32)>,
    #[serde(skip)]
    cell_px: u32,
}

/// Red ink as opposed to paper, black print and blue or black handwriting.
#[inline]
fn ink(p: &Rgb<u8>) -> u8 {
    let [r, g, b] = p.0;
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    // How much redder than the other channels; dark pixels (black print
    // under the seal) and blue-dominated ones score zero.
    let lead = r - g.max(b);
    if r < 90 || lead < 35 {
        0
    } else {
        ((lead - 35) * 255 / 90).clamp(1, 255) as u8
    }
}

/// Seal-sized: at least this share of the picture's short side.
const MIN_RELATIVE_SIZE: f32 = 0.10;

/// Finds the most seal-like red imprint, if any.
pub fn locate(img: &RgbImage) -> Option<Candidate> {
    let (w, h) = img.dimensions();
    if w < 16 || h < 16 {
        return None;
    }
    let short = w.min(h);
    // Sample about 600 points across the short side, then group the samples
    // into cells of about 1% of it; a cell with red in it is "inked".
    let step = (short / 600).max(1);
    let cell = (short / 100).max(step * 2);
    let (cw, ch) = (w.div_ceil(cell), h.div_ceil(cell));
    let mut counts = vec![0u16; (cw * ch) as usize];
    let mut y = 0;
    while y < h {
        let mut x = 0;
        while x < w {
            if ink(img.get_pixel(x, y)) > 0 {
                counts[((y / cell) * cw + x / cell) as usize] += 1;
            }
            x += step;
        }
        y += step;
    }
    let per_cell = ((cell / step) * (cell / step)) as f32;
    let inked: Vec<bool> = counts.iter().map(|&c| c >= 2).collect();
    // Join cells up to one cell apart (ring, star and letters of one seal).
    let mut seen = vec![false; inked.len()];
    let mut best: Option<Candidate> = None;
    for start in 0..inked.len() {
        if !inked[start] || seen[start] {
            continue;
        }
        let mut cells = Vec::new();
        let mut queue = VecDeque::from([start]);
        seen[start] = true;
        while let Some(i) = queue.pop_front() {
            let (cx, cy) = ((i as u32) % cw, (i as u32) / cw);
            cells.push((cx, cy));
            for dy in -2i32..=2 {
                for dx in -2i32..=2 {
                    let (nx, ny) = (cx as i32 + dx, cy as i32 + dy);
                    if nx < 0 || ny < 0 || nx >= cw as i32 || ny >= ch as i32 {
                        continue;
                    }
                    let j = (ny as u32 * cw + nx as u32) as usize;
                    if inked[j] && !seen[j] {
                        seen[j] = true;
                        queue.push_back(j);
                    }
                }
            }
        }
        let x0 = cells.iter().map(|c| c.0).min().unwrap_or(0);
        let x1 = cells.iter().map(|c| c.0).max().unwrap_or(0) + 1;
        let y0 = cells.iter().map(|c| c.1).min().unwrap_or(0);
        let y1 = cells.iter().map(|c| c.1).max().unwrap_or(0) + 1;
        let (bw, bh) = ((x1 - x0) * cell, (y1 - y0) * cell);
        let red: f32 = cells
            .iter()
            .map(|&(cx, cy)| f32::from(counts[(cy * cw + cx) as usize]))
            .sum();
        let fill = red / (per_cell * ((x1 - x0) * (y1 - y0)) as f32);
        let relative_size = bw.max(bh) as f32 / short as f32;
        let aspect = bw as f32 / bh as f32;
        let seal_like = relative_size >= MIN_RELATIVE_SIZE
            && (0.5..=2.0).contains(&aspect)
            && (0.03..=0.75).contains(&fill);
        if !seal_like {
            continue;
        }
        let c = Candidate {
            x: x0 * cell,
            y: y0 * cell,
            width: bw.min(w - x0 * cell),
            height: bh.min(h - y0 * cell),
            fill,
            relative_size,
            cells,
            cell_px: cell,
        };
        if best.as_ref().is_none_or(|b| c.cells.len() > b.cells.len()) {
            best = Some(c);
        }
    }
    best
}

/// The electronic seal cut from a scan.
#[derive(Debug, Clone, Serialize)]
pub struct Extracted {
    #[serde(skip)]
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Where it was found on the scan.
    pub found_at: Candidate,
}

/// The seal's colour in the output; transparency carries the ink's strength.
const SEAL_RED: [u8; 3] = [214, 20, 28];
/// The output is at most this many pixels on its long side.
const MAX_SIDE: u32 = 1024;

/// Cuts the seal out of `img` as a transparent PNG, or `None` when there is
/// no seal-like red imprint.
pub fn extract(img: &DynamicImage) -> Result<Option<Extracted>, FormsError> {
    let rgb = match img {
        DynamicImage::ImageRgb8(i) => std::borrow::Cow::Borrowed(i),
        other => std::borrow::Cow::Owned(other.to_rgb8()),
    };
    let Some(found) = locate(&rgb) else {
        return Ok(None);
    };
    // Keep ink only in cells of the seal and their neighbours, so red marks
    // elsewhere in the box (a tick, a date) are dropped.
    let cell = found.cell_px;
    let (gx0, gy0) = (found.x / cell, found.y / cell);
    let (gw, gh) = (
        found.width.div_ceil(cell) + 2,
        found.height.div_ceil(cell) + 2,
    );
    let mut keep = vec![false; (gw * gh) as usize];
    for &(cx, cy) in &found.cells {
        for dy in 0..3 {
            for dx in 0..3 {
                let (kx, ky) = (cx + dx - gx0, cy + dy - gy0);
                if kx < gw && ky < gh {
                    keep[(ky * gw + kx) as usize] = true;
                }
            }
        }
    }
    let mut out = RgbaImage::new(found.width, found.height);
    let (mut minx, mut miny, mut maxx, mut maxy) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (sx, sy) = (found.x + x, found.y + y);
        let (kx, ky) = ((sx / cell) + 1 - gx0, (sy / cell) + 1 - gy0);
        let kept = kx < gw && ky < gh && keep[(ky * gw + kx) as usize];
        let a = if kept { ink(rgb.get_pixel(sx, sy)) } else { 0 };
        *px = Rgba([SEAL_RED[0], SEAL_RED[1], SEAL_RED[2], a]);
        if a > 0 {
            minx = minx.min(x);
            miny = miny.min(y);
            maxx = maxx.max(x);
            maxy = maxy.max(y);
        }
    }
    if minx > maxx {
        return Ok(None);
    }
    // Crop tight to the ink, with a small margin.
    let m = 4;
    let (x0, y0) = (minx.saturating_sub(m), miny.saturating_sub(m));
    let (x1, y1) = (
        (maxx + m + 1).min(out.width()),
        (maxy + m + 1).min(out.height()),
    );
    let mut cropped = DynamicImage::ImageRgba8(
        image::imageops::crop_imm(&out, x0, y0, x1 - x0, y1 - y0).to_image(),
    );
    if cropped.width().max(cropped.height()) > MAX_SIDE {
        cropped = cropped.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle);
    }
    let mut png = Cursor::new(Vec::new());
    cropped.write_to(&mut png, ImageFormat::Png)?;
    let found_at = Candidate {
        x: found.x + x0,
        y: found.y + y0,
        width: x1 - x0,
        height: y1 - y0,
        ..found
    };
    Ok(Some(Extracted {
        png: png.into_inner(),
        width: cropped.width(),
        height: cropped.height(),
        found_at,
    }))
}
