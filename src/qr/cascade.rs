//! The decoder cascade: an ordered list of (decoder, image variant) steps, tried until one finds
//! a code. When the first step finds nothing, a cheap finder-pattern scan (`finder`) decides
//! how many of the others run: all of them when three finder patterns form a QR triangle
//! ([`Evidence::likely`]), only the next [`Cascade::WEAK_STEPS`] when there are just three
//! unrelated candidates ([`Evidence::some`]), none otherwise. Frames without a code — most
//! camera frames — so cost one decoder pass and one scan, even when they are full of text or
//! code-like texture.
//! The default order comes from measurements on `fixtures/qr/frames` (see `benches/README.md`).

use std::time::{Duration, Instant};

use super::decode::{self, Decoded, Decoder};
use super::finder::{self, Evidence};
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
}

impl Default for Cascade {
    /// quircs first (fastest with a high yield), then rxing (highest yield, a hybrid binariser
    /// that copes with glare and low contrast), each on the inverted frame for light-on-dark
    /// codes, then the half-size frame for noisy/blocky frames, rqrr last.
    fn default() -> Self {
        use Variant::*;
        let names = ["quircs", "rxing", "rqrr"];
        let order = [
            (0, Normal),
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
    /// rxing, quircs inverted and rxing inverted, the full-size passes that rescue such frames.
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
        })
    }

    /// One decoder on the frame as captured, nothing else (for comparisons).
    pub fn single(name: &str) -> Option<Self> {
        Cascade::new(&[name], &[(0, Variant::Normal)], false)
    }

    /// Tries the steps in order on `img` until one decodes something.
    pub fn decode(&self, img: GreyImage<'_>) -> Outcome {
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
                let hit = CascadeHit {
                    decoder: decoder.name(),
                    variant: step.variant,
                };
                let decoded = found.into_iter().map(Decoded::from_bytes).collect();
                return Outcome {
                    decoded,
                    hit: Some(hit),
                    evidence,
                    elapsed: start.elapsed(),
                };
            }
        }
        Outcome {
            decoded: Vec::new(),
            hit: None,
            evidence,
            elapsed: start.elapsed(),
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
            Variant::Normal => img,
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
