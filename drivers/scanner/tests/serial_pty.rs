//! The serial scan-box loop against a pseudo-terminal pair standing in for a CDC-ACM box:
//! bytes written on the master come out as scans; timeouts, floods and unplugging included.
//! Synchronisation waits on the stats `watch` channel, never on sleeps.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::Duration;

use medsettle_scanner::framer::Terminator;
use medsettle_scanner::serial::{SerialConfig, run_serial};
use medsettle_scanner::{LinkState, ScanReceiver, ScanSource, ScannerStats, channel};
use tokio::sync::oneshot;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

struct PtyBox {
    master: File,
    _slave: OwnedFd,
    rx: ScanReceiver,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(capacity: usize, terminator: Terminator) -> PtyBox {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let config = SerialConfig {
        path,
        baud: 115_200,
        terminator,
        inter_byte_timeout: Duration::from_millis(50),
        max_len: 64,
        reconnect_delay: Duration::from_millis(20),
    };
    let (tx, mut rx) = channel(capacity);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run_serial(config, tx, async move {
        let _ = stopped.await;
    }));
    // Bytes must only be written once the port is open in raw mode (no CR→LF translation).
    wait(&mut rx, |s| s.link == LinkState::Connected).await;
    PtyBox {
        master: File::from(pty.master),
        _slave: pty.slave,
        rx,
        stop,
        task,
    }
}

async fn wait(rx: &mut ScanReceiver, cond: impl FnMut(&ScannerStats) -> bool) -> ScannerStats {
    timeout(LIMIT, rx.stats.wait_for(cond))
        .await
        .expect("condition in time")
        .unwrap()
        .clone()
}

async fn next(rx: &mut ScanReceiver) -> medsettle_scanner::Scan {
    timeout(LIMIT, rx.scans.recv())
        .await
        .expect("scan in time")
        .expect("channel open")
}

#[tokio::test]
async fn lines_partial_and_gbk() {
    let mut b = start(8, Terminator::CrLf).await;
    b.master.write_all(b"ESSC1.abc.def\r\nSECOND-").unwrap();
    b.master.write_all(b"CODE\r\n").unwrap();
    let first = next(&mut b.rx).await;
    assert_eq!(
        (first.text.as_str(), first.by_timeout, first.source),
        ("ESSC1.abc.def", false, ScanSource::Serial)
    );
    assert_eq!(next(&mut b.rx).await.text, "SECOND-CODE");
    // No terminator: the inter-byte timeout completes the scan.
    b.master.write_all(b"PARTIAL").unwrap();
    let partial = next(&mut b.rx).await;
    assert_eq!(
        (partial.bytes.as_slice(), partial.by_timeout),
        (&b"PARTIAL"[..], true)
    );
    // GBK from a Chinese-mode box: bytes kept, text decoded.
    b.master
        .write_all(&[0xd5, 0xc5, 0xc8, 0xfd, b'\r', b'\n'])
        .unwrap();
    let gbk = next(&mut b.rx).await;
    assert_eq!((gbk.bytes.len(), gbk.text.as_str()), (4, "张三"));
    // Oversized lines are counted, not delivered.
    b.master.write_all(&[b'X'; 100]).unwrap();
    b.master.write_all(b"\r\nAFTER\r\n").unwrap();
    assert_eq!(next(&mut b.rx).await.text, "AFTER");
    assert_eq!(b.rx.stats.borrow().oversized, 1);
    b.stop.send(()).unwrap();
    timeout(LIMIT, b.task).await.unwrap().unwrap();
    assert_eq!(b.rx.stats.borrow().link, LinkState::Stopped);
}

#[tokio::test]
async fn flood_drops_and_counts() {
    let mut b = start(2, Terminator::Cr).await;
    let flood: Vec<u8> = (0..10)
        .flat_map(|i| format!("CODE-{i:02}\r").into_bytes())
        .collect();
    b.master.write_all(&flood).unwrap();
    let stats = wait(&mut b.rx, |s| s.framed == 10).await;
    assert_eq!((stats.delivered, stats.dropped), (2, 8));
    // The oldest scans were kept; later ones were dropped.
    assert_eq!(next(&mut b.rx).await.text, "CODE-00");
    assert_eq!(next(&mut b.rx).await.text, "CODE-01");
    // Room again: the next scan is delivered.
    b.master.write_all(b"LATE\r").unwrap();
    assert_eq!(next(&mut b.rx).await.text, "LATE");
    b.stop.send(()).unwrap();
}

#[tokio::test]
async fn unplugged_box_is_reported_and_retried() {
    let mut b = start(4, Terminator::Cr).await;
    b.master.write_all(b"BEFORE-UNPLUG\r").unwrap();
    assert_eq!(next(&mut b.rx).await.text, "BEFORE-UNPLUG");
    // Closing both ends makes the port fail and its path disappear, as an unplugged box does.
    drop(b.master);
    drop(b._slave);
    let stats = wait(&mut b.rx, |s| {
        matches!(s.link, LinkState::Disconnected { .. })
    })
    .await;
    assert_eq!(stats.connects, 1);
    // The loop keeps retrying until told to stop; the vanished path cannot be reopened.
    let stats = wait(&mut b.rx, |s| s.attempts >= 3).await;
    assert_eq!(stats.connects, 1);
    b.stop.send(()).unwrap();
    timeout(LIMIT, b.task).await.unwrap().unwrap();
    assert_eq!(b.rx.stats.borrow().link, LinkState::Stopped);
}
