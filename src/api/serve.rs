//! The API's accept loop (in place of `axum::serve`, which has no timeouts): each connection
//! is served by hyper's HTTP/1 with
//! - a header-read timeout (`api.header_read_timeout_ms`): a client that connects and does
//!   not send a complete request head in time is disconnected. hyper restarts this timer
//!   whenever it waits for the next request head, so it also bounds the silence between
//!   keep-alive requests;
//! - an idle timeout (`api.idle_timeout_ms`): a connection with no request in flight (none
//!   being read, handled or answered; an event stream is a request in flight until it ends)
//!   and no byte read or written for that long is closed, whatever hyper's timers do.
//!
//! Together with the connection bound and the Unix socket's reserve (`connections.rs`), idle
//! local clients cannot lock the cashier out. On shutdown the loop stops accepting and every
//! connection finishes its request in flight and closes (hyper's graceful shutdown).
//!
//! A Unix-socket connection's peer credentials are read once at accept and put into every
//! request's extensions as a [`Peer`](super::peer::Peer); `middleware::auth` decides on them.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::serve::Listener;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower::Service as _;

use super::peer::PeerSource;

/// The per-connection timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request head must arrive completely within this.
    pub header_read: Duration,
    /// A connection without a request in flight and silent this long is closed.
    pub idle: Duration,
}

/// Serves `router` on `listener` until `shutdown`, then waits for the open connections to
/// finish their requests in flight.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) where
    L: Listener,
    L::Io: PeerSource,
{
    // Each connection task holds a sender; all dropped = all connections closed.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    loop {
        let (io, _addr) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        let open = open_tx.clone();
        tokio::spawn(async move {
            connection(io, router, timeouts, shutdown).await;
            drop(open);
        });
    }
    drop(listener);
    drop(open_tx);
    let _ = open_rx.recv().await;
}

/// What the idle timer looks at: requests in flight and the time of the last byte.
struct Activity {
    base: Instant,
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let now = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// When the connection became idle, if it is (no request in flight).
    fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Returns once the connection has been idle for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let due = match self.idle_since() {
                Some(since) if since.elapsed() >= idle => return,
                Some(since) => since + idle,
                // A request in flight: look again later (it may take long, an event stream
                // may never end).
                None => Instant::now() + idle,
            };
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

/// One request in flight: counted from the moment hyper hands it over until its response
/// body has been sent completely or dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn connection<I>(io: I, router: Router, timeouts: Timeouts, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + PeerSource + Unpin + Send + 'static,
{
    let peer = io.peer();
    let activity = Activity::new();
    let io = TokioIo::new(Watched {
        io,
        activity: Arc::clone(&activity),
    });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let guard = InFlight::begin(&activity);
            let mut router = router.clone();
            let mut req = req.map(Body::new);
            if let Some(peer) = peer {
                req.extensions_mut().insert(peer);
            }
            async move {
                let response = router
                    .call(req)
                    .await
                    .unwrap_or_else(|e: Infallible| match e {});
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(Tracked {
                        body,
                        _guard: guard,
                    })
                }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "API connection ended with an error");
                }
                break;
            }
            () = shutdown.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = activity.idle_for(timeouts.idle), if !closing => {
                tracing::debug!("API connection idle too long; closing it");
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A response body that keeps its request counted as in flight until it is sent or dropped.
struct Tracked {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, noting the time of every byte read or written.
struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
