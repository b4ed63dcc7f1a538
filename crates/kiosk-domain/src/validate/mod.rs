//! Validators for what applicants type or upload at the counter.
//!
//! Each validator takes raw input and returns either the canonical value or a
//! [`crate::Rejection`] that names the field, says what is wrong and what to
//! do. None of them does I/O or reads the clock; a date that matters ("today")
//! comes in as a parameter.
//!
//! Codes and identity numbers go through [`normalise`] first. Anything it does
//! not cover is refused, never silently repaired.

mod contact;
mod image;
mod resident_id;
mod uscc;

pub use self::contact::{email, mobile, passport, phone, PHONE_CHARACTERS};
pub use self::image::{
    decoded_upload, upload, DecodedUpload, ImageInfo, ImageKind, MAX_PIXELS, MAX_SIDE,
    MAX_UPLOAD_BYTES,
};
pub use self::resident_id::{
    resident_id, resident_id_check_char, ResidentId, RESIDENT_ID_CHARACTERS,
};
pub use self::uscc::{uscc, uscc_check_char, uscc_in_licence_code, Uscc, USCC_ALPHABET};

/// The normalisation applied to codes and numbers before they are checked.
///
/// In this order, and nothing else:
/// 1. leading and trailing whitespace is trimmed (as [`str::trim`]);
/// 2. inner ASCII spaces and ideographic spaces (U+3000) are removed;
/// 3. full-width digits and letters (U+FF10..=U+FF5A, e.g. `１`, `Ａ`, `ａ`)
///    become their ASCII forms; full-width punctuation is left alone;
/// 4. ASCII letters are upper-cased.
///
/// Chinese input methods produce full-width characters and people copy codes
/// with spaces, so these are safe to undo; other characters stay and are
/// reported by the validator.
pub fn normalise(input: &str) -> String {
    input
        .trim()
        .chars()
        .filter(|c| *c != ' ' && *c != '\u{3000}')
        .map(fullwidth_to_ascii)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Maps a full-width digit or letter to ASCII and leaves any other character.
pub(crate) fn fullwidth_to_ascii(c: char) -> char {
    if ('\u{FF10}'..='\u{FF5A}').contains(&c) {
        let ascii = char::from_u32(c as u32 - 0xFEE0).filter(char::is_ascii_alphanumeric);
        if let Some(a) = ascii {
            return a;
        }
    }
    c
}

/// A character as quoted in a Chinese message. Invisible characters are
/// spelled out, and other symbols get their code point too, because a
/// full-width comma and an ASCII one look alike on the screen.
pub(crate) fn quote_zh(c: char) -> String {
    if c.is_whitespace() || c.is_control() {
        format!("不可见字符 U+{:04X}", c as u32)
    } else if c.is_ascii() || c.is_alphanumeric() {
        format!("“{c}”")
    } else {
        format!("“{c}”（U+{:04X}）", c as u32)
    }
}

/// A character as quoted in an English message, by the same rules.
pub(crate) fn quote_en(c: char) -> String {
    if c.is_whitespace() || c.is_control() {
        format!("invisible character U+{:04X}", c as u32)
    } else if c.is_ascii() || c.is_alphanumeric() {
        format!("'{c}'")
    } else {
        format!("'{c}' (U+{:04X})", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_table() {
        let cases = [
            ("  91350100M000100Y43\n", "91350100M000100Y43"),
            ("9135 0100 M000 100Y 43", "91350100M000100Y43"),
            ("9135\u{3000}0100m000100y43", "91350100M000100Y43"),
            ("９１３５０１００Ｍ０００１００ｙ４３", "91350100M000100Y43"),
            ("11010519491231002x", "11010519491231002X"),
            ("", ""),
            ("\u{3000} \t", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(input), want, "input {input:?}");
        }
    }

    #[test]
    fn normalise_leaves_other_characters_alone() {
        // Inner tabs, hyphens, full-width punctuation and non-ASCII letters are
        // not ours to fix; the validators report them.
        assert_eq!(normalise("1\t2"), "1\t2");
        assert_eq!(normalise("a-b"), "A-B");
        assert_eq!(normalise("１－２"), "1－2");
        assert_eq!(normalise("ＡＢ＠ｃ"), "AB＠C");
        assert_eq!(normalise("ı"), "ı");
    }

    #[test]
    fn quoting_spells_out_invisible_characters() {
        assert_eq!(quote_zh('-'), "“-”");
        assert_eq!(quote_zh('\t'), "不可见字符 U+0009");
        assert_eq!(quote_zh('，'), "“，”（U+FF0C）");
        assert_eq!(quote_en('\u{200B}'), "'\u{200B}' (U+200B)");
        assert_eq!(quote_en('\u{A0}'), "invisible character U+00A0");
    }
}
