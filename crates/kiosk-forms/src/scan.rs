//! Scans and photos made fit for storage: upright, no larger than needed,
//! with a thumbnail, and with a note on whether a red seal is on them.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
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
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let img = DynamicImage::from_decoder(decoder)?;
    Ok(upright(img, orientation))
}

/// Turns an already decoded picture upright; says whether it was turned.
pub fn upright(mut img: DynamicImage, orientation: Orientation) -> (DynamicImage, bool) {
    let turned = orientation != Orientation::NoTransforms;
    img.apply_orientation(orientation);
    (img, turned)
}

/// Prepares an already validated upload for storage, decoding it.
///
/// When the validator has decoded the upload already, use
/// [`prepare_decoded`] instead: a large scan is then decoded once.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, FormsError> {
    let (img, reoriented) = decode_upright(bytes)?;
    prepare_upright(img, reoriented)
}

/// Prepares an upload that is already decoded (as the validator hands it
/// over, before its Exif `orientation` is applied) for storage.
pub fn prepare_decoded(
    img: DynamicImage,
    orientation: Orientation,
) -> Result<Prepared, FormsError> {
    let (img, reoriented) = upright(img, orientation);
    prepare_upright(img, reoriented)
}

fn prepare_upright(img: DynamicImage, reoriented: bool) -> Result<Prepared, FormsError> {
    let (original_width, original_height) = (img.width(), img.height());
    // Takes the buffer over when the picture is RGB already (JPEG), so a
    // large scan is not held twice.
    let rgb = img.into_rgb8();
    let seal = locate(&rgb);
    let rgb = DynamicImage::ImageRgb8(rgb);
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, RgbImage};

    #[test]
    fn prepared_from_decoded_matches_prepared_from_bytes() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(30, 20, |x, y| {
            Rgb([x as u8 * 8, y as u8 * 12, 90])
        }));
        let mut png = Cursor::new(Vec::new());
        img.write_to(&mut png, ImageFormat::Png).unwrap();
        let from_bytes = prepare(png.get_ref()).unwrap();
        let decoded = prepare_decoded(img.clone(), Orientation::NoTransforms).unwrap();
        assert_eq!(decoded.image, from_bytes.image);
        assert_eq!(decoded.thumbnail, from_bytes.thumbnail);
        assert_eq!((decoded.width, decoded.height), (30, 20));
        assert!(!decoded.reoriented);

        let turned = prepare_decoded(img, Orientation::Rotate90).unwrap();
        assert_eq!((turned.width, turned.height), (20, 30));
        assert_eq!((turned.original_width, turned.original_height), (20, 30));
        assert!(turned.reoriented);
    }
}
