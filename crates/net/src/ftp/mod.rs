//! The FTP download (plain FTP: RFC 959, EPSV from RFC 2428, SIZE/MDTM/REST from RFC 3659):
//! log in, learn the size, open a passive data connection, resume with `REST`, stream `RETR`
//! through one reused buffer into the caller's callback, and retry transient failures from the
//! bytes already delivered, exactly as the HTTP path does.
//!
//! Written by hand rather than with suppaftp, the well-kept sync client, which has most of
//! what is needed (EPSV/PASV, REST, SIZE, MDTM, multi-line replies, a caller-made control
//! socket for timeouts, a passive stream builder for the data socket), because:
//! - suppaftp 12 logs every command it sends at trace level, `PASS <password>` included
//!   (`trace!("CC OUT: ...")` in its control channel), and its only switch, the `no-log`
//!   feature, sets `log/max_level_off`, which silences logging for the whole program;
//! - it sends `REST` inside `retr_as_stream`, so a refused `REST` and a refused `RETR` come
//!   back as the same error, and "REST refused: start over from 0" cannot be told apart from
//!   a missing file;
//! - its `TransferStream` reads the completion reply when dropped, which after a stalled
//!   transfer holds the retry back for another whole idle timeout.
//!
//! The subset a download needs is small: reply framing is a sans-IO parser (`reply`), reply
//! texts are pure functions (`parse`), commands are plain data (`command`) and the IO is a
//! thin shell (`control`); all are tested without a server, and the whole against libunftp
//! here and pyftpdlib and pure-ftpd in the interop suite.
//!
//! Reply codes are written in decimal: RFC 959 defines them as three decimal digits, and
//! `550` is how every server log and RFC names them.
//!
//! It must never buffer the file, allocate per chunk, deliver a byte past the size SIZE
//! reported, or log or return the password.

mod command;
mod control;
// Public (inside this private module) for the `fuzzing` re-exports only.
pub mod parse;
pub mod reply;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use self::command::Command;
use self::control::{Control, shorten};
use crate::body::{self, Sink};
use crate::cancel::CancelToken;
use crate::error::DownloadError;
use atfota_download::{FtpSource, Outcome, Resume, StartInfo};

use crate::event::Event;
use crate::options::Options;
use crate::retry::{self, Attempts};
use crate::throttle::Throttle;

/// Downloads `source` as described in the crate docs.
pub(crate) fn download_ftp(
    source: &FtpSource,
    resume: Option<&Resume>,
    opts: &Options,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<Outcome, DownloadError> {
    source.check().map_err(DownloadError::BadFtpSource)?;
    opts.check()?;
    if cancel.is_cancelled() {
        return Ok(Outcome::Cancelled);
    }
    let resume = resume.cloned().unwrap_or_default();
    let mut run = Run {
        source,
        opts,
        cancel,
        buf: vec![0; opts.chunk_size],
        throttle: opts.rate_limit.map(|rate| Throttle::new(rate, Instant::now())),
        position: resume.offset,
        validator: resume.validator,
        total: None,
        epsv_refused: false,
    };
    retry::run(&mut run, &source.shown(), opts, cancel, on_event)
}

/// State that carries over from one attempt (one FTP session) to the next.
struct Run<'a> {
    source: &'a FtpSource,
    opts: &'a Options,
    cancel: &'a CancelToken,
    /// The one read buffer of the whole download.
    buf: Vec<u8>,
    throttle: Option<Throttle>,
    /// File offset of the next byte to deliver: what a retry asks for with `REST`.
    position: u64,
    /// MDTM of the file the bytes delivered so far came from (given by `Resume` or seen by the
    /// first transfer).
    validator: Option<String>,
    /// SIZE seen by the transfer that delivered the bytes so far.
    total: Option<u64>,
    /// The server refused EPSV once: later sessions go straight to PASV.
    epsv_refused: bool,
}

impl Attempts for Run<'_> {
    fn attempt(
        &mut self,
        on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<Outcome, DownloadError> {
        self.attempt_once(on_event)
    }

    fn position(&self) -> u64 {
        self.position
    }
}

impl Run<'_> {
    /// One session: log in, check the file, transfer the rest of it.
    fn attempt_once(
        &mut self,
        on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<Outcome, DownloadError> {
        let _release = ReleaseSockets(self.cancel);
        let source = self.source;
        let Some(mut control) =
            Control::open(source.dial_host(), source.port, &source.password, self.opts, self.cancel)?
        else {
            return Ok(Outcome::Cancelled);
        };
        login(&mut control, source)?;
        let reply = control.command(Command::TypeImage)?;
        if !reply.is_complete() {
            return Err(control.refused("TYPE", &reply));
        }
        let size = size(&mut control, &source.path)?;
        let modified = modification_time(&mut control, &source.path)?;
        let mut offset = self.resume_offset(size, modified.as_deref());

        if let Some(total) = size
            && offset == total
        {
            // Nothing to transfer (an empty file, or a resume from the very end): RETR would
            // only open a data connection for zero bytes.
            if self.start(StartInfo { offset, total, validator: modified }, on_event).is_break() {
                return Ok(Outcome::Cancelled);
            }
            quit(&mut control);
            return Ok(Outcome::Complete);
        }
        let Some(data) = self.open_data(&mut control)? else {
            return Ok(Outcome::Cancelled);
        };
        if offset > 0 && !restart(&mut control, offset)? {
            offset = 0;
        }
        let reply = control.command(Command::Retr(&source.path))?;
        if !reply.is_preliminary() {
            return Err(match reply.code {
                550 => DownloadError::FileNotFound(shorten(&reply.text)),
                _ => control.refused("RETR", &reply),
            });
        }
        let Some(total) = size else {
            // SIZE answered 550, yet RETR started: either the file exists without a size, or
            // the server (libunftp is one) said 150 before looking for the file. Closing the
            // data connection makes it tell which.
            drop(data);
            let reply = control.read_reply()?;
            return Err(match reply.code {
                550 => DownloadError::FileNotFound(shorten(&reply.text)),
                _ => DownloadError::NoFileSize,
            });
        };
        if self.start(StartInfo { offset, total, validator: modified }, on_event).is_break() {
            return Ok(Outcome::Cancelled);
        }
        if self.receive(data, total - offset, on_event)? == Outcome::Cancelled {
            return Ok(Outcome::Cancelled);
        }
        let reply = control.read_reply()?;
        if !reply.is_complete() {
            return Err(control.refused("RETR", &reply));
        }
        quit(&mut control);
        log::info!("download {} complete", source.shown());
        Ok(Outcome::Complete)
    }

    /// Where this session's transfer starts: the bytes delivered so far, unless they may be
    /// from another file (MDTM or SIZE changed, or cannot be compared) or the file is now
    /// shorter than them.
    fn resume_offset(&self, size: Option<u64>, modified: Option<&str>) -> u64 {
        if self.position == 0 {
            return 0;
        }
        let same_time = match (self.validator.as_deref(), modified) {
            (Some(before), Some(now)) => before == now,
            // A validator that cannot be checked any more proves nothing: start over.
            (Some(_), None) => false,
            (None, _) => true,
        };
        let same_size = self.total.is_none_or(|before| size == Some(before));
        let fits = size.is_none_or(|size| self.position <= size);
        if same_time && same_size && fits {
            self.position
        } else {
            log::info!("download {}: the file changed on the server; starting over", self.source.shown());
            0
        }
    }

    /// Records where the bytes that follow belong, then reports it.
    fn start(
        &mut self,
        start: StartInfo,
        on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        // Set before the callback: whatever it does next, a retry resumes from here.
        self.position = start.offset;
        self.total = Some(start.total);
        self.validator.clone_from(&start.validator);
        log::debug!("receiving from byte {} of {}", start.offset, start.total);
        on_event(Event::Started(start))
    }

    /// Opens the passive data connection: EPSV, or PASV once the server refused EPSV;
    /// `Ok(None)` if the download was cancelled meanwhile.
    fn open_data(&mut self, control: &mut Control<'_>) -> Result<Option<TcpStream>, DownloadError> {
        if !self.epsv_refused {
            let reply = control.command(Command::Epsv)?;
            match reply.code {
                229 => {
                    let port = parse::epsv_port(&reply.text).ok_or_else(|| {
                        DownloadError::FtpProtocol(format!(
                            "EPSV answered {:?}, without a port",
                            shorten(&reply.text)
                        ))
                    })?;
                    return control.connect_data(SocketAddr::new(control.peer().ip(), port));
                }
                // Not implemented, or not for this network protocol (RFC 2428 522).
                500 | 501 | 502 | 522 => {
                    log::debug!("EPSV refused with {}; using PASV", reply.code);
                    self.epsv_refused = true;
                }
                _ => return Err(control.refused("EPSV", &reply)),
            }
        }
        let reply = control.command(Command::Pasv)?;
        if reply.code != 227 {
            return Err(control.refused("PASV", &reply));
        }
        let announced = parse::pasv_address(&reply.text).ok_or_else(|| {
            DownloadError::FtpProtocol(format!(
                "PASV answered {:?}, without an address",
                shorten(&reply.text)
            ))
        })?;
        let target = parse::pasv_target(announced, control.peer());
        if target != SocketAddr::V4(announced) {
            log::debug!("PASV announced the unroutable {announced}; connecting to {target}");
        }
        control.connect_data(target)
    }

    /// Streams `length` bytes from the data connection to the callback, then checks that the
    /// server closes it there.
    fn receive(
        &mut self,
        mut data: TcpStream,
        length: u64,
        on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<Outcome, DownloadError> {
        let recv_timeout = self.opts.recv_timeout;
        let sink = Sink {
            buf: &mut self.buf,
            throttle: &mut self.throttle,
            cancel: self.cancel,
            position: &mut self.position,
            link: self.opts.link.as_ref(),
            idle: self.opts.recv_timeout,
        };
        body::stream(&mut data, length, sink, on_event, &mut |e, received| {
            data_error(e, received, length, recv_timeout)
        })
    }
}

/// Forgets the attempt's sockets in the cancel token when the attempt returns, however it
/// returns, so their descriptors close with the attempt.
struct ReleaseSockets<'a>(&'a CancelToken);

impl Drop for ReleaseSockets<'_> {
    fn drop(&mut self) {
        self.0.release_sockets();
    }
}

/// USER, and PASS if asked for; 530 to either is a refused login.
fn login(control: &mut Control<'_>, source: &FtpSource) -> Result<(), DownloadError> {
    let mut command = Command::User(&source.user);
    let mut reply = control.command(command)?;
    if reply.code == 331 {
        command = Command::Pass(&source.password);
        reply = control.command(command)?;
    }
    match reply.code {
        // 202: a password is superfluous here.
        230 | 202 => Ok(()),
        530 => Err(DownloadError::LoginRefused),
        _ => Err(control.refused(command.name(), &reply)),
    }
}

/// The file's size; `None` if SIZE answered 550, which RFC 3659 §4 lets mean either "no such
/// file" or "size not available": the RETR that follows tells which.
fn size(control: &mut Control<'_>, path: &str) -> Result<Option<u64>, DownloadError> {
    let reply = control.command(Command::Size(path))?;
    match reply.code {
        213 => parse::size(&reply.text).map(Some).ok_or_else(|| {
            DownloadError::FtpProtocol(format!(
                "SIZE answered {:?}, not a number of bytes",
                shorten(&reply.text)
            ))
        }),
        550 => Ok(None),
        _ if reply.is_transient_refusal() => Err(control.refused("SIZE", &reply)),
        _ => Err(DownloadError::NoFileSize),
    }
}

/// The file's modification time, the validator of a later resume; `None` if the server does
/// not tell.
fn modification_time(control: &mut Control<'_>, path: &str) -> Result<Option<String>, DownloadError> {
    let reply = control.command(Command::Mdtm(path))?;
    if reply.is_transient_refusal() {
        return Err(control.refused("MDTM", &reply));
    }
    Ok((reply.code == 213).then(|| parse::modification_time(&reply.text)).flatten().map(str::to_owned))
}

/// REST `offset`; `false` if the server refused it, and the transfer then starts at 0.
fn restart(control: &mut Control<'_>, offset: u64) -> Result<bool, DownloadError> {
    let reply = control.command(Command::Rest(offset))?;
    if reply.code == 350 {
        return Ok(true);
    }
    if reply.is_transient_refusal() {
        return Err(control.refused("REST", &reply));
    }
    log::warn!(
        "the FTP server refused REST {offset} ({} {}); downloading from the start",
        reply.code,
        reply.text
    );
    Ok(false)
}

/// Ends the session politely; it ends anyway when the connection drops, so a failure here
/// changes nothing.
fn quit(control: &mut Control<'_>) {
    if let Err(e) = control.send(Command::Quit) {
        log::debug!("QUIT not sent: {e}");
    }
}

/// Translates a data-connection IO error after `received` of `expected` bytes.
fn data_error(e: io::Error, received: u64, expected: u64, recv_timeout: Duration) -> DownloadError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => DownloadError::IdleTimeout(recv_timeout),
        io::ErrorKind::UnexpectedEof => DownloadError::Truncated { received, expected },
        _ => DownloadError::Interrupted(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_are_transient() {
        let t = Duration::from_secs(3);
        let idle = data_error(io::ErrorKind::WouldBlock.into(), 1, 2, t);
        assert!(matches!(idle, DownloadError::IdleTimeout(d) if d == t));
        let eof = data_error(io::ErrorKind::UnexpectedEof.into(), 1, 2, t);
        assert!(matches!(eof, DownloadError::Truncated { received: 1, expected: 2 }));
        let reset = data_error(io::ErrorKind::ConnectionReset.into(), 1, 2, t);
        for e in [idle, eof, reset] {
            assert!(e.is_transient(), "{e}");
        }
    }
}
