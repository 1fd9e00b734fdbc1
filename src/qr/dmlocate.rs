//! A DataMatrix locator of our own (issue 19): finds the symbol's four corners from its shape
//! and its finder, for an upright, perspective-corrected crop with a quiet zone ([`rectify`])
//! or a clean redrawing of its module grid ([`grid`]) for rxing's DataMatrix reader. rxing's
//! own detector traces edges from the middle of whatever it is given, so a crop cut by the
//! block scan ([`super::finder::regions`]) that holds only part of a symbol, or a large symbol
//! with blurred modules the block scan does not see whole, defeats it.
//!
//! 1. Candidates: the frame at quarter size (4x4 means) is binarised against a local mean and
//!    cut into connected dark components (8-neighbours, by runs). A DataMatrix, whatever its
//!    module size, is one compact square blob there; text lines are long, glyphs small.
//! 2. Each candidate's window is binarised again, at full size or shrunk to about 240 pixels
//!    across. Of its dark components (joined across touching corners) the largest compact
//!    square one with a finder is the symbol: the solid L finder joins most of the modules, so
//!    the convex hull of the component is the symbol's outline. The minimum-area rectangle
//!    around the hull gives the orientation; the hull point nearest each of its corners is a
//!    first guess of each corner.
//! 3. The finder test: two adjacent sides must be solid dark just inside the outline (the L)
//!    and the two others alternate (the dashed timing pattern). This orients the symbol and
//!    rejects text, QR codes and other square blobs before any reader runs.
//! 4. Each side is refitted to the outer edge of its dark modules and the corners put where
//!    the sides meet (the hull cuts the top-right corner, a light module in every symbol, and
//!    blur rounds the others).
//!
//! 5. A candidate whose largest blob runs into its window's edge (a low-contrast symbol seen
//!    only in part at quarter size) is searched once more in a window twice the size; a symbol
//!    centred inside a larger one is dropped. Every window searched is returned too
//!    ([`locate`]): rxing's own detector gets a second look there, for a symbol
//!    glare or a thumb kept from passing the tests above.
//! 6. A thumb over one side: the finder test also takes three sides of four when only one
//!    orientation fits so (a whole finder elsewhere in the window goes first). Under a thumb
//!    over a dashed side the top-right corner is put where the L's three corners place it,
//!    and the refit ignores edge points already dark two modules outside (the thumb's rim).
//!    [`grid`] then moves the corners, a module at a time, to where the border fits best
//!    ([`Fit::Border`]), for the best few module counts and the count the finder showed.
//!
//! Measured on the tuning frames (`fixtures/qr/tuning`): it finds 30 of the 31 DataMatrix
//! symbols (the one it misses, under motion blur and a thumb, no decoder reads) and nothing on
//! the frames without a code; about 0.3-1.0 ms per 720p frame without a symbol, up to 1.5 ms
//! with one. On larger scratch sets (1,080 frames, 256 DataMatrix symbols) step 6 read 4 of
//! the 21 symbols missed with a thumb over an edge (and one without); the rest have the thumb
//! near a corner or joined to dark surroundings, or are 3-4 px modules under defocus.

use super::frame::GreyImage;

/// A located symbol: its corners in frame pixels, upright order (top-left, top-right,
/// bottom-right, bottom-left), the L finder along the left and bottom sides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Symbol {
    pub corners: [(f32, f32); 4],
    /// The module size the finder's dashed sides show, in pixels.
    pub module: f32,
}

impl Symbol {
    /// The mean length of the four sides, in pixels.
    pub fn side(&self) -> f32 {
        side(&self.corners)
    }
}

/// How much of its bounding rectangle a candidate blob's hull must fill at quarter size (large
/// modules leave a ragged blob, and nearby text may join it).
const QSOLID: f32 = 0.6;

/// At most this many candidate windows are searched per frame.
const MAX_CANDIDATES: usize = 4;

/// At most this many symbols are returned per frame.
pub const MAX_SYMBOLS: usize = 3;

/// A rectangle of the frame: x, y, width, height.
pub type Window = (usize, usize, usize, usize);

/// Finds DataMatrix symbols in `img`, largest first, and returns them with every candidate
/// window searched (full-size pixels, grown by a quarter on each side for a quiet zone): where
/// rxing's own detector gets a second look at a symbol the locator missed or cut short (glare
/// across part of it, a thumb over an edge).
pub fn locate(img: GreyImage<'_>) -> (Vec<Symbol>, Vec<Window>) {
    let cands = quarter_candidates(img);
    let mut windows = Vec::new();
    let mut out: Vec<(f32, Symbol)> = Vec::new();
    for (x, y, w, h) in cands {
        // A low-contrast symbol's quarter-size blob can be a part of it: when the largest blob
        // runs into the window's edge, search once more in a window twice the size around the
        // same centre.
        let mut window = (x, y, w, h);
        let mut found = locate_in(img, window);
        if found.cut && !found.symbol.is_some_and(|(_, whole)| whole) {
            window = (
                x.saturating_sub(w / 2),
                y.saturating_sub(h / 2),
                2 * w,
                2 * h,
            );
            // A whole finder in the larger window, else what the first one showed.
            let larger = locate_in(img, window).symbol;
            found.symbol = match (found.symbol, larger) {
                (_, Some((s, true))) => Some((s, true)),
                (None, l) => l,
                (f, _) => f,
            };
        }
        windows.push(window);
        if let Some((s, _)) = found.symbol {
            out.push((side(&s.corners), s));
        }
    }
    // Largest first; a symbol centred inside a larger one is a part of it seen from another
    // candidate window.
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut kept: Vec<(f32, Symbol)> = Vec::new();
    for (side, s) in out {
        if !kept
            .iter()
            .any(|(_, k)| inside(&k.corners, centre(&s.corners)))
        {
            kept.push((side, s));
        }
    }
    kept.truncate(MAX_SYMBOLS);
    let windows = windows
        .into_iter()
        .map(|(x, y, w, h)| {
            let (gx, gy) = (x.saturating_sub(w / 4), y.saturating_sub(h / 4));
            let (x1, y1) = (
                (x + w + w / 4).min(img.width),
                (y + h + h / 4).min(img.height),
            );
            (gx, gy, x1 - gx, y1 - gy)
        })
        .collect();
    (kept.into_iter().map(|(_, s)| s).collect(), windows)
}

/// Whether `p` lies inside the convex quadrilateral `c` (either winding).
fn inside(c: &[(f32, f32); 4], p: (f32, f32)) -> bool {
    let cross = |i: usize| {
        let (a, b) = (c[i], c[(i + 1) % 4]);
        (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0)
    };
    let signs = (0..4).map(cross);
    signs.clone().all(|v| v >= 0.0) || signs.clone().all(|v| v <= 0.0)
}

fn centre(c: &[(f32, f32); 4]) -> (f32, f32) {
    let (sx, sy) = c.iter().fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
    (sx / 4.0, sy / 4.0)
}

fn side(c: &[(f32, f32); 4]) -> f32 {
    (0..4).map(|i| dist(c[i], c[(i + 1) % 4])).sum::<f32>() / 4.0
}

fn dist(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

/// Candidate windows (full-size pixels) from the quarter-size frame.
fn quarter_candidates(img: GreyImage<'_>) -> Vec<Window> {
    const Q: usize = 4;
    let (qw, qh) = (img.width / Q, img.height / Q);
    if qw < 16 || qh < 16 {
        return Vec::new();
    }
    let q = shrink(img.data, img.width, (0, 0, Q * qw, Q * qh), Q);
    let dark = binarise(&q, qw, qh, (qh / 10).max(6), 12);
    let mut out = Vec::new();
    for c in components(&dark, qw, qh, 48) {
        let (bw, bh) = (c.x1 - c.x0, c.y1 - c.y0);
        if bw.max(bh) < 10 || bw.max(bh) > qh * 9 / 10 || bw.max(bh) > 2 * bw.min(bh) {
            continue;
        }
        let Some(shape) = Shape::of(&c.points) else {
            continue;
        };
        if !shape.squarish(c.count, QSOLID, 0.2, 0.97) {
            continue;
        }
        let m = bw.max(bh) / 4 + 2;
        let (x0, y0) = (c.x0.saturating_sub(m), c.y0.saturating_sub(m));
        let (x1, y1) = ((c.x1 + m).min(qw), (c.y1 + m).min(qh));
        out.push((Q * x0, Q * y0, Q * (x1 - x0), Q * (y1 - y0)));
        if out.len() >= MAX_CANDIDATES {
            break;
        }
    }
    out
}

/// What a window holds.
struct Found {
    /// The symbol, and whether all four sides of its finder showed (not a thumb over one).
    symbol: Option<(Symbol, bool)>,
    /// The largest square-sized blob runs into the window's edge.
    cut: bool,
}

/// The symbol in a window of the frame, at full size, if the window holds one.
fn locate_in(img: GreyImage<'_>, (x, y, w, h): Window) -> Found {
    let (w, h) = (
        w.min(img.width - x.min(img.width)),
        h.min(img.height - y.min(img.height)),
    );
    if w < 24 || h < 24 {
        return Found {
            symbol: None,
            cut: false,
        };
    }
    // Work on at most about WORK pixels across: large symbols have large modules.
    let k = w.max(h).div_ceil(WORK).max(1);
    let data = shrink(img.data, img.width, (x, y, w, h), k);
    let (w, h) = (w / k, h / k);
    let dark = binarise(&data, w, h, (w.min(h) / 8).clamp(6, 40), 10);
    // Diagonal neighbours that only touch at a corner lose it to the threshold: joined for
    // the components only.
    let joined = dilate(&dark, w, h);
    let min_side = 20 / k;
    let mut best: Option<(usize, Symbol, bool)> = None;
    let mut cut = false;
    for (i, c) in components(&joined, w, h, min_side * min_side / 4)
        .into_iter()
        .enumerate()
    {
        let (bw, bh) = (c.x1 - c.x0, c.y1 - c.y0);
        if i == 0 && bw.max(bh) >= w.min(h) / 3 {
            // The largest blob, a third of the window across or more, runs into an edge of the
            // window that is not the frame's own left or top edge: perhaps a symbol larger
            // than the window.
            cut = (c.x0 == 0 || c.y0 == 0 || c.x1 >= w || c.y1 >= h)
                && (x > 0 || c.x0 > 0)
                && (y > 0 || c.y0 > 0);
        }
        if bw.max(bh) < min_side || bw.max(bh) > 2 * bw.min(bh) {
            continue;
        }
        // Components come largest first: only a whole finder replaces a partial one.
        if best.as_ref().is_some_and(|(_, _, whole)| *whole) {
            continue;
        }
        let Some(shape) = Shape::of(&c.points) else {
            continue;
        };
        if !shape.squarish(c.count, 0.75, 0.25, 0.9) {
            continue;
        }
        let Some((corners, module, shown)) = finder_l(&dark, w, h, shape.corners()) else {
            continue;
        };
        let whole = shown == Shown::All;
        if best.is_some() && !whole {
            continue;
        }
        // A thumb over a dashed side pulls the hull out there: the top-right corner goes where
        // the L's three put it (a parallelogram's fourth) when that is two modules off.
        let corners = if shown == Shown::ButDashed {
            completed(corners, module)
        } else {
            corners
        };
        // From the hull's corners, and with the top-right corner completed as a parallelogram
        // (when the hull cut it deeper than refitting reaches): the one whose sides all met.
        let (a, na) = refine(&dark, w, h, corners, module);
        let corners = if na < 4 {
            let (b, nb) = refine(&dark, w, h, complete(corners), module);
            if nb > na { b } else { a }
        } else {
            a
        };
        let kf = k as f32;
        let corners = corners.map(|(cx, cy)| (cx * kf + x as f32, cy * kf + y as f32));
        best = Some((
            c.count,
            Symbol {
                corners,
                module: module * kf,
            },
            whole,
        ));
    }
    Found {
        symbol: best.map(|(_, s, whole)| (s, whole)),
        cut,
    }
}

/// Windows are shrunk to about this many pixels across before they are searched.
const WORK: usize = 240;

/// The mean of each k x k block of the rectangle (x, y, w, h) of a `stride`-wide image.
pub(super) fn shrink(
    data: &[u8],
    stride: usize,
    (x, y, w, h): (usize, usize, usize, usize),
    k: usize,
) -> Vec<u8> {
    let (ow, oh) = (w / k, h / k);
    let mut out = Vec::with_capacity(ow * oh);
    let mut acc = vec![0u32; ow * k];
    let div = (k * k) as u32;
    for oy in 0..oh {
        acc.iter_mut().for_each(|a| *a = 0);
        for r in 0..k {
            let row = &data[(y + oy * k + r) * stride + x..][..ow * k];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as u32;
            }
        }
        out.extend(
            acc.chunks_exact(k)
                .map(|c| (c.iter().sum::<u32>() / div) as u8),
        );
    }
    out
}

/// `dark` grown by one pixel in every direction (3x3).
fn dilate(dark: &[bool], w: usize, h: usize) -> Vec<bool> {
    let mut rows = vec![false; w * h];
    for y in 0..h {
        let r = &dark[y * w..(y + 1) * w];
        for x in 0..w {
            rows[y * w + x] = r[x] || (x > 0 && r[x - 1]) || (x + 1 < w && r[x + 1]);
        }
    }
    let mut out = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = rows[y * w + x]
                || (y > 0 && rows[(y - 1) * w + x])
                || (y + 1 < h && rows[(y + 1) * w + x]);
        }
    }
    out
}

/// Dark pixels: below the mean of a (2r+1)² neighbourhood by `margin`, after a 3x3 mean (sensor
/// noise would otherwise speckle the quiet zone and join it to the symbol).
fn binarise(g: &[u8], w: usize, h: usize, r: usize, margin: u32) -> Vec<bool> {
    let iw = w + 1;
    let mut integral = vec![0u32; iw * (h + 1)];
    for y in 0..h {
        let mut row = 0u32;
        let (above, here) = integral[y * iw..(y + 2) * iw].split_at_mut(iw);
        for x in 0..w {
            row += g[y * w + x] as u32;
            here[x + 1] = above[x + 1] + row;
        }
    }
    // Window bounds per column, for the mean and for the 3x3 smoothing.
    let xa: Vec<usize> = (0..w).map(|x| x.saturating_sub(r)).collect();
    let xb: Vec<usize> = (0..w).map(|x| (x + r + 1).min(w)).collect();
    let ta: Vec<usize> = (0..w).map(|x| x.saturating_sub(1)).collect();
    let tb: Vec<usize> = (0..w).map(|x| (x + 2).min(w)).collect();
    let mut out = vec![false; w * h];
    for y in 0..h {
        let (ya, yb) = (y.saturating_sub(r), (y + r + 1).min(h));
        let (sa, sb) = (y.saturating_sub(1), (y + 2).min(h));
        let (ia, ib) = (&integral[ya * iw..][..iw], &integral[yb * iw..][..iw]);
        let (ja, jb) = (&integral[sa * iw..][..iw], &integral[sb * iw..][..iw]);
        let (rows, srows) = ((yb - ya) as u32, (sb - sa) as u32);
        let out_row = &mut out[y * w..(y + 1) * w];
        for x in 0..w {
            let (a, b) = (xa[x], xb[x]);
            let (c, d) = (ta[x], tb[x]);
            let n = (b - a) as u32 * rows;
            let m = (d - c) as u32 * srows;
            let sum = ib[b] + ia[a] - ia[b] - ib[a];
            let v = jb[d] + ja[c] - ja[d] - jb[c];
            // v/m + margin < sum/n, in integers (v*n and sum*m stay under 2^32 for r <= 40).
            out_row[x] = (v * n) as u64 + (margin * n * m) as u64 <= sum as u64 * m as u64;
        }
    }
    out
}

/// A connected group of dark pixels: its pixel count, bounding box (end exclusive) and the
/// corners of its runs (enough for its convex hull).
struct Component {
    count: usize,
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    points: Vec<(f32, f32)>,
}

/// The 8-connected dark components of at least `min_count` pixels, largest first.
fn components(dark: &[bool], w: usize, h: usize, min_count: usize) -> Vec<Component> {
    // Runs (y, x0, x1) and a union-find over them.
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    let mut parent: Vec<usize> = Vec::new();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut prev = 0..0;
    for y in 0..h {
        let row = &dark[y * w..(y + 1) * w];
        let start = runs.len();
        let mut x = 0;
        while x < w {
            if !row[x] {
                x += 1;
                continue;
            }
            let x0 = x;
            while x < w && row[x] {
                x += 1;
            }
            let id = runs.len();
            runs.push((y, x0, x));
            parent.push(id);
            for j in prev.clone() {
                let (_, a, b) = runs[j];
                // Overlap including diagonal contact.
                if a <= x && x0 <= b {
                    let (ra, rb) = (find(&mut parent, j), find(&mut parent, id));
                    if ra != rb {
                        parent[ra.max(rb)] = ra.min(rb);
                    }
                }
            }
        }
        prev = start..runs.len();
    }
    let roots: Vec<usize> = (0..runs.len()).map(|i| find(&mut parent, i)).collect();
    let mut count = vec![0usize; runs.len()];
    for (&r, run) in roots.iter().zip(&runs) {
        count[r] += run.2 - run.1;
    }
    let mut index = vec![usize::MAX; runs.len()];
    let mut out: Vec<Component> = Vec::new();
    for (&r, &(y, a, b)) in roots.iter().zip(&runs) {
        if count[r] < min_count {
            continue;
        }
        if index[r] == usize::MAX {
            index[r] = out.len();
            out.push(Component {
                count: count[r],
                x0: usize::MAX,
                y0: usize::MAX,
                x1: 0,
                y1: 0,
                points: Vec::new(),
            });
        }
        let c = &mut out[index[r]];
        (c.x0, c.y0, c.x1, c.y1) = (c.x0.min(a), c.y0.min(y), c.x1.max(b), c.y1.max(y + 1));
        let (y, a, b) = (y as f32, a as f32, b as f32);
        c.points
            .extend([(a, y), (a, y + 1.0), (b, y), (b, y + 1.0)]);
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.count));
    out
}

/// A component's convex hull and the minimum-area rectangle around it.
struct Shape {
    hull: Vec<(f32, f32)>,
    hull_area: f32,
    /// The rectangle: centre, unit direction of one side, half extents along it and across.
    centre: (f32, f32),
    dir: (f32, f32),
    half: (f32, f32),
}

impl Shape {
    fn of(points: &[(f32, f32)]) -> Option<Shape> {
        let hull = convex_hull(points);
        if hull.len() < 4 {
            return None;
        }
        let n = hull.len();
        let hull_area = (0..n)
            .map(|i| {
                let (a, b) = (hull[i], hull[(i + 1) % n]);
                a.0 * b.1 - b.0 * a.1
            })
            .sum::<f32>()
            .abs()
            / 2.0;
        let mut best: Option<(f32, Shape)> = None;
        for i in 0..n {
            let (a, b) = (hull[i], hull[(i + 1) % n]);
            let len = dist(a, b);
            if len < 1e-3 {
                continue;
            }
            let (ux, uy) = ((b.0 - a.0) / len, (b.1 - a.1) / len);
            let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
            for p in &hull {
                let (u, v) = (p.0 * ux + p.1 * uy, -p.0 * uy + p.1 * ux);
                (u0, u1, v0, v1) = (u0.min(u), u1.max(u), v0.min(v), v1.max(v));
            }
            let area = (u1 - u0) * (v1 - v0);
            if best.as_ref().is_none_or(|(a, _)| area < *a) {
                let (mu, mv) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
                let centre = (mu * ux - mv * uy, mu * uy + mv * ux);
                best = Some((
                    area,
                    Shape {
                        hull: Vec::new(),
                        hull_area,
                        centre,
                        dir: (ux, uy),
                        half: ((u1 - u0) / 2.0, (v1 - v0) / 2.0),
                    },
                ));
            }
        }
        let (_, mut s) = best?;
        s.hull = hull;
        Some(s)
    }

    /// Nearly square, nearly filling its rectangle, and with a share of dark pixels in the
    /// hull between `fill_lo` and `fill_hi` (a DataMatrix is about half dark).
    fn squarish(&self, count: usize, solid: f32, fill_lo: f32, fill_hi: f32) -> bool {
        let (a, b) = (self.half.0.max(self.half.1), self.half.0.min(self.half.1));
        let rect = 4.0 * a * b;
        let fill = count as f32 / self.hull_area.max(1.0);
        b > 0.0
            && a <= 1.5 * b
            && self.hull_area >= solid * rect
            && (fill_lo..=fill_hi).contains(&fill)
    }

    /// A first guess of the symbol's corners, in hull order: the hull point nearest each
    /// rectangle corner ([`refine`] puts them where the sides meet).
    fn corners(&self) -> [(f32, f32); 4] {
        let (ux, uy) = self.dir;
        let (a, b) = self.half;
        let rect = [(-a, -b), (a, -b), (a, b), (-a, b)].map(|(u, v)| {
            (
                self.centre.0 + u * ux - v * uy,
                self.centre.1 + u * uy + v * ux,
            )
        });
        rect.map(|r| {
            *self
                .hull
                .iter()
                .min_by(|p, q| dist(**p, r).total_cmp(&dist(**q, r)))
                .expect("hull")
        })
    }
}

/// Andrew's monotone chain; counter-clockwise in y-up terms, no repeated points.
fn convex_hull(points: &[(f32, f32)]) -> Vec<(f32, f32)> {
    let mut p = points.to_vec();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: (f32, f32), a: (f32, f32), b: (f32, f32)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(f32, f32)> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &(f32, f32)>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for &q in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0.0
            {
                hull.pop();
            }
            hull.push(q);
        }
        hull.pop();
    }
    hull
}

/// Four corners.
type Quad = [(f32, f32); 4];

/// Which sides of a finder [`finder_l`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    All,
    /// All but one of the L's solid sides.
    ButSolid,
    /// All but one of the dashed sides.
    ButDashed,
}

/// The finder test on `corners` (in hull order) over the binarised window: returns the corners
/// in upright order when two adjacent sides are solid and the other two dashed, and the module
/// size the dashed sides show.
fn finder_l(
    dark: &[bool],
    w: usize,
    h: usize,
    corners: [(f32, f32); 4],
) -> Option<(Quad, f32, Shown)> {
    // Clockwise on screen (y down): by angle around the centre.
    let (cx, cy) = centre(&corners);
    let mut c = corners;
    c.sort_by(|a, b| {
        (a.1 - cy)
            .atan2(a.0 - cx)
            .total_cmp(&(b.1 - cy).atan2(b.0 - cx))
    });
    let s = side(&c);
    if s < 16.0 {
        return None;
    }
    // Per side i (c[i] → c[i+1]): dark share and dark runs just inside the outline.
    let inset = (s / 40.0).max(1.0);
    let stats: Vec<(f32, u32)> = (0..4)
        .map(|i| {
            let (a, b) = (c[i], c[(i + 1) % 4]);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len = dx.hypot(dy).max(1.0);
            // Inward normal: clockwise order on screen means the inside is to the right.
            let (nx, ny) = (-dy / len, dx / len);
            let n = (len as usize).clamp(24, 200);
            let (mut on, mut runs, mut last) = (0u32, 0u32, false);
            for k in 0..n {
                // Skip the ends (the corners' modules belong to both sides).
                let t = 0.04 + 0.92 * (k as f32 + 0.5) / n as f32;
                let (x, y) = (a.0 + dx * t + nx * inset, a.1 + dy * t + ny * inset);
                let (xi, yi) = (x as isize, y as isize);
                let d = xi >= 0
                    && yi >= 0
                    && (xi as usize) < w
                    && (yi as usize) < h
                    && dark[yi as usize * w + xi as usize];
                on += d as u32;
                runs += (d && !last) as u32;
                last = d;
            }
            (on as f32 / n as f32, runs)
        })
        .collect();
    let solid = |i: usize| stats[i].0 >= 0.7;
    let dashed = |i: usize| (0.2..=0.8).contains(&stats[i].0) && stats[i].1 >= 3;
    // Sides i-1 and i solid meet at corner c[i]: bottom-left. Clockwise: BL, TL, TR, BR.
    // Each side that does not look its part, for each choice of the bottom-left corner.
    let misses = |i: usize| {
        [
            !solid((i + 3) % 4),
            !solid(i),
            !dashed((i + 1) % 4),
            !dashed((i + 2) % 4),
        ]
    };
    let count = |i: usize| misses(i).iter().filter(|m| **m).count();
    // Every side as it should be; or, for a thumb or a sticker over one side, the other three,
    // when only one corner fits so (and a dashed side that shows at least 5 dark modules).
    let i = (0..4).find(|&i| count(i) == 0).or_else(|| {
        let mut one = (0..4).filter(|&i| count(i) == 1);
        let i = one.next()?;
        let m = misses(i);
        let runs = if m[2] { 0 } else { stats[(i + 1) % 4].1 }.max(if m[3] {
            0
        } else {
            stats[(i + 2) % 4].1
        });
        (one.next().is_none() && runs >= 5).then_some(i)
    })?;
    // N modules along a dashed side show N/2 dark runs.
    let m = misses(i);
    let (r1, r2) = (stats[(i + 1) % 4].1, stats[(i + 2) % 4].1);
    let runs = match (m[2], m[3]) {
        (true, _) => r2,
        (_, true) => r1,
        _ => r1 + r2,
    } as f32
        / if m[2] || m[3] { 1.0 } else { 2.0 };
    let module = (s / (2.0 * runs)).max(1.0);
    Some((
        [c[(i + 1) % 4], c[(i + 2) % 4], c[(i + 3) % 4], c[i]],
        module,
        match m {
            [false, false, false, false] => Shown::All,
            [_, _, false, false] => Shown::ButSolid,
            _ => Shown::ButDashed,
        },
    ))
}

/// The top-right corner (upright order) of the parallelogram on the other three.
fn parallelogram(c: &[(f32, f32); 4]) -> (f32, f32) {
    let (tl, br, bl) = (c[0], c[2], c[3]);
    (tl.0 + br.0 - bl.0, tl.1 + br.1 - bl.1)
}

/// The top-right corner (upright order) moved to the parallelogram's fourth corner when it is
/// more than two modules from it.
fn completed(mut c: [(f32, f32); 4], module: f32) -> [(f32, f32); 4] {
    let para = parallelogram(&c);
    if dist(para, c[1]) > 2.0 * module {
        c[1] = para;
    }
    c
}

/// The top-right corner (upright order) as the parallelogram's fourth corner when that lies
/// further out than the hull's: the hull cuts the corner where the last modules of both
/// dashed sides are light.
fn complete(mut c: [(f32, f32); 4]) -> [(f32, f32); 4] {
    let para = parallelogram(&c);
    if dist(para, c[3]) > dist(c[1], c[3]) {
        c[1] = para;
    }
    c
}

/// Each side refitted to the outer edge of its dark modules, the corners where the sides meet:
/// the hull cuts the top-right corner (a light module in every ECC 200 symbol) and blur
/// rounds the others. Per side, points on the outline are found by walking inwards from
/// outside; those within half a module of the outermost (a dashed side's dark modules, not the
/// modules behind its gaps) get a straight line. Corners that would move more than one and a
/// half modules are kept as they were; the count of those that met is returned too.
fn refine(
    dark: &[bool],
    w: usize,
    h: usize,
    corners: [(f32, f32); 4],
    module: f32,
) -> ([(f32, f32); 4], usize) {
    let is_dark = |x: f32, y: f32| {
        let (xi, yi) = (x.floor() as isize, y.floor() as isize);
        xi >= 0
            && yi >= 0
            && (xi as usize) < w
            && (yi as usize) < h
            && dark[yi as usize * w + xi as usize]
    };
    let mut lines = [((0f32, 0f32), (0f32, 0f32)); 4];
    for (i, line) in lines.iter_mut().enumerate() {
        let (mut a, mut b) = (corners[i], corners[(i + 1) % 4]);
        for _ in 0..2 {
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len = dx.hypot(dy).max(1.0);
            let (ux, uy) = (dx / len, dy / len);
            // Outward: corners run clockwise on screen, the inside is to the right.
            let (nx, ny) = (uy, -ux);
            let reach = 2.0 * module;
            let k = ((len / 2.0) as usize).clamp(12, 80);
            let mut pts: Vec<(f32, f32, f32)> = Vec::with_capacity(k);
            for j in 0..k {
                let t = 0.1 + 0.8 * (j as f32 + 0.5) / k as f32;
                let (bx, by) = (a.0 + dx * t, a.1 + dy * t);
                // From `reach` outside to `reach` inside, in quarter pixels.
                let steps = (8.0 * reach) as usize;
                if let Some(s) = (0..=steps).find(|&s| {
                    let o = reach - s as f32 * 0.25;
                    is_dark(bx + nx * o, by + ny * o)
                }) && s > 0
                {
                    let o = reach - s as f32 * 0.25 + 0.125;
                    pts.push((bx + nx * o, by + ny * o, o));
                }
            }
            // The outermost edge, ignoring a few specks of noise outside it.
            let mut offs: Vec<f32> = pts.iter().map(|p| p.2).collect();
            if offs.len() < 4 {
                break;
            }
            offs.sort_by(f32::total_cmp);
            let top = offs[offs.len() * 9 / 10];
            let keep: Vec<(f32, f32)> = pts
                .iter()
                .filter(|p| p.2 >= top - 0.5 * module)
                .map(|p| (p.0, p.1))
                .collect();
            let Some((p, d)) = fit_line(&keep) else {
                break;
            };
            // The new side through the fitted line, spanning the same length.
            let d = if d.0 * ux + d.1 * uy < 0.0 {
                (-d.0, -d.1)
            } else {
                d
            };
            let ta = (a.0 - p.0) * d.0 + (a.1 - p.1) * d.1;
            let tb = (b.0 - p.0) * d.0 + (b.1 - p.1) * d.1;
            (a, b) = (
                (p.0 + d.0 * ta, p.1 + d.1 * ta),
                (p.0 + d.0 * tb, p.1 + d.1 * tb),
            );
        }
        *line = (a, b);
    }
    let mut met = 0;
    let out = std::array::from_fn(|i| {
        let (prev, next) = (lines[(i + 3) % 4], lines[i]);
        match intersect(prev, next) {
            Some(p) if dist(p, corners[i]) <= 1.5 * module + 1.0 => {
                met += 1;
                p
            }
            _ => corners[i],
        }
    });
    (out, met)
}

/// A total-least-squares line through `pts`: a point on it and its unit direction.
fn fit_line(pts: &[(f32, f32)]) -> Option<((f32, f32), (f32, f32))> {
    if pts.len() < 4 {
        return None;
    }
    let n = pts.len() as f32;
    let (mx, my) = pts
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.0 / n, b + p.1 / n));
    let (mut sxx, mut syy, mut sxy) = (0f32, 0f32, 0f32);
    for p in pts {
        let (x, y) = (p.0 - mx, p.1 - my);
        (sxx, syy, sxy) = (sxx + x * x, syy + y * y, sxy + x * y);
    }
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    Some(((mx, my), (angle.cos(), angle.sin())))
}

/// Where two lines (each through two points) cross.
fn intersect(
    (a, b): ((f32, f32), (f32, f32)),
    (c, d): ((f32, f32), (f32, f32)),
) -> Option<(f32, f32)> {
    let (r, s) = ((b.0 - a.0, b.1 - a.1), (d.0 - c.0, d.1 - c.1));
    let den = r.0 * s.1 - r.1 * s.0;
    if den.abs() < 1e-6 * (r.0.hypot(r.1) * s.0.hypot(s.1)).max(1e-6) {
        return None;
    }
    let t = ((c.0 - a.0) * s.1 - (c.1 - a.1) * s.0) / den;
    Some((a.0 + r.0 * t, a.1 + r.1 * t))
}

/// The symbol sampled upright (bilinear) into a square image with a quiet zone of `pad` of the
/// side on each edge; the symbol itself `size` pixels across. Returns the pixels and the side.
pub fn rectify(img: GreyImage<'_>, s: &Symbol, size: usize, pad: f32) -> (Vec<u8>, usize) {
    let n = size + 2 * (pad * size as f32).round() as usize;
    let off = (pad * size as f32).round();
    let hmg = Homography::square_to_quad(&s.corners);
    let mut out = Vec::with_capacity(n * n);
    for y in 0..n {
        let v = (y as f32 + 0.5 - off) / size as f32;
        for x in 0..n {
            let u = (x as f32 + 0.5 - off) / size as f32;
            let (px, py) = hmg.map(u, v);
            out.push(sample(img, px - 0.5, py - 0.5));
        }
    }
    (out, n)
}

/// The symbol's modules read directly: the module count N (even, 10 to 48) whose border best
/// shows the finder (solid left and bottom, alternating top and right, top-right light),
/// each module's centre sampled (the mean of 3x3 points a fifth of a module apart), pushed
/// away from the mean of its four neighbours by `sharpen` times the difference (blur undone
/// on the module grid) and compared with the mean of its 7x7-module neighbourhood, and the
/// result drawn clean: 4 pixels a module, a quiet zone of 2 modules. `None` when no module
/// count fits the border. [`Fit`] says where the grid's corners go.
pub fn grid(img: GreyImage<'_>, s: &Symbol, sharpen: f32, fit: Fit) -> Option<(Vec<u8>, usize)> {
    let hmg = Homography::square_to_quad(&s.corners);
    let max_n = ((s.side() / 2.0) as usize).min(48);
    // The module count, and the grid's offset (a quarter module either way: the corners are
    // only as good as the threshold around them).
    let shifted = |(su, sv): (f32, f32), n: usize| {
        let nf = n as f32;
        UNIT.map(|(u, v)| hmg.map(u + su / nf, v + sv / nf))
    };
    let mut per_n: Vec<Scored> = Vec::new();
    for n in (10..=max_n).step_by(2) {
        let best = [0.0f32, -0.25, 0.25]
            .into_iter()
            .flat_map(|a| [0.0f32, -0.25, 0.25].map(|b| (a, b)))
            .filter_map(|shift| {
                let c = shifted(shift, n);
                border_score(img, &c, n).map(|sc| (sc, n, c))
            })
            .reduce(first_best);
        per_n.extend(best);
    }
    per_n.sort_by(|x, y| y.0.total_cmp(&x.0));
    if fit == Fit::Located {
        per_n.truncate(1);
    }
    // The count the finder's dashed sides showed, whatever its score.
    let shown = ((s.side() / s.module / 2.0).round() as usize * 2).clamp(10, 48);
    if let Some(k) = per_n.iter().position(|p| p.1 == shown) {
        let p = per_n.remove(k);
        per_n.insert(0, p);
    }
    // The best few counts, each with its corners moved to where the border fits best (a thumb
    // or glare over one side leaves the locator's corner there a module or more off; the
    // other sides still pin it).
    let (score, n, corners) = per_n
        .into_iter()
        .take(GRID_COUNTS)
        .filter_map(|(sc, n, c)| {
            if fit == Fit::Located {
                return Some((sc, n, c));
            }
            let c = fit_corners(img, c, n);
            border_score(img, &c, n).map(|sc| (sc, n, c))
        })
        .reduce(first_best)?;
    if score < GRID_SCORE {
        return None;
    }
    let hmg = Homography::square_to_quad(&corners);
    let raw: Vec<f32> = (0..n * n)
        .map(|k| module_mean(img, &hmg, n, (k % n) as f32 + 0.5, (k / n) as f32 + 0.5))
        .collect();
    // Blur spreads each module into its neighbours: take `sharpen` times their mean's
    // difference back out (a deconvolution on the module grid).
    let vals: Vec<f32> = if sharpen > 0.0 {
        (0..n * n)
            .map(|k| {
                let (x, y) = (k % n, k / n);
                let near: Vec<f32> = [(0, 1), (2, 1), (1, 0), (1, 2)]
                    .iter()
                    .filter_map(|&(dx, dy)| {
                        let (xx, yy) = ((x + dx).checked_sub(1)?, (y + dy).checked_sub(1)?);
                        (xx < n && yy < n).then(|| raw[yy * n + xx])
                    })
                    .collect();
                let mean = near.iter().sum::<f32>() / near.len().max(1) as f32;
                raw[k] + sharpen * (raw[k] - mean)
            })
            .collect()
    } else {
        raw
    };
    // Local means over 7x7 modules (a running box over the module grid).
    const R: usize = 3;
    let mut bits = vec![false; n * n];
    for y in 0..n {
        for x in 0..n {
            let (y0, y1) = (y.saturating_sub(R), (y + R + 1).min(n));
            let (x0, x1) = (x.saturating_sub(R), (x + R + 1).min(n));
            let mut sum = 0.0;
            for yy in y0..y1 {
                sum += vals[yy * n + x0..yy * n + x1].iter().sum::<f32>();
            }
            let mean = sum / ((y1 - y0) * (x1 - x0)) as f32;
            bits[y * n + x] = vals[y * n + x] < mean;
        }
    }
    const PX: usize = 4;
    const QUIET: usize = 2;
    let side = (n + 2 * QUIET) * PX;
    let mut out = vec![255u8; side * side];
    for (k, &b) in bits.iter().enumerate() {
        if b {
            let (mx, my) = (k % n + QUIET, k / n + QUIET);
            for yy in my * PX..(my + 1) * PX {
                out[yy * side + mx * PX..yy * side + (mx + 1) * PX].fill(0);
            }
        }
    }
    Some((out, side))
}

/// The share of an N-module grid's border modules on `corners` that show the finder (solid
/// left and bottom, alternating top and right), each the mean of 3x3 points a fifth of a
/// module apart, against a threshold halfway between the L and the quiet zone outside the
/// top and right sides. `None` when those differ too little.
fn border_score(img: GreyImage<'_>, corners: &[(f32, f32); 4], n: usize) -> Option<f32> {
    let hmg = Homography::square_to_quad(corners);
    let (border, dark, light) = border(|u, v| module_mean(img, &hmg, n, u, v), n, 0.6, false);
    if light - dark < 12.0 {
        return None;
    }
    let thr = (dark + light) / 2.0;
    let ok = border.iter().filter(|(v, d)| (*v < thr) == *d).count();
    Some(ok as f32 / border.len() as f32)
}

/// An N-module grid's border modules sampled by `at` (module coordinates), each with whether it
/// should be dark (the L solid, the other two sides alternating), then with `outside` also the
/// modules just outside all four sides (the quiet zone, light); and the mean of the L and of
/// the quiet zone `quiet` modules beyond the top and right sides' middles.
fn border(
    at: impl Fn(f32, f32) -> f32,
    n: usize,
    quiet: f32,
    outside: bool,
) -> (Vec<(f32, bool)>, f32, f32) {
    let nf = n as f32;
    let mut cells: Vec<(f32, bool)> = Vec::with_capacity(if outside { 8 } else { 4 } * n);
    let (mut dark, mut light) = (0.0, 0.0);
    for i in 0..n {
        let c = i as f32 + 0.5;
        let (left, bottom) = (at(0.5, c), at(c, nf - 0.5));
        let (out_top, out_right) = (at(c, -quiet), at(nf + quiet, c));
        dark += left + bottom;
        light += out_top + out_right;
        cells.extend([
            (left, true),
            (bottom, true),
            (at(c, 0.5), i % 2 == 0),
            (at(nf - 0.5, c), i % 2 == 1),
        ]);
        if outside {
            cells.extend([
                (out_top, false),
                (out_right, false),
                (at(-quiet, c), false),
                (at(c, nf + quiet), false),
            ]);
        }
    }
    (cells, dark / (2 * n) as f32, light / (2 * n) as f32)
}

/// A grid's border score, module count and corners.
type Scored = (f32, usize, [(f32, f32); 4]);

/// Of two scored grids the better, the first on a tie (no shift before a shift).
fn first_best(a: Scored, b: Scored) -> Scored {
    if b.0 > a.0 { b } else { a }
}

/// The mean of 3x3 points a fifth of a module apart around (u, v), in modules of an N-module
/// grid mapped by `hmg`.
fn module_mean(img: GreyImage<'_>, hmg: &Homography, n: usize, u: f32, v: f32) -> f32 {
    let nf = n as f32;
    let mut sum = 0.0;
    for dv in [-0.2f32, 0.0, 0.2] {
        for du in [-0.2f32, 0.0, 0.2] {
            let (x, y) = hmg.map((u + du) / nf, (v + dv) / nf);
            sum += sample(img, x - 0.5, y - 0.5) as f32;
        }
    }
    sum / 9.0
}

/// Where [`grid`] puts the module grid's corners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// The located corners, shifted a quarter module at most; the best-scoring module count.
    Located,
    /// Each corner moved, module by module, to where the border fits best
    /// (`fit_corners`), for the best few module counts and the count the finder showed: a
    /// thumb or glare over one side leaves the locator's corner there a module or more off,
    /// and the other sides still pin it.
    Border,
}

/// The unit square's corners, upright order.
const UNIT: [(f32, f32); 4] = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];

/// How many of the best-scoring module counts [`grid`] fits corners for.
const GRID_COUNTS: usize = 3;

/// How well an N-module grid on `corners` shows the finder: per border module (and per module
/// just outside, the quiet zone), how far its centre lies on the expected side of the
/// threshold between the L's darkness and the quiet zone's lightness, in units of that
/// contrast and capped at half of it either way; the mean. A continuous score, for
/// [`fit_corners`] to climb.
fn border_fit(img: GreyImage<'_>, corners: &[(f32, f32); 4], n: usize) -> f32 {
    let hmg = Homography::square_to_quad(corners);
    let nf = n as f32;
    let at = |u: f32, v: f32| {
        let (x, y) = hmg.map(u / nf, v / nf);
        sample(img, x - 0.5, y - 0.5) as f32
    };
    let (cells, dark, light) = border(at, n, 0.5, true);
    let span = light - dark;
    if span < 12.0 {
        return -1.0;
    }
    let thr = (dark + light) / 2.0;
    let sum: f32 = cells
        .iter()
        .map(|&(v, d)| {
            let m = if d { thr - v } else { v - thr };
            (m / span).clamp(-0.5, 0.5)
        })
        .sum();
    sum / cells.len() as f32
}

/// The corners of an N-module grid moved, one at a time and by a module, then half and a
/// quarter of one, while the border fits better ([`border_fit`]).
fn fit_corners(img: GreyImage<'_>, start: [(f32, f32); 4], n: usize) -> [(f32, f32); 4] {
    let module = side(&start) / n as f32;
    let mut corners = start;
    let mut best = border_fit(img, &corners, n);
    for (step, rounds) in [(1.0, 12), (0.5, 6), (0.25, 6)].map(|(f, r)| (f * module, r)) {
        for _ in 0..rounds {
            let mut moved = false;
            for c in 0..4 {
                for (dx, dy) in [(step, 0.0), (-step, 0.0), (0.0, step), (0.0, -step)] {
                    let mut t = corners;
                    t[c] = (t[c].0 + dx, t[c].1 + dy);
                    let fit = border_fit(img, &t, n);
                    if fit > best + 1e-4 {
                        (best, corners, moved) = (fit, t, true);
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }
    corners
}

/// The share of border modules that must show the finder for [`grid`] to trust a module count.
const GRID_SCORE: f32 = 0.72;

/// Bilinear sample; light outside the frame (a quiet zone, not a module or a bar).
pub(super) fn sample(img: GreyImage<'_>, x: f32, y: f32) -> u8 {
    let (w, h) = (img.width, img.height);
    if x < 0.0 || y < 0.0 || x >= (w - 1) as f32 || y >= (h - 1) as f32 {
        return 255;
    }
    let (x0, y0) = (x as usize, y as usize);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |xx: usize, yy: usize| img.data[yy * w + xx] as f32;
    let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
    let bottom = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
    (top * (1.0 - fy) + bottom * fy + 0.5) as u8
}

/// The projective map from the unit square ((0,0), (1,0), (1,1), (0,1)) to four points.
struct Homography([f32; 9]);

impl Homography {
    fn square_to_quad(q: &[(f32, f32); 4]) -> Self {
        let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = *q;
        let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
        if sx.abs() < 1e-6 && sy.abs() < 1e-6 {
            // Affine.
            return Homography([x1 - x0, x2 - x1, x0, y1 - y0, y2 - y1, y0, 0.0, 0.0, 1.0]);
        }
        let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
        let den = dx1 * dy2 - dx2 * dy1;
        let g = (sx * dy2 - dx2 * sy) / den;
        let hh = (dx1 * sy - sx * dy1) / den;
        Homography([
            x1 - x0 + g * x1,
            x3 - x0 + hh * x3,
            x0,
            y1 - y0 + g * y1,
            y3 - y0 + hh * y3,
            y0,
            g,
            hh,
            1.0,
        ])
    }

    fn map(&self, u: f32, v: f32) -> (f32, f32) {
        let m = &self.0;
        let z = m[6] * u + m[7] * v + m[8];
        (
            (m[0] * u + m[1] * v + m[2]) / z,
            (m[3] * u + m[4] * v + m[5]) / z,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qr::finder::tests::rng;

    /// An ECC 200-like module grid: solid left column and bottom row, alternating top row and
    /// right column (top-right light), random data inside.
    fn modules(n: usize, seed: u64) -> Vec<bool> {
        let mut next = rng(seed);
        (0..n * n)
            .map(|k| {
                let (i, j) = (k % n, k / n);
                if i == 0 || j == n - 1 {
                    true
                } else if j == 0 {
                    i % 2 == 0
                } else if i == n - 1 {
                    j % 2 == 1
                } else {
                    next() % 2 == 0
                }
            })
            .collect()
    }

    /// The inverse of a 3x3 matrix (row-major).
    fn inverse(m: &[f32; 9]) -> [f32; 9] {
        let det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6])
            + m[2] * (m[3] * m[7] - m[4] * m[6]);
        let c = [
            m[4] * m[8] - m[5] * m[7],
            m[2] * m[7] - m[1] * m[8],
            m[1] * m[5] - m[2] * m[4],
            m[5] * m[6] - m[3] * m[8],
            m[0] * m[8] - m[2] * m[6],
            m[2] * m[3] - m[0] * m[5],
            m[3] * m[7] - m[4] * m[6],
            m[1] * m[6] - m[0] * m[7],
            m[0] * m[4] - m[1] * m[3],
        ];
        c.map(|v| v / det)
    }

    /// A light frame with the symbol of `n` modules drawn into the quadrilateral `quad`
    /// (upright order), with some glyph-like strokes beside it.
    fn frame(w: usize, h: usize, quad: [(f32, f32); 4], n: usize) -> Vec<u8> {
        let bits = modules(n, 5);
        let inv = inverse(&Homography::square_to_quad(&quad).0);
        let mut px = vec![215u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
                let z = inv[6] * fx + inv[7] * fy + inv[8];
                let u = (inv[0] * fx + inv[1] * fy + inv[2]) / z;
                let v = (inv[3] * fx + inv[4] * fy + inv[5]) / z;
                if (0.0..1.0).contains(&u) && (0.0..1.0).contains(&v) {
                    let (i, j) = ((u * n as f32) as usize, (v * n as f32) as usize);
                    if bits[j * n + i] {
                        px[y * w + x] = 35;
                    }
                }
            }
        }
        px
    }

    fn assert_corners(found: &Symbol, want: [(f32, f32); 4]) {
        for (f, w) in found.corners.iter().zip(want) {
            assert!(
                dist(*f, w) <= 2.0,
                "corners {:?}, want {want:?}",
                found.corners
            );
        }
    }

    fn rotated(cx: f32, cy: f32, side: f32, deg: f32) -> [(f32, f32); 4] {
        let (s, c) = deg.to_radians().sin_cos();
        [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)].map(|(u, v): (f32, f32)| {
            let (u, v) = (u * side / 2.0, v * side / 2.0);
            (cx + u * c - v * s, cy + u * s + v * c)
        })
    }

    #[test]
    fn finds_the_corners_upright_rotated_and_in_perspective() {
        let (w, h) = (640, 480);
        for quad in [
            rotated(300.0, 220.0, 112.0, 0.0),
            rotated(300.0, 220.0, 112.0, 30.0),
            rotated(260.0, 260.0, 160.0, -120.0),
            // Perspective: one side shorter than the other.
            [
                (250.0, 150.0),
                (390.0, 170.0),
                (380.0, 290.0),
                (240.0, 300.0),
            ],
        ] {
            let px = frame(w, h, quad, 16);
            let found = locate(GreyImage::new(w, h, &px).unwrap()).0;
            assert_eq!(found.len(), 1, "{quad:?}: {found:?}");
            assert_corners(&found[0], quad);
        }
    }

    #[test]
    fn the_grid_redraws_the_modules() {
        let (w, h) = (640, 480);
        let quad = rotated(320.0, 240.0, 140.0, 20.0);
        let px = frame(w, h, quad, 20);
        let img = GreyImage::new(w, h, &px).unwrap();
        let s = locate(img).0[0];
        let bits = modules(20, 5);
        for sharpen in [0.0, 0.5] {
            let (data, side) = grid(img, &s, sharpen, Fit::Located).expect("a grid");
            assert_eq!(side, (20 + 4) * 4);
            for (k, &b) in bits.iter().enumerate() {
                let (x, y) = ((k % 20 + 2) * 4 + 2, (k / 20 + 2) * 4 + 2);
                assert_eq!(data[y * side + x] == 0, b, "module {k}, sharpen {sharpen}");
            }
        }
    }

    /// A thumb: a grey capsule from `from` (off the symbol) to `to`, darker at its rim.
    fn thumb(px: &mut [u8], w: usize, from: (f32, f32), to: (f32, f32), r: f32) {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let l2 = dx * dx + dy * dy;
        for (k, p) in px.iter_mut().enumerate() {
            let (x, y) = ((k % w) as f32, (k / w) as f32);
            let t = (((x - from.0) * dx + (y - from.1) * dy) / l2).clamp(0.0, 1.0);
            let d = (x - from.0 - t * dx).hypot(y - from.1 - t * dy) / r;
            if d < 1.0 {
                *p = (170.0 - 40.0 * d * d) as u8;
            }
        }
    }

    #[test]
    fn a_thumb_over_one_side_still_locates_the_symbol_and_the_fitted_grid_reads_it() {
        let (w, h) = (640, 480);
        let n = 24;
        let quad = rotated(320.0, 250.0, 192.0, 15.0);
        let mut px = frame(w, h, quad, n);
        // Over the dashed top side, from a quarter of the side off the symbol to a sixth of it
        // in, a fifth of the side wide (as the frame generator's thumbs).
        let (tl, tr, bl) = (quad[0], quad[1], quad[3]);
        let on = (tl.0 + (tr.0 - tl.0) * 0.6, tl.1 + (tr.1 - tl.1) * 0.6);
        let (ix, iy) = ((bl.0 - tl.0) / 6.0, (bl.1 - tl.1) / 6.0);
        thumb(
            &mut px,
            w,
            (on.0 - 1.5 * ix, on.1 - 1.5 * iy),
            (on.0 + ix, on.1 + iy),
            19.0,
        );
        let img = GreyImage::new(w, h, &px).unwrap();
        let found = locate(img).0;
        assert_eq!(found.len(), 1, "{found:?}");
        let (data, side) = grid(img, &found[0], 0.5, Fit::Border).expect("a grid");
        assert_eq!(side, (n + 4) * 4, "the module count");
        let bits = modules(n, 5);
        let right = bits
            .iter()
            .enumerate()
            .filter(|&(k, &b)| {
                let (x, y) = ((k % n + 2) * 4 + 2, (k / n + 2) * 4 + 2);
                (data[y * side + x] == 0) == b
            })
            .count();
        // All but the few modules under the thumb.
        assert!(
            right * 100 >= bits.len() * 95,
            "{right} of {} right",
            bits.len()
        );
    }

    #[test]
    fn text_a_qr_like_square_and_flat_grey_give_no_symbol() {
        let (w, h) = (640, 480);
        let mut next = rng(9);
        // Lines of glyph-like strokes.
        let mut px = vec![220u8; w * h];
        for line in 0..8 {
            let y0 = 40 + line * 50;
            let mut x = 40;
            while x < 600 {
                for _ in 0..4 {
                    let (sx, sy) = (x + (next() % 20) as usize, y0 + (next() % 20) as usize);
                    let (len, vertical) = (6 + (next() % 16) as usize, next() % 2 == 0);
                    for t in 0..len {
                        for d in 0..3 {
                            let (xx, yy) = if vertical {
                                (sx + d, sy + t)
                            } else {
                                (sx + t, sy + d)
                            };
                            if xx < w && yy < h {
                                px[yy * w + xx] = 40;
                            }
                        }
                    }
                }
                x += 30;
            }
        }
        assert!(locate(GreyImage::new(w, h, &px).unwrap()).0.is_empty());
        // A square of random modules without a finder (a QR code's data area, say).
        let mut px = vec![220u8; w * h];
        for j in 0..24 {
            for i in 0..24 {
                if next() % 2 == 0 {
                    for y in 0..5 {
                        for x in 0..5 {
                            px[(150 + j * 5 + y) * w + 250 + i * 5 + x] = 30;
                        }
                    }
                }
            }
        }
        assert!(locate(GreyImage::new(w, h, &px).unwrap()).0.is_empty());
        let flat = vec![128u8; w * h];
        assert!(locate(GreyImage::new(w, h, &flat).unwrap()).0.is_empty());
    }
}
