//! A QR code with one finder pattern hidden (a thumb over a corner, a sticker, glare): the
//! finder scan ([`super::finder`]) confirms the other two, and no reader detects a code from
//! two. Each plausible place of the third is drawn into a crop of the code (a clean finder
//! pattern with its light separator, on the axes the two visible ones span) for a QR reader,
//! whose error correction then covers the hidden modules.
//!
//! Two visible finders are either adjacent (one side of the code apart: the timing pattern
//! runs between them, three modules inside the line through their centres, which tells the
//! side the code lies on) or diagonal (the missing one is the corner between them, on either
//! side). Each hypothesis is a crop with the finder where the visible two put it, and after
//! every pair's such crops, four more with it a module off along either axis (perspective
//! moves a hidden corner); at most `MAX_CROPS` a frame.

use super::dmlocate::sample;
use super::finder::Pattern;
use super::frame::GreyImage;

/// One crop with a finder drawn in: pixels, width, height.
pub type Crop = (Vec<u8>, usize, usize);

/// At most this many pairs of visible finders are tried per frame.
const MAX_PAIRS: usize = 2;

/// At most this many crops are read per frame (both QR readers take 0.25-0.65 ms on one): on
/// 1,080 scratch tuning frames the first 20 read every code that all of them (up to 40) read,
/// the first 12 two codes fewer.
const MAX_CROPS: usize = 20;

/// Where the hidden finder may be: the code's four corner estimates, the finder's centre, its
/// axis, the module size and the polarity.
type Hypothesis = ([(f32, f32); 4], (f32, f32), (f32, f32), f32, bool);

/// The crops to read, most plausible first, for the pairs among `patterns` (one polarity,
/// similar module sizes, a plausible distance apart).
pub fn crops<'a>(img: GreyImage<'a>, patterns: &[Pattern]) -> impl Iterator<Item = Crop> + 'a {
    let mut pairs: Vec<(f32, Pattern, Pattern)> = Vec::new();
    for (i, a) in patterns.iter().enumerate() {
        for b in &patterns[i + 1..] {
            let m = (a.module + b.module) / 2.0;
            if a.dark != b.dark || a.module.max(b.module) > 1.4 * a.module.min(b.module) {
                continue;
            }
            let d = (b.x - a.x).hypot(b.y - a.y) / m;
            // Adjacent finders of versions 1-40 are 14-170 modules apart; diagonal ones √2 that.
            if !(14.0..=240.0).contains(&d) {
                continue;
            }
            // The most alike first.
            let alike = a.module.max(b.module) / a.module.min(b.module);
            pairs.push((alike, *a, *b));
        }
    }
    pairs.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut out: Vec<Hypothesis> = Vec::new();
    for (_, a, b) in pairs.into_iter().take(MAX_PAIRS) {
        let m = (a.module + b.module) / 2.0;
        let (vx, vy) = (b.x - a.x, b.y - a.y);
        // Adjacent: the side whose timing pattern shows; the hidden finder opposite either.
        for sign in [1.0f32, -1.0] {
            let (px, py) = (-vy * sign, vx * sign);
            if timing(img, &a, &b, (px, py), m) {
                let m = snapped(vx.hypot(vy), m);
                let corners = [
                    (a.x, a.y),
                    (b.x, b.y),
                    (a.x + px, a.y + py),
                    (b.x + px, b.y + py),
                ];
                for third in [corners[2], corners[3]] {
                    out.push((corners, third, (vx, vy), m, a.dark));
                }
            }
        }
        // Diagonal: the corner between them.
        let m = snapped(vx.hypot(vy) / std::f32::consts::SQRT_2, m);
        let (hx, hy) = (vx / 2.0, vy / 2.0);
        let (mx, my) = (a.x + hx, a.y + hy);
        for sign in [1.0f32, -1.0] {
            let third = (mx - hy * sign, my + hx * sign);
            let fourth = (mx + hy * sign, my - hx * sign);
            let axis = (a.x - third.0, a.y - third.1);
            let corners = [(a.x, a.y), (b.x, b.y), third, fourth];
            out.push((corners, third, axis, m, a.dark));
        }
    }
    // Each where the two visible finders put it, then each a module off either way along each
    // axis (perspective moves a hidden corner from there).
    let shifts = |(_, _, axis, m, _): &Hypothesis| {
        let l = axis.0.hypot(axis.1).max(1e-3);
        let (ux, uy) = (axis.0 / l * m, axis.1 / l * m);
        [(0.0, 0.0), (ux, uy), (-ux, -uy), (-uy, ux), (uy, -ux)]
    };
    let firsts: Vec<(Hypothesis, (f32, f32))> = out.iter().map(|h| (*h, (0.0, 0.0))).collect();
    let others: Vec<(Hypothesis, (f32, f32))> = out
        .iter()
        .flat_map(|h| shifts(h).into_iter().skip(1).map(move |s| (*h, s)))
        .collect();
    firsts
        .into_iter()
        .chain(others)
        .filter_map(move |((corners, at, axis, m, dark), (dx, dy))| {
            draw(img, &corners, (at.0 + dx, at.1 + dy), axis, m, dark)
        })
        .take(MAX_CROPS)
}

/// The module size that makes `d` (pixels between two adjacent finder centres) a whole QR
/// version's (N - 7 modules, N = 21, 25, ... 177), the version nearest `m`'s.
fn snapped(d: f32, m: f32) -> f32 {
    let n = d / m + 7.0;
    let version = ((n - 17.0) / 4.0).round().clamp(1.0, 40.0);
    d / (17.0 + 4.0 * version - 7.0)
}

/// Whether a timing pattern (alternating modules) runs between finder centres `a` and `b`,
/// about three modules towards `p` (a vector across, as long as `a` to `b`) from their line:
/// along one of a few lines (the finders' module size is only an estimate), the stretch
/// between the finders' separators falls into at least 5 dark and light runs of even length.
fn timing(img: GreyImage<'_>, a: &Pattern, b: &Pattern, p: (f32, f32), m: f32) -> bool {
    let len = (b.x - a.x).hypot(b.y - a.y);
    let (ux, uy) = ((b.x - a.x) / len, (b.y - a.y) / len);
    let (nx, ny) = (p.0 / len, p.1 / len);
    let (t0, t1) = (4.5 * m, len - 4.5 * m);
    if t1 - t0 < 5.0 * m {
        return false;
    }
    let n = (t1 - t0) as usize;
    [2.4f32, 2.8, 3.2, 3.6].into_iter().any(|off| {
        let vals: Vec<f32> = (0..n)
            .map(|k| {
                let t = t0 + k as f32;
                let (x, y) = (a.x + ux * t + nx * off * m, a.y + uy * t + ny * off * m);
                sample(img, x - 0.5, y - 0.5) as f32
            })
            .collect();
        let mean = vals.iter().sum::<f32>() / n as f32;
        let mut runs: Vec<usize> = Vec::new();
        let mut last = None;
        for v in &vals {
            let d = *v < mean;
            if last == Some(d) {
                *runs.last_mut().expect("a run") += 1;
            } else {
                runs.push(1);
                last = Some(d);
            }
        }
        // The ends may be cut runs.
        if runs.len() < 7 {
            return false;
        }
        let inner = &mut runs[1..runs.len() - 1].to_vec();
        inner.sort_unstable();
        let median = inner[inner.len() / 2] as f32;
        let even = inner
            .iter()
            .filter(|&&r| (0.5 * median..=1.6 * median).contains(&(r as f32)))
            .count();
        median >= 0.5 * m / 1.6 && median <= 1.6 * m && even * 10 >= inner.len() * 8
    })
}

/// A crop around the code's four corner estimates (finder centres, 4 modules of margin beyond
/// them and the quiet zone) with a finder drawn at `at`, its sides along `axis` and across it;
/// inverted first when the visible finders are light-on-dark. `None` off the frame.
fn draw(
    img: GreyImage<'_>,
    corners: &[(f32, f32); 4],
    at: (f32, f32),
    axis: (f32, f32),
    m: f32,
    dark: bool,
) -> Option<Crop> {
    let margin = 8.0 * m;
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in corners {
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    // The hidden finder's centre must lie in (or just off) the frame.
    let (fw, fh) = (img.width as f32, img.height as f32);
    if at.0 < -4.0 * m || at.1 < -4.0 * m || at.0 > fw + 4.0 * m || at.1 > fh + 4.0 * m {
        return None;
    }
    let (x0, y0) = (
        (x0 - margin).max(0.0) as usize,
        (y0 - margin).max(0.0) as usize,
    );
    let (x1, y1) = (
        ((x1 + margin).max(0.0) as usize).min(img.width),
        ((y1 + margin).max(0.0) as usize).min(img.height),
    );
    if x1 <= x0 + 16 || y1 <= y0 + 16 {
        return None;
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let mut out = img.cropped(x0, y0, w, h);
    if !dark {
        out.iter_mut().for_each(|v| *v = 255 - *v);
    }
    let len = axis.0.hypot(axis.1).max(1e-3);
    let (ux, uy) = (axis.0 / len, axis.1 / len);
    let reach = 4.6 * m * std::f32::consts::SQRT_2;
    let (ax, ay) = (at.0 - x0 as f32, at.1 - y0 as f32);
    let (bx0, by0) = (
        (ax - reach).max(0.0) as usize,
        (ay - reach).max(0.0) as usize,
    );
    let (bx1, by1) = (
        ((ax + reach).max(0.0) as usize).min(w),
        ((ay + reach).max(0.0) as usize).min(h),
    );
    for y in by0..by1 {
        for x in bx0..bx1 {
            let (dx, dy) = (x as f32 + 0.5 - ax, y as f32 + 0.5 - ay);
            let (u, v) = ((dx * ux + dy * uy) / m, (-dx * uy + dy * ux) / m);
            let r = u.abs().max(v.abs());
            let value = if r <= 1.5 || (2.5..=3.5).contains(&r) {
                0
            } else if r <= 4.5 {
                255
            } else {
                continue;
            };
            out[y * w + x] = value;
        }
    }
    Some((out, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qr::decode::{Decoder, Rxing, RxingCpp};
    use crate::qr::finder::scan_patterns;

    const TEXT: &str = "https://hsa.example.test/c?t=complete-the-hidden-finder-0123456789";

    /// A 640x480 light frame with `TEXT` as a QR code (EC level M, 5 px modules, turned 12
    /// degrees about its centre at (300, 240)), and a grey thumb over the 9x9 modules around
    /// the finder at module (fx, fy).
    fn frame(hidden: (usize, usize)) -> (Vec<u8>, usize) {
        let code = qrcode::QrCode::with_error_correction_level(TEXT, qrcode::EcLevel::M).unwrap();
        let n = code.width();
        let colors = code.to_colors();
        let (w, h, m) = (640usize, 480usize, 5.0f32);
        let (s, c) = 12f32.to_radians().sin_cos();
        let half = n as f32 * m / 2.0;
        let mut px = vec![225u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 + 0.5 - 300.0, y as f32 + 0.5 - 240.0);
                let (u, v) = (dx * c + dy * s + half, -dx * s + dy * c + half);
                if u < 0.0 || v < 0.0 {
                    continue;
                }
                let (i, j) = ((u / m) as usize, (v / m) as usize);
                if i >= n || j >= n {
                    continue;
                }
                let near =
                    |f: usize, k: usize| (f as isize - 1..f as isize + 8).contains(&(k as isize));
                if near(hidden.0, i) && near(hidden.1, j) {
                    px[y * w + x] = 160;
                } else if colors[j * n + i] == qrcode::Color::Dark {
                    px[y * w + x] = 30;
                }
            }
        }
        (px, n)
    }

    fn reads(img: GreyImage<'_>) -> bool {
        [&Rxing::default() as &dyn Decoder, &RxingCpp::default()]
            .iter()
            .any(|r| {
                r.decode(img)
                    .iter()
                    .any(|d| d.text.as_deref() == Some(TEXT))
            })
    }

    #[test]
    fn a_hidden_finder_drawn_back_reads_the_code() {
        let n = qrcode::QrCode::new(TEXT).unwrap().width();
        // The top-right finder (the two left ones adjacent) and the top-left one (the two
        // others diagonal).
        for hidden in [(n - 7, 0), (0, 0)] {
            let (px, _) = frame(hidden);
            let img = GreyImage::new(640, 480, &px).unwrap();
            assert!(
                !reads(img),
                "{hidden:?}: no reader finds a code with two finders"
            );
            // The two finders left, and perhaps the alignment pattern with data around it.
            let (_, patterns) = scan_patterns(img);
            assert!(
                (2..=3).contains(&patterns.len()),
                "{hidden:?}: {patterns:?}"
            );
            let read = crops(img, &patterns)
                .any(|(data, w, h)| reads(GreyImage::new(w, h, &data).unwrap()));
            assert!(read, "{hidden:?}: a crop with the finder drawn in reads");
        }
    }

    #[test]
    fn the_timing_pattern_tells_the_side_the_code_lies_on() {
        let n = qrcode::QrCode::new(TEXT).unwrap().width();
        let (px, _) = frame((n - 7, 0));
        let img = GreyImage::new(640, 480, &px).unwrap();
        let (_, p) = scan_patterns(img);
        let (a, b) = (p[0], p[1]);
        let (vx, vy) = (b.x - a.x, b.y - a.y);
        let m = (a.module + b.module) / 2.0;
        let sides: Vec<bool> = [1.0f32, -1.0]
            .iter()
            .map(|s| timing(img, &a, &b, (-vy * s, vx * s), m))
            .collect();
        assert_eq!(sides.iter().filter(|t| **t).count(), 1, "{sides:?}");
    }
}
