//! Synthetic scans for tests, benchmarks and the demo: paper with noise,
//! black print, blue handwriting, red seals and stray red marks. No real
//! document or seal is ever needed.

use image::{Rgb, RgbImage};

/// Where the seal was drawn, to check an extraction against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SealDrawn {
    pub cx: f32,
    pub cy: f32,
    pub radius: f32,
}

/// A small deterministic generator (xorshift), so scans repeat exactly.
pub struct Noise(u32);

impl Noise {
    pub fn new(seed: u32) -> Noise {
        Noise(seed.max(1))
    }
    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    /// Uniform in [-amp, amp].
    pub fn jitter(&mut self, amp: i32) -> i32 {
        (self.next_u32() % (2 * amp as u32 + 1)) as i32 - amp
    }
}

const RED: [u8; 3] = [205, 38, 45];
const BLUE: [u8; 3] = [30, 50, 170];
const BLACK: [u8; 3] = [35, 35, 35];

fn blend(img: &mut RgbImage, x: i32, y: i32, c: [u8; 3]) {
    if x < 0 || y < 0 || x >= img.width() as i32 || y >= img.height() as i32 {
        return;
    }
    let p = img.get_pixel_mut(x as u32, y as u32);
    // Inks darken what is under them, as on paper; painting twice changes
    // nothing, so overlapping pen dabs do not build up.
    for (channel, ink) in p.0.iter_mut().zip(c) {
        *channel = (*channel).min(ink);
    }
}

fn disc(img: &mut RgbImage, x: f32, y: f32, r: f32, c: [u8; 3]) {
    let ri = r.ceil() as i32;
    for dy in -ri..=ri {
        for dx in -ri..=ri {
            if (dx * dx + dy * dy) as f32 <= r * r {
                blend(img, x as i32 + dx, y as i32 + dy, c);
            }
        }
    }
}

/// A stroke through `points` with pen width `w`.
pub fn stroke(img: &mut RgbImage, points: &[(f32, f32)], w: f32, c: [u8; 3]) {
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        let n = ((x1 - x0).hypot(y1 - y0) / (w / 3.0).max(0.5))
            .ceil()
            .max(1.0) as usize;
        for i in 0..=n {
            let t = i as f32 / n as f32;
            disc(img, x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, w / 2.0, c);
        }
    }
}

/// Off-white paper with grain.
pub fn paper(w: u32, h: u32, noise: &mut Noise) -> RgbImage {
    RgbImage::from_fn(w, h, |_, _| {
        let n = noise.jitter(10);
        let v = |base: i32| (base + n).clamp(0, 255) as u8;
        Rgb([v(246), v(243), v(235)])
    })
}

/// Lines of black "print" (blocks the size of characters).
pub fn print_lines(img: &mut RgbImage, top: f32, lines: u32, noise: &mut Noise) {
    let s = img.width() as f32 / 2480.0 * 40.0; // ~4 mm glyphs at 300 dpi
    for l in 0..lines {
        let y = top + l as f32 * s * 2.0;
        let mut x = img.width() as f32 * 0.1;
        while x < img.width() as f32 * 0.85 {
            if !noise.next_u32().is_multiple_of(7) {
                for k in 0..4 {
                    let gx = x + (noise.next_u32() % (s as u32).max(1)) as f32;
                    stroke(
                        img,
                        &[(gx, y), (gx + s * 0.3, y + s * 0.9 * (k as f32 / 4.0))],
                        s / 8.0,
                        BLACK,
                    );
                }
            }
            x += s * 1.2;
        }
    }
}

/// A round company seal: rim, star, and a ring of "characters".
pub fn seal(img: &mut RgbImage, cx: f32, cy: f32, radius: f32, noise: &mut Noise) -> SealDrawn {
    let rim = radius * 0.06;
    let steps = (radius * 8.0) as usize;
    let ring: Vec<(f32, f32)> = (0..=steps)
        .map(|i| {
            let a = i as f32 / steps as f32 * std::f32::consts::TAU;
            (
                cx + (radius - rim / 2.0) * a.cos(),
                cy + (radius - rim / 2.0) * a.sin(),
            )
        })
        .collect();
    stroke(img, &ring, rim, RED);
    // Five-pointed star in the middle.
    let star: Vec<(f32, f32)> = (0..=10)
        .map(|i| {
            let a = -std::f32::consts::FRAC_PI_2 + i as f32 * std::f32::consts::PI / 5.0;
            let r = if i % 2 == 0 {
                radius * 0.28
            } else {
                radius * 0.11
            };
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    stroke(img, &star, radius * 0.05, RED);
    // Characters along the upper arc: small crossed strokes.
    for k in 0..12 {
        let a = std::f32::consts::PI * (1.1 + 0.8 * k as f32 / 11.0);
        let (x, y) = (cx + radius * 0.72 * a.cos(), cy + radius * 0.72 * a.sin());
        let g = radius * 0.09;
        stroke(img, &[(x - g, y - g), (x + g, y + g)], radius * 0.03, RED);
        stroke(
            img,
            &[(x - g, y + g), (x + g, y - g + noise.jitter(2) as f32)],
            radius * 0.03,
            RED,
        );
    }
    // A line of characters under the star.
    stroke(
        img,
        &[
            (cx - radius * 0.35, cy + radius * 0.45),
            (cx + radius * 0.35, cy + radius * 0.45),
        ],
        radius * 0.04,
        RED,
    );
    SealDrawn { cx, cy, radius }
}

/// A handwritten signature in blue ink.
pub fn signature(img: &mut RgbImage, x: f32, y: f32, width: f32, noise: &mut Noise) {
    let pts: Vec<(f32, f32)> = (0..=60)
        .map(|i| {
            let t = i as f32 / 60.0;
            (
                x + width * t,
                y + (t * 25.0).sin() * width * 0.06 + noise.jitter(2) as f32,
            )
        })
        .collect();
    stroke(img, &pts, (width / 120.0).max(2.0), BLUE);
}

/// A red tick mark (a check by a pen).
pub fn tick(img: &mut RgbImage, x: f32, y: f32, size: f32) {
    stroke(
        img,
        &[
            (x, y),
            (x + size * 0.35, y + size * 0.4),
            (x + size, y - size * 0.5),
        ],
        (size / 12.0).max(2.0),
        RED,
    );
}

/// The stamped seal sample sheet as scanned: print at the top, a seal
/// with a blue signature across it, a red tick far from it.
pub fn stamped_sheet(w: u32, h: u32, seed: u32) -> (RgbImage, SealDrawn) {
    let mut n = Noise::new(seed);
    let mut img = paper(w, h, &mut n);
    print_lines(&mut img, h as f32 * 0.08, 6, &mut n);
    let radius = w as f32 * 0.095; // 40 mm seal on a 210 mm page
    let drawn = seal(&mut img, w as f32 * 0.32, h as f32 * 0.45, radius, &mut n);
    signature(
        &mut img,
        w as f32 * 0.2,
        h as f32 * 0.47,
        w as f32 * 0.3,
        &mut n,
    );
    signature(
        &mut img,
        w as f32 * 0.55,
        h as f32 * 0.72,
        w as f32 * 0.3,
        &mut n,
    );
    tick(&mut img, w as f32 * 0.75, h as f32 * 0.3, w as f32 * 0.04);
    (img, drawn)
}

/// A page with print, a signature and a tick, but no seal.
pub fn unsealed_page(w: u32, h: u32, seed: u32) -> RgbImage {
    let mut n = Noise::new(seed);
    let mut img = paper(w, h, &mut n);
    print_lines(&mut img, h as f32 * 0.08, 10, &mut n);
    signature(
        &mut img,
        w as f32 * 0.5,
        h as f32 * 0.75,
        w as f32 * 0.3,
        &mut n,
    );
    tick(&mut img, w as f32 * 0.2, h as f32 * 0.6, w as f32 * 0.04);
    img
}
