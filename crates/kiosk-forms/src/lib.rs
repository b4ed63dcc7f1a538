//! Printed documents and scanned paper: the mechanisms, no business rules.
//!
//! - [`template`]: form layouts as data (TOML), read from `forms/`.
//! - [`layout`] and [`render`]: fit values into their boxes (shrink, then
//!   wrap, never overflow) and draw A4 PDFs with an embedded, subset CJK font.
//! - [`qr`]: the order QR code, drawn as squares, and read back from a picture.
//! - [`ipp`] and [`print`]: a small IPP client for CUPS that submits a PDF and
//!   follows the job to its end.
//! - [`scan`]: scans and photos made fit for storage (orientation, size,
//!   thumbnail) and a look for a red seal imprint.
//! - [`seal`]: the red seal cut out of a stamped sample sheet as a
//!   transparent PNG.
//!
//! What a document says, which fields go where and what a clerk is told
//! lives above this crate (`kiosk-app`); errors here say what failed.

pub mod font;
pub mod ipp;
pub mod layout;
pub mod print;
pub mod qr;
pub mod render;
pub mod scan;
pub mod seal;
pub mod synthetic;
pub mod template;

mod error;

pub use error::FormsError;
pub use font::CjkFont;
pub use render::{render, FormData};
pub use template::Template;
