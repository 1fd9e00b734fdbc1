//! A cheap "could there be a QR code here?" test, run before the cascade spends time on
//! fallback decoders. It never decodes and must stay around a millisecond on a 1280x720 frame.
//!
//! 1. Every fourth row (about 90 rows on frames taller than 480 lines) is binarised against a
//!    local (row-window) mean and searched for 1:1:3:1:1 run sequences — the horizontal
//!    cross-section of a finder pattern — starting dark (an ordinary code) or light (a
//!    light-on-dark code). These counts alone over-report: text, halftones and fabric show
//!    plenty of them, and so does the data area of any code.
//! 2. Each cross-section is checked vertically through its centre (a real finder is square:
//!    the column must show 1:1:3:1:1 too, at a similar size) and the confirmed ones are merged
//!    into finder-pattern candidates (centre, module size, polarity).
//! 3. A QR code has three finder patterns of the same module size at the corners of a right
//!    isosceles triangle whose legs are at least 14 modules long. The frame is "likely" only
//!    when three candidates of one polarity form such a triangle (with slack for perspective
//!    and blur).
//!
//! Weaker evidence — at least three confirmed candidates that do not form the triangle — is
//! reported too ([`Evidence::some`]); the cascade then runs only its first few fallbacks.
//!
//! Measured on `fixtures/qr/frames`: none of the 16 frames without a code showed a triangle or
//! more than one confirmed candidate, although 4 of them showed enough dark-first
//! cross-sections to pass the old count-only gate (≥ 4); of the 28 code frames that need a
//! fallback decoder, 26 showed a triangle and 2 showed three candidates without one.

use super::frame::GreyImage;

/// What the scan saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Dark-light-dark-light-dark 1:1:3:1:1 runs in the scanned rows (a dark-on-light code).
    pub dark_on_light: u32,
    /// The same starting light (a light-on-dark code).
    pub light_on_dark: u32,
    /// Finder-pattern candidates confirmed vertically (both polarities, after merging).
    pub patterns: u32,
    /// Three candidates of one polarity and module size form a plausible QR triangle.
    pub triangle: bool,
}

impl Evidence {
    /// Confirmed candidates that make a frame worth a few fallbacks even without a triangle
    /// (a bent, blurred or partly washed-out code often loses one corner's geometry).
    pub const SOME: u32 = 3;

    /// Worth every fallback: three finder patterns in a QR layout.
    pub fn likely(&self) -> bool {
        self.triangle
    }

    /// Worth the cheap fallbacks only ([`Cascade`](super::Cascade) caps how many run).
    pub fn some(&self) -> bool {
        self.triangle || self.patterns >= Self::SOME
    }
}

/// A confirmed finder-pattern candidate.
#[derive(Clone, Copy, Debug)]
struct Pattern {
    x: f32,
    y: f32,
    module: f32,
    dark: bool,
}

/// At most this many candidates are kept per frame (bounds the triangle search).
const MAX_PATTERNS: usize = 48;

/// Scans `img` for finder patterns.
pub fn scan(img: GreyImage<'_>) -> Evidence {
    let (w, h) = (img.width, img.height);
    let mut ev = Evidence::default();
    if w < 21 || h < 21 {
        return ev;
    }
    let r = (w / 24).max(8);
    let mut prefix = vec![0u32; w + 1];
    let mut runs: Vec<(bool, u32)> = Vec::with_capacity(w / 2);
    let mut patterns: Vec<Pattern> = Vec::new();
    let mut dark: Vec<bool> = Vec::with_capacity(w);
    for y in (0..h).step_by(row_step(h)) {
        let row = &img.data[y * w..(y + 1) * w];
        for (i, &v) in row.iter().enumerate() {
            prefix[i + 1] = prefix[i] + v as u32;
        }
        // dark when below the local mean by a small margin (flat areas stay "light"). The
        // middle of the row, where the window is whole, is a branch-free loop.
        let edge = |x: usize| {
            let (a, b) = (x.saturating_sub(r), (x + r + 1).min(w));
            (row[x] as u32 + 4) * (b - a) as u32 <= prefix[b] - prefix[a]
        };
        let span = (2 * r + 1) as u32;
        let (lo, hi) = (r.min(w), w.saturating_sub(r + 1).max(r.min(w)));
        dark.clear();
        dark.extend((0..lo).map(edge));
        dark.extend(
            row[lo..hi]
                .iter()
                .zip(prefix[lo + r + 1..].iter().zip(&prefix[lo - r..]))
                .map(|(&v, (&b, &a))| (v as u32 + 4) * span <= b - a),
        );
        dark.extend((hi..w).map(edge));
        runs.clear();
        for &d in &dark {
            match runs.last_mut() {
                Some((last, n)) if *last == d => *n += 1,
                _ => runs.push((d, 1)),
            }
        }
        let mut start = 0usize;
        for win in runs.windows(5) {
            if is_finder(win) {
                if win[0].0 {
                    ev.dark_on_light += 1;
                } else {
                    ev.light_on_dark += 1;
                }
                if let Some(p) = confirm(img, row, start, win, y) {
                    merge(&mut patterns, p);
                }
            }
            start += win[0].1 as usize;
        }
    }
    ev.patterns = patterns.len() as u32;
    ev.triangle = [true, false].into_iter().any(|dark| {
        let same: Vec<&Pattern> = patterns.iter().filter(|p| p.dark == dark).collect();
        has_triangle(&same)
    });
    ev
}

/// Rows between scanned rows: every fourth up to 480 lines, then fewer (about 90 rows), so
/// a 720p frame costs little more than a VGA one. A finder pattern's 3-module centre spans a
/// scanned row once its modules are about a third of the step high.
fn row_step(h: usize) -> usize {
    (h / 90).max(4)
}

/// The vertical check of a horizontal cross-section `win` starting at `x0` in row `y`:
/// walks the column through the centre run, classifying pixels as "like the centre" or "like
/// the ring gap" (whichever row mean is nearer), and wants 1:1:3:1:1 again at a similar size.
fn confirm(
    img: GreyImage<'_>,
    row: &[u8],
    x0: usize,
    win: &[(bool, u32)],
    y: usize,
) -> Option<Pattern> {
    let mean = |a: usize, n: u32| -> i32 {
        let s: u32 = row[a..a + n as usize].iter().map(|&v| v as u32).sum();
        (s / n) as i32
    };
    let x1 = x0 + win[0].1 as usize;
    let x2 = x1 + win[1].1 as usize;
    let x3 = x2 + win[2].1 as usize;
    let centre = mean(x2, win[2].1);
    let gap = (mean(x1, win[1].1) + mean(x3, win[3].1)) / 2;
    if (centre - gap).abs() < 16 {
        return None;
    }
    let htotal: u32 = win.iter().map(|r| r.1).sum();
    let cx = x2 + win[2].1 as usize / 2;
    let (w, h) = (img.width, img.height);
    let like_centre = |yy: usize| {
        let v = img.data[yy * w + cx] as i32;
        (v - centre).abs() < (v - gap).abs()
    };
    let limit = 2 * htotal;
    // Runs walking away from row y: [centre part, gap, ring] in one direction.
    let walk = |up: bool| -> [u32; 3] {
        let mut out = [0u32; 3];
        let mut yy = y as isize;
        for (k, want) in [true, false, true].into_iter().enumerate() {
            while (0..h as isize).contains(&yy) && like_centre(yy as usize) == want {
                out[k] += 1;
                if out[k] > limit {
                    return [0; 3];
                }
                yy += if up { -1 } else { 1 };
            }
        }
        out
    };
    let (u, d) = (walk(true), walk(false));
    if u[0] == 0 || d[0] == 0 {
        return None;
    }
    let vruns = [
        (true, u[2]),
        (false, u[1]),
        (true, u[0] + d[0] - 1),
        (false, d[1]),
        (true, d[2]),
    ];
    let vtotal: u32 = vruns.iter().map(|r| r.1).sum();
    if !is_finder(&vruns) || 2 * vtotal < htotal || vtotal > 2 * htotal {
        return None;
    }
    let cy = y as f32 - u[0] as f32 + (u[0] + d[0] - 1) as f32 / 2.0;
    Some(Pattern {
        x: cx as f32,
        y: cy,
        module: (htotal + vtotal) as f32 / 14.0,
        dark: win[0].0,
    })
}

/// Adds `p` to a nearby candidate of the same polarity and size, or as a new one.
fn merge(patterns: &mut Vec<Pattern>, p: Pattern) {
    for q in patterns.iter_mut() {
        let near = 2.5 * q.module.max(p.module);
        if q.dark == p.dark
            && (q.x - p.x).abs() <= near
            && (q.y - p.y).abs() <= near
            && q.module.max(p.module) <= 1.5 * q.module.min(p.module)
        {
            // Keep the first centre (the scan rows step through it); average the size.
            q.module = (q.module + p.module) / 2.0;
            return;
        }
    }
    if patterns.len() < MAX_PATTERNS {
        patterns.push(p);
    }
}

/// Three candidates with module sizes within 1.6x of each other whose centres form a right
/// isosceles triangle (legs within 0.6x of each other, Pythagoras within 30%) with legs of
/// 12 to 200 modules.
fn has_triangle(ps: &[&Pattern]) -> bool {
    let d2 = |a: &Pattern, b: &Pattern| (a.x - b.x).powi(2) + (a.y - b.y).powi(2);
    for (i, a) in ps.iter().enumerate() {
        for (j, b) in ps.iter().enumerate().skip(i + 1) {
            for c in ps.iter().skip(j + 1) {
                let (lo, hi) = [a.module, b.module, c.module]
                    .into_iter()
                    .fold((f32::MAX, 0f32), |(lo, hi), m| (lo.min(m), hi.max(m)));
                if hi > 1.6 * lo {
                    continue;
                }
                let mut s = [d2(a, b), d2(b, c), d2(a, c)];
                s.sort_by(f32::total_cmp);
                let m = (a.module + b.module + c.module) / 3.0;
                let right = (s[2] - s[0] - s[1]).abs() <= 0.3 * s[2];
                let isosceles = s[0] >= 0.36 * s[1];
                let scale = s[0] >= (12.0 * m).powi(2) && s[1] <= (200.0 * m).powi(2);
                if right && isosceles && scale {
                    return true;
                }
            }
        }
    }
    false
}

/// Five runs in a 1:1:3:1:1 ratio, each within half a module of its ideal width.
fn is_finder(win: &[(bool, u32)]) -> bool {
    const RATIO: [u32; 5] = [1, 1, 3, 1, 1];
    let total: u32 = win.iter().map(|r| r.1).sum();
    if total < 9 {
        return false;
    }
    // In sevenths of a module to stay in integers: a 1-run may be off by half a module, the
    // 3-run by one module.
    win.iter()
        .zip(RATIO)
        .all(|(&(_, n), k)| (n * 7).abs_diff(k * total) * 2 <= total * if k == 3 { 2 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws a finder pattern (7x7 modules of `m` px) with its top-left corner at (`x0`, `y0`).
    fn draw_finder(px: &mut [u8], w: usize, m: usize, (x0, y0): (usize, usize), ink: u8) {
        for y in 0..7 * m {
            for x in 0..7 * m {
                let (mx, my) = (x / m, y / m);
                let ring = mx.min(my).min(6 - mx).min(6 - my);
                if ring != 1 {
                    px[(y + y0) * w + x + x0] = ink;
                }
            }
        }
    }

    fn colours(inverted: bool) -> (u8, u8) {
        if inverted { (230, 20) } else { (20, 230) }
    }

    /// The three finder patterns of a 25-module (version 2) code of `m` px modules.
    fn code_corners(w: usize, h: usize, m: usize, inverted: bool) -> Vec<u8> {
        let (ink, paper) = colours(inverted);
        let mut px = vec![paper; w * h];
        for corner in [(0, 0), (18, 0), (0, 18)] {
            draw_finder(&mut px, w, m, (20 + corner.0 * m, 20 + corner.1 * m), ink);
        }
        px
    }

    #[test]
    fn three_finders_in_a_triangle_are_likely_in_both_polarities() {
        let (w, h) = (480, 360);
        let ev = scan(GreyImage::new(w, h, &code_corners(w, h, 6, false)).unwrap());
        assert!(
            ev.likely() && ev.patterns == 3 && ev.dark_on_light > 0,
            "{ev:?}"
        );
        let ev = scan(GreyImage::new(w, h, &code_corners(w, h, 6, true)).unwrap());
        assert!(
            ev.likely() && ev.patterns == 3 && ev.light_on_dark > 0,
            "{ev:?}"
        );
    }

    #[test]
    fn one_finder_or_three_in_a_row_or_flat_grey_are_not() {
        let (w, h) = (480, 360);
        let (ink, paper) = colours(false);
        let mut one = vec![paper; w * h];
        draw_finder(&mut one, w, 6, (30, 30), ink);
        let ev = scan(GreyImage::new(w, h, &one).unwrap());
        assert!(
            !ev.likely() && ev.patterns == 1 && ev.dark_on_light > 0,
            "{ev:?}"
        );
        let mut row = vec![paper; w * h];
        for i in 0..3 {
            draw_finder(&mut row, w, 6, (20 + i * 130, 100), ink);
        }
        let ev = scan(GreyImage::new(w, h, &row).unwrap());
        assert!(!ev.likely() && ev.patterns == 3, "{ev:?}");
        let flat = vec![128u8; w * h];
        assert_eq!(
            scan(GreyImage::new(w, h, &flat).unwrap()),
            Evidence::default()
        );
    }
}
