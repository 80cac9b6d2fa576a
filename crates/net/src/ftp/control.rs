//! The IO shell of an FTP session: opening TCP connections (control and passive data) with the
//! download's timeouts and cancel token, sending [`Command`]s and reading [`Reply`]s through
//! the sans-IO [`ReplyReader`].
//!
//! Every read and write waits at most `recv_timeout`, so a silent server is an
//! [`DownloadError::IdleTimeout`], never a hang. It must never log or return the password: it
//! logs commands through their redacting Display and scrubs the password out of every reply
//! text before anything else sees it (a server may echo a command it did not understand).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::command::Command;
use super::reply::{Reply, ReplyReader};
use crate::cancel::CancelToken;
use crate::error::DownloadError;
use crate::options::Options;

/// Longest server text put into an error message.
const MAX_SHOWN_TEXT: usize = 160;

/// The control connection of one session.
pub(crate) struct Control<'a> {
    stream: TcpStream,
    reader: ReplyReader,
    peer: SocketAddr,
    /// Scrubbed out of reply texts; `None` when empty (nothing to hide).
    password: Option<&'a str>,
    opts: &'a Options,
    cancel: &'a CancelToken,
    /// Reused for every command line.
    line: Vec<u8>,
}

impl<'a> Control<'a> {
    /// Connects to `host:port` and reads the greeting (waiting past `120` replies).
    pub(crate) fn open(
        host: &str,
        port: u16,
        password: &'a str,
        opts: &'a Options,
        cancel: &'a CancelToken,
    ) -> Result<Option<Self>, DownloadError> {
        let addrs: Vec<SocketAddr> =
            (host, port).to_socket_addrs().map_err(|_| DownloadError::HostNotFound)?.collect();
        let mut last = DownloadError::HostNotFound;
        for addr in addrs {
            match connect(addr, opts, cancel) {
                Ok(Some(stream)) => {
                    let mut control = Self {
                        stream,
                        reader: ReplyReader::new(),
                        peer: addr,
                        password: (!password.is_empty()).then_some(password),
                        opts,
                        cancel,
                        line: Vec::with_capacity(0x100),
                    };
                    let mut greeting = control.read_reply()?;
                    while greeting.is_preliminary() {
                        greeting = control.read_reply()?;
                    }
                    if !greeting.is_complete() {
                        return Err(control.refused("the greeting", &greeting));
                    }
                    return Ok(Some(control));
                }
                Ok(None) => return Ok(None),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The server's address, where passive data connections go by default.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Opens a data connection to `addr`; `Ok(None)` if the download was cancelled.
    pub(crate) fn connect_data(&self, addr: SocketAddr) -> Result<Option<TcpStream>, DownloadError> {
        connect(addr, self.opts, self.cancel)
    }

    /// Sends `command` and reads the reply it gets (preliminary ones included).
    pub(crate) fn command(&mut self, command: Command<'_>) -> Result<Reply, DownloadError> {
        self.send(command)?;
        self.read_reply()
    }

    /// Sends `command` without waiting for a reply.
    pub(crate) fn send(&mut self, command: Command<'_>) -> Result<(), DownloadError> {
        log::debug!("ftp -> {command}");
        self.line.clear();
        command.emit(&mut self.line);
        self.stream.write_all(&self.line).map_err(|e| self.io_error(e))
    }

    /// Reads the next complete reply.
    pub(crate) fn read_reply(&mut self) -> Result<Reply, DownloadError> {
        loop {
            if let Some(mut reply) = self.reader.poll_reply()? {
                if let Some(password) = self.password
                    && reply.text.contains(password)
                {
                    reply.text = reply.text.replace(password, "****");
                }
                log::debug!("ftp <- {} {}", reply.code, reply.text);
                return Ok(reply);
            }
            let n = match self.stream.read(self.reader.unfilled()) {
                Ok(0) => return Err(DownloadError::ControlClosed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            self.reader.filled(n);
        }
    }

    /// The error for a negative (or unexpected) `reply` to `what`.
    pub(crate) fn refused(&self, what: &'static str, reply: &Reply) -> DownloadError {
        DownloadError::FtpRefused { command: what, code: reply.code, text: shorten(&reply.text) }
    }

    /// Translates a control-connection IO error.
    fn io_error(&self, e: io::Error) -> DownloadError {
        io_error(e, self.opts.recv_timeout)
    }
}

/// Server text cut to a length fit for an error message.
pub(crate) fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Translates an IO error of either connection: a read timeout is an idle timeout, the rest a
/// lost connection (both worth a retry).
pub(crate) fn io_error(e: io::Error, recv_timeout: Duration) -> DownloadError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => DownloadError::IdleTimeout(recv_timeout),
        io::ErrorKind::UnexpectedEof => DownloadError::ControlClosed,
        _ => DownloadError::Interrupted(e),
    }
}

/// Opens a TCP connection with the download's timeouts, watched by `cancel`; `Ok(None)` if
/// the token fired.
fn connect(
    addr: SocketAddr,
    opts: &Options,
    cancel: &CancelToken,
) -> Result<Option<TcpStream>, DownloadError> {
    let stream = TcpStream::connect_timeout(&addr, opts.connect_timeout).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            DownloadError::ConnectTimeout(opts.connect_timeout)
        }
        _ => DownloadError::Connect(e),
    })?;
    stream.set_read_timeout(Some(opts.recv_timeout)).map_err(DownloadError::Connect)?;
    stream.set_write_timeout(Some(opts.recv_timeout)).map_err(DownloadError::Connect)?;
    // Commands are single small writes that wait for a reply: Nagle would only delay them.
    stream.set_nodelay(true).map_err(DownloadError::Connect)?;
    if !cancel.attach_socket(&stream).map_err(DownloadError::Connect)? {
        return Ok(None);
    }
    Ok(Some(stream))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    fn opts() -> Options {
        Options {
            connect_timeout: Duration::from_secs(2),
            recv_timeout: Duration::from_millis(300),
            ..Options::default()
        }
    }

    /// A server that sends `script` after accepting, then reads until the client closes.
    fn server(script: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let Ok((mut socket, _)) = listener.accept() else { return };
            // The client may be gone already (a cancelled open): nothing to check then.
            let _ = socket.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = socket.write_all(script);
            let _ = socket.read_to_end(&mut Vec::new());
        });
        addr
    }

    #[test]
    fn waits_past_a_120_greeting_and_scrubs_the_password() {
        let addr =
            server(b"120 in 1 minute\r\n220-hello\r\n220 ready\r\n500 'PASS hunter2' not understood\r\n");
        let (opts, cancel) = (opts(), CancelToken::new());
        let mut control =
            Control::open("127.0.0.1", addr.port(), "hunter2", &opts, &cancel).unwrap().unwrap();
        assert_eq!(control.peer(), addr);
        let reply = control.read_reply().unwrap();
        assert_eq!((reply.code, reply.text.as_str()), (500, "'PASS ****' not understood"));
        assert!(matches!(control.read_reply(), Err(DownloadError::IdleTimeout(_))));
    }

    #[test]
    fn a_negative_greeting_is_refused_and_a_close_is_reported() {
        let addr = server(b"421 too many users\r\n");
        let (opts, cancel) = (opts(), CancelToken::new());
        let e = Control::open("127.0.0.1", addr.port(), "", &opts, &cancel).err().unwrap();
        assert!(matches!(e, DownloadError::FtpRefused { code: 421, .. }) && e.is_transient(), "{e}");

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || drop(listener.accept()));
        let e = Control::open("127.0.0.1", port, "", &opts, &cancel).err().unwrap();
        assert!(matches!(e, DownloadError::ControlClosed), "{e}");
    }

    #[test]
    fn unknown_hosts_and_closed_ports() {
        let (opts, cancel) = (opts(), CancelToken::new());
        let e = Control::open("no-such-host.invalid", 21, "", &opts, &cancel).err().unwrap();
        assert!(matches!(e, DownloadError::HostNotFound), "{e}");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = Control::open("127.0.0.1", port, "", &opts, &cancel).err().unwrap();
        assert!(matches!(e, DownloadError::Connect(_)) && e.is_transient(), "{e}");
    }

    #[test]
    fn a_fired_token_opens_nothing() {
        let addr = server(b"220 ready\r\n");
        let (opts, cancel) = (opts(), CancelToken::new());
        cancel.cancel();
        assert!(Control::open("127.0.0.1", addr.port(), "", &opts, &cancel).unwrap().is_none());
    }

    #[test]
    fn shorten_cuts_long_texts_on_a_char_boundary() {
        assert_eq!(shorten("short"), "short");
        let long = "é".repeat(MAX_SHOWN_TEXT + 5);
        assert_eq!(shorten(&long).chars().count(), MAX_SHOWN_TEXT + 1);
    }
}
