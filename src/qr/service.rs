//! The daemon's QR service: scans from every configured source (camera pipelines, scan boxes)
//! arrive as [`RawScan`]s on one bounded channel; each is debounced, classified and — for a
//! signed e-SSC — verified with the persistent replay guard, then published: as a
//! `qr.scanned` event (masked), to whoever waits in `POST /v1/qr/scan` (in clear: the
//! cashier program on this PC needs the identity), and to the credential intake
//! (`credential::Intake`, through the cache's typed channel).
//!
//! Devices live in `drivers/`; this module only sees bytes. Verification touches the store's
//! writer (the replay guard), so it runs on a blocking thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::classify::{Reading, Scanned, TraceScan, read};
use super::debounce::Debouncer;
use super::essc::{ReplayGuard, Verifier};
use crate::credential::{Credentials, EsscHolder, Fresh, TraceOffer};
use crate::error::UserFacing;
use crate::events::EventBus;
use crate::status::now_ms;

/// How many scans may wait for processing; a flood beyond this is dropped at the source.
pub const SCAN_QUEUE: usize = 32;

/// One code as a source produced it.
#[derive(Clone)]
pub struct RawScan {
    /// The payload, possibly not UTF-8.
    pub bytes: Vec<u8>,
    /// `camera`, `serial:/dev/ttyACM0`, …
    pub source: String,
    /// Which decoder found it (camera sources).
    pub decoder: Option<String>,
    /// Decode time of the frame, milliseconds (camera sources).
    pub decode_ms: Option<f64>,
    /// The symbology the source read, when it says: the camera's decoder, or a scan box's AIM
    /// identifier (`]C0`, `]d2`, `]Q1`, …) when it is configured to send one.
    pub symbology: Option<medsettle_nhsa::trace::Symbology>,
}

impl std::fmt::Debug for RawScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The payload is a credential: never printed.
        write!(
            f,
            "RawScan({} bytes from {})",
            self.bytes.len(),
            self.source
        )
    }
}

pub use crate::credential::ScanResult;

/// The service. Shared by the processing task and the API.
pub struct QrService {
    verifier: Verifier,
    guard: Arc<dyn ReplayGuard>,
    bus: EventBus,
    results: broadcast::Sender<Arc<ScanResult>>,
    debounce: Duration,
    /// Where valid credentials are held for `POST /v1/sales` (`credential_id`) and every
    /// processed code is posted for the intake's waiters.
    credentials: Option<Arc<Credentials>>,
    /// Scans verified at once. Verification is CPU work (SM2/ECDSA, decoding), so more at once
    /// than the terminal has cores only adds threads: a flood of submitted codes would otherwise
    /// spread over dozens of blocking threads, each keeping its own allocator heap.
    slots: Arc<Semaphore>,
}

/// One verification slot per core, at least one and at most four.
fn verify_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

impl QrService {
    /// A service verifying e-SSC codes with `verifier` and `guard`.
    pub fn new(
        verifier: Verifier,
        guard: Arc<dyn ReplayGuard>,
        bus: EventBus,
        debounce: Duration,
    ) -> QrService {
        QrService {
            verifier,
            guard,
            bus,
            results: broadcast::channel(16).0,
            debounce,
            credentials: None,
            slots: Arc::new(Semaphore::new(verify_slots())),
        }
    }

    /// Valid scans are also held in `credentials`, their id in [`ScanResult::credential_id`],
    /// and every processed scan is posted to its intake.
    pub fn with_credentials(mut self, credentials: Arc<Credentials>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Processes scans until `stop` or until every source has gone.
    pub async fn run(self: Arc<Self>, mut scans: mpsc::Receiver<RawScan>, stop: CancellationToken) {
        let mut debouncer = Debouncer::new(self.debounce);
        loop {
            let scan = tokio::select! {
                _ = stop.cancelled() => return,
                s = scans.recv() => match s { Some(s) => s, None => return },
            };
            if !debouncer.accept(&scan.bytes, Instant::now()) {
                continue;
            }
            let result = match self.verify(scan).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "scan processing panicked");
                    continue;
                }
            };
            self.publish(result);
        }
    }

    /// Processes a code entered by hand or by a scan box typing into the cashier program (no
    /// debounce: the cashier submitted it on purpose), publishes it like any scan, and answers.
    pub async fn submit(self: &Arc<Self>, scan: RawScan) -> Option<Arc<ScanResult>> {
        let result = self.verify(scan).await.ok()?;
        Some(self.publish(result))
    }

    /// Runs [`QrService::process`] on a blocking thread once a verification slot is free.
    async fn verify(self: &Arc<Self>, scan: RawScan) -> Result<ScanResult, tokio::task::JoinError> {
        // The semaphore is never closed, so acquiring only waits.
        let permit = Arc::clone(&self.slots).acquire_owned().await;
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            me.process(scan)
        })
        .await
    }

    /// Waits up to `wait` for the next processed scan.
    pub async fn next(&self, wait: Duration) -> Option<Arc<ScanResult>> {
        let mut rx = self.results.subscribe();
        let got = tokio::time::timeout(wait, async {
            loop {
                match rx.recv().await {
                    Ok(r) => return Some(r),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        got.await.ok().flatten()
    }

    /// Classifies and verifies one scan (blocking: the replay guard writes to the store).
    fn process(&self, scan: RawScan) -> ScanResult {
        let code = String::from_utf8_lossy(&scan.bytes).into_owned();
        let mut result = ScanResult {
            kind: "unknown",
            valid: false,
            code,
            identity: None,
            error: None,
            credential_id: None,
            source: scan.source,
            decoder: scan.decoder,
            decode_ms: scan.decode_ms,
            at_ms: now_ms(),
            trace: None,
        };
        let refusal = |e: &dyn UserFacing| json!({ "code": e.code(), "message_zh": e.message_zh(), "message_en": e.message_en() });
        let offer = |(code, warning): TraceScan| {
            TraceOffer {
            shape: code.shape(),
            code,
            symbology: scan.symbology,
            warning: warning.map(|w| {
                json!({ "code": w.code(), "message_zh": w.message_zh(), "message_en": w.message_en() })
            }),
        }
        };
        let credential = match read(&scan.bytes, scan.symbology) {
            Reading::Trace(Ok(trace)) => {
                result.kind = "trace";
                result.valid = true;
                result.trace = Some(offer(trace));
                return result;
            }
            Reading::Trace(Err(e)) => {
                result.kind = "trace";
                result.error = Some(refusal(&e));
                return result;
            }
            Reading::Either(code, trace) => {
                result.trace = Some(offer(trace));
                Ok(Scanned::EVoucher(code))
            }
            Reading::Credential(c) => c,
        };
        match credential {
            Ok(Scanned::Essc(text)) => {
                result.kind = "e-ssc";
                let now = result.at_ms / 1000;
                match self.verifier.verify(&text, now, self.guard.as_ref()) {
                    Ok(id) => {
                        result.valid = true;
                        result.identity = Some(EsscHolder {
                            sn: id.sn.clone(),
                            name: id.name.clone(),
                            card_no: id.card_no.clone(),
                            region: id.region.clone(),
                            kid: id.kid.clone(),
                            exp: id.exp,
                        });
                        result.credential_id =
                            self.credentials.as_ref().map(|c| c.insert(Fresh::Essc(id)));
                    }
                    Err(e) => result.error = Some(refusal(&e)),
                }
            }
            Ok(Scanned::EVoucher(code)) => {
                result.kind = "e-voucher";
                result.valid = true;
                result.credential_id = self
                    .credentials
                    .as_ref()
                    .map(|c| c.insert(Fresh::EVoucher(code)));
            }
            Err(e) => result.error = Some(refusal(&e)),
        }
        result
    }

    fn publish(&self, r: ScanResult) -> Arc<ScanResult> {
        if let Some(t) = &r.trace {
            // Offered to the counter's open sale: the counter UI attaches it to a line.
            self.bus.publish(
                "trace.scanned",
                json!({
                    "code": t.code, "shape": t.shape, "symbology": t.symbology,
                    "warning": t.warning, "source": r.source, "also": (r.kind != "trace").then_some(r.kind),
                }),
            );
        }
        let masked_identity = r.masked_identity();
        self.bus.publish(
            "qr.scanned",
            json!({
                "kind": r.kind, "valid": r.valid, "source": r.source,
                "identity": masked_identity, "error": r.error,
                "decoder": r.decoder, "decode_ms": r.decode_ms,
            }),
        );
        tracing::info!(kind = r.kind, valid = r.valid, source = %r.source,
            error = r.error.as_ref().map(|e| e["code"].to_string()), "QR code scanned");
        let refused = r.error.as_ref().and_then(|e| e["code"].as_str());
        let result = refused.unwrap_or(if r.valid { "valid" } else { "invalid" });
        crate::telemetry::ops::ops().qr_scan(r.kind, result);
        let r = Arc::new(r);
        let _ = self.results.send(Arc::clone(&r));
        if let Some(credentials) = &self.credentials {
            credentials.post_scan(Arc::clone(&r));
        }
        r
    }
}
