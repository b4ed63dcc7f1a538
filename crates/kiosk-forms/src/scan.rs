//! Scans and photos made fit for storage: upright, no larger than needed,
//! with a thumbnail, and with a note on whether a red seal is on them.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageReader};
use serde::Serialize;

use crate::seal::{locate, Candidate};
use crate::FormsError;

/// Long side of a stored scan: enough to read an ID card copy at A4.
pub const STORE_SIDE: u32 = 2000;
/// Long side of a thumbnail.
pub const THUMB_SIDE: u32 = 240;

/// A scan as it will be stored.
#[derive(Debug, Clone, Serialize)]
pub struct Prepared {
    /// The upright, downscaled picture (JPEG).
    #[serde(skip)]
    pub image: Vec<u8>,
    #[serde(skip)]
    pub thumbnail: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub original_width: u32,
    pub original_height: u32,
    /// Whether the picture was turned or mirrored by its Exif orientation.
    pub reoriented: bool,
    /// The seal-like red imprint found on it, if any.
    pub seal: Option<Candidate>,
}

/// Decodes a picture and turns it upright by its Exif orientation.
pub fn decode_upright(bytes: &[u8]) -> Result<(DynamicImage, bool), FormsError> {
    let mut decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .into_decoder()?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)?;
    let turned = orientation != image::metadata::Orientation::NoTransforms;
    img.apply_orientation(orientation);
    Ok((img, turned))
}

/// Prepares an already validated upload for storage.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, FormsError> {
    let (img, reoriented) = decode_upright(bytes)?;
    let (original_width, original_height) = (img.width(), img.height());
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    let seal = locate(rgb.as_rgb8().expect("rgb"));
    let stored = if rgb.width().max(rgb.height()) > STORE_SIDE {
        rgb.resize(
            STORE_SIDE,
            STORE_SIDE,
            image::imageops::FilterType::Triangle,
        )
    } else {
        rgb
    };
    let thumb = stored.thumbnail(THUMB_SIDE, THUMB_SIDE);
    Ok(Prepared {
        image: jpeg(&stored, 85)?,
        thumbnail: jpeg(&thumb, 80)?,
        width: stored.width(),
        height: stored.height(),
        original_width,
        original_height,
        reoriented,
        seal,
    })
}

fn jpeg(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, FormsError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality).encode_image(img)?;
    Ok(out)
}
