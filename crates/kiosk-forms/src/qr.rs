//! The order QR code: drawn as squares on the form, read back from a
//! keyboard-wedge scanner (plain text) or from a picture.

use image::DynamicImage;
use qrcode::{Color, EcLevel, QrCode};

use crate::FormsError;

/// Dark modules of the QR code of `text`, as (column, row), and the
/// number of modules per side (without the quiet zone).
pub fn modules(text: &str) -> Result<(usize, Vec<(usize, usize)>), FormsError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| FormsError::Pdf(format!("QR code of {text:?}: {e}")))?;
    let width = code.width();
    let colors = code.to_colors();
    let dark = colors
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == Color::Dark)
        .map(|(i, _)| (i % width, i / width))
        .collect();
    Ok((width, dark))
}

/// Every QR code found in a picture, as text.
pub fn decode(picture: &DynamicImage) -> Vec<String> {
    let luma = picture.to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(luma);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma};

    #[test]
    fn drawn_code_reads_back() {
        let text = "KIOSK-ORDER:01937c1e-8f00-7000-8000-000000000001";
        let (width, dark) = modules(text).unwrap();
        let scale = 6;
        let quiet = 4;
        let side = (width + 2 * quiet) * scale;
        let mut img = GrayImage::from_pixel(side as u32, side as u32, Luma([255]));
        for (cx, cy) in dark {
            for dy in 0..scale {
                for dx in 0..scale {
                    img.put_pixel(
                        ((cx + quiet) * scale + dx) as u32,
                        ((cy + quiet) * scale + dy) as u32,
                        Luma([0]),
                    );
                }
            }
        }
        assert_eq!(
            decode(&DynamicImage::ImageLuma8(img)),
            vec![text.to_string()]
        );
    }
}
