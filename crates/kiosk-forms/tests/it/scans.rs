use std::io::Cursor;
use std::time::Instant;

use image::{DynamicImage, ImageEncoder, ImageFormat, RgbImage};
use kiosk_forms::synthetic::{stamped_sheet, unsealed_page};
use kiosk_forms::{scan, seal};

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    out
}

#[test]
fn seal_is_cut_out_without_signature_print_or_tick() {
    let (sheet, drawn) = stamped_sheet(1240, 1754, 7);
    let bytes = jpeg(&sheet, 90);
    let (img, _) = scan::decode_upright(&bytes).unwrap();
    let out = seal::extract(&img).unwrap().expect("a seal");
    std::fs::write(std::env::temp_dir().join("kiosk-forms-seal.png"), &out.png).unwrap();
    // Found where it was drawn: the box hugs the circle within a few pixels.
    let f = &out.found_at;
    let slack = drawn.radius * 0.08;
    assert!(
        (f.x as f32 - (drawn.cx - drawn.radius)).abs() < slack,
        "{f:?} {drawn:?}"
    );
    assert!(
        (f.y as f32 - (drawn.cy - drawn.radius)).abs() < slack,
        "{f:?} {drawn:?}"
    );
    assert!(
        (f.width as f32 - 2.0 * drawn.radius).abs() < 2.0 * slack,
        "{f:?}"
    );
    assert!(
        (f.height as f32 - 2.0 * drawn.radius).abs() < 2.0 * slack,
        "{f:?}"
    );
    let png = image::load_from_memory_with_format(&out.png, ImageFormat::Png)
        .unwrap()
        .to_rgba8();
    // Transparent around; everything opaque lies inside the seal's circle.
    let mut opaque = 0;
    for (x, y, p) in png.enumerate_pixels() {
        if p.0[3] > 0 {
            opaque += 1;
            let (sx, sy) = ((f.x + x) as f32, (f.y + y) as f32);
            let d = (sx - drawn.cx).hypot(sy - drawn.cy);
            assert!(
                d <= drawn.radius + 4.0,
                "ink outside the seal at ({sx}, {sy})"
            );
            assert!(p.0[0] > 150 && p.0[2] < 80, "not red: {p:?}");
        }
    }
    assert!(opaque > 2000, "too little ink kept: {opaque}");
    assert_eq!(png.get_pixel(0, 0).0[3], 0, "corner transparent");
    // The blue signature crosses the seal's middle; its pixels are gone.
    let row = (drawn.cy + drawn.radius * 0.2) as u32 - f.y;
    let blue_kept = (0..png.width())
        .filter(|&x| {
            let p = sheet.get_pixel(f.x + x, f.y + row);
            i32::from(p.0[2]) > i32::from(p.0[0]) + 40 && png.get_pixel(x, row).0[3] > 0
        })
        .count();
    assert_eq!(blue_kept, 0);
}

#[test]
fn page_without_seal_has_none() {
    let page = unsealed_page(1240, 1754, 3);
    let img = DynamicImage::ImageRgb8(page.clone());
    assert!(seal::extract(&img).unwrap().is_none());
    let p = scan::prepare(&jpeg(&page, 85)).unwrap();
    assert!(p.seal.is_none());
    let (sheet, _) = stamped_sheet(1240, 1754, 9);
    assert!(scan::prepare(&jpeg(&sheet, 85)).unwrap().seal.is_some());
}

#[test]
fn rotated_photo_is_turned_upright_downscaled_and_thumbnailed() {
    // A portrait page photographed sideways: stored landscape, Exif says
    // "rotate 90° clockwise" (orientation 6).
    let (sheet, _) = stamped_sheet(1500, 2100, 5);
    let sideways = image::imageops::rotate270(&sheet);
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85);
    enc.set_exif_metadata(exif_orientation(6)).unwrap();
    enc.write_image(
        sideways.as_raw(),
        sideways.width(),
        sideways.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    let p = scan::prepare(&bytes).unwrap();
    assert!(p.reoriented);
    assert_eq!((p.original_width, p.original_height), (1500, 2100));
    assert!(
        p.height > p.width,
        "upright portrait: {}x{}",
        p.width,
        p.height
    );
    assert_eq!(p.height, scan::STORE_SIDE);
    let thumb = image::load_from_memory(&p.thumbnail).unwrap();
    assert_eq!(thumb.height(), scan::THUMB_SIDE);
    assert!(
        p.seal.is_some(),
        "the seal is found on the turned photo too"
    );
    let stored = image::load_from_memory(&p.image).unwrap();
    assert_eq!((stored.width(), stored.height()), (p.width, p.height));
}

/// A minimal Exif block (big-endian TIFF) with only an orientation tag.
fn exif_orientation(o: u16) -> Vec<u8> {
    let mut v = b"MM\0\x2a\0\0\0\x08".to_vec();
    v.extend_from_slice(&1u16.to_be_bytes()); // one entry
    v.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    v.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(&o.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    v
}

#[test]
fn seal_extraction_from_a_12_megapixel_jpeg_is_fast() {
    let (sheet, _) = stamped_sheet(3000, 4000, 11);
    let bytes = jpeg(&sheet, 85);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (img, _) = scan::decode_upright(&bytes).unwrap();
        let out = seal::extract(&img).unwrap();
        times.push(t.elapsed());
        assert!(out.is_some());
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!("seal extraction 3000x4000 JPEG (decode included): median {median:?}, all {times:?}");
    if !cfg!(debug_assertions) {
        assert!(median.as_millis() <= 250, "median {median:?}");
    }
}

#[test]
fn png_round_trip_of_cursor_helper() {
    // Guards the helper above: the JPEG we make decodes to the same size.
    let img = RgbImage::new(8, 8);
    let d = image::load_from_memory(&jpeg(&img, 90)).unwrap();
    assert_eq!((d.width(), d.height()), (8, 8));
    let _ = Cursor::new(Vec::<u8>::new());
}
