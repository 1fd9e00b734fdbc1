//! A directory of still images (PNG, JPEG) replayed as frames in file-name order, once or in a
//! loop: the stand-in camera for tests, the demo and the decode benchmark. Files that are not
//! images by extension are skipped; an image that fails to decode is an error, not a skip.

use std::path::{Path, PathBuf};

use crate::{FrameSource, GreyFrame, SourceError};

/// Loads one image file as 8-bit greyscale: (width, height, pixels).
pub fn load_grey(path: &Path) -> Result<(u32, u32, Vec<u8>), SourceError> {
    let img = image::open(path).map_err(|e| match e {
        image::ImageError::IoError(source) => SourceError::Io {
            path: path.display().to_string(),
            source,
        },
        other => SourceError::Image {
            path: path.display().to_string(),
            message: other.to_string(),
        },
    })?;
    let grey = img.into_luma8();
    let (w, h) = grey.dimensions();
    Ok((w, h, grey.into_raw()))
}

/// Frames from the PNG/JPEG files of one directory, sorted by file name.
#[derive(Debug)]
pub struct DirectorySource {
    files: Vec<PathBuf>,
    next: usize,
    looping: bool,
    seq: u64,
}

impl DirectorySource {
    /// Lists `dir` now; files added later are not seen. With `looping`, the list repeats forever.
    pub fn open(dir: &Path, looping: bool) -> Result<Self, SourceError> {
        let io = |source| SourceError::Io {
            path: dir.display().to_string(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(DirectorySource {
            files,
            next: 0,
            looping,
            seq: 0,
        })
    }

    /// The files in replay order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl FrameSource for DirectorySource {
    fn next_frame(&mut self) -> Result<Option<GreyFrame>, SourceError> {
        if self.next == self.files.len() {
            if !self.looping || self.files.is_empty() {
                return Ok(None);
            }
            self.next = 0;
        }
        let (w, h, data) = load_grey(&self.files[self.next])?;
        self.next += 1;
        let frame = GreyFrame::new(w, h, data, self.seq);
        self.seq += 1;
        Ok(Some(frame))
    }
}
