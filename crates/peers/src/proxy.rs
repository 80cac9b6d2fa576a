//! [`FaultProxy`]: a TCP proxy on loopback that forwards each connection to an upstream
//! server and injects one [`Fault`] into its response direction.
//!
//! Requests go upstream untouched; faults only shape what the client receives, counted in
//! response bytes sent to the client (headers included). It must never forward a byte past a
//! cut or stall point, and never outlive its drop.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::head::HeadRewriter;
use crate::relay::{Relay, Shared, UPSTREAM_CONNECT};

/// Size of each relay read.
const BUF: usize = 0x1_0000;
/// How long `ResetOnConnect` waits for the request before closing anyway.
const RESET_WAIT: Duration = Duration::from_secs(1);

/// What the proxy does to one connection's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Forward everything unchanged.
    Pass,
    /// Forward this many response bytes, then close the connection.
    CutAfter(u64),
    /// Forward this many response bytes, then hold the connection open, silent, until dropped.
    StallAfter(u64),
    /// Close the connection with a reset as soon as the request arrives.
    ResetOnConnect,
    /// Replace the value of the first response's Content-Length header with this one.
    RewriteContentLength(u64),
    /// Forward responses at about this many bytes per second.
    Throttle(u64),
}

/// A fault-injecting TCP proxy in front of `upstream`; dropping it stops it.
pub struct FaultProxy {
    relay: Relay,
}

impl FaultProxy {
    /// Starts the proxy: the i-th accepted connection gets `faults[i]`, later ones the last
    /// element (all `Pass` if `faults` is empty).
    pub fn start(upstream: SocketAddr, faults: Vec<Fault>) -> io::Result<Self> {
        let relay = Relay::start("fault-proxy", move |index, client, shared| {
            let fault = faults.get(index).or(faults.last()).copied().unwrap_or(Fault::Pass);
            if let Err(e) = handle(client, upstream, fault, shared) {
                log::debug!("fault proxy connection {index} ({fault:?}) ended: {e}");
            }
        })?;
        Ok(Self { relay })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.relay.addr()
    }

    /// `http://127.0.0.1:PORT/<path>` through the proxy.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr(), path.trim_start_matches('/'))
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.relay.accepted()
    }
}

/// Serves one client connection with `fault` applied.
fn handle(client: TcpStream, upstream: SocketAddr, fault: Fault, shared: &Arc<Shared>) -> io::Result<()> {
    let _client_guard = shared.register(&client)?;
    if fault == Fault::ResetOnConnect {
        return reset(client);
    }
    let upstream = TcpStream::connect_timeout(&upstream, UPSTREAM_CONNECT)?;
    let _upstream_guard = shared.register(&upstream)?;
    let (request_from, request_to) = (client.try_clone()?, upstream.try_clone()?);
    shared.spawn(move || {
        if let Err(e) = pump_requests(request_from, &request_to) {
            log::debug!("fault proxy request direction ended: {e}");
        }
    })?;
    pump_responses(upstream, client, fault, shared)
}

/// Reads part of the request, then closes with unread data pending, which makes the kernel
/// answer with RST instead of FIN (std has no stable SO_LINGER to force it otherwise).
fn reset(mut client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(RESET_WAIT))?;
    let mut first = [0u8; 1];
    // A timeout or error here still ends in a close, which is all the fault promises.
    let _ = client.read(&mut first);
    drop(client);
    Ok(())
}

/// Client to upstream, unchanged, until either side closes.
fn pump_requests(mut from: TcpStream, to: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    let mut to = to;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return to.shutdown(Shutdown::Write);
        }
        to.write_all(&buf[..n])?;
    }
}

/// Upstream to client with the fault applied.
fn pump_responses(
    mut upstream: TcpStream,
    mut client: TcpStream,
    fault: Fault,
    shared: &Shared,
) -> io::Result<()> {
    let limit = match fault {
        Fault::CutAfter(n) | Fault::StallAfter(n) => Some(n),
        _ => None,
    };
    let mut rewriter = match fault {
        Fault::RewriteContentLength(v) => Some(HeadRewriter::new(v)),
        _ => None,
    };
    let rate = match fault {
        Fault::Throttle(rate) => Some(rate.max(1)),
        _ => None,
    };
    // Small reads under a throttle keep the pace even instead of one burst per second.
    let read_size = rate.map_or(BUF, |r| usize::try_from(r / 10).unwrap_or(BUF).clamp(1, BUF));
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::with_capacity(BUF);
    let mut sent: u64 = 0;
    let started = Instant::now();
    loop {
        let room = limit.map_or(read_size, |l| {
            usize::try_from(l.saturating_sub(sent)).unwrap_or(usize::MAX).min(read_size)
        });
        if room == 0 {
            break;
        }
        let n = upstream.read(&mut buf[..room])?;
        out.clear();
        match (&mut rewriter, n) {
            (Some(r), 0) => r.flush(&mut out),
            (Some(r), n) => r.feed(&buf[..n], &mut out),
            (None, n) => out.extend_from_slice(&buf[..n]),
        }
        // A rewritten head may grow; the cut point still counts what the client gets.
        let allowed = limit.map_or(out.len(), |l| {
            usize::try_from(l.saturating_sub(sent)).unwrap_or(usize::MAX).min(out.len())
        });
        client.write_all(&out[..allowed])?;
        sent += allowed as u64;
        if n == 0 {
            // Upstream finished: pass the close on.
            return client.shutdown(Shutdown::Write);
        }
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed())
                && !shared.sleep(wait)
            {
                return Ok(());
            }
        }
    }
    match fault {
        Fault::StallAfter(_) => shared.wait_stopped(),
        _ => {
            // Cut: the client sees the connection close mid-response.
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A one-shot upstream: answers each connection with `response` after reading the request.
    fn upstream(response: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let mut stream = stream.unwrap();
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(response);
            }
        });
        addr
    }

    /// Sends a request through `addr` and reads until EOF, error or timeout.
    fn exchange(addr: SocketAddr, timeout: Duration) -> (Vec<u8>, Option<io::ErrorKind>) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(timeout)).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return (got, None),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Some(e.kind())),
            }
        }
    }

    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";

    #[test]
    fn pass_forwards_everything_and_counts_connections() {
        let proxy = FaultProxy::start(upstream(RESPONSE), vec![]).unwrap();
        let (got, err) = exchange(proxy.addr(), Duration::from_secs(5));
        assert_eq!((got.as_slice(), err), (RESPONSE, None));
        assert_eq!(proxy.connections(), 1);
    }

    #[test]
    fn cut_after_sends_exactly_n_bytes_then_closes() {
        let proxy = FaultProxy::start(upstream(RESPONSE), vec![Fault::CutAfter(20), Fault::Pass]).unwrap();
        let (got, _) = exchange(proxy.addr(), Duration::from_secs(5));
        assert_eq!(got, &RESPONSE[..20]);
        let (got, err) = exchange(proxy.addr(), Duration::from_secs(5));
        assert_eq!((got.as_slice(), err), (RESPONSE, None));
        assert_eq!(proxy.connections(), 2);
    }

    #[test]
    fn stall_after_holds_the_connection_silent() {
        let proxy = FaultProxy::start(upstream(RESPONSE), vec![Fault::StallAfter(5)]).unwrap();
        let (got, err) = exchange(proxy.addr(), Duration::from_millis(300));
        assert_eq!(got, &RESPONSE[..5]);
        assert!(matches!(err, Some(io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)), "{err:?}");
        let started = Instant::now();
        drop(proxy);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn reset_on_connect_sends_nothing() {
        let proxy = FaultProxy::start(upstream(RESPONSE), vec![Fault::ResetOnConnect]).unwrap();
        let (got, err) = exchange(proxy.addr(), Duration::from_secs(5));
        assert!(got.is_empty());
        assert!(matches!(err, None | Some(io::ErrorKind::ConnectionReset)), "{err:?}");
    }

    #[test]
    fn rewrite_content_length_changes_only_the_header() {
        let proxy = FaultProxy::start(upstream(RESPONSE), vec![Fault::RewriteContentLength(1000)]).unwrap();
        let (got, _) = exchange(proxy.addr(), Duration::from_secs(5));
        assert_eq!(got, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
    }

    #[test]
    fn throttle_slows_the_response() {
        let proxy = FaultProxy::start(upstream(RESPONSE), vec![Fault::Throttle(100)]).unwrap();
        let started = Instant::now();
        let (got, _) = exchange(proxy.addr(), Duration::from_secs(5));
        assert_eq!(got, RESPONSE);
        // 49 bytes at 100 B/s: well over a third of a second; only a loose lower bound.
        assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    }
}
