//! The virtual card's side of a vpcd reader: a thread that connects to vpcd's TCP port and
//! answers its control messages and APDUs from a [`VirtualCard`]. Being connected *is* card
//! presence for vpcd, so [`VpcdConnection::insert`] and [`VpcdConnection::remove`] are card
//! insertion and removal. This module owns the socket; it never interprets APDUs itself.
//!
//! While inserted, the thread reconnects whenever vpcd goes away (for example when pcscd
//! restarts), so a restarted pcscd finds the card again.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::SockRef;

use crate::card::{CardAction, VirtualCard};
use crate::framing::{VpcdMessage, read_message, write_message};

/// How long to wait before retrying a refused connection.
const RETRY: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
struct State {
    want_inserted: bool,
    stop: bool,
    connected: bool,
    /// A clone of the live socket, so `remove` can cut it from another thread.
    stream: Option<TcpStream>,
    latency: Duration,
}

struct Shared {
    addr: SocketAddr,
    state: Mutex<State>,
    changed: Condvar,
    card: Mutex<VirtualCard>,
    apdus: AtomicU64,
    /// Time spent in simulated card latency, nanoseconds.
    card_nanos: AtomicU64,
    sessions: AtomicU64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn card(&self) -> MutexGuard<'_, VirtualCard> {
        self.card.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A virtual card plugged into (or pulled from) one vpcd reader.
pub struct VpcdConnection {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl VpcdConnection {
    /// Starts the card thread and inserts the card: it connects to vpcd at `addr` as soon as
    /// vpcd listens.
    pub fn connect(addr: SocketAddr, card: VirtualCard) -> io::Result<VpcdConnection> {
        let c = VpcdConnection::new_removed(addr, card)?;
        c.insert();
        Ok(c)
    }

    /// Starts the card thread with the card outside the reader.
    pub fn new_removed(addr: SocketAddr, card: VirtualCard) -> io::Result<VpcdConnection> {
        let latency = Duration::from_millis(card.profile().latency_ms);
        let shared = Arc::new(Shared {
            addr,
            state: Mutex::new(State {
                latency,
                ..State::default()
            }),
            changed: Condvar::new(),
            card: Mutex::new(card),
            apdus: AtomicU64::new(0),
            card_nanos: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("vcard-{}", addr.port()))
            .spawn(move || run(&s))?;
        Ok(VpcdConnection {
            shared,
            thread: Some(thread),
        })
    }

    /// Puts the card into the reader (connects to vpcd, retrying until it listens).
    pub fn insert(&self) {
        let mut st = self.shared.state();
        st.want_inserted = true;
        self.shared.changed.notify_all();
    }

    /// Pulls the card out: the socket is shut down before this returns.
    pub fn remove(&self) {
        let mut st = self.shared.state();
        st.want_inserted = false;
        if let Some(s) = st.stream.take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.shared.changed.notify_all();
    }

    /// Whether the card wants to be in the reader (it may still be connecting).
    pub fn is_inserted(&self) -> bool {
        self.shared.state().want_inserted
    }

    /// Whether a vpcd socket is currently open.
    pub fn is_connected(&self) -> bool {
        self.shared.state().connected
    }

    /// APDUs answered since the connection object was created.
    pub fn apdu_count(&self) -> u64 {
        self.shared.apdus.load(Ordering::Relaxed)
    }

    /// Total time the card has spent "processing" (its configured latency, as actually slept),
    /// so benchmarks can separate the card's time from everyone else's.
    pub fn card_time(&self) -> Duration {
        Duration::from_nanos(self.shared.card_nanos.load(Ordering::Relaxed))
    }

    /// Number of vpcd sockets opened so far (re-insertions and reconnections).
    pub fn sessions(&self) -> u64 {
        self.shared.sessions.load(Ordering::Relaxed)
    }

    /// Changes the delay before every APDU answer.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.state().latency = latency;
    }

    /// Inspects or changes the card (for example its PIN counter) between APDUs.
    pub fn with_card<R>(&self, f: impl FnOnce(&mut VirtualCard) -> R) -> R {
        f(&mut self.shared.card())
    }

    /// The vpcd address this card plugs into.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }
}

impl Drop for VpcdConnection {
    fn drop(&mut self) {
        {
            let mut st = self.shared.state();
            st.stop = true;
            st.want_inserted = false;
            if let Some(s) = st.stream.take() {
                let _ = s.shutdown(Shutdown::Both);
            }
            self.shared.changed.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared) {
    loop {
        {
            let mut st = shared.state();
            while !st.stop && !st.want_inserted {
                st = shared.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.stop {
                return;
            }
        }
        let stream = match TcpStream::connect_timeout(&shared.addr, Duration::from_secs(1)) {
            Ok(s) => s,
            Err(e) => {
                tracing::trace!(addr = %shared.addr, error = %e, "vpcd not reachable yet");
                let st = shared.state();
                let _ = shared.changed.wait_timeout(st, RETRY);
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY failed");
        }
        {
            let mut st = shared.state();
            if st.stop || !st.want_inserted {
                continue;
            }
            match stream.try_clone() {
                Ok(c) => st.stream = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot clone vpcd socket");
                    continue;
                }
            }
            st.connected = true;
        }
        shared.sessions.fetch_add(1, Ordering::Relaxed);
        shared.card().inserted();
        tracing::debug!(addr = %shared.addr, "card inserted into vpcd");
        let outcome = serve(shared, stream);
        let mut st = shared.state();
        st.connected = false;
        st.stream = None;
        match outcome {
            // `serve` already recorded the removal; a later `insert` must not be undone here.
            Ok(Ended::Removed) => {
                tracing::debug!(addr = %shared.addr, "card left the reader (fault)")
            }
            Ok(Ended::VpcdClosed) => tracing::debug!(addr = %shared.addr, "vpcd closed the socket"),
            Err(e) => tracing::debug!(addr = %shared.addr, error = %e, "vpcd socket ended"),
        }
    }
}

enum Ended {
    VpcdClosed,
    Removed,
}

fn serve(shared: &Shared, mut stream: TcpStream) -> io::Result<Ended> {
    loop {
        // Delayed ACKs would otherwise cost ~40 ms per APDU; quick-ack is cleared by the
        // kernel after use, so it is re-armed before every read.
        let _ = SockRef::from(&stream).set_tcp_quickack(true);
        let Some(payload) = read_message(&mut stream)? else {
            return Ok(Ended::VpcdClosed);
        };
        match VpcdMessage::decode(payload) {
            VpcdMessage::PowerOff | VpcdMessage::PowerOn | VpcdMessage::Reset => {
                shared.card().reset()
            }
            VpcdMessage::GetAtr => {
                let atr = shared.card().atr().to_vec();
                write_message(&mut stream, &atr)?;
            }
            VpcdMessage::UnknownControl(b) => tracing::debug!(control = b, "unknown vpcd control"),
            VpcdMessage::Apdu(apdu) => {
                let latency = shared.state().latency;
                if !latency.is_zero() {
                    let slept = std::time::Instant::now();
                    std::thread::sleep(latency);
                    let nanos = u64::try_from(slept.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    shared.card_nanos.fetch_add(nanos, Ordering::Relaxed);
                }
                let action = shared.card().process(&apdu);
                match action {
                    CardAction::Reply(r) => {
                        shared.apdus.fetch_add(1, Ordering::Relaxed);
                        write_message(&mut stream, &r)?;
                    }
                    CardAction::Remove => {
                        // Record the removal before vpcd can observe it.
                        shared.state().want_inserted = false;
                        let _ = stream.shutdown(Shutdown::Both);
                        return Ok(Ended::Removed);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;
    use std::net::TcpListener;

    fn card(fixture: &str) -> VirtualCard {
        let path = format!(
            "{}/../../fixtures/cards/{fixture}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        VirtualCard::from_profile(Profile::load(path).unwrap()).unwrap()
    }

    fn ask(s: &mut TcpStream, payload: &[u8]) -> Vec<u8> {
        write_message(s, payload).unwrap();
        read_message(s).unwrap().unwrap()
    }

    /// Plays vpcd's part on a local listener.
    #[test]
    fn speaks_vpcd_framing_and_models_presence() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let conn =
            VpcdConnection::connect(listener.local_addr().unwrap(), card("removed_mid_read"))
                .unwrap();
        let (mut s, _) = listener.accept().unwrap();
        write_message(&mut s, &[1]).unwrap();
        assert_eq!(
            hex::encode_upper(ask(&mut s, &[4])),
            "3B6A00004D534554544C45303031"
        );
        let select = hex::decode("00A404000F7378312E73682EC9E7BBE1B1A3D5CF").unwrap();
        assert_eq!(ask(&mut s, &select), [0x90, 0x00]);
        // A reset needs no answer; the next message is answered normally.
        write_message(&mut s, &[2]).unwrap();
        assert_eq!(ask(&mut s, &select), [0x90, 0x00]);
        assert_eq!(
            ask(&mut s, &hex::decode("00A4020002EF05").unwrap()),
            [0x90, 0x00]
        );
        assert_eq!(conn.apdu_count(), 3);
        // The fixture leaves the reader instead of answering the 4th APDU.
        write_message(&mut s, &hex::decode("00B2010400").unwrap()).unwrap();
        assert_eq!(read_message(&mut s).unwrap(), None);
        assert!(!conn.is_inserted());

        // Inserting again opens a new socket with a fresh session.
        conn.insert();
        let (mut s2, _) = listener.accept().unwrap();
        assert_eq!(ask(&mut s2, &select), [0x90, 0x00]);
        assert_eq!(conn.sessions(), 2);
        conn.remove();
        assert_eq!(read_message(&mut s2).unwrap(), None);
        assert!(!conn.is_inserted());
    }

    #[test]
    fn reconnects_when_vpcd_drops_the_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let conn = VpcdConnection::connect(listener.local_addr().unwrap(), card("normal")).unwrap();
        let (s, _) = listener.accept().unwrap();
        drop(s);
        let (mut s, _) = listener.accept().unwrap();
        assert_eq!(ask(&mut s, &[4]).len(), 14);
        assert!(conn.is_inserted());
        drop(conn);
        assert_eq!(read_message(&mut s).unwrap(), None);
    }
}
