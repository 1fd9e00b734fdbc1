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
    /// The triangle (or, without one, the majority of confirmed candidates) is light-on-dark
    /// only: the code is most likely inverted (dark mode), so inverted variants go first.
    pub inverted: bool,
    /// Bar regions ([`regions`]) the cascade read with its Code 128 reader.
    pub bar_regions: u32,
    /// Compact texture regions ([`regions`]) offered to its DataMatrix reader.
    pub square_regions: u32,
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

/// A confirmed finder-pattern candidate: its centre, module size (pixels) and polarity
/// (dark-on-light).
#[derive(Clone, Copy, Debug)]
pub struct Pattern {
    pub x: f32,
    pub y: f32,
    pub module: f32,
    pub dark: bool,
}

/// At most this many candidates are kept per frame (bounds the triangle search).
const MAX_PATTERNS: usize = 48;

/// Scans `img` for finder patterns.
pub fn scan(img: GreyImage<'_>) -> Evidence {
    scan_patterns(img).0
}

/// Scans `img` for finder patterns; returns the confirmed candidates too.
pub fn scan_patterns(img: GreyImage<'_>) -> (Evidence, Vec<Pattern>) {
    let (w, h) = (img.width, img.height);
    let mut ev = Evidence::default();
    if w < 21 || h < 21 {
        return (ev, Vec::new());
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
    let [dark_triangle, light_triangle] = [true, false].map(|dark| {
        let same: Vec<&Pattern> = patterns.iter().filter(|p| p.dark == dark).collect();
        has_triangle(&same)
    });
    ev.triangle = dark_triangle || light_triangle;
    let light = patterns.iter().filter(|p| !p.dark).count();
    ev.inverted = if ev.triangle {
        light_triangle && !dark_triangle
    } else {
        2 * light > patterns.len()
    };
    (ev, patterns)
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

/// Where a 1D barcode or a small 2D symbol (DataMatrix) may be: found by [`regions`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Regions {
    /// Patches of parallel bars, largest first.
    pub bars: Vec<BarRegion>,
    /// Compact patches of fine two-dimensional texture (x, y, width, height), largest first.
    pub squares: Vec<(usize, usize, usize, usize)>,
}

/// A patch of parallel bars: its centre, the direction across the bars (the scan line's
/// direction, radians) and its size across and along the bars, in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BarRegion {
    pub cx: f32,
    pub cy: f32,
    pub angle: f32,
    pub across: f32,
    pub along: f32,
    pub blocks: u32,
}

/// Kinds of block in the [`regions`] grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Flat,
    /// Parallel edges: gradient direction in degrees, 0..180.
    Bars(u16),
    /// Edges in every direction, densely.
    Texture,
}

/// At most this many regions of each kind are reported (bounds the decoders' work).
pub const MAX_REGIONS: usize = 4;

/// Finds bar patches (1D codes) and compact texture patches (2D symbols) without decoding.
///
/// The frame is cut into blocks of about 1/45 of its height (16 px at 720p). In each block the
/// gradient is sampled on every second pixel of every second row, and its structure tensor
/// tells whether the edges in it share one direction (coherence), and the share of strong
/// samples tells whether there are many edges rather than one stroke. Blocks of bars with the
/// same direction are joined into regions (a barcode is many such blocks in a row across the
/// bars); dense texture blocks are joined into compact squares (a DataMatrix). Text shows
/// both kinds of block, but rarely enough of them together in the right shape, and a
/// false region only costs one cheap decode attempt on a small strip or crop.
pub fn regions(img: GreyImage<'_>) -> Regions {
    let (w, h) = (img.width, img.height);
    let b = (h / 45).max(8);
    let (bw, bh) = (w / b, h / b);
    let mut out = Regions::default();
    if bw < 3 || bh < 3 {
        return out;
    }
    let mut stats = vec![Stats::default(); bw * bh];
    // Every other pixel of every other row, a whole row at a time (rows as slices: no bounds
    // checks in the inner loop, which is most of the frame's cost).
    for by in 0..bh {
        let (y0, y1) = ((by * b).max(1), (by * b + b).min(h - 1));
        let row_stats = &mut stats[by * bw..(by + 1) * bw];
        for y in (y0..y1).step_by(2) {
            let up = &img.data[(y - 1) * w..y * w];
            let mid = &img.data[y * w..(y + 1) * w];
            let down = &img.data[(y + 1) * w..(y + 2) * w];
            for (bx, st) in row_stats.iter_mut().enumerate() {
                let (x0, x1) = ((bx * b).max(1), (bx * b + b).min(w - 1));
                let (mut jxx, mut jyy, mut jxy, mut sx, mut sy, mut n) =
                    (0i32, 0i32, 0i32, 0, 0, 0);
                for x in (x0..x1).step_by(2) {
                    let gx = mid[x + 1] as i32 - mid[x - 1] as i32;
                    let gy = down[x] as i32 - up[x] as i32;
                    jxx += gx * gx;
                    jyy += gy * gy;
                    jxy += gx * gy;
                    sx += (gx.abs() >= STRONG) as u32;
                    sy += (gy.abs() >= STRONG) as u32;
                    n += 1;
                }
                // At most b/2 samples of 255² each: i32 holds a row of any block size here.
                st.jxx += jxx as i64;
                st.jyy += jyy as i64;
                st.jxy += jxy as i64;
                st.sx += sx;
                st.sy += sy;
                st.n += n;
            }
        }
    }
    let grid: Vec<Block> = stats.iter().map(Stats::classify).collect();
    let mut bars = Vec::new();
    let mut squares = Vec::new();
    group(&grid, bw, bh, |kind, members| match kind {
        Block::Bars(_) if members.len() >= 6 => {
            bars.extend(bar_region(&grid, bw, b, members));
        }
        Block::Texture => squares.extend(square(members, bw, b, (w, h))),
        _ => {}
    });
    // Large modules (a DataMatrix held close) leave single blocks flat or bar-like: the same
    // test on blocks twice the size finds those symbols whole.
    let (bw2, bh2) = (bw / 2, bh / 2);
    let coarse: Vec<Block> = (0..bw2 * bh2)
        .map(|i| {
            let (x, y) = (2 * (i % bw2), 2 * (i / bw2));
            let mut st = Stats::default();
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                st.add(&stats[(y + dy) * bw + x + dx]);
            }
            // Large modules put fewer samples on an edge: a lower share of strong samples.
            let e = (st.jxx + st.jyy) as f64;
            let d = (st.jxx - st.jyy) as f64;
            let coherence = (d * d + 4.0 * (st.jxy as f64).powi(2)).sqrt() / e.max(1.0);
            let edges = st.sx.min(st.sy) as f64 >= 0.08 * st.n as f64;
            if coherence < 0.6 && e >= 300.0 * st.n as f64 && edges {
                Block::Texture
            } else {
                Block::Flat
            }
        })
        .collect();
    group(&coarse, bw2, bh2, |kind, members| {
        if kind == Block::Texture {
            squares.extend(square(members, bw2, 2 * b, (w, h)));
        }
    });
    bars.sort_by_key(|r| std::cmp::Reverse(r.blocks));
    bars.truncate(MAX_REGIONS);
    // Largest first; a crop inside one already kept adds nothing.
    squares.sort_by_key(|s| std::cmp::Reverse(s.2 * s.3));
    let mut kept: Vec<(usize, usize, usize, usize)> = Vec::new();
    for s in squares {
        let inside = |k: &(usize, usize, usize, usize)| {
            s.0 >= k.0 && s.1 >= k.1 && s.0 + s.2 <= k.0 + k.2 && s.1 + s.3 <= k.1 + k.3
        };
        if !kept.iter().any(inside) && kept.len() < MAX_REGIONS {
            kept.push(s);
        }
    }
    out.bars = bars;
    out.squares = kept;
    out
}

/// Gradient statistics of one block: the structure tensor and the strong-edge counts.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    jxx: i64,
    jyy: i64,
    jxy: i64,
    n: u32,
    sx: u32,
    sy: u32,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.jxx += o.jxx;
        self.jyy += o.jyy;
        self.jxy += o.jxy;
        self.n += o.n;
        self.sx += o.sx;
        self.sy += o.sy;
    }

    fn classify(&self) -> Block {
        classify_block(self.jxx, self.jyy, self.jxy, self.n, self.sx, self.sy)
    }
}

/// Calls `f` with each connected group of same-kind, non-flat blocks (8-neighbours; bars of a
/// similar direction reach two blocks, so a wide bar or a glare spot that leaves a flat block
/// inside a barcode does not cut it in pieces).
fn group(grid: &[Block], bw: usize, bh: usize, mut f: impl FnMut(Block, &[usize])) {
    let mut seen = vec![false; bw * bh];
    let mut stack = Vec::new();
    let mut members = Vec::new();
    for start in 0..bw * bh {
        if seen[start] || grid[start] == Block::Flat {
            continue;
        }
        let kind = grid[start];
        members.clear();
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            members.push(i);
            let (x, y) = (i % bw, i / bw);
            let reach: i32 = if matches!(kind, Block::Bars(_)) { 2 } else { 1 };
            for dy in -reach..=reach {
                for dx in -reach..=reach {
                    let (nx, ny) = (x as i32 + dx, y as i32 + dy);
                    if nx < 0 || ny < 0 || nx >= bw as i32 || ny >= bh as i32 {
                        continue;
                    }
                    let j = ny as usize * bw + nx as usize;
                    if !seen[j] && same_kind(kind, grid[j]) {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        f(kind, &members);
    }
}

/// The crop around a compact texture group (at least four blocks, not a line of text, mostly
/// filled), with a margin of 40% of its size (at least two blocks): the group may be only
/// the busiest part of the symbol, and the reader wants the quiet zone around it.
fn square(
    members: &[usize],
    bw: usize,
    b: usize,
    (w, h): (usize, usize),
) -> Option<(usize, usize, usize, usize)> {
    if members.len() < 4 {
        return None;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for &i in members {
        let (x, y) = (i % bw, i / bw);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let (cw, ch) = (x1 - x0 + 1, y1 - y0 + 1);
    if cw.max(ch) > 2 * cw.min(ch) + 1 || members.len() * 2 < cw * ch {
        return None;
    }
    let m = (2 * b).max(cw.max(ch) * b * 2 / 5);
    let (px0, py0) = ((x0 * b).saturating_sub(m), (y0 * b).saturating_sub(m));
    let (px1, py1) = (((x1 + 1) * b + m).min(w), ((y1 + 1) * b + m).min(h));
    Some((px0, py0, px1 - px0, py1 - py0))
}

/// A gradient sample at least this strong counts as an edge (a dim, blurred code's module
/// edges still clear it; sensor noise of sigma 7, about 10 in a difference, rarely does).
const STRONG: i32 = 16;

fn classify_block(jxx: i64, jyy: i64, jxy: i64, n: u32, sx: u32, sy: u32) -> Block {
    let e = (jxx + jyy) as f64;
    // Flat: mean squared gradient below ~12².
    if n == 0 || e < 144.0 * n as f64 {
        return Block::Flat;
    }
    let d = (jxx - jyy) as f64;
    let coherence = (d * d + 4.0 * (jxy as f64).powi(2)).sqrt() / e;
    let strong = (sx.max(sy) as f64) / n as f64;
    if coherence > 0.7 && strong >= 0.15 {
        let deg = (0.5 * (2.0 * jxy as f64).atan2(d)).to_degrees();
        return Block::Bars(deg.rem_euclid(180.0) as u16 % 180);
    }
    // Texture needs more energy than bars: noise alone is incoherent too.
    if coherence < 0.6 && e >= 300.0 * n as f64 && sx.min(sy) as f64 >= 0.2 * n as f64 {
        return Block::Texture;
    }
    Block::Flat
}

fn same_kind(a: Block, b: Block) -> bool {
    match (a, b) {
        (Block::Bars(p), Block::Bars(q)) => {
            let d = p.abs_diff(q);
            d.min(180 - d) <= 20
        }
        (Block::Texture, Block::Texture) => true,
        _ => false,
    }
}

/// The geometry of a set of bar blocks: mean direction (doubled-angle average), centre, and
/// extents across and along the bars. `None` unless it is longer across the bars than along
/// them (a barcode is wider than its bars are tall, or at least not much narrower).
fn bar_region(grid: &[Block], bw: usize, b: usize, members: &[usize]) -> Option<BarRegion> {
    let (mut c2, mut s2, mut cx, mut cy) = (0f32, 0f32, 0f32, 0f32);
    for &i in members {
        if let Block::Bars(deg) = grid[i] {
            let a = (2.0 * deg as f32).to_radians();
            (c2, s2) = (c2 + a.cos(), s2 + a.sin());
        }
        cx += ((i % bw) as f32 + 0.5) * b as f32;
        cy += ((i / bw) as f32 + 0.5) * b as f32;
    }
    let n = members.len() as f32;
    let (cx, cy) = (cx / n, cy / n);
    let angle = 0.5 * s2.atan2(c2);
    let (ux, uy) = (angle.cos(), angle.sin());
    let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &i in members {
        let (x, y) = (
            ((i % bw) as f32 + 0.5) * b as f32 - cx,
            ((i / bw) as f32 + 0.5) * b as f32 - cy,
        );
        let (u, v) = (x * ux + y * uy, -x * uy + y * ux);
        (u0, u1, v0, v1) = (u0.min(u), u1.max(u), v0.min(v), v1.max(v));
    }
    let (across, along) = (u1 - u0 + b as f32, v1 - v0 + b as f32);
    // Re-centre on the extents (the block mean leans towards the denser side).
    let (mu, mv) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
    let (cx, cy) = (cx + mu * ux - mv * uy, cy + mu * uy + mv * ux);
    (across >= 0.8 * along && across >= 4.0 * b as f32).then_some(BarRegion {
        cx,
        cy,
        angle,
        across,
        along,
        blocks: members.len() as u32,
    })
}

#[cfg(test)]
pub(super) mod tests {
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
            ev.likely() && ev.patterns == 3 && ev.dark_on_light > 0 && !ev.inverted,
            "{ev:?}"
        );
        // Light on dark: the cascade runs its QR steps on the inverted frame first.
        let ev = scan(GreyImage::new(w, h, &code_corners(w, h, 6, true)).unwrap());
        assert!(
            ev.likely() && ev.patterns == 3 && ev.light_on_dark > 0 && ev.inverted,
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

    /// A tiny deterministic generator (xorshift) for test patterns.
    pub(in crate::qr) fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Bars of 1-4 modules of `m` px (dark and light alternating) over `width` px, `height`
    /// tall, drawn vertically at (x0, y0) on a light frame, or horizontally when `transpose`.
    fn bars(
        w: usize,
        h: usize,
        m: usize,
        (x0, y0): (usize, usize),
        (width, height): (usize, usize),
        transpose: bool,
    ) -> Vec<u8> {
        let mut px = vec![225u8; w * h];
        let mut next = rng(7);
        let (mut x, mut dark) = (0, true);
        while x < width {
            let run = m * (1 + (next() % 4) as usize);
            for dx in x..(x + run).min(width) {
                for dy in 0..height {
                    let (px_x, px_y) = if transpose {
                        (x0 + dy, y0 + dx)
                    } else {
                        (x0 + dx, y0 + dy)
                    };
                    if dark {
                        px[px_y * w + px_x] = 25;
                    }
                }
            }
            x += run;
            dark = !dark;
        }
        px
    }

    #[test]
    fn bars_make_one_region_across_them_at_any_rotation() {
        let (w, h) = (640, 480);
        let r =
            regions(GreyImage::new(w, h, &bars(w, h, 3, (100, 200), (420, 90), false)).unwrap());
        assert_eq!(r.bars.len(), 1, "{r:?}");
        let b = r.bars[0];
        assert!(
            b.angle.sin().abs() < 0.1,
            "across the bars is along x: {b:?}"
        );
        assert!(
            (b.across - 420.0).abs() < 60.0 && (b.along - 90.0).abs() < 50.0,
            "{b:?}"
        );
        assert!(
            (b.cx - 310.0).abs() < 30.0 && (b.cy - 245.0).abs() < 30.0,
            "{b:?}"
        );
        let r = regions(GreyImage::new(w, h, &bars(w, h, 3, (200, 20), (420, 90), true)).unwrap());
        assert_eq!(r.bars.len(), 1, "{r:?}");
        assert!(
            r.bars[0].angle.cos().abs() < 0.1,
            "across is along y: {:?}",
            r.bars[0]
        );
    }

    #[test]
    fn a_square_of_random_modules_is_a_texture_region_not_bars() {
        let (w, h) = (640, 480);
        let mut px = vec![230u8; w * h];
        let mut next = rng(11);
        let (m, n, x0, y0) = (5, 24, 300, 150);
        for my in 0..n {
            for mx in 0..n {
                if next() % 2 == 0 {
                    for y in 0..m {
                        for x in 0..m {
                            px[(y0 + my * m + y) * w + x0 + mx * m + x] = 20;
                        }
                    }
                }
            }
        }
        let r = regions(GreyImage::new(w, h, &px).unwrap());
        assert!(r.bars.is_empty(), "{r:?}");
        let (sx, sy, sw, sh) = *r.squares.first().expect("a square");
        assert!(
            sx <= x0 && sy <= y0 && sx + sw >= x0 + n * m && sy + sh >= y0 + n * m,
            "{r:?}"
        );
    }

    #[test]
    fn flat_noise_has_no_region() {
        let (w, h) = (640, 480);
        let mut next = rng(3);
        let px: Vec<u8> = (0..w * h).map(|_| 120 + (next() % 12) as u8).collect();
        assert_eq!(
            regions(GreyImage::new(w, h, &px).unwrap()),
            Regions::default()
        );
    }
}
