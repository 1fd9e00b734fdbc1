//! Y4M (YUV4MPEG2) replay: a header line (`YUV4MPEG2 W.. H.. F.. C..`), then `FRAME` lines
//! each followed by the raw planes. The luma plane is the greyscale frame; chroma is skipped.
//! Frames are paced at a chosen rate (or the file's own), or delivered as fast as read.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{FrameSource, GreyFrame, SourceError};

/// What the stream header says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Y4mHeader {
    pub width: u32,
    pub height: u32,
    /// Frames per second from `F<num>:<den>`, if given.
    pub fps: Option<f64>,
    /// Bytes of chroma after the luma plane of each frame.
    pub chroma_bytes: usize,
}

impl Y4mHeader {
    /// Parses the header line (without its newline).
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut words = line.split(' ');
        if words.next() != Some("YUV4MPEG2") {
            return Err("missing YUV4MPEG2 signature".into());
        }
        let (mut width, mut height, mut fps, mut colour) = (0u32, 0u32, None, "420jpeg");
        for w in words.filter(|w| !w.is_empty()) {
            let (tag, value) = w.split_at(1);
            match tag {
                "W" => width = value.parse().map_err(|_| format!("bad width {value:?}"))?,
                "H" => height = value.parse().map_err(|_| format!("bad height {value:?}"))?,
                "F" => {
                    let (n, d) = value.split_once(':').ok_or(format!("bad rate {value:?}"))?;
                    let (n, d): (f64, f64) = (n.parse().unwrap_or(0.0), d.parse().unwrap_or(0.0));
                    fps = (n > 0.0 && d > 0.0).then_some(n / d);
                }
                "C" => colour = value,
                _ => {} // interlacing, aspect, comments: irrelevant to luma.
            }
        }
        if width == 0 || height == 0 {
            return Err("missing W or H".into());
        }
        let (cw, ch) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
        let (w, h) = (width as usize, height as usize);
        let chroma_bytes = match colour {
            c if c.starts_with("420") => 2 * cw * ch,
            c if c.starts_with("422") => 2 * cw * h,
            c if c.starts_with("444") => 2 * w * h,
            "mono" => 0,
            other => return Err(format!("unsupported colour space C{other}")),
        };
        Ok(Y4mHeader {
            width,
            height,
            fps,
            chroma_bytes,
        })
    }
}

/// Frames from a Y4M file, optionally paced at a frame rate.
pub struct Y4mSource {
    path: String,
    reader: Box<dyn BufRead + Send>,
    header: Y4mHeader,
    interval: Option<Duration>,
    started: Option<Instant>,
    seq: u64,
}

impl Y4mSource {
    /// Opens `path`. `fps`: `Some(0.0)` or `None` deliver frames as fast as they are read;
    /// `Some(r)` paces them at `r` per second. Use [`header`](Self::header) for the file's rate.
    pub fn open(path: &Path, fps: Option<f64>) -> Result<Self, SourceError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| SourceError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_reader(name, Box::new(BufReader::new(file)), fps)
    }

    /// The same over any reader (`name` is used in errors).
    pub fn from_reader(
        name: String,
        mut reader: Box<dyn BufRead + Send>,
        fps: Option<f64>,
    ) -> Result<Self, SourceError> {
        let bad = |message: String| SourceError::Y4m {
            path: name.clone(),
            message,
        };
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| bad(e.to_string()))?;
        let header = Y4mHeader::parse(line.trim_end_matches('\n')).map_err(bad)?;
        let interval = fps
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        Ok(Y4mSource {
            path: name,
            reader,
            header,
            interval,
            started: None,
            seq: 0,
        })
    }

    pub fn header(&self) -> Y4mHeader {
        self.header
    }

    fn bad(&self, message: impl Into<String>) -> SourceError {
        SourceError::Y4m {
            path: self.path.clone(),
            message: message.into(),
        }
    }
}

impl FrameSource for Y4mSource {
    fn next_frame(&mut self) -> Result<Option<GreyFrame>, SourceError> {
        let mut tag = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut tag)
            .map_err(|e| self.bad(e.to_string()))?;
        if n == 0 {
            return Ok(None);
        }
        if !tag.starts_with(b"FRAME") {
            return Err(self.bad(format!("frame {}: expected FRAME", self.seq)));
        }
        let (w, h) = (self.header.width, self.header.height);
        let mut luma = vec![0u8; w as usize * h as usize];
        let mut chroma = vec![0u8; self.header.chroma_bytes];
        self.reader
            .read_exact(&mut luma)
            .and_then(|()| self.reader.read_exact(&mut chroma))
            .map_err(|e| self.bad(format!("frame {} truncated: {e}", self.seq)))?;
        if let Some(interval) = self.interval {
            let start = *self.started.get_or_insert_with(Instant::now);
            let due = start + interval * self.seq as u32;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let frame = GreyFrame::new(w, h, luma, self.seq);
        self.seq += 1;
        Ok(Some(frame))
    }
}
