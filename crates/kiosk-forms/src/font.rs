//! The CJK font every document is set in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use printpdf::ParsedFont;

use crate::FormsError;

/// Noto Sans CJK from Debian's fonts-noto-cjk; face 2 of the collection is
/// Simplified Chinese (SC).
pub const SYSTEM_FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
pub const SYSTEM_FONT_INDEX: usize = 2;

/// A parsed font face and what the layout needs to measure text with it.
pub struct CjkFont {
    pub(crate) parsed: ParsedFont,
    units_per_em: f32,
    path: PathBuf,
    /// Advance per character in ems; a cmap lookup costs more than a page.
    widths: Mutex<HashMap<char, f32>>,
}

impl std::fmt::Debug for CjkFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CjkFont({})", self.path.display())
    }
}

impl CjkFont {
    /// Parses face `index` of the font file at `path`.
    pub fn load(path: &Path, index: usize) -> Result<CjkFont, FormsError> {
        let bytes = std::fs::read(path).map_err(|e| FormsError::Font {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
        Self::from_bytes(&bytes, index, path)
    }

    fn from_bytes(bytes: &[u8], index: usize, path: &Path) -> Result<CjkFont, FormsError> {
        let bad = |problem: &str| FormsError::Font {
            path: path.display().to_string(),
            problem: problem.to_string(),
        };
        let parsed = ParsedFont::from_bytes(bytes, index, &mut Vec::new())
            .ok_or_else(|| bad("not a font file, or no such face in the collection"))?;
        if parsed.lookup_glyph_index('中' as u32).is_none() {
            return Err(bad("the face has no Chinese characters"));
        }
        let upem = parsed.pdf_font_metrics.units_per_em;
        Ok(CjkFont {
            parsed,
            units_per_em: if upem == 0 { 1000.0 } else { f32::from(upem) },
            path: path.to_path_buf(),
            widths: Mutex::new(HashMap::new()),
        })
    }

    /// The system font, parsed once per process: parsing a 20 MB collection
    /// costs far more than a page.
    pub fn system() -> Result<Arc<CjkFont>, FormsError> {
        static FONT: OnceLock<Result<Arc<CjkFont>, String>> = OnceLock::new();
        FONT.get_or_init(|| {
            CjkFont::load(Path::new(SYSTEM_FONT), SYSTEM_FONT_INDEX)
                .map(Arc::new)
                .map_err(|e| match e {
                    FormsError::Font { problem, .. } => problem,
                    other => other.to_string(),
                })
        })
        .clone()
        .map_err(|problem| FormsError::Font {
            path: SYSTEM_FONT.to_string(),
            problem,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the font draws this character (else it would print as a box).
    pub fn has_glyph(&self, c: char) -> bool {
        c.is_whitespace() || self.parsed.lookup_glyph_index(c as u32).is_some()
    }

    /// Advance width of one character at `size` points.
    pub fn char_width(&self, c: char, size: f32) -> f32 {
        let mut widths = self.widths.lock().unwrap_or_else(|e| e.into_inner());
        let em = *widths.entry(c).or_insert_with(|| {
            match self.parsed.lookup_glyph_index(c as u32) {
                Some(g) => f32::from(self.parsed.get_horizontal_advance(g)) / self.units_per_em,
                // An unknown character still takes room; a full em is the safe guess.
                None => 1.0,
            }
        });
        em * size
    }

    /// Width of `text` at `size` points.
    pub fn text_width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.char_width(c, size)).sum()
    }
}
