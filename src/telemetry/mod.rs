//! Logging and metrics: `tracing` set up for a terminal (text), the systemd journal (its
//! native protocol, one journal field per event field: `journald`) or log shippers (JSON
//! lines), personal data masked on the way out, and the Prometheus registry the API exposes.
//!
//! Every output masks anything shaped like an ID number even if a caller forgot to (text and
//! JSON through [`ScrubbingWriter`], the journal field by field); names cannot be recognised
//! by shape, so callers must log them only through [`pii::MaskedName`]. Nothing here opens
//! network sockets; the journal is a local datagram socket.

mod fields;
pub mod journald;
pub mod json;
pub mod metrics;
pub mod ops;
pub use medsettle_base::pii;
pub mod process;
pub mod throttle;

use std::io::{self, IsTerminal, Write};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use serde::{Deserialize, Serialize};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// `journald` when systemd connected stderr to the journal (`JOURNAL_STREAM` names
    /// stderr), otherwise `text`.
    #[default]
    Auto,
    /// Human-readable lines with timestamps (colour on a terminal).
    Text,
    /// Entries sent to the journal over its native protocol, with the event's fields as
    /// journal fields (`SALE_ID`, `MSGID`, `INFNO`, `ERROR_CODE`, …). When the journal's
    /// socket cannot be reached: lines on stderr with syslog priority prefixes like `<4>`.
    Journald,
    /// One JSON object per line on stderr (`timestamp`, `level`, `target`, `message`,
    /// `fields`).
    Json,
}

/// What [`init`] sets up (the config's `[log]` converts into this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// A tracing filter directive.
    pub level: String,
    pub format: LogFormat,
    /// Warnings/errors let through per call site per `repeat_window` (0: no limit).
    pub repeat_burst: u32,
    pub repeat_window: std::time::Duration,
}

/// Lets the running daemon change its log filter (SIGHUP).
#[derive(Clone)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
}

impl LogHandle {
    /// Replaces the log filter. The directive was validated with the config.
    pub fn set_level(&self, directive: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(directive).map_err(|e| e.to_string())?;
        self.filter.reload(filter).map_err(|e| e.to_string())
    }
}

/// Which format `auto` means here: journald style when systemd connected stderr to the journal.
pub fn effective_format(format: LogFormat) -> LogFormat {
    match format {
        LogFormat::Auto if journald::stderr_is_journal() => LogFormat::Journald,
        LogFormat::Auto => LogFormat::Text,
        other => other,
    }
}

/// Installs the global subscriber writing to stderr. Call once, from `main`.
pub fn init(config: &LogOptions) -> Result<LogHandle, String> {
    let filter = EnvFilter::try_new(&config.level).map_err(|e| e.to_string())?;
    let (filter, handle) = reload::Layer::new(filter);
    let throttle = std::sync::Arc::new(throttle::LogThrottle::new(
        config.repeat_burst,
        config.repeat_window,
    ));
    let _ = THROTTLE.set(std::sync::Arc::clone(&throttle));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(throttle::ThrottleLayer(throttle));
    let format = effective_format(config.format);
    let journal = match format {
        LogFormat::Journald => journald::JournaldLayer::connect(&journald::socket_path()).ok(),
        _ => None,
    };
    let result = match format {
        LogFormat::Journald if journal.is_some() => registry.with(journal).try_init(),
        LogFormat::Journald => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(JournaldFormat)
                    .fmt_fields(DefaultFields::new())
                    .with_writer(ScrubbingWriter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(json::JsonFormat)
                    .with_writer(ScrubbingWriter),
            )
            .try_init(),
        _ => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(io::stderr().is_terminal())
                    .with_target(true)
                    .with_writer(ScrubbingWriter),
            )
            .try_init(),
    };
    result.map_err(|e| e.to_string())?;
    Ok(LogHandle { filter: handle })
}

/// The throttle [`init`] installed, for the daemon's periodic report and `/metrics`.
static THROTTLE: std::sync::OnceLock<std::sync::Arc<throttle::LogThrottle>> =
    std::sync::OnceLock::new();

/// The log throttle of this process, once [`init`] ran.
pub fn log_throttle() -> Option<&'static throttle::LogThrottle> {
    THROTTLE.get().map(|t| &**t)
}

/// journald-friendly lines on stderr, when the journal's socket cannot be reached: a `<N>`
/// syslog priority prefix (systemd turns it into the entry's priority), no timestamp (the
/// journal records one), no colour.
struct JournaldFormat;

impl<S, N> FormatEvent<S, N> for JournaldFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let priority = match *meta.level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        write!(writer, "<{priority}>{}: ", meta.target())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Writes log output to stderr after masking ID-number-shaped text. The fmt layer hands over
/// one whole event per write, so masking never sees half an ID.
#[derive(Clone, Copy)]
pub struct ScrubbingWriter;

impl<'a> MakeWriter<'a> for ScrubbingWriter {
    type Writer = ScrubbingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter
    }
}

impl Write for ScrubbingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        io::stderr()
            .lock()
            .write_all(pii::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
