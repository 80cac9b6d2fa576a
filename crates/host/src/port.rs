//! Ports a modem is reached through: a serial device or PTY path (`PATH[@BAUD]`) or
//! `tcp:HOST:PORT`, opened and reopened through the [`Connector`] trait, and read by a thread
//! into framed lines ([`Channel`]).
//!
//! Owns opening, the reader thread and framing with [`atfota_at::Framer`]. It never interprets
//! a line: the update machine and `atfota at` do.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use atfota_at::{Final, Frame, Framer};
use crossbeam_channel::{Receiver, RecvTimeoutError};

/// Serial speed when `PATH` has no `@BAUD`.
pub const DEFAULT_BAUD: u32 = 115_200;
/// How often a blocked read wakes up to see whether its port was given up.
const READ_POLL: Duration = Duration::from_millis(100);
/// Longest line accepted from a modem; longer ones are dropped as noise.
const MAX_LINE: usize = 4096;

/// Where the modem is, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortSpec {
    /// A serial device or pseudo-terminal.
    Serial {
        /// Device path, e.g. `/dev/ttyACM0` or a PTY link.
        path: PathBuf,
        /// Line speed.
        baud: u32,
    },
    /// A TCP endpoint, `HOST:PORT`.
    Tcp(String),
}

impl FromStr for PortSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(addr) = s.strip_prefix("tcp:") {
            return match addr.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(Self::Tcp(addr.into())),
                _ => Err(format!("{s}: expected tcp:HOST:PORT, e.g. tcp:127.0.0.1:5000")),
            };
        }
        let (path, baud) = match s.rsplit_once('@') {
            Some((path, baud)) => {
                let baud = baud.parse::<u32>().ok().filter(|b| *b > 0).ok_or_else(|| {
                    format!("{s}: the speed after @ must be a positive number, e.g. @115200")
                })?;
                (path, baud)
            }
            None => (s, DEFAULT_BAUD),
        };
        if path.is_empty() {
            return Err("the port is empty: give a device path (PATH[@BAUD]) or tcp:HOST:PORT".into());
        }
        Ok(Self::Serial { path: PathBuf::from(path), baud })
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Serial { path, baud } => write!(f, "{}@{baud}", path.display()),
            Self::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

/// Both directions of an open port.
pub struct Link {
    /// Bytes from the modem. Reads that time out (`TimedOut`, `WouldBlock`) are retried; end
    /// of stream or any other error means the port is gone.
    pub reader: Box<dyn Read + Send>,
    /// Bytes to the modem.
    pub writer: Box<dyn Write + Send>,
}

/// Opens the port to a modem, again after a reboot if it went away.
pub trait Connector {
    /// Opens the port (each call a fresh connection).
    fn open(&mut self) -> io::Result<Link>;
}

impl<F: FnMut() -> io::Result<Link>> Connector for F {
    fn open(&mut self) -> io::Result<Link> {
        self()
    }
}

/// Opens a [`PortSpec`]: serial devices and PTYs through `serialport`, TCP with a connect
/// timeout.
#[derive(Clone, Debug)]
pub struct PortConnector {
    spec: PortSpec,
    connect_timeout: Duration,
}

impl PortConnector {
    /// A connector for `spec`.
    pub fn new(spec: PortSpec) -> Self {
        Self { spec, connect_timeout: Duration::from_secs(5) }
    }
}

impl Connector for PortConnector {
    fn open(&mut self) -> io::Result<Link> {
        match &self.spec {
            PortSpec::Serial { path, baud } => {
                let name = path.to_string_lossy();
                let port = serialport::new(name.as_ref(), *baud)
                    .timeout(READ_POLL)
                    .open()
                    .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
                let writer = port.try_clone().map_err(io::Error::other)?;
                Ok(Link { reader: Box::new(port), writer: Box::new(writer) })
            }
            PortSpec::Tcp(addr) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address"));
                for a in addr.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&a, self.connect_timeout) {
                        Ok(s) => {
                            s.set_read_timeout(Some(READ_POLL))?;
                            s.set_nodelay(true)?;
                            let writer = s.try_clone()?;
                            return Ok(Link { reader: Box::new(s), writer: Box::new(writer) });
                        }
                        Err(e) => last = io::Error::new(e.kind(), format!("tcp:{addr}: {e}")),
                    }
                }
                Err(last)
            }
        }
    }
}

/// What [`Channel::recv`] got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A complete, non-empty line.
    Line(String),
    /// The port is gone (end of stream or an error).
    Closed,
    /// Nothing before the deadline.
    Timeout,
}

enum Chunk {
    Data(Vec<u8>),
    Closed,
}

/// An open port: a thread reads it, [`atfota_at::Framer`] cuts lines.
pub struct Channel {
    writer: Box<dyn Write + Send>,
    chunks: Receiver<Chunk>,
    framer: Framer,
    lines: std::collections::VecDeque<String>,
    closed: bool,
    stop: Arc<AtomicBool>,
}

impl Channel {
    /// Starts reading `link`.
    pub fn new(link: Link) -> io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let mut reader = link.reader;
        thread::Builder::new().name("modem-read".into()).spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopped.load(Ordering::Relaxed) {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(Chunk::Data(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => {
                        log::debug!("reading the port: {e}");
                        break;
                    }
                }
            }
            let _ = tx.send(Chunk::Closed);
        })?;
        Ok(Self {
            writer: link.writer,
            chunks: rx,
            framer: Framer::new(MAX_LINE),
            lines: Default::default(),
            closed: false,
            stop,
        })
    }

    /// Writes bytes to the modem.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Sends one command line and passes each line received to `on_line` (the final result
    /// included, the echo left out) until the final result: `Ok(None)` when none came within
    /// `timeout`.
    pub fn command(
        &mut self,
        cmd: &str,
        timeout: Duration,
        mut on_line: impl FnMut(&str),
    ) -> io::Result<Option<Final>> {
        self.send(format!("{cmd}\r").as_bytes())?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.recv(deadline) {
                Received::Line(l) if l.eq_ignore_ascii_case(cmd) => {}
                Received::Line(l) => {
                    on_line(&l);
                    if let Some(f) = Final::from_line(&l) {
                        return Ok(Some(f));
                    }
                }
                Received::Closed => {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the modem closed the port"));
                }
                Received::Timeout => return Ok(None),
            }
        }
    }

    /// The next line, or `Closed`, or `Timeout` at `deadline`.
    pub fn recv(&mut self, deadline: Instant) -> Received {
        loop {
            if let Some(l) = self.lines.pop_front() {
                return Received::Line(l);
            }
            if self.closed {
                return Received::Closed;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(Chunk::Data(bytes)) => self.frame(&bytes),
                Ok(Chunk::Closed) | Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => return Received::Timeout,
            }
        }
    }

    fn frame(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.framer.push(b) {
                Some(Frame::Line(l)) => self.lines.push_back(l),
                Some(other) => log::debug!("dropped noise from the modem ({other:?})"),
                None => {}
            }
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        let serial = |p: &str, baud| PortSpec::Serial { path: p.into(), baud };
        assert_eq!("/dev/ttyACM0".parse(), Ok(serial("/dev/ttyACM0", 115_200)));
        assert_eq!("/tmp/modem@9600".parse(), Ok(serial("/tmp/modem", 9600)));
        assert_eq!("tcp:127.0.0.1:5000".parse(), Ok(PortSpec::Tcp("127.0.0.1:5000".into())));
        for bad in ["", "@9600", "/dev/x@fast", "/dev/x@0", "tcp:host", "tcp::5000", "tcp:h:99999"] {
            assert!(bad.parse::<PortSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn channel_frames_lines_split_anywhere_and_reports_close() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_read_timeout(Some(READ_POLL)).unwrap();
        let writer = b.try_clone().unwrap();
        let mut ch = Channel::new(Link { reader: Box::new(b), writer: Box::new(writer) }).unwrap();
        let mut a = a;
        a.write_all(b"\r\nO").unwrap();
        a.write_all(b"K\r\n\xff\x00\r\n\r\n#XFOTA: 1,0,5\n").unwrap();
        drop(a);
        let end = Instant::now() + Duration::from_secs(5);
        assert_eq!(ch.recv(end), Received::Line("OK".into()));
        assert_eq!(ch.recv(end), Received::Line("#XFOTA: 1,0,5".into()));
        assert_eq!(ch.recv(end), Received::Closed);
    }
}
