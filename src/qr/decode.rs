//! Decoders behind one small trait: for QR `rqrr` (the project's reference), `quircs` and
//! `rxing`; for trace codes rxing's Code 128 and DataMatrix readers; and `rxing-all`, rxing's
//! multi-format reader in its most thorough setting (for comparisons). Each returns every code
//! it finds as a [`Decoded`]: the payload bytes (GBK or binary payloads survive; GS1 group
//! separators 0x1D are kept), the text decoded explicitly (UTF-8, else GBK, else none) and the
//! symbology read. This file must not choose an order or debounce: see `cascade` and `debounce`.

use std::collections::HashSet;
use std::sync::Mutex;

use medsettle_nhsa::trace::Symbology;
use rxing::common::{GlobalHistogramBinarizer, HybridBinarizer};
use rxing::datamatrix::DataMatrixReader;
use rxing::oned::Code128Reader;
use rxing::qrcode::QRCodeReader;
use rxing::{
    BarcodeFormat, BinaryBitmap, DecodeHints, Luma8Source, MultiFormatReader, RXingResult,
    RXingResultMetadataType, RXingResultMetadataValue, Reader,
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
    /// What kind of symbol carried it, when the decoder knows (every decoder here does). A
    /// trace code's classification and its 3505 report depend on it.
    pub symbology: Option<Symbology>,
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
                symbology: None,
            };
        }
        match encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(&bytes) {
            Some(s) => {
                let text = Some(s.into_owned());
                Decoded {
                    bytes,
                    text,
                    charset: Charset::Gbk,
                    symbology: None,
                }
            }
            None => Decoded {
                bytes,
                text: None,
                charset: Charset::Binary,
                symbology: None,
            },
        }
    }

    /// The same code, read from a symbol of `symbology`.
    pub fn with_symbology(mut self, symbology: Symbology) -> Self {
        self.symbology = Some(symbology);
        self
    }
}

/// A decoder over greyscale pixels. Finds nothing → empty vector; never panics on noise.
pub trait Decoder: Send + Sync {
    /// A short stable name for reports and metrics (`rqrr`, `quircs`, `rxing`, `code128`,
    /// `datamatrix`, `rxing-all`).
    fn name(&self) -> &'static str;
    /// Every code decoded in `img`. An empty payload is never returned: quirc-style decoders
    /// "decode" a GS1 QR code (FNC1 mode, which they do not know) to nothing, and that must
    /// leave the frame to a decoder that can read it.
    fn decode(&self, img: GreyImage<'_>) -> Vec<Decoded>;
}

fn qr_found(payloads: impl IntoIterator<Item = Vec<u8>>) -> Vec<Decoded> {
    payloads
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| Decoded::from_bytes(p).with_symbology(Symbology::Qr))
        .collect()
}

/// `rqrr`: pure Rust port of quirc's ideas; slow on large frames, the project's baseline.
#[derive(Default)]
pub struct Rqrr;

impl Decoder for Rqrr {
    fn name(&self) -> &'static str {
        "rqrr"
    }

    fn decode(&self, img: GreyImage<'_>) -> Vec<Decoded> {
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
        qr_found(out)
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

    fn decode(&self, img: GreyImage<'_>) -> Vec<Decoded> {
        let mut q = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let payloads: Vec<Vec<u8>> = q
            .identify(img.width, img.height, img.data)
            .filter_map(|code| code.ok()?.decode().ok())
            .map(|data| data.payload)
            .collect();
        qr_found(payloads)
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

    fn decode(&self, img: GreyImage<'_>) -> Vec<Decoded> {
        let Some(source) = luma(img) else {
            return Vec::new();
        };
        let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
        let result = QRCodeReader::new().decode_with_hints(&mut bitmap, &self.hints);
        result
            .ok()
            .and_then(|r| from_rxing(&r))
            .into_iter()
            .collect()
    }
}

fn luma(img: GreyImage<'_>) -> Option<Luma8Source<'_>> {
    Luma8Source::new_with_slice(img.data, img.width as u32, img.height as u32).ok()
}

/// An rxing result as a [`Decoded`]: the bytes (see [`rxing_bytes`]) and the symbology from
/// the AIM identifier rxing reports. GS1-128's `]C1` text prefix (rxing adds it when told to
/// keep FNC1 as GS) is removed: the symbology says it.
fn from_rxing(r: &RXingResult) -> Option<Decoded> {
    let meta = r.getRXingResultMetadata();
    let aim = match meta.get(&RXingResultMetadataType::SYMBOLOGY_IDENTIFIER) {
        Some(RXingResultMetadataValue::SymbologyIdentifier(id)) => id.as_str(),
        _ => "",
    };
    let symbology = match (r.getBarcodeFormat(), aim) {
        (BarcodeFormat::QR_CODE, "]Q3" | "]Q4") => Symbology::Gs1Qr,
        (BarcodeFormat::QR_CODE, _) => Symbology::Qr,
        (BarcodeFormat::DATA_MATRIX, "]d2" | "]d5") => Symbology::Gs1DataMatrix,
        (BarcodeFormat::DATA_MATRIX, _) => Symbology::DataMatrix,
        (BarcodeFormat::CODE_128, "]C1") => Symbology::Gs1_128,
        (BarcodeFormat::CODE_128, _) => Symbology::Code128,
        _ => return None,
    };
    let text = r.getText();
    let text = match symbology {
        Symbology::Gs1_128 => text.strip_prefix("]C1").unwrap_or(text),
        _ => text,
    };
    let bytes = rxing_bytes(text, meta.get(&RXingResultMetadataType::BYTE_SEGMENTS));
    (!bytes.is_empty()).then(|| Decoded::from_bytes(bytes).with_symbology(symbology))
}

/// rxing's Code 128 reader, trying every row in both directions (upside-down codes) and
/// keeping FNC1 separators as GS. Meant for the small rectified strips the cascade cuts out
/// around bar regions ([`super::finder::regions`]), where every row crosses the code.
pub struct Code128 {
    hints: DecodeHints,
}

impl Default for Code128 {
    fn default() -> Self {
        let hints = DecodeHints {
            PossibleFormats: Some(HashSet::from([BarcodeFormat::CODE_128])),
            TryHarder: Some(true),
            AssumeGs1: Some(true),
            ..DecodeHints::default()
        };
        Code128 { hints }
    }
}

impl Decoder for Code128 {
    fn name(&self) -> &'static str {
        "code128"
    }

    fn decode(&self, img: GreyImage<'_>) -> Vec<Decoded> {
        let Some(source) = luma(img) else {
            return Vec::new();
        };
        // A per-row threshold, as 1D readers want (a local binariser blurs narrow bars).
        let mut bitmap = BinaryBitmap::new(GlobalHistogramBinarizer::new(source));
        let result = Code128Reader.decode_with_hints(&mut bitmap, &self.hints);
        result
            .ok()
            .and_then(|r| from_rxing(&r))
            .into_iter()
            .collect()
    }
}

/// rxing's DataMatrix (ECC 200) reader with its hybrid binariser; FNC1 separators come back
/// as GS and a leading FNC1 marks GS1.
pub struct DataMatrix {
    hints: DecodeHints,
}

impl Default for DataMatrix {
    fn default() -> Self {
        let hints = DecodeHints {
            PossibleFormats: Some(HashSet::from([BarcodeFormat::DATA_MATRIX])),
            TryHarder: Some(true),
            ..DecodeHints::default()
        };
        DataMatrix { hints }
    }
}

impl Decoder for DataMatrix {
    fn name(&self) -> &'static str {
        "datamatrix"
    }

    fn decode(&self, img: GreyImage<'_>) -> Vec<Decoded> {
        let Some(source) = luma(img) else {
            return Vec::new();
        };
        let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
        let result = DataMatrixReader.decode_with_hints(&mut bitmap, &self.hints);
        result
            .ok()
            .and_then(|r| from_rxing(&r))
            .into_iter()
            .collect()
    }
}

/// rxing's multi-format reader for QR, DataMatrix and Code 128 on the whole frame in its most
/// thorough setting (TryHarder, also inverted): the single-decoder baseline the cascade is
/// compared with in `benches/qr_decode.rs`. Too slow for the camera loop.
pub struct RxingAll {
    hints: DecodeHints,
}

impl Default for RxingAll {
    fn default() -> Self {
        let formats = [
            BarcodeFormat::QR_CODE,
            BarcodeFormat::DATA_MATRIX,
            BarcodeFormat::CODE_128,
        ];
        let hints = DecodeHints {
            PossibleFormats: Some(HashSet::from(formats)),
            TryHarder: Some(true),
            AlsoInverted: Some(true),
            AssumeGs1: Some(true),
            ..DecodeHints::default()
        };
        RxingAll { hints }
    }
}

impl Decoder for RxingAll {
    fn name(&self) -> &'static str {
        "rxing-all"
    }

    fn decode(&self, img: GreyImage<'_>) -> Vec<Decoded> {
        let Some(source) = luma(img) else {
            return Vec::new();
        };
        let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
        let result = MultiFormatReader::default().decode_with_hints(&mut bitmap, &self.hints);
        result
            .ok()
            .and_then(|r| from_rxing(&r))
            .into_iter()
            .collect()
    }
}

/// rxing's port of zxing-cpp's QR reader (another detector: it finds some codes whose finder
/// patterns the classic reader's detector misses, GS1 QR among them).
pub struct RxingCpp {
    hints: DecodeHints,
}

impl Default for RxingCpp {
    fn default() -> Self {
        let hints = DecodeHints {
            PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
            TryHarder: Some(true),
            ..DecodeHints::default()
        };
        RxingCpp { hints }
    }
}

impl Decoder for RxingCpp {
    fn name(&self) -> &'static str {
        "rxing-cpp"
    }

    fn decode(&self, img: GreyImage<'_>) -> Vec<Decoded> {
        let Some(source) = luma(img) else {
            return Vec::new();
        };
        let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
        let result = rxing::qrcode::cpp_port::QrReader.decode_with_hints(&mut bitmap, &self.hints);
        result
            .ok()
            .and_then(|r| from_rxing(&r))
            .into_iter()
            .collect()
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

/// The decoders by name (for configuration and the benchmark).
pub fn by_name(name: &str) -> Option<Box<dyn Decoder>> {
    match name {
        "rqrr" => Some(Box::new(Rqrr)),
        "quircs" => Some(Box::<Quircs>::default()),
        "rxing" => Some(Box::<Rxing>::default()),
        "code128" => Some(Box::<Code128>::default()),
        "datamatrix" => Some(Box::<DataMatrix>::default()),
        "rxing-all" => Some(Box::<RxingAll>::default()),
        "rxing-cpp" => Some(Box::<RxingCpp>::default()),
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
    fn an_empty_qr_payload_is_not_a_code() {
        // quirc-style decoders stop at a GS1 QR's FNC1 mode indicator and "decode" nothing;
        // that must leave the frame to rxing, not end the cascade with an empty scan.
        let found = qr_found([Vec::new(), b"0109501101530003".to_vec()]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bytes, b"0109501101530003");
        assert_eq!(found[0].symbology, Some(Symbology::Qr));
        assert!(qr_found([Vec::new()]).is_empty());
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
        for name in [
            "rqrr",
            "quircs",
            "rxing",
            "code128",
            "datamatrix",
            "rxing-all",
        ] {
            assert!(by_name(name).unwrap().decode(img).is_empty(), "{name}");
        }
        assert!(by_name("zbar").is_none());
    }
}
