//! QR decoders behind one small trait: `rqrr` (the project's reference), `quircs` and `rxing`.
//! Each returns the payload bytes of every code it finds; [`Decoded`] keeps those bytes (GBK or
//! binary payloads survive) and the text, decoded explicitly: UTF-8, else GBK, else none.
//! This file must not choose an order or debounce: see `cascade` and `debounce`.

use std::collections::HashSet;
use std::sync::Mutex;

use rxing::common::HybridBinarizer;
use rxing::qrcode::QRCodeReader;
use rxing::{
    BarcodeFormat, BinaryBitmap, DecodeHints, Luma8Source, RXingResultMetadataType,
    RXingResultMetadataValue, Reader,
};

use super::frame::GreyImage;

/// How the text of a payload was obtained from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Gbk,
    /// Neither: the payload is binary; only `bytes` is meaningful.
    Binary,
}

/// One decoded code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub bytes: Vec<u8>,
    pub text: Option<String>,
    pub charset: Charset,
}

impl Decoded {
    /// Decodes the text of `bytes`: strict UTF-8 first, then strict GBK.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let text = Some(s.to_owned());
            return Decoded {
                bytes,
                text,
                charset: Charset::Utf8,
            };
        }
        match encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(&bytes) {
            Some(s) => {
                let text = Some(s.into_owned());
                Decoded {
                    bytes,
                    text,
                    charset: Charset::Gbk,
                }
            }
            None => Decoded {
                bytes,
                text: None,
                charset: Charset::Binary,
            },
        }
    }
}

/// A QR decoder over greyscale pixels. Finds nothing → empty vector; never panics on noise.
pub trait Decoder: Send + Sync {
    /// A short stable name for reports and metrics (`rqrr`, `quircs`, `rxing`).
    fn name(&self) -> &'static str;
    /// The payload bytes of every code decoded in `img`.
    fn decode(&self, img: GreyImage<'_>) -> Vec<Vec<u8>>;
}

/// `rqrr`: pure Rust port of quirc's ideas; slow on large frames, the project's baseline.
#[derive(Default)]
pub struct Rqrr;

impl Decoder for Rqrr {
    fn name(&self) -> &'static str {
        "rqrr"
    }

    fn decode(&self, img: GreyImage<'_>) -> Vec<Vec<u8>> {
        let w = img.width;
        let mut prepared =
            rqrr::PreparedImage::prepare_from_greyscale(w, img.height, |x, y| img.data[y * w + x]);
        let mut out = Vec::new();
        for grid in prepared.detect_grids() {
            let mut buf = Vec::new();
            if grid.decode_to(&mut buf).is_ok() {
                out.push(buf);
            }
        }
        out
    }
}

/// `quircs`: a port of quirc; keeps its working buffers between frames.
#[derive(Default)]
pub struct Quircs {
    state: Mutex<quircs::Quirc>,
}

impl Decoder for Quircs {
    fn name(&self) -> &'static str {
        "quircs"
    }

    fn decode(&self, img: GreyImage<'_>) -> Vec<Vec<u8>> {
        let mut q = self.state.lock().unwrap_or_else(|e| e.into_inner());
        q.identify(img.width, img.height, img.data)
            .filter_map(|code| code.ok()?.decode().ok())
            .map(|data| data.payload)
            .collect()
    }
}

/// `rxing`: a port of ZXing's QR reader with its hybrid (local-threshold) binariser.
pub struct Rxing {
    hints: DecodeHints,
}

impl Default for Rxing {
    fn default() -> Self {
        let hints = DecodeHints {
            PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
            TryHarder: Some(true),
            ..DecodeHints::default()
        };
        Rxing { hints }
    }
}

impl Decoder for Rxing {
    fn name(&self) -> &'static str {
        "rxing"
    }

    fn decode(&self, img: GreyImage<'_>) -> Vec<Vec<u8>> {
        let Ok(source) = Luma8Source::new_with_slice(img.data, img.width as u32, img.height as u32)
        else {
            return Vec::new();
        };
        let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
        match QRCodeReader::new().decode_with_hints(&mut bitmap, &self.hints) {
            Ok(result) => vec![rxing_bytes(
                result.getText(),
                result
                    .getRXingResultMetadata()
                    .get(&RXingResultMetadataType::BYTE_SEGMENTS),
            )],
            Err(_) => Vec::new(),
        }
    }
}

/// rxing hands back text it has already decoded (guessing a charset) plus the raw byte-mode
/// segments. Keep the raw bytes when they are the whole payload or the text is not plain
/// ASCII (a GBK payload must reach the caller as bytes); otherwise the text is the payload.
fn rxing_bytes(text: &str, segments: Option<&RXingResultMetadataValue>) -> Vec<u8> {
    if let Some(RXingResultMetadataValue::ByteSegments(segs)) = segments {
        let raw = segs.concat();
        if Decoded::from_bytes(raw.clone()).text.as_deref() == Some(text) || !text.is_ascii() {
            return raw;
        }
    }
    text.as_bytes().to_vec()
}

/// The three decoders by name (for configuration and the benchmark).
pub fn by_name(name: &str) -> Option<Box<dyn Decoder>> {
    match name {
        "rqrr" => Some(Box::new(Rqrr)),
        "quircs" => Some(Box::<Quircs>::default()),
        "rxing" => Some(Box::<Rxing>::default()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_utf8_then_gbk_then_binary() {
        let d = Decoded::from_bytes("ESSC1.abc".into());
        assert_eq!(
            (d.text.as_deref(), d.charset),
            (Some("ESSC1.abc"), Charset::Utf8)
        );
        let (gbk, _, _) = encoding_rs::GBK.encode("张三 医保");
        let d = Decoded::from_bytes(gbk.to_vec());
        assert_eq!(
            (d.text.as_deref(), d.charset),
            (Some("张三 医保"), Charset::Gbk)
        );
        assert_eq!(d.bytes, gbk.to_vec(), "the bytes are kept as scanned");
        let d = Decoded::from_bytes(vec![0xff, 0xff, 0x80]);
        assert_eq!((d.text, d.charset), (None, Charset::Binary));
    }

    #[test]
    fn rxing_keeps_raw_gbk_segments() {
        let (gbk, _, _) = encoding_rs::GBK.encode("医保");
        let segs = RXingResultMetadataValue::ByteSegments(vec![gbk.to_vec()]);
        assert_eq!(rxing_bytes("医保", Some(&segs)), gbk.to_vec());
        assert_eq!(rxing_bytes("12345", None), b"12345".to_vec());
    }

    #[test]
    fn decoders_find_nothing_in_flat_grey() {
        let data = vec![128u8; 64 * 48];
        let img = GreyImage::new(64, 48, &data).unwrap();
        for name in ["rqrr", "quircs", "rxing"] {
            assert!(by_name(name).unwrap().decode(img).is_empty(), "{name}");
        }
        assert!(by_name("zbar").is_none());
    }
}
