//! [`FtpPeer`]: a real FTP server (libunftp with its local-disk back-end, unftp-sbe-fs) on its
//! own tokio runtime, serving one directory to one user name and password, plus a log of the
//! files it sent.
//!
//! The peer accepts control connections itself and hands each to `Server::service`, so it
//! binds 127.0.0.1:0 and knows its port without a bind race; passive data ports are picked by
//! libunftp from [`PASSIVE_PORTS`] on 127.0.0.1. It must never bind a non-loopback address,
//! write into the served directory, or keep running after it is dropped.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use async_trait::async_trait;
use libunftp::ServerBuilder;
use libunftp::notification::{DataEvent, DataListener, EventMeta};
use libunftp::options::PassiveHost;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, Principal};
use unftp_sbe_fs::Filesystem;

/// Passive data ports: the IANA dynamic range; libunftp retries another port when one is taken.
pub const PASSIVE_PORTS: RangeInclusive<u16> = 0xC000..=0xFFFF;
/// Bound on the runtime's shutdown (sessions and blocking file reads still running).
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(500);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// One completed `RETR`, as the server reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrieval {
    /// The file's path in the FTP namespace, e.g. `/fw/pkg.bin`.
    pub path: String,
    /// Bytes the server sent on the data connection (the rest of the file after a `REST`).
    pub bytes: u64,
}

/// An FTP server on 127.0.0.1 serving one directory to one user; dropping it stops the server.
pub struct FtpPeer {
    addr: SocketAddr,
    retrievals: Arc<Mutex<Vec<Retrieval>>>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl FtpPeer {
    /// Serves the files under `root` on a free loopback port to `user` with `password` (any
    /// other pair is refused with 530).
    pub fn serve_dir(root: impl Into<PathBuf>, user: &str, password: &str) -> io::Result<Self> {
        let root = root.into();
        // Fail here, to the caller, rather than in every session.
        Filesystem::new(root.clone())?;
        let retrievals = Arc::new(Mutex::new(Vec::new()));
        let config = Arc::new(Config {
            root,
            login: Arc::new(Login { user: user.to_owned(), password: password.to_owned() }),
            log: RetrievalLog(Arc::clone(&retrievals)),
        });

        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, stopped) = watch::channel(false);
        let thread = thread::Builder::new().name(format!("ftp-peer-{}", addr.port())).spawn(move || {
            runtime.block_on(accept_loop(listener, config, stopped));
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
        })?;
        Ok(Self { addr, retrievals, stop, thread: Some(thread) })
    }

    /// The address of the control port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, the form `AT+GTOTA` takes as its server parameter.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// Every completed `RETR` so far, oldest first.
    pub fn retrievals(&self) -> Vec<Retrieval> {
        self.retrievals.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for FtpPeer {
    fn drop(&mut self) {
        // Receivers live as long as the accept loop; a send error means it already ended.
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::error!("ftp peer on {} panicked", self.addr);
        }
    }
}

/// What every session of one peer shares.
struct Config {
    root: PathBuf,
    login: Arc<Login>,
    log: RetrievalLog,
}

/// Accepts control connections until `stopped` flips; each runs as its own task.
async fn accept_loop(
    listener: std::net::TcpListener,
    config: Arc<Config>,
    mut stopped: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            log::error!("ftp peer cannot listen: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            // An error means the sender is gone, which is a stop as well.
            _ = stopped.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, Arc::clone(&config)));
                }
                Err(e) => {
                    log::warn!("ftp peer: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

/// Runs one FTP session with a libunftp server built for this connection alone.
async fn serve_connection(mut stream: tokio::net::TcpStream, config: Arc<Config>) {
    // Opened here, where a failure can be answered, because libunftp's storage generator
    // cannot fail.
    let storage = match Filesystem::new(config.root.clone()) {
        Ok(storage) => storage,
        Err(e) => {
            log::error!("ftp peer cannot open {}: {e}", config.root.display());
            // The client learns why; if it is already gone there is nobody left to tell.
            let _ = stream.write_all(b"421 The served directory cannot be opened.\r\n").await;
            return;
        }
    };
    let slot = Mutex::new(Some(storage));
    let generator = move || {
        // This Server serves this one connection, and `Server::service` runs the generator
        // once, when it sets up that connection's session: the slot is still full.
        slot.lock().unwrap_or_else(PoisonError::into_inner).take().expect("one storage per connection")
    };
    let login: Arc<dyn Authenticator + Send + Sync> = config.login.clone();
    let server = ServerBuilder::with_authenticator(Box::new(generator), login)
        .passive_host(PassiveHost::Ip(Ipv4Addr::LOCALHOST))
        .passive_ports(PASSIVE_PORTS)
        .notify_data(config.log.clone())
        .build();
    let server = match server {
        Ok(server) => server,
        Err(e) => {
            log::error!("ftp peer: cannot build the server: {e}");
            return;
        }
    };
    if let Err(e) = server.service(stream).await {
        log::debug!("ftp peer session ended: {e}");
    }
}

/// The one user name and password the peer accepts.
struct Login {
    user: String,
    password: String,
}

#[async_trait]
impl Authenticator for Login {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        if username != self.user {
            return Err(AuthenticationError::BadUser);
        }
        if creds.password.as_deref() != Some(self.password.as_str()) {
            return Err(AuthenticationError::BadPassword);
        }
        Ok(Principal { username: username.to_owned() })
    }
}

impl fmt::Debug for Login {
    /// libunftp may log its authenticator: never show the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login").field("user", &self.user).finish_non_exhaustive()
    }
}

/// Appends every completed `RETR` to the peer's log.
#[derive(Debug, Clone)]
struct RetrievalLog(Arc<Mutex<Vec<Retrieval>>>);

#[async_trait]
impl DataListener for RetrievalLog {
    async fn receive_data_event(&self, event: DataEvent, _meta: EventMeta) {
        if let DataEvent::Got { path, bytes } = event {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).push(Retrieval { path, bytes });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    use super::*;

    /// A minimal FTP client for the peer's own tests: one command, one reply line.
    struct Client {
        reader: BufReader<TcpStream>,
    }

    impl Client {
        fn connect(addr: SocketAddr) -> Self {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut client = Self { reader: BufReader::new(stream) };
            assert_eq!(client.reply().0, 220);
            client
        }

        /// Reads one reply (skipping multi-line continuations); returns its code and last line.
        fn reply(&mut self) -> (u16, String) {
            loop {
                let mut line = String::new();
                self.reader.read_line(&mut line).unwrap();
                assert!(line.len() >= 4, "short reply line {line:?}");
                if line.as_bytes()[3] == b' ' {
                    return (line[..3].parse().unwrap(), line.trim_end().to_owned());
                }
            }
        }

        fn command(&mut self, line: &str) -> (u16, String) {
            write!(self.reader.get_mut(), "{line}\r\n").unwrap();
            self.reply()
        }

        fn login(&mut self, user: &str, password: &str) -> u16 {
            assert_eq!(self.command(&format!("USER {user}")).0, 331);
            self.command(&format!("PASS {password}")).0
        }

        /// EPSV, REST (if `offset` > 0) and RETR; returns the final code and the bytes.
        fn retr(&mut self, path: &str, offset: u64) -> (u16, Vec<u8>) {
            let (code, text) = self.command("EPSV");
            assert_eq!(code, 229, "{text}");
            let port: u16 = text.split('|').nth(3).unwrap().parse().unwrap();
            let mut data = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            if offset > 0 {
                assert_eq!(self.command(&format!("REST {offset}")).0, 350);
            }
            let (code, _) = self.command(&format!("RETR {path}"));
            if code != 150 && code != 125 {
                return (code, Vec::new());
            }
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes).unwrap();
            (self.reply().0, bytes)
        }
    }

    fn peer_with_file(content: &[u8]) -> (tempfile::TempDir, FtpPeer) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("fw")).unwrap();
        std::fs::write(dir.path().join("fw/pkg.bin"), content).unwrap();
        let peer = FtpPeer::serve_dir(dir.path(), "modem", "s3cret").unwrap();
        (dir, peer)
    }

    /// Waits for the data listener, which runs after the transfer reply was sent.
    fn wait_for_retrievals(peer: &FtpPeer, count: usize) -> Vec<Retrieval> {
        for _ in 0..100 {
            let log = peer.retrievals();
            if log.len() >= count {
                return log;
            }
            thread::sleep(Duration::from_millis(20));
        }
        peer.retrievals()
    }

    #[test]
    fn serves_a_file_in_a_directory_and_logs_it() {
        let content: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        let (_dir, peer) = peer_with_file(&content);
        let mut client = Client::connect(peer.addr());
        assert_eq!(client.login("modem", "s3cret"), 230);
        assert_eq!(client.command("TYPE I").0, 200);
        assert_eq!(client.command("SIZE fw/pkg.bin"), (213, "213 200000".to_owned()));
        assert_eq!(client.command("MDTM fw/pkg.bin").0, 213);
        let (code, bytes) = client.retr("fw/pkg.bin", 0);
        assert_eq!(code, 226);
        assert_eq!(bytes, content);
        let log = wait_for_retrievals(&peer, 1);
        assert_eq!(log, vec![Retrieval { path: "/fw/pkg.bin".into(), bytes: 200_000 }]);
    }

    #[test]
    fn rest_sends_only_the_rest() {
        let content: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let (_dir, peer) = peer_with_file(&content);
        let mut client = Client::connect(peer.addr());
        assert_eq!(client.login("modem", "s3cret"), 230);
        assert_eq!(client.command("TYPE I").0, 200);
        let (code, bytes) = client.retr("fw/pkg.bin", 9000);
        assert_eq!((code, bytes.as_slice()), (226, &content[9000..]));
        assert_eq!(wait_for_retrievals(&peer, 1)[0].bytes, 1000);
    }

    #[test]
    fn wrong_credentials_get_530() {
        let (_dir, peer) = peer_with_file(b"x");
        assert_eq!(Client::connect(peer.addr()).login("modem", "wrong"), 530);
        assert_eq!(Client::connect(peer.addr()).login("intruder", "s3cret"), 530);
    }

    #[test]
    fn missing_file_gets_550() {
        let (_dir, peer) = peer_with_file(b"x");
        let mut client = Client::connect(peer.addr());
        assert_eq!(client.login("modem", "s3cret"), 230);
        assert_eq!(client.command("SIZE missing.bin").0, 550);
        assert_eq!(client.retr("missing.bin", 0).0, 550);
    }

    #[test]
    fn host_port_and_debug_hide_nothing_secret() {
        let (_dir, peer) = peer_with_file(b"x");
        assert_eq!(peer.host_port(), format!("127.0.0.1:{}", peer.addr().port()));
        let login = Login { user: "modem".into(), password: "s3cret".into() };
        assert!(!format!("{login:?}").contains("s3cret"));
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(FtpPeer::serve_dir(dir.path().join("absent"), "u", "p").is_err());
    }

    #[test]
    fn drop_stops_the_server() {
        let (_dir, peer) = peer_with_file(b"x");
        let addr = peer.addr();
        let _idle_session = Client::connect(addr);
        drop(peer);
        assert!(TcpStream::connect(addr).is_err());
    }
}
