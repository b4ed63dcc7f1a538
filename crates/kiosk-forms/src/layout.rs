//! Fitting a value into its box: first shrink, then wrap, and if it still
//! does not fit, cut it with an ellipsis. Text never leaves its box.

/// Line height as a multiple of the font size.
pub const LINE_HEIGHT: f32 = 1.2;

/// Anything that can measure text (the real font, or a fake in tests).
pub trait Measure {
    fn width(&self, text: &str, size: f32) -> f32;
}

impl Measure for crate::CjkFont {
    fn width(&self, text: &str, size: f32) -> f32 {
        self.text_width(text, size)
    }
}

/// A value laid out in its box.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub size: f32,
    pub lines: Vec<String>,
    /// Part of the value did not fit even at the smallest size.
    pub truncated: bool,
}

/// Fits `text` into a `width` × `height` box (points), starting at `size`
/// and going down to `min_size` in half points. With `wrap`, the text may
/// take several lines.
pub fn fit(
    m: &impl Measure,
    text: &str,
    width: f32,
    height: f32,
    size: f32,
    min_size: f32,
    wrap: bool,
) -> Fitted {
    let text = text.trim();
    let min_size = min_size.min(size);
    let sizes = || {
        let steps = ((size - min_size) / 0.5).round() as usize;
        (0..=steps).map(move |i| size - i as f32 * 0.5)
    };
    if text.is_empty() {
        return Fitted {
            size,
            lines: vec![],
            truncated: false,
        };
    }
    // One line, as large as fits.
    for s in sizes() {
        if s * LINE_HEIGHT <= height + 0.01 && m.width(text, s) <= width {
            return Fitted {
                size: s,
                lines: vec![text.to_string()],
                truncated: false,
            };
        }
    }
    if wrap {
        for s in sizes() {
            let lines = wrap_lines(m, text, width, s);
            if lines.len() as f32 * s * LINE_HEIGHT <= height + 0.01 {
                return Fitted {
                    size: s,
                    lines,
                    truncated: false,
                };
            }
        }
    }
    // Still too long: as many lines as the box holds at the smallest size
    // (at least one, at a size the height allows), the last one cut.
    let s = min_size.min(height / LINE_HEIGHT).max(1.0);
    let room = ((height / (s * LINE_HEIGHT)).floor() as usize).max(1);
    let mut lines = if wrap {
        wrap_lines(m, text, width, s)
    } else {
        vec![text.to_string()]
    };
    lines.truncate(room);
    let last = lines.pop().unwrap_or_default();
    lines.push(ellipsize(m, &last, width, s));
    Fitted {
        size: s,
        lines,
        truncated: true,
    }
}

/// Cuts `line` so that it and a trailing "…" fit `width`.
fn ellipsize(m: &impl Measure, line: &str, width: f32, size: f32) -> String {
    let mut out: String = line.to_string();
    loop {
        let candidate = format!("{out}…");
        if m.width(&candidate, size) <= width || out.is_empty() {
            return candidate;
        }
        out.pop();
    }
}

/// Greedy line breaking: a Chinese character may end a line anywhere; a
/// run of Latin letters or digits stays whole unless it alone is wider
/// than the box.
pub fn wrap_lines(m: &impl Measure, text: &str, width: f32, size: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut line_w = 0.0;
        for token in tokens(paragraph) {
            let token_w = m.width(&token, size);
            if line_w + token_w <= width {
                line.push_str(&token);
                line_w += token_w;
                continue;
            }
            if !line.trim().is_empty() {
                lines.push(line.trim_end().to_string());
            }
            line = String::new();
            line_w = 0.0;
            let token = token.trim_start();
            let token_w = m.width(token, size);
            if token_w <= width {
                line.push_str(token);
                line_w = token_w;
            } else {
                // A word longer than the line: break it between characters.
                for c in token.chars() {
                    let mut buf = [0u8; 4];
                    let c_w = m.width(c.encode_utf8(&mut buf), size);
                    if line_w + c_w > width && !line.is_empty() {
                        lines.push(std::mem::take(&mut line));
                        line_w = 0.0;
                    }
                    line.push(c);
                    line_w += c_w;
                }
            }
        }
        if !line.trim().is_empty() || lines.is_empty() {
            lines.push(line.trim_end().to_string());
        }
    }
    lines
}

/// Splits into break opportunities: spaces (kept with the word after them),
/// runs of ASCII letters, digits and punctuation, and single other characters.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_ascii_graphic() {
            word.push(c);
        } else {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if c == ' ' {
                word.push(c);
            } else {
                out.push(c.to_string());
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character is one em wide, whatever it is.
    struct Mono;
    impl Measure for Mono {
        fn width(&self, text: &str, size: f32) -> f32 {
            text.chars().count() as f32 * size
        }
    }

    #[test]
    fn short_text_keeps_its_size() {
        let f = fit(&Mono, "重庆示例", 100.0, 20.0, 10.0, 6.0, true);
        assert_eq!((f.size, f.lines.len(), f.truncated), (10.0, 1, false));
    }

    #[test]
    fn longer_text_shrinks_before_it_wraps() {
        // 12 characters at 10 pt need 120 pt; at 8 pt 96 pt fits 100.
        let f = fit(
            &Mono,
            "一二三四五六七八九十一二",
            100.0,
            12.0,
            10.0,
            6.0,
            true,
        );
        assert_eq!((f.size, f.lines.len()), (8.0, 1));
    }

    #[test]
    fn much_longer_text_wraps_within_the_box() {
        let text = "重庆市渝北区金开大道一百六十号示例大厦二十八楼二八零八室";
        let f = fit(&Mono, text, 100.0, 40.0, 10.0, 7.0, true);
        assert!(f.lines.len() > 1, "{f:?}");
        assert!(!f.truncated);
        assert_eq!(f.lines.concat(), text);
        for l in &f.lines {
            assert!(Mono.width(l, f.size) <= 100.0, "{l}");
        }
        assert!(f.lines.len() as f32 * f.size * LINE_HEIGHT <= 40.0);
    }

    #[test]
    fn text_that_cannot_fit_is_cut_with_an_ellipsis_inside_the_box() {
        let text = "长".repeat(200);
        let f = fit(&Mono, &text, 50.0, 20.0, 10.0, 6.0, true);
        assert!(f.truncated);
        assert!(f.lines.last().unwrap().ends_with('…'));
        for l in &f.lines {
            assert!(Mono.width(l, f.size) <= 50.0, "{l}");
        }
        assert!(f.lines.len() as f32 * f.size * LINE_HEIGHT <= 20.0 + 0.01);
    }

    #[test]
    fn latin_words_are_not_split_when_they_fit() {
        let lines = wrap_lines(&Mono, "abc def ghi", 7.0, 1.0);
        assert_eq!(lines, vec!["abc def", "ghi"]);
        let lines = wrap_lines(&Mono, "https://example.com.cn/a", 10.0, 1.0);
        assert_eq!(lines.concat(), "https://example.com.cn/a");
        assert!(lines.iter().all(|l| l.chars().count() <= 10));
    }

    #[test]
    fn no_wrap_box_shrinks_then_cuts() {
        let f = fit(&Mono, &"x".repeat(40), 20.0, 12.0, 10.0, 6.0, false);
        assert_eq!(f.lines.len(), 1);
        assert!(f.truncated);
    }
}
