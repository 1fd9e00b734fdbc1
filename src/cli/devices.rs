//! Builds the reader stack `[readers]` asks for: the link between the core, which knows only
//! the `CardReaders` trait, and the driver crates.

use std::sync::Arc;

use crate::card::CardReaders;
use crate::config::{Config, ReaderBackend};
use crate::events::EventBus;
use crate::qr::service::{RawScan, SCAN_QUEUE};
use crate::qr::{Cascade, Debouncer, Mailbox, run_decoder};
use anyhow::Context as _;
use medsettle_scanner::LinkState;
use std::time::Duration;
use tokio::sync::mpsc;

/// The reader stack for `config`, or `None` when the terminal has no card readers.
pub(super) fn readers(config: &Config) -> anyhow::Result<Option<Arc<dyn CardReaders>>> {
    match config.readers.backend {
        ReaderBackend::None => Ok(None),
        ReaderBackend::Virtual => virtual_reader(config),
        ReaderBackend::Pcsc => {
            let rules = config
                .readers
                .slots
                .iter()
                .map(|r| medsettle_pcsc::SlotRule {
                    pattern: r.pattern.clone(),
                    kind: r.kind,
                })
                .collect();
            let driver = medsettle_pcsc::ReaderConfig {
                slot_rules: rules,
                ..Default::default()
            };
            Ok(Some(Arc::new(medsettle_pcsc::PcscReaders::spawn(driver))))
        }
    }
}

/// `readers.backend = "virtual"`: a virtual card in an in-process reader (the demo, tests).
#[cfg(feature = "demo")]
fn virtual_reader(config: &Config) -> anyhow::Result<Option<Arc<dyn CardReaders>>> {
    use medsettle_vcard::{InProcessReader, Profile, VirtualCard};
    let path = config
        .readers
        .virtual_profile
        .as_deref()
        .context("`readers.virtual_profile` is required with backend = \"virtual\"")?;
    let profile = Profile::load(path)
        .with_context(|| format!("`readers.virtual_profile`: cannot load {}", path.display()))?;
    let kind = if profile.interface == "contactless" {
        crate::card::SlotKind::Contactless
    } else {
        crate::card::SlotKind::Contact
    };
    let card = VirtualCard::from_profile(profile)
        .with_context(|| format!("`readers.virtual_profile`: {}", path.display()))?;
    let reader = InProcessReader::new(kind);
    reader.insert(card);
    Ok(Some(Arc::new(reader)))
}

/// Without the `demo` feature (the Debian package) there is no virtual card to link.
#[cfg(not(feature = "demo"))]
fn virtual_reader(_config: &Config) -> anyhow::Result<Option<Arc<dyn CardReaders>>> {
    anyhow::bail!(
        "`readers.backend = \"virtual\"` needs a build with the `demo` feature; this one (the \
         Debian package) has no virtual card: use backend = \"pcsc\""
    )
}

/// Starts the QR sources `[qr]` configures and returns the channel their scans arrive on, or
/// `None` when there are none. Camera sources decode on their own threads (newest frame wins);
/// scan boxes run as tasks. Must be called inside the runtime.
pub(super) fn scans(
    config: &Config,
    events: &EventBus,
) -> anyhow::Result<Option<mpsc::Receiver<RawScan>>> {
    let qr = &config.qr;
    let live_camera = qr.live_camera().map_err(anyhow::Error::msg)?;
    if qr.camera_dir.is_none() && qr.serial.is_none() && qr.hid.is_none() && live_camera.is_none() {
        return Ok(None);
    }
    let (tx, rx) = mpsc::channel(SCAN_QUEUE);
    if let Some(dir) = &qr.camera_dir {
        let source = medsettle_camera::DirectorySource::open(dir, qr.camera_loop)
            .with_context(|| format!("`qr.camera_dir`: cannot open {}", dir.display()))?;
        decode_into(source, "camera".into(), qr, &tx)?;
    }
    if let Some(path) = &qr.serial {
        let serial = medsettle_scanner::serial::SerialConfig {
            path: path.clone(),
            baud: qr.serial_baud,
            ..Default::default()
        };
        let (sink, box_rx) = medsettle_scanner::channel(SCAN_QUEUE);
        tokio::spawn(medsettle_scanner::serial::run_serial(
            serial,
            sink,
            std::future::pending(),
        ));
        forward_box(
            format!("serial:{}", path.display()),
            box_rx,
            &tx,
            events,
            qr.aim_ids,
        );
    }
    if let Some(path) = &qr.hid {
        let hid = medsettle_scanner::hid::HidConfig {
            path: path.clone(),
            ..Default::default()
        };
        let (sink, box_rx) = medsettle_scanner::channel(SCAN_QUEUE);
        tokio::spawn(medsettle_scanner::hid::run_hid(
            hid,
            sink,
            std::future::pending(),
        ));
        forward_box(
            format!("hid:{}", path.display()),
            box_rx,
            &tx,
            events,
            qr.aim_ids,
        );
    }
    if let Some(device) = live_camera {
        camera_source(device, qr, &tx)?;
    }
    Ok(Some(rx))
}

/// Forwards a scan box's codes into the daemon's scan channel and its link state to the bus
/// as `qr.source` events (connecting, connected, disconnected, stopped). With `aim_ids` each
/// code's AIM symbology identifier is stripped and recorded.
fn forward_box(
    label: String,
    mut box_rx: medsettle_scanner::ScanReceiver,
    tx: &mpsc::Sender<RawScan>,
    events: &EventBus,
    aim_ids: bool,
) {
    let mut stats = box_rx.stats.clone();
    let (bus, source) = (events.clone(), label.clone());
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let link = stats.borrow_and_update().link.clone();
            if last.as_ref() != Some(&link) {
                let (state, reason) = match &link {
                    LinkState::Connecting => ("connecting", None),
                    LinkState::Connected => ("connected", None),
                    LinkState::Disconnected { reason } => ("disconnected", Some(reason.clone())),
                    LinkState::Stopped => ("stopped", None),
                };
                bus.publish(
                    "qr.source",
                    serde_json::json!({ "source": source, "link": state, "reason": reason }),
                );
                last = Some(link);
            }
            if stats.changed().await.is_err() {
                break;
            }
        }
    });
    let tx = tx.clone();
    tokio::spawn(async move {
        while let Some(scan) = box_rx.scans.recv().await {
            let (symbology, bytes) = if aim_ids {
                let (symbology, rest) = medsettle_nhsa::trace::split_aim(&scan.bytes);
                (symbology, rest.to_vec())
            } else {
                (None, scan.bytes)
            };
            let raw = RawScan {
                bytes,
                source: label.clone(),
                decoder: None,
                decode_ms: None,
                symbology,
            };
            if tx.send(raw).await.is_err() {
                break;
            }
        }
    });
}

/// A live V4L2 camera (builds with the `v4l` feature): capture thread, newest-frame mailbox,
/// decoder thread. A `camera_device` path is followed to its `/dev/videoN` node at every
/// (re)open, so a replugged camera is found under its new number.
#[cfg(feature = "v4l")]
fn camera_source(
    device: medsettle_camera::CameraDevice,
    qr: &crate::config::QrConfig,
    tx: &mpsc::Sender<RawScan>,
) -> anyhow::Result<()> {
    let label = format!("camera:{device}");
    let source = medsettle_camera::V4lSource::new(medsettle_camera::CameraConfig {
        device,
        ..Default::default()
    });
    decode_into(source, label, qr, tx)
}

#[cfg(not(feature = "v4l"))]
fn camera_source(
    device: medsettle_camera::CameraDevice,
    _: &crate::config::QrConfig,
    _: &mpsc::Sender<RawScan>,
) -> anyhow::Result<()> {
    let key = match device {
        medsettle_camera::CameraDevice::Index(index) => format!("qr.camera_index = {index}"),
        medsettle_camera::CameraDevice::Path(path) => {
            format!("qr.camera_device = \"{}\"", path.display())
        }
    };
    anyhow::bail!("`{key}`: this build has no camera driver; build with `--features v4l`")
}

/// Runs a frame source through the decoder cascade on its own threads (newest frame wins) and
/// sends each debounced code to the scan channel.
fn decode_into(
    source: impl medsettle_camera::FrameSource + 'static,
    label: String,
    qr: &crate::config::QrConfig,
    tx: &mpsc::Sender<RawScan>,
) -> anyhow::Result<()> {
    let mailbox = Arc::new(Mailbox::new());
    medsettle_camera::spawn_capture(source, Arc::clone(&mailbox));
    let tx = tx.clone();
    let window = Duration::from_millis(qr.debounce_ms);
    std::thread::Builder::new()
        .name(crate::qr::pump::DECODER_THREAD.into())
        .spawn(move || {
            let cascade = Cascade::default();
            let mut debounce = Debouncer::new(window);
            run_decoder(&mailbox, &cascade, &mut debounce, |scan| {
                let raw = RawScan {
                    bytes: scan.decoded.bytes,
                    source: label.clone(),
                    decoder: Some(format!("{}/{:?}", scan.decoder, scan.variant)),
                    decode_ms: Some(scan.decode_time.as_secs_f64() * 1e3),
                    symbology: scan.decoded.symbology,
                };
                // A full queue drops the scan: the code is still in view and comes again.
                if tx.try_send(raw).is_err() {
                    tracing::warn!("QR scan queue full; scan dropped");
                }
            });
        })
        .context("cannot start the QR decoder thread")?;
    Ok(())
}
