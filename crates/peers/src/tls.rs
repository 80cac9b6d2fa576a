//! [`TlsProxy`]: terminates TLS on loopback and forwards the plain bytes to an upstream TCP
//! server, so any [`crate::HttpPeer`] (or fault proxy) can be reached over `https://`.
//!
//! Each proxy makes its own throw-away CA and a server certificate for the names asked for
//! (rcgen, ECDSA P-256), and hands out the CA in DER so a client can trust exactly it. rustls
//! runs sans-IO here: one thread reads the client socket and feeds the session, another feeds
//! upstream bytes into it, both under one lock, so neither direction blocks the other. It must
//! never accept a non-loopback connection or persist the keys it makes.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rustls::ServerConnection;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::pki::{Leaf, PkiError, TestCa, Validity};

use crate::relay::{Relay, Shared, UPSTREAM_CONNECT};

/// Size of each socket read.
const BUF: usize = 0x4000;

/// A TLS front on 127.0.0.1 for an upstream TCP server; dropping it stops it.
pub struct TlsProxy {
    relay: Relay,
    ca_der: Vec<u8>,
}

impl TlsProxy {
    /// Starts a front whose certificate is valid for `localhost` and `127.0.0.1`.
    pub fn start(upstream: SocketAddr) -> io::Result<Self> {
        Self::start_for_names(upstream, &["localhost", "127.0.0.1"])
    }

    /// Starts a front whose certificate names exactly `names` (DNS names or IP literals),
    /// signed by a CA of its own.
    pub fn start_for_names(upstream: SocketAddr, names: &[&str]) -> io::Result<Self> {
        let ca = TestCa::new("atfota test CA").map_err(io::Error::other)?;
        let leaf = ca.server(names, Validity::Current).map_err(io::Error::other)?;
        let mut proxy = Self::start_with(upstream, &ServerTls { leaf, client_ca: None, tls12_only: false })?;
        proxy.ca_der = ca.cert_der().to_vec();
        Ok(proxy)
    }

    /// Starts a front presenting `tls` (certificates from a [`TestCa`] of the caller's).
    pub fn start_with(upstream: SocketAddr, tls: &ServerTls) -> io::Result<Self> {
        let config = Arc::new(server_config(tls).map_err(io::Error::other)?);
        let ca_der = Vec::new();
        let relay = Relay::start("tls-proxy", move |index, client, shared| {
            if let Err(e) = handle(client, upstream, Arc::clone(&config), shared) {
                log::debug!("tls proxy connection {index} ended: {e}");
            }
        })?;
        Ok(Self { relay, ca_der })
    }

    /// The CA certificate (DER) that signed the server certificate (empty when the caller
    /// brought its own, see [`TlsProxy::start_with`]).
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.relay.addr()
    }

    /// `https://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        self.url_for_host(&Ipv4Addr::LOCALHOST.to_string(), path)
    }

    /// `https://<host>:PORT/<path>`, e.g. with `localhost` to exercise DNS-name checks.
    pub fn url_for_host(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}/{}", self.addr().port(), path.trim_start_matches('/'))
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.relay.accepted()
    }
}

/// How a TLS front presents itself and whom it lets in.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// Its certificate and key.
    pub leaf: Leaf,
    /// Require a client certificate signed by this CA (DER): mutual TLS.
    pub client_ca: Option<Vec<u8>>,
    /// Offer only TLS 1.2 (rustls has no older versions to offer).
    pub tls12_only: bool,
}

/// The rustls server configuration for `tls`.
fn server_config(tls: &ServerTls) -> Result<rustls::ServerConfig, PkiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] =
        if tls.tls12_only { &[&rustls::version::TLS12] } else { rustls::ALL_VERSIONS };
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from(ca.clone()))?;
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_single_cert(
        vec![CertificateDer::from(tls.leaf.cert_der.clone())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(tls.leaf.key_der.clone())),
    )?)
}

/// Serves one client: this thread carries client to upstream, a helper the other way.
fn handle(
    client: TcpStream,
    upstream: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    shared: &Arc<Shared>,
) -> io::Result<()> {
    let _client_guard = shared.register(&client)?;
    let upstream = TcpStream::connect_timeout(&upstream, UPSTREAM_CONNECT)?;
    let _upstream_guard = shared.register(&upstream)?;
    let session = Arc::new(Mutex::new(ServerConnection::new(config).map_err(io::Error::other)?));

    let (down_from, down_to, down_session) =
        (upstream.try_clone()?, client.try_clone()?, Arc::clone(&session));
    shared.spawn(move || {
        if let Err(e) = pump_down(down_from, down_to, &down_session) {
            log::debug!("tls proxy response direction ended: {e}");
        }
    })?;
    let result = pump_up(client, &upstream, &session);
    // Let upstream see the end of the requests whatever happened on the client side.
    let _ = upstream.shutdown(Shutdown::Write);
    result
}

/// Client TLS records in, plaintext to upstream; handshake replies go back to the client.
fn pump_up(
    mut client: TcpStream,
    mut upstream: &TcpStream,
    session: &Mutex<ServerConnection>,
) -> io::Result<()> {
    let mut wire = vec![0u8; BUF];
    let mut plain = Vec::with_capacity(BUF);
    let mut client_out = client.try_clone()?;
    loop {
        let n = client.read(&mut wire)?;
        if n == 0 {
            return Ok(());
        }
        plain.clear();
        let closed = {
            let mut session = lock(session);
            let mut input = &wire[..n];
            let mut closed = false;
            while !input.is_empty() {
                session.read_tls(&mut input)?;
                let state = session.process_new_packets();
                // Send any alert or handshake reply before reporting a failure.
                flush(&mut session, &mut client_out)?;
                let state = state.map_err(io::Error::other)?;
                let ready = state.plaintext_bytes_to_read();
                let start = plain.len();
                plain.resize(start + ready, 0);
                session.reader().read_exact(&mut plain[start..])?;
                closed |= state.peer_has_closed();
            }
            closed
        };
        upstream.write_all(&plain)?;
        if closed {
            return Ok(());
        }
    }
}

/// Upstream plaintext in, TLS records out to the client.
fn pump_down(
    mut upstream: TcpStream,
    mut client: TcpStream,
    session: &Mutex<ServerConnection>,
) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = upstream.read(&mut buf)?;
        let mut session = lock(session);
        if n == 0 {
            session.send_close_notify();
            flush(&mut session, &mut client)?;
            return client.shutdown(Shutdown::Write);
        }
        session.writer().write_all(&buf[..n])?;
        flush(&mut session, &mut client)?;
    }
}

/// Writes every pending TLS record to the client.
fn flush(session: &mut ServerConnection, client: &mut TcpStream) -> io::Result<()> {
    while session.wants_write() {
        session.write_tls(client)?;
    }
    Ok(())
}

/// Locks ignoring poison: a panicked peer thread leaves the session no worse than an error.
fn lock(session: &Mutex<ServerConnection>) -> MutexGuard<'_, ServerConnection> {
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;
    use std::time::Duration;

    use rustls::pki_types::{CertificateDer, ServerName};

    use super::*;

    /// Upstream that echoes one request's first bytes back with a fixed response.
    fn upstream() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let n = stream.read(&mut buf).unwrap();
            stream.write_all(b"got:").unwrap();
            stream.write_all(&buf[..n]).unwrap();
        });
        addr
    }

    fn client(ca: &[u8], name: &str, addr: SocketAddr) -> io::Result<Vec<u8>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.to_vec())).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let session = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut stream = rustls::StreamOwned::new(session, tcp);
        stream.write_all(b"hello")?;
        let mut got = Vec::new();
        stream.read_to_end(&mut got)?;
        Ok(got)
    }

    #[test]
    fn round_trip_through_tls_for_ip_and_dns_names() {
        for name in ["127.0.0.1", "localhost"] {
            let proxy = TlsProxy::start(upstream()).unwrap();
            let got = client(proxy.ca_der(), name, proxy.addr()).unwrap();
            assert_eq!(got, b"got:hello");
            assert_eq!(proxy.connections(), 1);
        }
    }

    #[test]
    fn a_client_with_another_ca_is_refused() {
        let proxy = TlsProxy::start(upstream()).unwrap();
        // Only its CA is used: nothing ever connects to it.
        let other = TlsProxy::start("127.0.0.1:9".parse().unwrap()).unwrap();
        assert!(client(other.ca_der(), "localhost", proxy.addr()).is_err());
    }

    #[test]
    fn makes_a_ca_and_listens() {
        let proxy = TlsProxy::start("127.0.0.1:9".parse().unwrap()).unwrap();
        // A DER certificate starts with a SEQUENCE tag.
        assert_eq!(proxy.ca_der()[0], 0x30);
        let port = proxy.addr().port();
        assert_eq!(proxy.url("/a.bin"), format!("https://127.0.0.1:{port}/a.bin"));
        assert_eq!(proxy.url_for_host("localhost", "a.bin"), format!("https://localhost:{port}/a.bin"));
    }

    #[test]
    fn rejects_an_invalid_name() {
        assert!(TlsProxy::start_for_names("127.0.0.1:9".parse().unwrap(), &["bad\u{e9}.example"]).is_err());
    }
}
