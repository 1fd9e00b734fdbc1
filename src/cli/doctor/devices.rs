//! `medsettle doctor`'s device checks: the card readers (`pcscd`), the QR camera and the scan
//! boxes. Each looks at what `[readers]` and `[qr]` configure and skips what is absent.

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use crate::card::SlotKind;
use crate::config::{Config, ReaderBackend};
use crate::doctor::Check;
use nix::unistd::{AccessFlags, access};

const START_PCSCD: &str = "启动 pcscd：systemctl start pcscd / start pcscd: systemctl start pcscd";

/// The card readers: a PC/SC context, the readers and slot kinds, a SAM slot when the slot
/// rules name one.
pub(super) async fn pcscd(config: &Config) -> Check {
    const NAME: &str = "pcscd";
    let backend = config.readers.backend;
    if backend == ReaderBackend::None {
        return Check::skip(NAME, "readers.backend = \"none\": no card readers");
    }
    let readers = match super::super::devices::readers(config) {
        Ok(Some(r)) => r,
        Ok(None) => return Check::skip(NAME, "no card readers configured"),
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{e:#}"),
                "修正 [readers] 配置（readers.virtual_profile） / fix [readers] (readers.virtual_profile)",
            );
        }
    };
    let slots = readers.slots().await;
    readers.close();
    if backend == ReaderBackend::Virtual {
        return Check::ok(
            NAME,
            "virtual reader (no PC/SC needed; test terminals only)",
        );
    }
    let slots = match slots {
        Ok(s) => s,
        Err(e) => return Check::fail(NAME, format!("no PC/SC context: {e}"), START_PCSCD),
    };
    if slots.is_empty() {
        return Check::fail(
            NAME,
            "pcscd answers but reports no readers",
            "插好读卡器并检查驱动：pcsc_scan；必要时 systemctl restart pcscd / plug the reader in and check its driver with pcsc_scan; then systemctl restart pcscd",
        );
    }
    let listing: Vec<String> = slots
        .iter()
        .map(|s| format!("{} [{}]", s.reader, s.kind))
        .collect();
    let detail = format!("{} slot(s): {}", slots.len(), listing.join(", "));
    let sam_expected = config.readers.slots.iter().any(|r| r.kind == SlotKind::Sam);
    if sam_expected && !slots.iter().any(|s| s.kind == SlotKind::Sam) {
        return Check::fail(
            NAME,
            format!("{detail}; no SAM slot although readers.slots names one"),
            "插入 PSAM 卡座或修正 readers.slots 规则 / seat the PSAM module or fix the readers.slots rule",
        );
    }
    Check::ok(NAME, detail)
}

/// The QR camera: `/dev/videoN` (group `video`) or the image directory.
pub(super) fn camera(config: &Config) -> Vec<Check> {
    const NAME: &str = "camera";
    let qr = &config.qr;
    let mut checks = Vec::new();
    match qr.live_camera() {
        Err(e) => checks.push(Check::fail(
            NAME,
            e,
            "只保留 qr.camera_device（推荐 /dev/v4l/by-id/…）或 qr.camera_index 之一 / keep one of qr.camera_device (best /dev/v4l/by-id/…) or qr.camera_index",
        )),
        Ok(None) => {}
        Ok(Some(device)) => checks.push(live_camera(&device)),
    }
    if let Some(dir) = &qr.camera_dir {
        let fix = "创建目录或修正 qr.camera_dir / create the directory or fix qr.camera_dir";
        let check = match std::fs::read_dir(dir) {
            Err(e) => Check::fail(NAME, format!("{}: {e}", dir.display()), fix),
            Ok(entries) => {
                let images = entries
                    .flatten()
                    .filter(|e| {
                        let name = e.file_name().to_string_lossy().to_lowercase();
                        [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"]
                            .iter()
                            .any(|x| name.ends_with(x))
                    })
                    .count();
                if images == 0 {
                    Check::warn(
                        NAME,
                        format!("{}: no images", dir.display()),
                        "放入二维码图片（PNG/JPEG） / put QR images (PNG/JPEG) into the directory",
                    )
                } else {
                    Check::ok(NAME, format!("{}: {images} image(s)", dir.display()))
                }
            }
        };
        checks.push(check);
    }
    if checks.is_empty() {
        checks.push(Check::skip(
            NAME,
            "no qr.camera_device, qr.camera_index or qr.camera_dir",
        ));
    }
    checks
}

/// A live V4L2 camera: its node now (a `by-id` path followed to `/dev/videoN`), readable and
/// writable by this user, and a build that has the driver.
fn live_camera(device: &medsettle_camera::CameraDevice) -> Check {
    const NAME: &str = "camera";
    let (node, named) = match device {
        medsettle_camera::CameraDevice::Index(n) => (
            Ok(std::path::PathBuf::from(format!("/dev/video{n}"))),
            "qr.camera_index",
        ),
        medsettle_camera::CameraDevice::Path(_) => (device.node(), "qr.camera_device"),
    };
    let node = match node {
        Ok(node) if node.exists() => node,
        _ => {
            return Check::fail(
                NAME,
                format!("{device} does not exist"),
                format!(
                    "接好摄像头并检查 ls -l /dev/v4l/by-id/，或修正 {named} / plug the camera in, check `ls -l /dev/v4l/by-id/`, or fix {named}"
                ),
            );
        }
    };
    let dev = match device {
        medsettle_camera::CameraDevice::Path(p) if p != &node => {
            format!("{} → {}", p.display(), node.display())
        }
        _ => node.display().to_string(),
    };
    if device.resolve().is_err() {
        Check::fail(
            NAME,
            format!("{dev} is not a /dev/videoN camera node"),
            format!(
                "在 {named} 写摄像头的 -video-index0 路径 / name the camera's -video-index0 path in {named}"
            ),
        )
    } else if access(&node, AccessFlags::R_OK | AccessFlags::W_OK).is_err() {
        Check::fail(
            NAME,
            format!("{dev} is not readable and writable by this user"),
            "把服务用户加入 video 组：usermod -aG video medsettle / add the service user to group video: usermod -aG video medsettle",
        )
    } else if !cfg!(feature = "v4l") {
        Check::fail(
            NAME,
            format!("{dev} present, but this build has no camera driver"),
            "安装带摄像头支持的版本（--features v4l） / install a build with camera support (--features v4l)",
        )
    } else {
        Check::ok(NAME, format!("{dev} readable and writable"))
    }
}

/// The scan boxes: the serial device (group `dialout`) and the HID event device (`input`).
pub(super) fn scan_box(config: &Config) -> Vec<Check> {
    let qr = &config.qr;
    let mut checks = Vec::new();
    if let Some(path) = &qr.serial {
        checks.push(device(
            "scanbox.serial",
            path,
            true,
            "dialout",
            "插好扫码盒并检查 ls /dev/serial/by-id/，或修正 qr.serial / plug the scan box in, check `ls /dev/serial/by-id/`, or fix qr.serial",
        ));
    }
    if let Some(path) = &qr.hid {
        checks.push(device(
            "scanbox.hid",
            path,
            false,
            "input",
            "插好扫码盒并检查 ls /dev/input/by-id/，或修正 qr.hid / plug the scan box in, check `ls /dev/input/by-id/`, or fix qr.hid",
        ));
    }
    if checks.is_empty() {
        checks.push(Check::skip("scanbox", "no qr.serial or qr.hid"));
    }
    checks
}

/// A device node that must exist and open (read, and write when `write`) without blocking.
fn device(name: &str, path: &Path, write: bool, group: &str, missing_fix: &str) -> Check {
    if !path.exists() {
        return Check::fail(
            name,
            format!("{} does not exist", path.display()),
            missing_fix,
        );
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits() | nix::fcntl::OFlag::O_NOCTTY.bits())
        .open(path);
    match opened {
        Ok(_) => Check::ok(name, format!("{} opens", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            name,
            format!("{}: permission denied", path.display()),
            format!(
                "把服务用户加入 {group} 组：usermod -aG {group} medsettle / add the service user to group {group}: usermod -aG {group} medsettle"
            ),
        ),
        Err(e) => Check::fail(
            name,
            format!("{}: {e}", path.display()),
            "检查设备是否被其他程序占用：fuser -v DEVICE / check whether another program holds it: fuser -v DEVICE",
        ),
    }
}
