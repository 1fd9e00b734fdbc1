//! Which V4L2 camera: an index (`/dev/videoN`) or a device path. The path is what an operator
//! should configure: `/dev/v4l/by-id/usb-<vendor>_<model>_<serial>-video-index0` names the
//! same camera whichever USB port it is in and whatever order the kernel found the devices
//! at boot, while `/dev/video0` may become `/dev/video2` after a webcam is plugged in next to
//! it. nokhwa opens cameras by index only, so a path is resolved (its symlinks followed to
//! the `/dev/videoN` node) every time the camera is opened: after an unplug the camera comes
//! back under whatever number the kernel gives it. Needs no V4L2 bindings, so it is built
//! and tested without the `v4l` feature.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::SourceError;

/// A camera as configured: `qr.camera_device` (a path) or `qr.camera_index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CameraDevice {
    /// `/dev/video{n}`.
    Index(u32),
    /// A device node or a symlink to one: `/dev/v4l/by-id/…`, `/dev/v4l/by-path/…`,
    /// `/dev/video0`.
    Path(PathBuf),
}

impl CameraDevice {
    /// The device node this camera has now: `/dev/videoN` for an index, the path with its
    /// symlinks followed otherwise.
    pub fn node(&self) -> Result<PathBuf, SourceError> {
        match self {
            CameraDevice::Index(n) => Ok(PathBuf::from(format!("/dev/video{n}"))),
            CameraDevice::Path(p) => std::fs::canonicalize(p).map_err(|e| SourceError::Io {
                path: p.display().to_string(),
                source: e,
            }),
        }
    }

    /// The V4L2 index nokhwa opens: the `N` of the `videoN` node the path leads to. Fails
    /// when the path is missing (camera unplugged: retryable) or does not lead to a
    /// `videoN` node (a configuration mistake, e.g. a `by-id` link of a serial port).
    pub fn resolve(&self) -> Result<u32, SourceError> {
        match self {
            CameraDevice::Index(n) => Ok(*n),
            CameraDevice::Path(p) => {
                let node = std::fs::canonicalize(p).map_err(|e| {
                    SourceError::Camera(format!("{}: {e} (is the camera plugged in?)", p.display()))
                })?;
                video_index(&node).ok_or_else(|| SourceError::Io {
                    path: p.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "leads to {}, which is not a /dev/videoN camera node",
                            node.display()
                        ),
                    ),
                })
            }
        }
    }
}

/// `N` when `node` is `…/videoN`.
fn video_index(node: &Path) -> Option<u32> {
    let name = node.file_name()?.to_str()?;
    let digits = name.strip_prefix("video")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl fmt::Display for CameraDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CameraDevice::Index(n) => write!(f, "{n}"),
            CameraDevice::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// `0` is an index, anything else a path: what `medsettle scan --camera` accepts.
impl FromStr for CameraDevice {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.parse::<u32>() {
            Ok(n) => CameraDevice::Index(n),
            Err(_) => CameraDevice::Path(PathBuf::from(s)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_nodes_only() {
        assert_eq!(video_index(Path::new("/dev/video0")), Some(0));
        assert_eq!(video_index(Path::new("/dev/video12")), Some(12));
        assert_eq!(video_index(Path::new("/dev/video")), None);
        assert_eq!(video_index(Path::new("/dev/video1a")), None);
        assert_eq!(video_index(Path::new("/dev/ttyACM0")), None);
        assert_eq!(video_index(Path::new("/dev/v4l-subdev0")), None);
    }

    #[test]
    fn parses_index_or_path() {
        assert_eq!("3".parse::<CameraDevice>().unwrap(), CameraDevice::Index(3));
        assert_eq!(
            "/dev/v4l/by-id/usb-Cam-video-index0"
                .parse::<CameraDevice>()
                .unwrap(),
            CameraDevice::Path("/dev/v4l/by-id/usb-Cam-video-index0".into())
        );
    }
}
