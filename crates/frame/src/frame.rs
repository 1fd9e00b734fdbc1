//! Greyscale frames as the camera drivers hand them to the core, and the borrowed view the
//! decoders read. Also the two cheap image transforms the cascade uses (inversion and 2x box
//! downscale). Plain data and loops: no codec, no device.

use std::sync::Arc;
use std::time::Instant;

/// One captured greyscale frame (8 bits per pixel, row-major, no padding).
#[derive(Clone, Debug)]
pub struct GreyFrame {
    pub width: u32,
    pub height: u32,
    pub data: Arc<[u8]>,
    /// When the source produced the frame (monotonic).
    pub captured_at: Instant,
    /// Per-source sequence number, from 0; gaps mean the source itself skipped frames.
    pub seq: u64,
}

impl GreyFrame {
    /// A frame of `data`, which must hold `width * height` bytes.
    pub fn new(width: u32, height: u32, data: impl Into<Arc<[u8]>>, seq: u64) -> Self {
        let data = data.into();
        assert_eq!(data.len(), width as usize * height as usize, "frame size");
        GreyFrame {
            width,
            height,
            data,
            captured_at: Instant::now(),
            seq,
        }
    }

    /// The pixels as a decoder input.
    pub fn view(&self) -> GreyImage<'_> {
        GreyImage {
            width: self.width as usize,
            height: self.height as usize,
            data: &self.data,
        }
    }
}

/// A borrowed greyscale image: `data.len() == width * height`.
#[derive(Clone, Copy, Debug)]
pub struct GreyImage<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [u8],
}

impl<'a> GreyImage<'a> {
    /// A view of `data`; `None` when the length does not match the dimensions.
    pub fn new(width: usize, height: usize, data: &'a [u8]) -> Option<Self> {
        (width.checked_mul(height) == Some(data.len())).then_some(GreyImage {
            width,
            height,
            data,
        })
    }

    /// `255 - x` for every pixel: a light-on-dark code becomes an ordinary one.
    pub fn inverted(&self) -> Vec<u8> {
        self.data.iter().map(|&v| 255 - v).collect()
    }

    /// Half the width and height, each output pixel the mean of a 2x2 block. Returns the
    /// pixels and the new dimensions.
    pub fn halved(&self) -> (Vec<u8>, usize, usize) {
        let (w, h) = (self.width / 2, self.height / 2);
        let mut out = Vec::with_capacity(w * h);
        for y in 0..h {
            let r0 = &self.data[2 * y * self.width..][..2 * w];
            let r1 = &self.data[(2 * y + 1) * self.width..][..2 * w];
            for x in 0..w {
                let s = r0[2 * x] as u16
                    + r0[2 * x + 1] as u16
                    + r1[2 * x] as u16
                    + r1[2 * x + 1] as u16;
                out.push(((s + 2) / 4) as u8);
            }
        }
        (out, w, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_checks_the_length() {
        assert!(GreyImage::new(3, 2, &[0; 6]).is_some());
        assert!(GreyImage::new(3, 2, &[0; 5]).is_none());
    }

    #[test]
    fn invert_and_halve() {
        let img = GreyImage::new(4, 2, &[0, 10, 20, 30, 4, 14, 255, 255]).unwrap();
        assert_eq!(img.inverted(), vec![255, 245, 235, 225, 251, 241, 0, 0]);
        assert_eq!(img.halved(), (vec![7, 140], 2, 1));
    }
}
