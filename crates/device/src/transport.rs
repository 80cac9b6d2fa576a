//! Where AT bytes come from and go to: stdio, a TCP listener, or a
//! pseudo-terminal that serial tools open like a real modem's port.
//!
//! Owns opening the endpoint and the threads that move bytes; it never
//! interprets them. Output goes through a writer thread with a capped queue,
//! so a host that stops reading (or is not connected yet) can never stall
//! the modem: like a UART without flow control, the excess is dropped.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use crossbeam_channel::Sender;

use crate::run::Input;

/// Output that waits for a slow or absent host is capped at this many bytes.
const OUTPUT_CAP: usize = 1024 * 1024;
/// Read buffer for host input.
const READ_BUF: usize = 4096;
/// Stack of a transport thread: it only moves bytes (a fleet runs thousands of them).
const STACK: usize = 128 * 1024;

/// Where the modem listens, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Listen {
    /// AT on stdin/stdout (logs on stderr).
    Stdio,
    /// AT over TCP: one client at a time, on exactly this address.
    Tcp(String),
    /// A new pseudo-terminal; optionally a symlink to it at this path.
    Pty(Option<PathBuf>),
}

impl FromStr for Listen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdio" => Ok(Self::Stdio),
            "pty" => Ok(Self::Pty(None)),
            _ => {
                if let Some(addr) = s.strip_prefix("tcp:") {
                    tcp_addr(addr, 5000).map(Self::Tcp)
                } else if let Some(link) = s.strip_prefix("pty:") {
                    if link.is_empty() {
                        return Err("pty: needs a path after the colon, e.g. pty:/tmp/modem".into());
                    }
                    Ok(Self::Pty(Some(PathBuf::from(link))))
                } else {
                    Err(format!("--listen {s}: expected stdio, tcp:HOST:PORT, pty or pty:LINK"))
                }
            }
        }
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdio => f.write_str("stdio"),
            Self::Tcp(a) => write!(f, "tcp:{a}"),
            Self::Pty(None) => f.write_str("pty"),
            Self::Pty(Some(p)) => write!(f, "pty:{}", p.display()),
        }
    }
}

impl Listen {
    /// Where device `i` of a fleet listens: the TCP port plus `i` (only TCP serves fleets).
    pub fn instance(&self, i: usize, fleet: bool) -> Result<Self, String> {
        match self {
            _ if !fleet => Ok(self.clone()),
            Self::Tcp(a) => offset_port(a, i).map(Self::Tcp),
            other => {
                Err(format!("--instances needs --listen tcp:HOST:BASE (one port per device), not {other}"))
            }
        }
    }
}

/// The `HOST:PORT` after `tcp:` in an address option (AT port or control channel), checked;
/// `example_port` goes into the error message.
pub(crate) fn tcp_addr(addr: &str, example_port: u16) -> Result<String, String> {
    if addr.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()) {
        return Err(format!("tcp:{addr}: expected tcp:HOST:PORT, e.g. tcp:127.0.0.1:{example_port}"));
    }
    Ok(addr.to_string())
}

/// `HOST:PORT` with the port moved up by `i`.
pub(crate) fn offset_port(addr: &str, i: usize) -> Result<String, String> {
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| format!("{addr}: expected HOST:PORT"))?;
    let port: u16 = port.parse().map_err(|_| format!("{addr}: the port is not a number"))?;
    u16::try_from(usize::from(port) + i)
        .ok()
        .filter(|_| port != 0 || i == 0)
        .map(|p| format!("{host}:{p}"))
        .ok_or_else(|| {
            format!(
                "{addr}: device {i} would need port {} (past 65535, or base port 0)",
                usize::from(port) + i
            )
        })
}

/// An open endpoint: input arrives on the channel given to [`open`]; output
/// is queued with [`Output::send`].
pub struct Transport {
    /// Queue to the host.
    pub output: Output,
    /// Removed when the transport is dropped (the PTY symlink).
    cleanup: Option<PathBuf>,
}

impl Drop for Transport {
    fn drop(&mut self) {
        if let Some(link) = self.cleanup.take() {
            let _ = std::fs::remove_file(link);
        }
    }
}

/// Opens `listen` for device `device`; host bytes are sent to `input` as [`Input::Host`].
pub fn open(listen: &Listen, device: usize, input: Sender<Input>) -> io::Result<Transport> {
    match listen {
        Listen::Stdio => {
            let output = Output::spawn(Box::new(io::stdout()), device, input.clone());
            spawn_reader(io::stdin(), device, input, true);
            Ok(Transport { output, cleanup: None })
        }
        Listen::Tcp(addr) => open_tcp(addr, device, input),
        Listen::Pty(link) => open_pty(link.as_deref(), device, input),
    }
}

fn open_tcp(addr: &str, device: usize, input: Sender<Input>) -> io::Result<Transport> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    if device == 0 {
        eprintln!("atfota modem: AT on tcp:{local} (whoever connects controls the device)");
    }
    log::info!("device {device}: AT on tcp:{local}");
    let output = Output::new(device, input.clone());
    let out = output.clone();
    thread::Builder::new().name(format!("tcp-{device}")).stack_size(STACK).spawn(move || {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            log::info!("host connected from {peer}");
            let Ok(writer) = stream.try_clone() else { continue };
            out.attach(Box::new(writer));
            // One host at a time: serve this one until it leaves.
            pump(stream, device, &input, false);
            out.detach();
            log::info!("host {peer} disconnected");
        }
    })?;
    Ok(Transport { output, cleanup: None })
}

fn open_pty(link: Option<&std::path::Path>, device: usize, input: Sender<Input>) -> io::Result<Transport> {
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
    let pty = nix::pty::openpty(None, None).map_err(io::Error::from)?;
    let mut attrs = tcgetattr(&pty.slave).map_err(io::Error::from)?;
    // Raw: no echo, no CR/LF translation by the line discipline: the modem does V.250 itself.
    cfmakeraw(&mut attrs);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &attrs).map_err(io::Error::from)?;
    let path = nix::unistd::ttyname(&pty.slave).map_err(io::Error::from)?;
    eprintln!("atfota modem: AT on {}", path.display());
    let mut cleanup = None;
    if let Some(link) = link {
        if std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(link)?;
        }
        std::os::unix::fs::symlink(&path, link)?;
        eprintln!("atfota modem: {} -> {}", link.display(), path.display());
        cleanup = Some(link.to_path_buf());
    }
    // Holding the slave open keeps the master readable while no client is
    // attached (otherwise reads fail with EIO between clients).
    let slave: OwnedFd = pty.slave;
    let master = File::from(pty.master);
    let writer = master.try_clone()?;
    let output = Output::spawn(Box::new(writer), device, input.clone());
    thread::Builder::new().name("pty-read".into()).spawn(move || {
        let _keep = slave;
        pump(master, device, &input, true);
    })?;
    Ok(Transport { output, cleanup })
}

fn spawn_reader<R: Read + Send + 'static>(reader: R, device: usize, input: Sender<Input>, close_ends: bool) {
    let spawned = thread::Builder::new()
        .name("host-read".into())
        .spawn(move || pump(reader, device, &input, close_ends));
    if let Err(e) = spawned {
        log::error!("cannot start the input thread: {e}");
    }
}

/// Moves bytes from `reader` to the modem until EOF; `close_ends` says
/// whether EOF ends the modem (stdio) or only this client (TCP).
fn pump<R: Read>(mut reader: R, device: usize, input: &Sender<Input>, close_ends: bool) {
    let mut buf = [0u8; READ_BUF];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if input.send(Input::Host(device, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::warn!("host input failed: {e}");
                break;
            }
        }
    }
    if close_ends {
        let _ = input.send(Input::HostClosed(device));
    }
}

/// Queue of bytes for the host, written by its own thread, which tells the shell
/// ([`Input::Written`]) how far the modem's output has left.
#[derive(Clone)]
pub struct Output {
    shared: Arc<(Mutex<OutState>, Condvar)>,
    device: usize,
    input: Sender<Input>,
}

struct OutState {
    queue: VecDeque<u8>,
    writer: Option<Box<dyn Write + Send>>,
    /// Bumped by attach/detach, so a write in flight never restores a writer
    /// that was replaced or detached meanwhile.
    generation: u64,
    writing: bool,
    dropped: usize,
    /// The modem's output offset after the last byte queued.
    end: u64,
}

impl Output {
    fn new(device: usize, input: Sender<Input>) -> Self {
        let state = OutState {
            queue: VecDeque::new(),
            writer: None,
            generation: 0,
            writing: false,
            dropped: 0,
            end: 0,
        };
        let out = Self { shared: Arc::new((Mutex::new(state), Condvar::new())), device, input };
        let worker = out.clone();
        let spawned = thread::Builder::new()
            .name(format!("write-{device}"))
            .stack_size(STACK)
            .spawn(move || worker.write_loop());
        if let Err(e) = spawned {
            log::error!("cannot start the output thread: {e}");
        }
        out
    }

    fn spawn(writer: Box<dyn Write + Send>, device: usize, input: Sender<Input>) -> Self {
        let out = Self::new(device, input);
        out.attach(writer);
        out
    }

    fn attach(&self, writer: Box<dyn Write + Send>) {
        let (lock, cv) = &*self.shared;
        if let Ok(mut st) = lock.lock() {
            st.writer = Some(writer);
            st.generation += 1;
            cv.notify_all();
        }
    }

    fn detach(&self) {
        if let Ok(mut st) = self.shared.0.lock() {
            st.writer = None;
            st.generation += 1;
        }
    }

    /// Queues bytes for the host; drops the oldest beyond the cap (dropped bytes count as
    /// gone, as on a UART without flow control). `end` is the modem's output offset after them.
    pub fn send(&self, bytes: &[u8], end: u64) {
        let (lock, cv) = &*self.shared;
        let Ok(mut st) = lock.lock() else { return };
        st.queue.extend(bytes);
        st.end = end;
        let excess = st.queue.len().saturating_sub(OUTPUT_CAP);
        if excess > 0 {
            st.queue.drain(..excess);
            st.dropped += excess;
        }
        cv.notify_all();
    }

    /// Waits until everything queued has been written (bounded by
    /// `timeout`; no wait while no host is attached); true when it was.
    pub fn flush(&self, timeout: std::time::Duration) -> bool {
        let (lock, cv) = &*self.shared;
        let Ok(st) = lock.lock() else { return false };
        let Ok((st, _)) = cv.wait_timeout_while(st, timeout, |st| {
            st.writing || (!st.queue.is_empty() && st.writer.is_some())
        }) else {
            return false;
        };
        st.queue.is_empty() && !st.writing
    }

    fn write_loop(&self) {
        let (lock, cv) = &*self.shared;
        loop {
            let (chunk, mut writer, generation, end) = {
                let Ok(mut st) = lock.lock() else { return };
                while st.queue.is_empty() || st.writer.is_none() {
                    st = match cv.wait(st) {
                        Ok(s) => s,
                        Err(_) => return,
                    };
                }
                if st.dropped > 0 {
                    log::warn!("host is not reading: {} bytes of output dropped", st.dropped);
                    st.dropped = 0;
                }
                let chunk: Vec<u8> = st.queue.drain(..).collect();
                st.writing = true;
                (chunk, st.writer.take(), st.generation, st.end)
            };
            let ok = writer.as_mut().is_some_and(|w| w.write_all(&chunk).and_then(|()| w.flush()).is_ok());
            if ok && self.input.send(Input::Written(self.device, end)).is_err() {
                return;
            }
            if let Ok(mut st) = lock.lock() {
                st.writing = false;
                if ok && st.generation == generation {
                    st.writer = writer;
                }
                cv.notify_all();
            }
        }
    }
}
