//! Cutting a serial byte stream into scans: terminator, length bound, inter-byte timeout.
//!
//! Pure and synchronous; the serial loop feeds it bytes and calls [`Framer::flush`] when the
//! line has been quiet for the inter-byte timeout (boxes configured without a terminator, or a
//! terminator lost). CR and LF at either end of a frame are trimmed and empty frames are
//! skipped, so a box sending CRLF works under any terminator setting.

/// What ends a scan on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Terminator {
    /// `\r` (the factory default of most boxes).
    #[default]
    Cr,
    /// `\n`.
    Lf,
    /// `\r\n`; a lone `\r` is data.
    CrLf,
}

/// A framed scan, or the news that one was too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Complete {
        bytes: Vec<u8>,
        by_timeout: bool,
    },
    /// Longer than the maximum: discarded up to the next terminator or timeout.
    Oversized,
}

/// The framing state of one stream.
#[derive(Debug)]
pub struct Framer {
    terminator: Terminator,
    max_len: usize,
    buf: Vec<u8>,
    overflow: bool,
    /// The previous byte, terminator detection only (the buffer may have been discarded).
    prev: u8,
}

impl Framer {
    pub fn new(terminator: Terminator, max_len: usize) -> Self {
        Self {
            terminator,
            max_len,
            buf: Vec::new(),
            overflow: false,
            prev: 0,
        }
    }

    /// Feeds bytes, returning the frames they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        for &b in bytes {
            let ends = match self.terminator {
                Terminator::Cr => b == b'\r',
                Terminator::Lf => b == b'\n',
                Terminator::CrLf => b == b'\n' && self.prev == b'\r',
            };
            self.prev = b;
            if ends {
                out.extend(self.finish(false));
            } else if self.overflow {
                continue;
            } else if self.buf.len() > self.max_len {
                // One spare byte: a CRLF terminator's CR sits in the buffer until its LF.
                self.buf.clear();
                self.overflow = true;
            } else {
                self.buf.push(b);
            }
        }
        out
    }

    /// True when bytes of an unfinished scan are buffered (the caller arms the timeout).
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.overflow
    }

    /// The line was quiet for the inter-byte timeout: whatever is buffered is a scan.
    pub fn flush(&mut self) -> Option<Frame> {
        self.finish(true)
    }

    fn finish(&mut self, by_timeout: bool) -> Option<Frame> {
        let bytes = std::mem::take(&mut self.buf);
        if std::mem::take(&mut self.overflow) {
            return Some(Frame::Oversized);
        }
        let start = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
        let end = bytes.iter().rposition(|b| !matches!(b, b'\r' | b'\n'))? + 1;
        if end - start > self.max_len {
            return Some(Frame::Oversized);
        }
        Some(Frame::Complete {
            bytes: bytes[start..end].to_vec(),
            by_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(frames: Vec<Frame>) -> Vec<String> {
        frames
            .into_iter()
            .map(|f| match f {
                Frame::Complete { bytes, by_timeout } => {
                    format!(
                        "{}{}",
                        String::from_utf8(bytes).unwrap(),
                        if by_timeout { "~" } else { "" }
                    )
                }
                Frame::Oversized => "<oversized>".into(),
            })
            .collect()
    }

    #[test]
    fn each_terminator() {
        let mut cr = Framer::new(Terminator::Cr, 64);
        assert_eq!(texts(cr.push(b"ABC\rDEF\r\nGH")), ["ABC", "DEF"]);
        assert!(cr.has_partial());
        assert_eq!(texts(cr.flush().into_iter().collect()), ["GH~"]);
        let mut lf = Framer::new(Terminator::Lf, 64);
        assert_eq!(texts(lf.push(b"ABC\nDEF\r\n\n\n")), ["ABC", "DEF"]);
        let mut crlf = Framer::new(Terminator::CrLf, 64);
        assert_eq!(texts(crlf.push(b"A\rB\r\nC")), ["A\rB"]);
        assert_eq!(texts(crlf.push(b"D\r")), Vec::<String>::new());
        assert_eq!(texts(crlf.push(b"\n")), ["CD"]);
        assert!(!crlf.has_partial() && crlf.flush().is_none());
    }

    #[test]
    fn split_across_reads() {
        let mut f = Framer::new(Terminator::CrLf, 64);
        let mut got = Vec::new();
        for chunk in [&b"ES"[..], b"SC1.x", b".y\r", b"\nZ"] {
            got.extend(texts(f.push(chunk)));
        }
        assert_eq!(got, ["ESSC1.x.y"]);
    }

    #[test]
    fn oversized_is_reported_once_and_the_stream_recovers() {
        let mut f = Framer::new(Terminator::Cr, 4);
        assert_eq!(
            texts(f.push(b"ABCD\rABCDEFGHIJ\rOK\r")),
            ["ABCD", "<oversized>", "OK"]
        );
        f.push(b"TOOLONGAGAIN");
        assert_eq!(texts(f.flush().into_iter().collect()), ["<oversized>"]);
        let mut crlf = Framer::new(Terminator::CrLf, 4);
        assert_eq!(
            texts(crlf.push(b"ABCD\r\nABCDE\r\n")),
            ["ABCD", "<oversized>"]
        );
    }
}
