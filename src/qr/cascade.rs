//! The decoder cascade: an ordered list of (decoder, image variant) steps, tried until one finds
//! a code. When the first step finds nothing, a cheap finder-pattern scan (`finder`) decides
//! how many of the others run: all of them when three finder patterns form a QR triangle
//! ([`Evidence::likely`]), only the next [`Cascade::WEAK_STEPS`] when there are just three
//! unrelated candidates ([`Evidence::some`]), none otherwise. Frames without a code — most
//! camera frames — so cost one decoder pass and one scan, even when they are full of text or
//! code-like texture.
//!
//! Trace codes (issue 19): the same scan point also runs [`finder::regions`], a block-gradient
//! scan for patches of parallel bars and compact fine texture. Each bar patch is cut out as a
//! small strip sampled across the bars (any rotation) and read by the Code 128 reader before
//! the QR fallbacks. After them, [`dmlocate`] looks for DataMatrix symbols (their outline and
//! L finder) and each one found is read upright and perspective-corrected, then from its
//! sampled module grid; the texture patches are cropped for the QR reader (and for the
//! DataMatrix reader when a symbol was located but not read); then the Code 128 reader on
//! an upright crop around each bar patch; last, every window the locator searched goes to
//! rxing's own DataMatrix detector; and when the scan confirmed two finder patterns or more,
//! [`complete`] draws a hidden third one back for the QR readers (a thumb over a corner). A
//! symbol whose finder shows three sides (a thumb over the fourth) has its module grid fitted
//! to the border. Crops and located symbols are also read unsharp-masked (defocused small
//! modules). A light-on-dark finder triangle runs the QR steps on the
//! inverted frame first. A frame without any such patch pays only for the scans.
//! The default order comes from measurements on the tuning frames (`fixtures/qr/frames`,
//! `fixtures/qr/tuning` and larger scratch sets from the same generator; see
//! `benches/README.md`), never on `fixtures/qr/heldback`.

use std::time::{Duration, Instant};

use super::complete;
use super::decode::{self, Decoded, Decoder};
use super::dmlocate;
use super::finder::{self, BarRegion, Evidence};
use super::frame::GreyImage;

/// Which version of the frame a step decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The frame as captured.
    Normal,
    /// `255 - x`: light-on-dark codes.
    Inverted,
    /// Half size (2x2 mean): smooths noise and JPEG blocks, and is four times cheaper.
    Halved,
    /// Half size, inverted.
    HalvedInverted,
    /// A strip cut across a bar region, or a crop around a texture region (`finder::regions`).
    Region,
}

impl Variant {
    /// The same variant on the other polarity.
    pub fn flipped(self) -> Self {
        match self {
            Variant::Normal => Variant::Inverted,
            Variant::Inverted => Variant::Normal,
            Variant::Halved => Variant::HalvedInverted,
            Variant::HalvedInverted => Variant::Halved,
            Variant::Region => Variant::Region,
        }
    }
}

/// One step: the decoder's index in the cascade and the variant it reads.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub decoder: usize,
    pub variant: Variant,
}

/// Which step found the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CascadeHit {
    pub decoder: &'static str,
    pub variant: Variant,
}

/// The result of one frame: the codes (empty when none), who found them, the finder evidence
/// (zero when the first step found the code) and the time spent.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub decoded: Vec<Decoded>,
    pub hit: Option<CascadeHit>,
    pub evidence: Evidence,
    pub elapsed: Duration,
}

/// Decoders tried in order; see the module docs.
pub struct Cascade {
    decoders: Vec<Box<dyn Decoder>>,
    steps: Vec<Step>,
    gate: bool,
    /// Code 128, DataMatrix and QR readers on the regions the gate finds (`None`: QR only).
    trace: Option<Trace>,
}

impl Default for Cascade {
    /// quircs first (fastest with a high yield), then rxing's zxing-cpp QR reader (another
    /// detector: it reads codes, GS1 QR among them, the others' detectors miss), then rxing's
    /// classic reader (a hybrid binariser that copes with glare and low contrast), quircs and
    /// rxing on the inverted frame for light-on-dark codes, then the half-size frame for
    /// noisy/blocky frames, rqrr last. Plus the trace-code readers (see the module docs).
    fn default() -> Self {
        use Variant::*;
        let names = ["quircs", "rxing", "rqrr", "rxing-cpp"];
        let order = [
            (0, Normal),
            (3, Normal),
            (1, Normal),
            (0, Inverted),
            (1, Inverted),
            (1, Halved),
            (1, HalvedInverted),
            (2, Normal),
            (0, Halved),
            (2, Inverted),
        ];
        Cascade::new(&names, &order, true).expect("known decoder names")
    }
}

impl Cascade {
    /// Fallback steps (after the first) that run on weak finder evidence: in the default order
    /// rxing-cpp, rxing and quircs inverted, full-size passes that rescue such frames.
    pub const WEAK_STEPS: usize = 3;

    /// A cascade of the named decoders (`rqrr`, `quircs`, `rxing`) and steps indexing them.
    /// With `gate`, the finder scan limits the fallbacks (see the module docs). `None` for an
    /// unknown decoder name.
    pub fn new(names: &[&str], steps: &[(usize, Variant)], gate: bool) -> Option<Self> {
        let decoders = names
            .iter()
            .map(|n| decode::by_name(n))
            .collect::<Option<Vec<_>>>()?;
        let steps = steps
            .iter()
            .filter(|(d, _)| *d < decoders.len())
            .map(|&(decoder, variant)| Step { decoder, variant })
            .collect();
        Some(Cascade {
            decoders,
            steps,
            gate,
            trace: gate.then(Default::default),
        })
    }

    /// The same cascade reading QR codes only (no region scan, no Code 128 or DataMatrix).
    pub fn qr_only(mut self) -> Self {
        self.trace = None;
        self
    }

    /// One decoder on the frame as captured, nothing else (for comparisons).
    pub fn single(name: &str) -> Option<Self> {
        Cascade::new(&[name], &[(0, Variant::Normal)], false)
    }

    /// Tries the steps in order on `img` until one decodes something.
    pub fn decode(&self, img: GreyImage<'_>) -> Outcome {
        match &self.trace {
            Some(trace) => self.decode_scan_first(img, trace),
            None => self.decode_qr_first(img),
        }
    }

    /// QR only (before issue 19): the first step always runs; the finder scan decides the
    /// fallbacks.
    fn decode_qr_first(&self, img: GreyImage<'_>) -> Outcome {
        let start = Instant::now();
        let mut evidence = Evidence::default();
        let mut variants = Variants::new(img);
        let mut steps = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            if self.gate && i == 1 {
                // Only once the first decoder found nothing: a hit never pays for the scan.
                evidence = finder::scan(img);
                if !evidence.likely() {
                    steps = if evidence.some() {
                        1 + Self::WEAK_STEPS
                    } else {
                        1
                    };
                }
            }
            if i >= steps {
                break;
            }
            let decoder = &self.decoders[step.decoder];
            let found = decoder.decode(variants.get(step.variant));
            if !found.is_empty() {
                return hit(found, decoder.name(), step.variant, evidence, start);
            }
        }
        miss(evidence, start)
    }

    /// Every symbology: both scans first (about 1 ms together at 720p), then only the readers
    /// they call for. On the tuning frames every code the first QR step (quircs) read showed
    /// at least three confirmed finder patterns ([`Evidence::some`]), and no frame without a
    /// code did, so the QR steps run only on such evidence and a frame without any code pays
    /// for the scans and for the few texture crops text leaves.
    fn decode_scan_first(&self, img: GreyImage<'_>, trace: &Trace) -> Outcome {
        let start = Instant::now();
        let (code128, dm, qr, cpp) = trace;
        let mut variants = Variants::new(img);
        let (mut evidence, patterns) = finder::scan_patterns(img);
        let steps = if evidence.likely() {
            self.steps.len()
        } else if evidence.some() {
            1 + Self::WEAK_STEPS
        } else {
            0
        };
        // A light-on-dark finder triangle: the same steps, each on the other polarity (a dark
        // mode code is read by the first inverted pass instead of after every normal one).
        let flip = evidence.inverted;
        let mut qr_step = |i: usize, evidence: Evidence| {
            let step = self.steps.get(i)?;
            let decoder = &self.decoders[step.decoder];
            let variant = if flip {
                step.variant.flipped()
            } else {
                step.variant
            };
            let found = decoder.decode(variants.get(variant));
            (!found.is_empty()).then(|| hit(found, decoder.name(), variant, evidence, start))
        };
        if steps > 0
            && let Some(out) = qr_step(0, evidence)
        {
            return out;
        }
        let regions = finder::regions(img);
        evidence.bar_regions = regions.bars.len() as u32;
        evidence.square_regions = regions.squares.len() as u32;
        for r in &regions.bars {
            let (mut data, w, h) = strip(img, r);
            // As sampled, then flattened (glare or shade along the code defeats the reader's
            // one threshold per row).
            for pass in 0..2 {
                if pass == 1 {
                    flatten_rows(&mut data, w);
                }
                let found = code128.decode(GreyImage::new(w, h, &data).expect("strip"));
                if !found.is_empty() {
                    return hit(found, code128.name(), Variant::Region, evidence, start);
                }
            }
        }
        for i in 1..steps {
            if let Some(out) = qr_step(i, evidence) {
                return out;
            }
        }
        // DataMatrix symbols the locator finds, read upright from a perspective-corrected crop,
        // then from that crop at twice the resolution and sharpened, then from their module
        // grid sampled directly.
        let (symbols, windows) = dmlocate::locate(img);
        for s in &symbols {
            let size = (s.side().round() as usize).clamp(48, 200);
            let (data, n) = dmlocate::rectify(img, s, size, 0.12);
            let found = dm.decode(GreyImage::new(n, n, &data).expect("square"));
            if !found.is_empty() {
                return hit(found, dm.name(), Variant::Region, evidence, start);
            }
            // Twice the resolution, unsharp-masked: small modules a defocused lens smeared.
            let (data, n) = dmlocate::rectify(img, s, (2 * size).min(400), 0.12);
            let sharp = GreyImage::new(n, n, &data).expect("square").sharpened(1.0);
            let found = dm.decode(GreyImage::new(n, n, &sharp).expect("square"));
            if !found.is_empty() {
                return hit(found, dm.name(), Variant::Region, evidence, start);
            }
            for fit in [dmlocate::Fit::Located, dmlocate::Fit::Border] {
                if let Some((data, n)) = dmlocate::grid(img, s, GRID_SHARPEN, fit) {
                    let found = dm.decode(GreyImage::new(n, n, &data).expect("grid"));
                    if !found.is_empty() {
                        return hit(found, dm.name(), Variant::Region, evidence, start);
                    }
                }
            }
        }
        // A texture patch is a DataMatrix the locator found but could not read, or (when the
        // scan saw a finder pattern at all) a QR code whose finder patterns it could not
        // confirm (blur, glare, a thumb).
        let dm_crops = !symbols.is_empty();
        for &(x, y, w, h) in &regions.squares {
            let data = img.cropped(x, y, w, h);
            let view = GreyImage::new(w, h, &data).expect("crop");
            let mut readers = Vec::new();
            if dm_crops {
                readers.push(dm as &dyn Decoder);
            }
            if evidence.patterns > 0 {
                readers.push(qr);
            }
            for reader in readers {
                let found = reader.decode(view);
                if !found.is_empty() {
                    return hit(found, reader.name(), Variant::Region, evidence, start);
                }
            }
            if evidence.patterns > 0 {
                // zxing-cpp's detector on the crop, then both QR readers on the crop sharpened
                // (small modules a defocused lens smeared together).
                let found = cpp.decode(view);
                if !found.is_empty() {
                    return hit(found, cpp.name(), Variant::Region, evidence, start);
                }
                let sharp = view.sharpened(CROP_SHARPEN);
                let sharp = GreyImage::new(w, h, &sharp).expect("crop");
                for reader in [qr as &dyn Decoder, cpp] {
                    let found = reader.decode(sharp);
                    if !found.is_empty() {
                        return hit(found, reader.name(), Variant::Region, evidence, start);
                    }
                }
            }
            // Light-on-dark finder cross-sections: a dark-mode code the scan could not confirm.
            if evidence.patterns > 0 && evidence.inverted {
                let inv = view.inverted();
                let found = qr.decode(GreyImage::new(w, h, &inv).expect("crop"));
                if !found.is_empty() {
                    return hit(found, qr.name(), Variant::Region, evidence, start);
                }
            }
            if dm_crops {
                // Half size: large blurred modules become sharp small ones.
                let (half, hw, hh) = view.halved();
                let found = dm.decode(GreyImage::new(hw, hh, &half).expect("half crop"));
                if !found.is_empty() {
                    return hit(found, dm.name(), Variant::Region, evidence, start);
                }
            }
        }
        // No QR step ran, but the scan saw light-on-dark finder candidates: the first fallback
        // (zxing-cpp's detector) on the inverted area around the texture regions (their box
        // and half its size again on each side), for a dark-mode code whose finder patterns
        // refresh bands or moiré broke up. A crop, not the frame: about a quarter of the time.
        if steps == 0 && evidence.patterns > 0 && evidence.inverted && !regions.squares.is_empty() {
            let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
            for &(x, y, w, h) in &regions.squares {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + w), y1.max(y + h));
            }
            let m = (x1 - x0).max(y1 - y0) / 2;
            let (x0, y0) = (x0.saturating_sub(m), y0.saturating_sub(m));
            let (x1, y1) = ((x1 + m).min(img.width), (y1 + m).min(img.height));
            let (w, h) = (x1 - x0, y1 - y0);
            let data = img.cropped(x0, y0, w, h);
            let inv = GreyImage::new(w, h, &data).expect("crop").inverted();
            let found = cpp.decode(GreyImage::new(w, h, &inv).expect("crop"));
            if !found.is_empty() {
                return hit(found, cpp.name(), Variant::Region, evidence, start);
            }
        }
        // Last, the Code 128 reader on an upright crop around each bar region, every row of it
        // (reads codes whose strip fails: glare over part of the bars, a strip cut short).
        for r in &regions.bars {
            let ext = 0.65 * r.across.max(r.along);
            let (x0, y0) = (
                (r.cx - ext).max(0.0) as usize,
                (r.cy - ext).max(0.0) as usize,
            );
            let x1 = ((r.cx + ext).max(0.0) as usize).min(img.width);
            let y1 = ((r.cy + ext).max(0.0) as usize).min(img.height);
            if x1 <= x0 + 8 || y1 <= y0 + 8 {
                continue;
            }
            let data = img.cropped(x0, y0, x1 - x0, y1 - y0);
            let found = code128.decode(GreyImage::new(x1 - x0, y1 - y0, &data).expect("crop"));
            if !found.is_empty() {
                return hit(found, code128.name(), Variant::Region, evidence, start);
            }
        }
        // The candidate windows of the DataMatrix locator, for rxing's own detector (it traces
        // a symbol's edges from inside, where the locator wants the whole outline), shrunk to
        // at most WINDOW_READ pixels across: a window that large holds large modules.
        for &(x, y, w, h) in &windows {
            let k = w.max(h).div_ceil(WINDOW_READ).max(1);
            let data = dmlocate::shrink(img.data, img.width, (x, y, w, h), k);
            let (w, h) = (w / k, h / k);
            let found = dm.decode(GreyImage::new(w, h, &data).expect("window"));
            if !found.is_empty() {
                return hit(found, dm.name(), Variant::Region, evidence, start);
            }
        }
        // Two finder patterns and no code: a QR code with one corner hidden, its finder drawn
        // in where it would be (a third candidate may be the alignment pattern among data).
        if patterns.len() >= 2 {
            for (data, w, h) in complete::crops(img, &patterns) {
                for reader in [qr as &dyn Decoder, cpp] {
                    let found = reader.decode(GreyImage::new(w, h, &data).expect("crop"));
                    if !found.is_empty() {
                        return hit(found, reader.name(), Variant::Region, evidence, start);
                    }
                }
            }
        }
        miss(evidence, start)
    }
}

/// The largest side of a locator window the DataMatrix reader gets (larger ones are shrunk):
/// on 1,080 scratch tuning frames 320 read two codes more than 240; unshrunk windows read three
/// more on one set and one fewer on the other, and a frame without a code then took 4.5 ms at
/// p90 instead of 2.6.
const WINDOW_READ: usize = 320;

/// How far each pixel of a texture crop is pushed from its 3x3 mean before the QR readers get
/// it again: on 1,080 scratch tuning frames 2 read one code more than 1 (and the crop readers
/// together 5 and 4 codes more than without them).
const CROP_SHARPEN: f32 = 2.0;

/// How much of its neighbours' mean each sampled DataMatrix module gives back
/// ([`dmlocate::grid`]): with it the grid reads a defocused 3 px-module symbol (tuning 032)
/// and nothing less than without it (0.5 and 1.0 measured the same).
const GRID_SHARPEN: f32 = 0.5;

/// The readers of the trace-code steps: Code 128 on strips, DataMatrix and QR on crops, and
/// zxing-cpp's QR reader on the inverted area around texture regions.
type Trace = (
    decode::Code128,
    decode::DataMatrix,
    decode::Rxing,
    decode::RxingCpp,
);

fn hit(
    decoded: Vec<Decoded>,
    decoder: &'static str,
    variant: Variant,
    evidence: Evidence,
    start: Instant,
) -> Outcome {
    Outcome {
        decoded,
        hit: Some(CascadeHit { decoder, variant }),
        evidence,
        elapsed: start.elapsed(),
    }
}

fn miss(evidence: Evidence, start: Instant) -> Outcome {
    Outcome {
        decoded: Vec::new(),
        hit: None,
        evidence,
        elapsed: start.elapsed(),
    }
}

/// Rows sampled across a bar region, for the Code 128 reader.
const STRIP_ROWS: usize = 10;

/// A strip `STRIP_ROWS` high sampled across the bars of `r` (bilinear, one pixel per step),
/// over the middle 60% of the bars' height and past both ends by a quiet zone's worth: the
/// barcode straightened whatever its rotation, so every row of the strip crosses it.
fn strip(img: GreyImage<'_>, r: &BarRegion) -> (Vec<u8>, usize, usize) {
    let margin = 0.12 * r.across + 24.0;
    let len = (r.across + 2.0 * margin).min(4096.0) as usize;
    let (ux, uy) = (r.angle.cos(), r.angle.sin());
    let (vx, vy) = (-uy, ux);
    let mut out = Vec::with_capacity(len * STRIP_ROWS);
    for k in 0..STRIP_ROWS {
        let v = (k as f32 / (STRIP_ROWS - 1) as f32 - 0.5) * 0.6 * r.along;
        let (x0, y0) = (
            r.cx - ux * len as f32 / 2.0 + vx * v,
            r.cy - uy * len as f32 / 2.0 + vy * v,
        );
        out.extend((0..len).map(|t| dmlocate::sample(img, x0 + ux * t as f32, y0 + uy * t as f32)));
    }
    (out, len, STRIP_ROWS)
}

/// Subtracts from each pixel the mean of its row neighbourhood (about three wide bars) and
/// stretches the rest around mid-grey: slow light changes along the code go, bars stay.
fn flatten_rows(data: &mut [u8], w: usize) {
    const R: usize = 16;
    let mut prefix = vec![0u32; w + 1];
    for row in data.chunks_mut(w) {
        for (i, &v) in row.iter().enumerate() {
            prefix[i + 1] = prefix[i] + v as u32;
        }
        for (x, v) in row.iter_mut().enumerate() {
            let (a, b) = (x.saturating_sub(R), (x + R + 1).min(w));
            let mean = (prefix[b] - prefix[a]) as i32 / (b - a) as i32;
            *v = (128 + 2 * (*v as i32 - mean)).clamp(0, 255) as u8;
        }
    }
}

/// The frame's variants, each computed on first use.
struct Variants<'a> {
    img: GreyImage<'a>,
    inverted: Option<Vec<u8>>,
    halved: Option<(Vec<u8>, usize, usize)>,
    halved_inverted: Option<Vec<u8>>,
}

impl<'a> Variants<'a> {
    fn new(img: GreyImage<'a>) -> Self {
        Variants {
            img,
            inverted: None,
            halved: None,
            halved_inverted: None,
        }
    }

    fn get(&mut self, v: Variant) -> GreyImage<'_> {
        let img = self.img;
        let (w, h) = (img.width, img.height);
        match v {
            Variant::Normal | Variant::Region => img,
            Variant::Inverted => GreyImage {
                width: w,
                height: h,
                data: self.inverted.get_or_insert_with(|| img.inverted()),
            },
            Variant::Halved | Variant::HalvedInverted => {
                let (data, hw, hh) = self.halved.get_or_insert_with(|| img.halved());
                let (hw, hh) = (*hw, *hh);
                if v == Variant::Halved {
                    return GreyImage {
                        width: hw,
                        height: hh,
                        data,
                    };
                }
                let half = GreyImage {
                    width: hw,
                    height: hh,
                    data,
                };
                let inv = self.halved_inverted.get_or_insert_with(|| half.inverted());
                GreyImage {
                    width: hw,
                    height: hh,
                    data: inv,
                }
            }
        }
    }
}
