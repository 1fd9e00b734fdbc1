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

    /// Unsharp masking: each pixel pushed away from the mean of its 3x3 neighbourhood by
    /// `amount` times the difference (defocus undone a little). Edges are copied.
    pub fn sharpened(&self, amount: f32) -> Vec<u8> {
        let (w, h) = (self.width, self.height);
        let mut out = self.data.to_vec();
        if w < 3 || h < 3 {
            return out;
        }
        let k = (amount * 256.0) as i32;
        for y in 1..h - 1 {
            let (r0, r1, r2) = (
                &self.data[(y - 1) * w..y * w],
                &self.data[y * w..(y + 1) * w],
                &self.data[(y + 1) * w..(y + 2) * w],
            );
            let o = &mut out[y * w..(y + 1) * w];
            for x in 1..w - 1 {
                let s: i32 = [r0, r1, r2]
                    .iter()
                    .map(|r| r[x - 1] as i32 + r[x] as i32 + r[x + 1] as i32)
                    .sum();
                let v = r1[x] as i32;
                let d = v * 9 - s;
                o[x] = (v + (k * d) / (9 * 256)).clamp(0, 255) as u8;
            }
        }
        out
    }

    /// The pixels of the rectangle at (x, y), w by h, which must lie inside the image.
    pub fn cropped(&self, x: usize, y: usize, w: usize, h: usize) -> Vec<u8> {
        (y..y + h)
            .flat_map(|yy| &self.data[yy * self.width + x..yy * self.width + x + w])
            .copied()
            .collect()
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
    fn sharpening_steepens_an_edge_and_leaves_flat_grey() {
        // An edge 0 → 100 → 200 across a 5x3 image: the middle column stays, the bright side
        // overshoots (200 + 33), the dark side clamps at 0; the border is copied.
        let row = [0u8, 0, 100, 200, 200];
        let data: Vec<u8> = row.iter().cycle().take(15).copied().collect();
        let img = GreyImage::new(5, 3, &data).unwrap();
        let out = img.sharpened(1.0);
        assert_eq!(&out[5..10], &[0, 0, 100, 233, 200]);
        assert_eq!(&out[..5], &row);
        let out = GreyImage::new(5, 3, &[90u8; 15]).unwrap().sharpened(2.0);
        assert_eq!(out, vec![90u8; 15]);
        let soft = [40u8, 60, 100, 140, 160];
        let data: Vec<u8> = soft.iter().cycle().take(15).copied().collect();
        let out = GreyImage::new(5, 3, &data).unwrap().sharpened(1.0);
        assert!(out[6] < 60 && out[8] > 140, "{out:?}");
        assert_eq!(out[7], 100);
    }

    #[test]
    fn a_crop_holds_the_rectangle_row_by_row() {
        let data: Vec<u8> = (0..12).collect();
        let img = GreyImage::new(4, 3, &data).unwrap();
        assert_eq!(img.cropped(1, 1, 2, 2), vec![5, 6, 9, 10]);
        assert_eq!(img.cropped(0, 0, 4, 3), data);
    }

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
