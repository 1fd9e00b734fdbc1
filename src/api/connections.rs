//! A bound on open API connections (`api.max_connections`), shared by the TCP and Unix
//! listeners: each accepted connection holds a permit until it closes, and at the bound the
//! listener stops accepting, so further clients wait in the kernel's backlog instead of
//! costing the daemon memory. Idle keep-alive and event-stream connections count too; a
//! cashier program, a kiosk UI and the status page need a handful.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The permits of one daemon's listeners.
#[derive(Clone)]
pub struct ConnectionLimit {
    permits: Arc<Semaphore>,
    max: usize,
}

impl ConnectionLimit {
    /// At most `max` connections open at once.
    pub fn new(max: usize) -> ConnectionLimit {
        ConnectionLimit {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// `listener`, accepting only while fewer than the bound are open.
    pub fn wrap<L: Listener>(&self, listener: L) -> Bounded<L> {
        Bounded {
            inner: listener,
            permits: Arc::clone(&self.permits),
        }
    }
}

/// A listener that takes a permit before each accept.
pub struct Bounded<L> {
    inner: L,
    permits: Arc<Semaphore>,
}

impl<L: Listener> Listener for Bounded<L> {
    type Io = Counted<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so acquiring only waits.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
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
        let limit = ConnectionLimit::new(2);
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
}
