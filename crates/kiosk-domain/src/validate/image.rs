//! Uploaded scans: licences, ID cards, application forms.

use crate::Rejection;
use ::image::metadata::Orientation;
use ::image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use serde::Serialize;
use std::io::Cursor;

/// Largest accepted upload: 3 MB (3072 KB), as the CA's portal states.
pub const MAX_UPLOAD_BYTES: usize = 3 * 1024 * 1024;

const ALLOWED: [&str; 5] = ["jpg", "jpeg", "bmp", "gif", "png"];

/// Most pixels an upload may have: 50 megapixels.
///
/// What the counter really receives fits with room to spare: an A4 page
/// scanned at 300 dpi is 2480×3508 (8.7 MP), at 600 dpi 4960×7016 (34.8 MP);
/// a phone photo is 12 MP (4000×3000) or, from a 48 MP sensor, 8000×6000 to
/// 8064×6048 (48.8 MP). Beyond that, a file within 3 MB can only be a
/// compressed picture of almost nothing: a 351 KB PNG of 19000×19000 blank
/// pixels cost 2 GB of memory and 20 s to attach. Nothing legible needs
/// more, and stored scans are downscaled to 2000 pixels anyway.
pub const MAX_PIXELS: u64 = 50_000_000;

/// Longest side an upload may have: 12000 pixels. The pictures above have
/// at most 8064; the rest leaves room for long, narrow ones within
/// [`MAX_PIXELS`] (a phone panorama of a long form, 12000×3000), and refuses
/// strips such as 50 000 000×1 that no scanner or camera makes.
pub const MAX_SIDE: u32 = 12_000;

/// Memory the decoded picture may take: 256 MiB. The largest accepted
/// picture decoded as 8-bit RGBA is 50 MP × 4 bytes = 200 MB (191 MiB); the
/// rest is headroom for the decoder's own buffers. A 16-bit colour PNG near
/// the pixel limit (300 to 400 MB decoded) is refused by this bound; one of
/// a 600 dpi A4 page (35 MP × 6 bytes = 210 MB) still passes.
const MAX_ALLOC: u64 = 256 * 1024 * 1024;

/// The real format of an upload, read from its content, not its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
    Bmp,
}

/// What an accepted upload turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    pub kind: ImageKind,
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
}

/// An accepted upload with its picture, decoded once for everything that
/// follows (turning it upright, downscaling, looking for a seal or a QR
/// code), so that nothing decodes the same bytes a second time.
#[derive(Debug, Clone)]
pub struct DecodedUpload {
    pub info: ImageInfo,
    /// The picture as stored in the file, before `orientation` is applied.
    pub image: DynamicImage,
    /// How the file asks to be turned (Exif); `NoTransforms` when it does
    /// not say.
    pub orientation: Orientation,
}

/// Checks an uploaded scan (上传图片), in this order: the file name's
/// extension (case-insensitive) is one of jpg, jpeg, bmp, gif, png; the file
/// is not empty and at most [`MAX_UPLOAD_BYTES`]; its content is JPEG, PNG,
/// GIF or BMP; its header claims at most [`MAX_PIXELS`] pixels and
/// [`MAX_SIDE`] pixels on either side (checked before anything is decoded);
/// and it decodes completely within 256 MiB. Content in another allowed
/// format than the name says is accepted, and `kind` reports the content.
/// Rejections are addressed to field `upload`.
pub fn upload(file_name: &str, bytes: &[u8]) -> Result<ImageInfo, Rejection> {
    decoded_upload(file_name, bytes).map(|d| d.info)
}

/// [`upload`], handing back the decoded picture for whoever takes the
/// upload in, so it is decoded once.
pub fn decoded_upload(file_name: &str, bytes: &[u8]) -> Result<DecodedUpload, Rejection> {
    check_extension(file_name)?;
    if bytes.is_empty() {
        return Err(reject(
            "empty",
            "文件是空的（0 字节）",
            "请重新扫描后上传",
            "the file is empty (0 bytes)",
            "scan the document again and upload it",
        ));
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        // Rounded up, so a file just over the limit never shows as "3.0 MB".
        let tenths = (bytes.len() * 10).div_ceil(1024 * 1024);
        let size = format!("{}.{} MB", tenths / 10, tenths % 10);
        return Err(reject(
            "too_large",
            format!("文件大小为 {size}，超过上限 3 MB（3072 KB）"),
            "请降低扫描分辨率（如 150 至 200 dpi）或改用 JPG 格式重新扫描后上传",
            format!("the file is {size}, over the limit of 3 MB (3072 KB)"),
            "scan again at a lower resolution (150 to 200 dpi) or as JPG, then upload",
        ));
    }
    let (format, kind) = match ::image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => (ImageFormat::Jpeg, ImageKind::Jpeg),
        Ok(ImageFormat::Png) => (ImageFormat::Png, ImageKind::Png),
        Ok(ImageFormat::Gif) => (ImageFormat::Gif, ImageKind::Gif),
        Ok(ImageFormat::Bmp) => (ImageFormat::Bmp, ImageKind::Bmp),
        _ => {
            return Err(reject(
                "not_an_image",
                "这个文件不是图片：不论文件名是什么，内容都不是 JPG、PNG、GIF 或 BMP 格式",
                "请上传扫描仪或相机生成的图片文件，不要只改文件的扩展名",
                "the content is not a JPG, PNG, GIF or BMP picture, whatever its name says",
                "upload the picture file the scanner or camera produced; renaming a file does not convert it",
            ))
        }
    };
    // Reading the header only; the dimension limits are ours to check below,
    // so the refusal can name the picture's real size.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(|_| undecodable())?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height)?;
    if format == ImageFormat::Jpeg && !jpeg_reaches_end(bytes) {
        return Err(undecodable());
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let needed = decoder.total_bytes();
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    // The picture's own buffer first, as ImageReader::decode does; the
    // decoder gets what is left for its work.
    limits
        .reserve(needed)
        .map_err(|_| too_much_memory(width, height, needed))?;
    decoder.set_limits(limits).map_err(|_| undecodable())?;
    // A decoder that panics on a malformed file (the fuzzer found two in
    // the JPEG decoder) must not take the counter down: it is one more
    // picture that cannot be opened.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        DynamicImage::from_decoder(decoder)
    }))
    .map_err(|_| undecodable())?;
    match decoded {
        Ok(image) => Ok(DecodedUpload {
            info: ImageInfo {
                kind,
                width: image.width(),
                height: image.height(),
                bytes: bytes.len(),
            },
            image,
            orientation,
        }),
        Err(ImageError::Limits(_)) => Err(too_much_memory(width, height, needed)),
        Err(_) => Err(undecodable()),
    }
}

/// Refuses a picture whose header claims more than [`MAX_PIXELS`] pixels or
/// more than [`MAX_SIDE`] on a side, before any pixel is decoded.
fn check_dimensions(width: u32, height: u32) -> Result<(), Rejection> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels <= MAX_PIXELS && width.max(height) <= MAX_SIDE {
        return Ok(());
    }
    // Rounded up, so a picture just over the limit never shows as "50.0".
    let tenths = pixels.div_ceil(100_000);
    let mp = format!("{}.{}", tenths / 10, tenths % 10);
    let (limit_wan, limit_mp) = (MAX_PIXELS / 10_000, MAX_PIXELS / 1_000_000);
    Err(reject(
        "dimensions",
        format!(
            "图片为 {width}×{height} 像素（{mp} 百万像素），超过上限：总像素不超过 {limit_wan} 万（{limit_mp} 百万像素），长边不超过 {MAX_SIDE} 像素"
        ),
        "请以 300 dpi（最高 600 dpi）重新扫描，或把照片缩小后上传",
        format!(
            "the picture is {width}×{height} pixels ({mp} megapixels), over the limit of {limit_mp} megapixels and {MAX_SIDE} pixels on the longest side"
        ),
        "scan again at 300 dpi (600 dpi at most), or make the photo smaller, then upload",
    ))
}

/// Refuses a picture whose pixels would take more than 256 MiB once decoded
/// (16 bits per channel near the pixel limit).
fn too_much_memory(width: u32, height: u32, needed: u64) -> Rejection {
    let mb = needed.div_ceil(1024 * 1024);
    let limit = MAX_ALLOC / (1024 * 1024);
    reject(
        "dimensions",
        format!(
            "图片为 {width}×{height} 像素，色彩位数过高，打开需要 {mb} MB 内存，超过上限 {limit} MB"
        ),
        "请以普通彩色或灰度（每通道 8 位）重新扫描后上传",
        format!(
            "the picture is {width}×{height} pixels at a colour depth that needs {mb} MB to open, over the limit of {limit} MB"
        ),
        "scan again in ordinary colour or greyscale (8 bits per channel), then upload",
    )
}

fn undecodable() -> Rejection {
    reject(
        "undecodable",
        "图片已损坏或不完整，无法打开",
        "请重新扫描后上传；如从手机传来，请确认文件已完整传输",
        "the picture is damaged or truncated and cannot be opened",
        "scan it again and upload; if it came from a phone, make sure it was transferred completely",
    )
}

/// Whether a JPEG's marker segments lead to its end-of-image marker.
///
/// The JPEG decoder fills a truncated scan with grey instead of failing, so a
/// half-transferred file would otherwise pass. A plain search for FF D9 is
/// not enough: an embedded Exif thumbnail has its own.
fn jpeg_reaches_end(bytes: &[u8]) -> bool {
    let mut i = 2; // After the start-of-image marker that guess_format saw.
    loop {
        if bytes.get(i) != Some(&0xFF) {
            return false;
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1; // Fill bytes may precede any marker.
        }
        let Some(&marker) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue, // Markers without a length.
            _ => {}
        }
        let Some(&[hi, lo]) = bytes.get(i..i + 2) else {
            return false;
        };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        if length < 2 {
            return false;
        }
        i += length;
        if marker == 0xDA {
            // Entropy-coded data ends at the first FF that is neither a
            // stuffed FF 00 nor a restart marker.
            loop {
                match (bytes.get(i), bytes.get(i + 1)) {
                    (None, _) | (Some(0xFF), None) => return false,
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => i += 1,
                }
            }
        }
    }
}

fn check_extension(file_name: &str) -> Result<(), Rejection> {
    let base = file_name
        .trim()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let ext = base
        .rsplit_once('.')
        .map(|(_, ext)| ext)
        .unwrap_or_default();
    if ALLOWED.contains(&ext.to_ascii_lowercase().as_str()) {
        return Ok(());
    }
    let (given_zh, given_en) = if ext.is_empty() {
        (
            format!("文件名“{base}”没有扩展名"),
            format!("the file name '{base}' has no extension"),
        )
    } else {
        (
            format!("扩展名 .{ext} 不允许"),
            format!("the extension .{ext} is not allowed"),
        )
    };
    Err(reject(
        "extension",
        format!("{given_zh}，只接受 jpg、jpeg、bmp、gif、png 图片"),
        "请把扫描件保存为 JPG 或 PNG 图片后重新上传",
        format!("{given_en}; only jpg, jpeg, bmp, gif and png pictures are accepted"),
        "save the scan as a JPG or PNG picture and upload it again",
    ))
}

fn reject(
    code: &'static str,
    problem_zh: impl Into<String>,
    action_zh: impl Into<String>,
    problem_en: impl Into<String>,
    action_en: impl Into<String>,
) -> Rejection {
    Rejection::field("upload", "上传图片", code)
        .zh(problem_zh, action_zh)
        .en(problem_en, action_en)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{DynamicImage, GrayImage, RgbImage};

    fn encode(picture: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        picture
            .write_to(&mut out, format)
            .expect("encode test image");
        out.into_inner()
    }

    fn small(format: ImageFormat) -> Vec<u8> {
        let picture = RgbImage::from_fn(10, 10, |x, y| {
            ::image::Rgb([x as u8 * 20, y as u8 * 20, 128])
        });
        encode(&DynamicImage::ImageRgb8(picture), format)
    }

    /// A 256×256 picture of noise, so that the second half of any encoding
    /// carries real data.
    fn noisy(format: ImageFormat) -> Vec<u8> {
        let mut state: u32 = 0x1234_5678;
        let picture = RgbImage::from_fn(256, 256, |_, _| {
            // A xorshift generator: deterministic noise without a dependency.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let [a, b, c, _] = state.to_le_bytes();
            ::image::Rgb([a, b, c])
        });
        encode(&DynamicImage::ImageRgb8(picture), format)
    }

    #[test]
    fn small_pictures_of_every_format_pass() {
        let cases = [
            ("scan.png", ImageFormat::Png, ImageKind::Png),
            ("scan.jpg", ImageFormat::Jpeg, ImageKind::Jpeg),
            ("SCAN.JPEG", ImageFormat::Jpeg, ImageKind::Jpeg),
            ("scan.gif", ImageFormat::Gif, ImageKind::Gif),
            ("C:\\扫描\\营业执照.Bmp", ImageFormat::Bmp, ImageKind::Bmp),
        ];
        for (name, format, kind) in cases {
            let bytes = small(format);
            let info = upload(name, &bytes).unwrap_or_else(|r| panic!("{name}: {r}"));
            assert_eq!(
                info,
                ImageInfo {
                    kind,
                    width: 10,
                    height: 10,
                    bytes: bytes.len()
                }
            );
        }
    }

    #[test]
    fn png_named_jpg_passes_as_png() {
        let info = upload("licence.jpg", &small(ImageFormat::Png)).expect("png content");
        assert_eq!(info.kind, ImageKind::Png);
        let json = serde_json::to_value(&info).expect("serialize");
        assert_eq!(json["kind"], "png");
    }

    #[test]
    fn text_named_jpg_is_not_an_image() {
        let r = upload("licence.jpg", "这不是图片".as_bytes()).expect_err("text");
        assert_eq!(
            (r.code, r.field.as_str()),
            ("not_an_image", "upload"),
            "{r}"
        );
    }

    #[test]
    fn truncated_pictures_are_undecodable() {
        for (name, format) in [
            ("scan.jpg", ImageFormat::Jpeg),
            ("scan.png", ImageFormat::Png),
            ("scan.gif", ImageFormat::Gif),
            ("scan.bmp", ImageFormat::Bmp),
        ] {
            let whole = noisy(format);
            assert!(upload(name, &whole).is_ok(), "{name} whole");
            let r = upload(name, &whole[..whole.len() / 2]).expect_err(name);
            assert_eq!(r.code, "undecodable", "{name}: {r}");
        }
    }

    #[test]
    fn jpeg_end_walk_skips_an_embedded_thumbnail() {
        let jpeg = small(ImageFormat::Jpeg);
        // An APP1 segment holding a complete tiny JPEG, as Exif thumbnails do.
        let thumbnail = [0xFF, 0xD8, 0xFF, 0xD9];
        let mut with_thumb = jpeg[..2].to_vec();
        with_thumb.extend_from_slice(&[0xFF, 0xE1, 0x00, 2 + thumbnail.len() as u8]);
        with_thumb.extend_from_slice(&thumbnail);
        with_thumb.extend_from_slice(&jpeg[2..]);
        assert!(jpeg_reaches_end(&with_thumb));
        assert!(!jpeg_reaches_end(&with_thumb[..with_thumb.len() - 2]));
        assert!(upload("scan.jpg", &with_thumb).is_ok());
    }

    #[test]
    fn progressive_style_multiple_scans_reach_the_end() {
        // Two scans with a table segment between them, then the end marker.
        let bytes = [
            0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF,
            0xC4, 0x00, 0x03, 0x00, 0xFF, 0xDA, 0x00, 0x02, 0x78, 0xFF, 0xD9,
        ];
        assert!(jpeg_reaches_end(&bytes));
        assert!(!jpeg_reaches_end(&bytes[..bytes.len() - 1]));
    }

    #[test]
    fn ten_megabytes_is_too_large() {
        let mut bytes = small(ImageFormat::Png);
        bytes.resize(10 * 1024 * 1024, 0xA5);
        let r = upload("scan.png", &bytes).expect_err("10 MB");
        assert_eq!(r.code, "too_large", "{r}");
        assert!(r.problem_zh.contains("10.0 MB"), "{r}");
        assert!(r.problem_zh.contains("3 MB（3072 KB）"), "{r}");
    }

    #[test]
    fn size_limit_is_inclusive_and_rounds_up() {
        let mut bytes = small(ImageFormat::Png);
        bytes.resize(MAX_UPLOAD_BYTES, 0);
        // Trailing bytes after the PNG end are ignored by the decoder.
        assert!(upload("scan.png", &bytes).is_ok());
        bytes.push(0);
        let r = upload("scan.png", &bytes).expect_err("one byte over");
        assert!(r.problem_zh.contains("3.1 MB"), "{r}");
    }

    #[test]
    fn wrong_extensions_are_named() {
        let png = small(ImageFormat::Png);
        for (name, shown) in [
            ("scan.pdf", ".pdf"),
            ("scan.TIFF", ".TIFF"),
            ("scan.jpg.exe", ".exe"),
        ] {
            let r = upload(name, &png).expect_err(name);
            assert_eq!(r.code, "extension", "{r}");
            assert!(r.problem_zh.contains(shown), "{r}");
            assert!(r.problem_zh.contains("jpg、jpeg、bmp、gif、png"), "{r}");
        }
        let r = upload("scan", &png).expect_err("no extension");
        assert!(r.problem_zh.contains("没有扩展名"), "{r}");
    }

    #[test]
    fn empty_file_is_empty() {
        assert_eq!(upload("scan.png", &[]).map_err(|r| r.code), Err("empty"));
    }

    #[test]
    fn oversized_dimensions_are_refused() {
        let wide = DynamicImage::ImageLuma8(GrayImage::new(MAX_SIDE + 1, 1));
        let r = upload("wide.png", &encode(&wide, ImageFormat::Png)).expect_err("too wide");
        assert_eq!(r.code, "dimensions", "{r}");
        assert!(r.problem_zh.contains("长边不超过 12000 像素"), "{r}");
    }

    #[test]
    fn dimension_limits_fit_scans_and_photos() {
        let fits = [
            (2480, 3508), // A4 at 300 dpi
            (3508, 2480),
            (4960, 7016), // A4 at 600 dpi
            (3508, 4961), // A3 at 300 dpi
            (4000, 3000), // 12 MP phone photo
            (8000, 6000), // 48 MP phone photo
            (8064, 6048),
            (12_000, 3000), // a panorama
            (MAX_SIDE, 4166),
            (1, 1),
        ];
        for (w, h) in fits {
            assert!(check_dimensions(w, h).is_ok(), "{w}×{h}");
        }
        let too_big = [
            (MAX_SIDE + 1, 1),
            (1, MAX_SIDE + 1),
            (7072, 7072), // 50.01 MP
            (10_000, 5001),
            (7016, 9921), // A3 at 600 dpi: 69.6 MP
            (19_000, 19_000),
            (u32::MAX, u32::MAX),
        ];
        for (w, h) in too_big {
            let r = check_dimensions(w, h).expect_err("too big");
            assert_eq!(r.code, "dimensions", "{w}×{h}");
            assert!(r.problem_zh.contains(&format!("{w}×{h}")), "{r}");
        }
        // Just over the limit never shows as 50.0.
        let r = check_dimensions(7072, 7072).expect_err("50.01 MP");
        assert!(r.problem_en.contains("(50.1 megapixels)"), "{r}");
    }

    /// A 9000×9000 blank PNG is a small file (well under 3 MB) that claims
    /// 81 megapixels: it is refused from its header, before decoding.
    #[test]
    fn many_pixels_in_a_small_file_are_refused_from_the_header() {
        let blank = DynamicImage::ImageLuma8(GrayImage::new(9000, 9000));
        let png = encode(&blank, ImageFormat::Png);
        assert!(png.len() < MAX_UPLOAD_BYTES / 4, "{} bytes", png.len());
        let r = upload("blank.png", &png).expect_err("81 MP");
        assert_eq!((r.code, r.field.as_str()), ("dimensions", "upload"), "{r}");
        assert_eq!(r.field_zh, "上传图片");
        assert!(
            r.problem_zh.contains("9000×9000 像素（81.0 百万像素）"),
            "{r}"
        );
        assert!(
            r.problem_zh
                .contains("总像素不超过 5000 万（50 百万像素），长边不超过 12000 像素"),
            "{r}"
        );
        assert!(r.action_zh.contains("300 dpi"), "{r}");
        assert!(
            r.problem_en
                .contains("over the limit of 50 megapixels and 12000 pixels on the longest side"),
            "{r}"
        );
        assert!(r.action_en.contains("300 dpi"), "{r}");
        // Half the file still has the header but not the pixels: refused for
        // its size, not as damaged, so no pixel was decoded to decide.
        let r = upload("blank.png", &png[..png.len() / 2]).expect_err("header only");
        assert_eq!(r.code, "dimensions", "{r}");
    }

    #[test]
    fn a_12_megapixel_photo_passes_decoded_once() {
        let photo =
            DynamicImage::ImageLuma8(GrayImage::from_pixel(4000, 3000, ::image::Luma([200])));
        let png = encode(&photo, ImageFormat::Png);
        let decoded = decoded_upload("photo.png", &png).expect("12 MP");
        assert_eq!(
            decoded.info,
            ImageInfo {
                kind: ImageKind::Png,
                width: 4000,
                height: 3000,
                bytes: png.len()
            }
        );
        assert_eq!(decoded.image, photo);
        assert_eq!(decoded.orientation, Orientation::NoTransforms);
        assert_eq!(upload("photo.png", &png), Ok(decoded.info));
    }
}
