//! A bound on open API connections (`api.max_connections`), shared by the TCP and Unix
//! listeners: each accepted connection holds a permit until it closes, and at the bound the
//! listener stops accepting, so further clients wait in the kernel's backlog instead of
//! costing the daemon memory. Idle keep-alive and event-stream connections count too; a
//! cashier program, a kiosk UI and the status page need a handful.
//!
//! The last `api.unix_reserved_connections` permits are the Unix socket's alone: the TCP
//! listener cannot take them, so however many local TCP clients hold connections open, the
//! cashier program on the Unix socket still gets in. (The header-read and idle timeouts of
//! `api/serve.rs` close idle connections; the reserve holds even before they fire.)

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The permits of one daemon's listeners: a shared pool and the Unix socket's reserve.
#[derive(Clone)]
pub struct ConnectionLimit {
    shared: Arc<Semaphore>,
    reserved: Arc<Semaphore>,
    max: usize,
    reserve: usize,
}

impl ConnectionLimit {
    /// At most `max` connections open at once, the last `reserve` of them only for listeners
    /// wrapped with [`ConnectionLimit::wrap_reserved`]. `reserve` is capped at `max - 1`.
    pub fn new(max: usize, reserve: usize) -> ConnectionLimit {
        let reserve = reserve.min(max.saturating_sub(1));
        ConnectionLimit {
            shared: Arc::new(Semaphore::new(max - reserve)),
            reserved: Arc::new(Semaphore::new(reserve)),
            max,
            reserve,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        (self.max - self.reserve - self.shared.available_permits())
            + (self.reserve - self.reserved.available_permits())
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The permits only the Unix socket may use.
    pub fn reserve(&self) -> usize {
        self.reserve
    }

    /// `listener` (TCP), accepting only while a permit outside the reserve is free.
    pub fn wrap<L: Listener>(&self, listener: L) -> Bounded<L> {
        Bounded {
            inner: listener,
            shared: Arc::clone(&self.shared),
            reserved: None,
        }
    }

    /// `listener` (the Unix socket), which may also use the reserve: its own permits first,
    /// then the shared ones.
    pub fn wrap_reserved<L: Listener>(&self, listener: L) -> Bounded<L> {
        Bounded {
            inner: listener,
            shared: Arc::clone(&self.shared),
            reserved: Some(Arc::clone(&self.reserved)),
        }
    }
}

/// A listener that takes a permit before each accept.
pub struct Bounded<L> {
    inner: L,
    shared: Arc<Semaphore>,
    reserved: Option<Arc<Semaphore>>,
}

/// A permit: from the reserve if the listener has one and it is not used up, else from the
/// shared pool; waits for whichever frees first. The semaphores are never closed, so
/// acquiring only waits.
async fn permit(shared: Arc<Semaphore>, reserved: Option<Arc<Semaphore>>) -> OwnedSemaphorePermit {
    const OPEN: &str = "the connection semaphores are never closed";
    let Some(reserved) = reserved else {
        return shared.acquire_owned().await.expect(OPEN);
    };
    if let Ok(p) = Arc::clone(&reserved).try_acquire_owned() {
        return p;
    }
    tokio::select! {
        p = reserved.acquire_owned() => p.expect(OPEN),
        p = shared.acquire_owned() => p.expect(OPEN),
    }
}

impl<L: Listener> Listener for Bounded<L> {
    type Io = Counted<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let permit = permit(Arc::clone(&self.shared), self.reserved.clone()).await;
        let (io, addr) = self.inner.accept().await;
        (
            Counted {
                io,
                _permit: permit,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection holding its permit; dropping it (the connection closed) frees the permit.
pub struct Counted<T> {
    io: T,
    _permit: OwnedSemaphorePermit,
}

impl<T> Counted<T> {
    /// The connection itself (the Unix socket's peer credentials are read from it).
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    #[tokio::test]
    async fn accepts_stop_at_the_bound_and_resume_when_one_closes() {
        let limit = ConnectionLimit::new(2, 0);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = limit.wrap(tcp);
        let _c1 = TcpStream::connect(addr).await.unwrap();
        let _c2 = TcpStream::connect(addr).await.unwrap();
        let mut c3 = TcpStream::connect(addr).await.unwrap(); // waits in the backlog
        let (a1, _) = listener.accept().await;
        let (a2, _) = listener.accept().await;
        assert_eq!(limit.open(), 2);
        // The third is not accepted while two are open.
        let third = tokio::spawn(async move { listener.accept().await });
        tokio::task::yield_now().await;
        assert!(!third.is_finished());
        assert_eq!(limit.open(), 2);
        drop(a1);
        let (mut a3, _) = third.await.unwrap();
        assert_eq!(limit.open(), 2);
        // The third connection works end to end.
        c3.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        a3.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        drop(a2);
        drop(a3);
        assert_eq!(limit.open(), 0);
    }

    #[tokio::test]
    async fn tcp_cannot_take_the_unix_reserve() {
        let limit = ConnectionLimit::new(3, 1);
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut tcp = limit.wrap(tcp);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut unix = limit.wrap_reserved(tokio::net::UnixListener::bind(&path).unwrap());
        let _c: Vec<_> =
            futures_util::future::join_all((0..3).map(|_| TcpStream::connect(addr))).await;
        let (t1, _) = tcp.accept().await;
        let (_t2, _) = tcp.accept().await;
        assert_eq!(limit.open(), 2);
        // The third TCP connection waits: the last permit is the Unix socket's.
        let third = tokio::spawn(async move {
            let got = tcp.accept().await;
            (tcp, got)
        });
        tokio::task::yield_now().await;
        assert!(!third.is_finished());
        let _u1 = tokio::net::UnixStream::connect(&path).await.unwrap();
        let (u1, _) = unix.accept().await;
        assert_eq!(limit.open(), 3);
        // All permits used: a second Unix client waits for any of them.
        let _u2 = tokio::net::UnixStream::connect(&path).await.unwrap();
        let second = tokio::spawn(async move { unix.accept().await });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        drop(u1); // the reserve frees: the Unix socket takes it, TCP still waits
        let _u = second.await.unwrap();
        tokio::task::yield_now().await;
        assert!(!third.is_finished());
        drop(t1); // a shared permit frees: TCP takes it
        let _t = third.await.unwrap();
        assert_eq!(limit.open(), 3);
    }
}
