//! Target `scan`: the upload check for scans and photos,
//! `kiosk_domain::validate::decoded_upload`, on the input as the file's
//! content (the name says PNG; the content decides the format).
//!
//! What must hold: no panic and no allocation beyond the fuzzer's memory
//! limit; an accepted picture is within the documented size limits and
//! reports the size it decoded to.

use kiosk_domain::validate::{decoded_upload, MAX_PIXELS, MAX_SIDE, MAX_UPLOAD_BYTES};

pub fn run(data: &[u8]) {
    match decoded_upload("scan.png", data) {
        Ok(d) => {
            let (w, h) = (d.image.width(), d.image.height());
            assert_eq!((d.info.width, d.info.height), (w, h));
            assert!(w.max(h) <= MAX_SIDE, "{w}x{h}");
            assert!(u64::from(w) * u64::from(h) <= MAX_PIXELS, "{w}x{h}");
            assert_eq!(d.info.bytes, data.len());
            assert!(!data.is_empty() && data.len() <= MAX_UPLOAD_BYTES);
        }
        Err(r) => {
            assert_eq!(r.field, "upload", "{r:?}");
            crate::check_rejection(&r);
        }
    }
}
