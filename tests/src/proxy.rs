//! A fault-injecting TCP proxy on loopback. Each accepted connection takes
//! the next [`Fault`] from the plan (none left: it passes bytes through)
//! and forwards to the current upstream, which can change while it runs
//! (a restarted server on a new port).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    Pass,
    /// Wait this long before forwarding each chunk.
    Delay(Duration),
    /// Close both sides cleanly once this many bytes went through.
    CloseAfter(u64),
    /// Reset both sides (RST) once this many bytes went through.
    ResetAfter(u64),
}

pub struct Proxy {
    pub addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    plan: Arc<Mutex<VecDeque<Fault>>>,
    stop: Arc<AtomicBool>,
    fired: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let p = Proxy {
            addr,
            upstream: Arc::new(Mutex::new(upstream)),
            plan: Arc::new(Mutex::new(VecDeque::new())),
            stop: Arc::new(AtomicBool::new(false)),
            fired: Arc::new(AtomicU64::new(0)),
            accepted: Arc::new(AtomicU64::new(0)),
        };
        let (upstream, plan, stop) = (p.upstream.clone(), p.plan.clone(), p.stop.clone());
        let (fired, accepted) = (p.fired.clone(), p.accepted.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                let fault = plan.lock().unwrap().pop_front().unwrap_or(Fault::Pass);
                let to = *upstream.lock().unwrap();
                let fired = fired.clone();
                std::thread::spawn(move || serve(client, to, fault, fired));
            }
        });
        p
    }

    /// How many faults have struck so far (a delayed connection counts once).
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::SeqCst)
    }

    /// How many connections it has accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn set_upstream(&self, to: SocketAddr) {
        *self.upstream.lock().unwrap() = to;
    }

    /// Faults for the next connections, in order.
    pub fn plan(&self, faults: &[Fault]) {
        let mut p = self.plan.lock().unwrap();
        p.clear();
        p.extend(faults.iter().copied());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(client: TcpStream, to: SocketAddr, fault: Fault, fired: Arc<AtomicU64>) {
    let Ok(server) = TcpStream::connect(to) else {
        kill(&client, true);
        return;
    };
    let moved = Arc::new(AtomicU64::new(0));
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let m2 = moved.clone();
    let f2 = fired.clone();
    if matches!(fault, Fault::Delay(_)) {
        fired.fetch_add(1, Ordering::SeqCst);
    }
    let up = std::thread::spawn(move || pump(c2, s2, fault, m2, f2));
    pump(server, client, fault, moved, fired);
    let _ = up.join();
}

/// Copies `from` to `to` until either side ends or the fault fires.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    fault: Fault,
    moved: Arc<AtomicU64>,
    fired: Arc<AtomicU64>,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
        };
        let total = moved.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        match fault {
            Fault::Delay(d) => std::thread::sleep(d),
            Fault::CloseAfter(limit) | Fault::ResetAfter(limit) if total >= limit => {
                let reset = matches!(fault, Fault::ResetAfter(_));
                if moved.fetch_add(1 << 40, Ordering::SeqCst) < (1 << 40) {
                    fired.fetch_add(1, Ordering::SeqCst);
                }
                // Part of the chunk goes through, as on a real cut.
                let keep = n.saturating_sub((total - limit) as usize);
                let _ = to.write_all(&buf[..keep]);
                kill(&from, reset);
                kill(&to, reset);
                return;
            }
            _ => {}
        }
        if to.write_all(&buf[..n]).is_err() {
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn kill(s: &TcpStream, reset: bool) {
    if reset {
        let _ = rustix::net::sockopt::set_socket_linger(s, Some(Duration::ZERO));
    }
    let _ = s.shutdown(Shutdown::Both);
}
