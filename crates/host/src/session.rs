//! An AT session with a modem over any byte stream: the low-level helper the tests use to
//! script a conversation by hand ([`crate::Updater`] is the driver for whole updates).
//!
//! Owns the rule that tells an
//! unsolicited result code from a command's response: a line is a URC when
//! the profile's [`UrcFilter`] says so, whatever command is running. Never
//! interprets URCs; callers wait for the ones they need.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use atfota_at::{Final, Frame, Framer};
use crossbeam_channel::{Receiver, RecvTimeoutError};

/// Tells URC lines from response lines.
pub type UrcFilter = fn(&str) -> bool;

/// Receives every line sent and received.
pub type Transcript = Box<dyn FnMut(Direction, &str) + Send>;

/// Which way a transcript line went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Host to modem.
    Sent,
    /// Modem to host: response text or final result.
    Received,
    /// Modem to host: unsolicited.
    Urc,
}

/// A command's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Information text lines, in order.
    pub lines: Vec<String>,
    /// The final result line (`OK`, `ERROR`, `+CME ERROR: 50`).
    pub result: String,
}

impl Reply {
    /// True for `OK`.
    pub fn is_ok(&self) -> bool {
        self.result == "OK"
    }
}

/// Why a session call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Writing to the modem failed.
    #[error("cannot write to the modem: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing expected arrived in time.
    #[error("no {waiting_for} from the modem within {timeout:?}")]
    Timeout {
        /// What was awaited.
        waiting_for: String,
        /// How long.
        timeout: Duration,
    },
    /// The modem's output ended.
    #[error("the modem closed the line")]
    Closed,
}

/// A session with one modem.
pub struct Session {
    writer: Box<dyn Write + Send>,
    lines: Receiver<String>,
    is_urc: UrcFilter,
    urcs: VecDeque<String>,
    transcript: Option<Transcript>,
}

impl Session {
    /// Starts a session: a thread splits the modem's output into lines.
    pub fn new<R, W>(reader: R, writer: W, is_urc: UrcFilter) -> Self
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let (tx, rx) = crossbeam_channel::unbounded();
        let spawned =
            thread::Builder::new().name("modem-read".into()).spawn(move || split_lines(reader, &tx));
        if let Err(e) = spawned {
            log::error!("cannot start the modem reader: {e}");
        }
        Self { writer: Box::new(writer), lines: rx, is_urc, urcs: VecDeque::new(), transcript: None }
    }

    /// Calls `f` with every line sent and received.
    pub fn set_transcript(&mut self, f: impl FnMut(Direction, &str) + Send + 'static) {
        self.transcript = Some(Box::new(f));
    }

    /// Sends `cmd` (without terminator) and waits for its final result.
    /// URCs that arrive meanwhile are kept for [`Session::wait_urc`].
    pub fn command(&mut self, cmd: &str, timeout: Duration) -> Result<Reply, SessionError> {
        self.note(Direction::Sent, cmd);
        self.writer.write_all(cmd.as_bytes())?;
        self.writer.write_all(b"\r")?;
        self.writer.flush()?;
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let line = self.next_line(deadline, cmd, timeout)?;
            if line == cmd {
                continue; // the modem's echo
            }
            if (self.is_urc)(&line) {
                self.note(Direction::Urc, &line);
                self.urcs.push_back(line);
                continue;
            }
            self.note(Direction::Received, &line);
            if is_final(&line) {
                return Ok(Reply { lines, result: line });
            }
            lines.push(line);
        }
    }

    /// Waits for a URC matching `want`; others seen on the way are passed to
    /// `other` (progress, for example) and dropped.
    pub fn wait_urc(
        &mut self,
        want: impl Fn(&str) -> bool,
        mut other: impl FnMut(&str),
        timeout: Duration,
    ) -> Result<String, SessionError> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = match self.urcs.pop_front() {
                Some(l) => l,
                None => {
                    let l = self.next_line(deadline, "URC", timeout)?;
                    let label = if (self.is_urc)(&l) { Direction::Urc } else { Direction::Received };
                    self.note(label, &l);
                    l
                }
            };
            if want(&line) {
                return Ok(line);
            }
            other(&line);
        }
    }

    fn next_line(
        &mut self,
        deadline: Instant,
        what: &str,
        timeout: Duration,
    ) -> Result<String, SessionError> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(l) => Ok(l),
            Err(RecvTimeoutError::Timeout) => {
                Err(SessionError::Timeout { waiting_for: format!("reply to {what}"), timeout })
            }
            Err(RecvTimeoutError::Disconnected) => Err(SessionError::Closed),
        }
    }

    fn note(&mut self, dir: Direction, line: &str) {
        if let Some(t) = self.transcript.as_mut() {
            t(dir, line);
        }
    }
}

/// Whether `line` ends a command (V.250 final result codes and `+CME ERROR`), as the `at`
/// crate reads them.
pub fn is_final(line: &str) -> bool {
    Final::from_line(line).is_some()
}

/// Cuts the modem's output into lines with the `at` crate's framer; noise is dropped.
fn split_lines<R: Read>(mut reader: R, tx: &crossbeam_channel::Sender<String>) {
    let mut buf = [0u8; 4096];
    let mut framer = Framer::new(64 * 1024);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if let Some(Frame::Line(text)) = framer.push(b)
                && tx.send(text).is_err()
            {
                return;
            }
        }
    }
}
