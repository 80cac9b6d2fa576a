//! HTTPS application updates with the credential store, end to end
//! in-process: the host provisions the CA (and a client certificate) with
//! `AT%CMNG` exactly as Nordic's tools send it, then `AT#XFOTA=1,"https://...",<sec_tag>`
//! downloads through a real TLS server (rustls) in front of the file server
//! — and every way the trust can fail ends in `#XFOTA: 1,1,1` with nothing
//! stored and the cause in the log.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Mutex, Once, PoisonError};
use std::thread;
use std::time::Duration;

use atfota_peers::{HttpPeer, Leaf, ServerTls, TestCa, TlsProxy, Validity};
use common::{Dev, Step, app_image, assert_unchanged, lines, serve};

const TAG: u32 = 16_842_753;

/// `AT%CMNG=0,<tag>,<type>,"<content>"` with the PEM's line breaks inside the quotes.
fn write_cmd(tag: u32, kind: u8, content: &str) -> String {
    format!("AT%CMNG=0,{tag},{kind},\"{content}\"\r\n")
}

/// Provisions `tag` while offline, as the tools do, then goes back online.
fn provision(dev: &mut Dev, tag: u32, ca_pem: Option<&str>, client: Option<&Leaf>) {
    assert_eq!(dev.send("AT+CFUN=4"), "\r\nOK\r\n");
    if let Some(ca) = ca_pem {
        assert_eq!(dev.send_bytes(write_cmd(tag, 0, ca).as_bytes()), "\r\nOK\r\n");
    }
    if let Some(c) = client {
        assert_eq!(dev.send_bytes(write_cmd(tag, 1, &c.cert_pem).as_bytes()), "\r\nOK\r\n");
        assert_eq!(
            dev.send_bytes(write_cmd(tag, 2, &c.key_pem.replace('\n', "\r\n")).as_bytes()),
            "\r\nOK\r\n"
        );
    }
    assert_eq!(dev.send("AT+CFUN=1"), "\r\nOK\r\n");
}

fn start(url: &str, tag: u32) -> String {
    format!("AT#XFOTA=1,\"{url}\",{tag}")
}

/// A TLS front presenting `leaf` (and asking for a client certificate from `client_ca`).
fn front(peer: &HttpPeer, leaf: Leaf, client_ca: Option<&TestCa>) -> TlsProxy {
    let tls = ServerTls { leaf, client_ca: client_ca.map(|c| c.cert_der().to_vec()), tls12_only: false };
    TlsProxy::start_with(peer.addr(), &tls).unwrap()
}

fn finish(dev: &mut Dev, version: &str) {
    assert_eq!(dev.send("AT#XRESET"), "\r\nOK\r\n\r\nReady\r\n\r\n#XFOTA: 5,0\r\n");
    assert_eq!(common::version(dev), version);
}

#[test]
fn an_https_update_with_the_ca_from_the_credential_store() {
    let image = app_image("2.0.0", 300 * 1024, 1);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let ca = TestCa::new("fota CA").unwrap();
    let tls = front(&peer, ca.server(&["localhost", "127.0.0.1"], Validity::Current).unwrap(), None);
    for url in [tls.url("app.bin"), tls.url_for_host("localhost", "app.bin")] {
        let (mut dev, _) = Dev::new();
        provision(&mut dev, TAG, Some(ca.cert_pem()), None);
        let out = dev.send(&start(&url, TAG));
        assert!(out.starts_with("\r\nOK\r\n") && out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{url}: {out:?}");
        finish(&mut dev, "2.0.0");
    }
}

#[test]
fn mutual_tls_presents_the_client_certificate_of_the_sec_tag() {
    let image = app_image("2.1.0", 100 * 1024, 2);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let ca = TestCa::new("server CA").unwrap();
    let clients = TestCa::new("device CA").unwrap();
    let tls = front(&peer, ca.server(&["127.0.0.1"], Validity::Current).unwrap(), Some(&clients));
    let (mut dev, _) = Dev::new();
    provision(&mut dev, 7, Some(ca.cert_pem()), Some(&clients.client("device-1").unwrap()));
    let out = dev.send(&start(&tls.url("app.bin"), 7));
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    finish(&mut dev, "2.1.0");
}

#[test]
fn an_https_download_resumes_and_follows_https_redirects_only() {
    let image = app_image("2.2.0", 800 * 1024, 3);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let ca = TestCa::new("fota CA").unwrap();
    let tls = front(&peer, ca.server(&["127.0.0.1"], Validity::Current).unwrap(), None);
    let (mut dev, _) = Dev::new();
    provision(&mut dev, TAG, Some(ca.cert_pem()), None);
    // A redirect to plain http is never followed (the file server writes absolute http:// Locations).
    let out = dev.send(&start(&tls.url("absredirect/1/app.bin"), TAG));
    assert!(out.ends_with("\r\n#XFOTA: 1,1,1\r\n"), "{out:?}");
    // Relative redirects stay on https; cancel half-way, then the same command resumes.
    let url = tls.url("redirect/2/app.bin");
    let mut cancelled = false;
    let out = dev.send_with(&start(&url, TAG), &mut |m, got, total| {
        if !cancelled && got * 2 >= total {
            cancelled = true;
            m.handle_input(b"AT#XFOTA=0\r").unwrap();
        }
        Step::Continue
    });
    assert!(out.contains("#XFOTA: 1,2,0"), "{out:?}");
    let out = dev.send(&start(&url, TAG));
    assert!(common::progress(&out)[0] >= 45, "resumed: {out:?}");
    assert!(out.ends_with("\r\n#XFOTA: 4,0\r\n"), "{out:?}");
    assert!(peer.requests().iter().any(|r| r.range.is_some()), "a Range request reached the server");
    finish(&mut dev, "2.2.0");
}

/// A server that speaks only TLS 1.1: it answers any ClientHello with a
/// TLS 1.1 ServerHello (no supported_versions extension), as an old server does.
fn tls11_only_server() -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        for _ in 0..4 {
            let Ok((mut s, _)) = listener.accept() else { return };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let mut hello = vec![0x03, 0x02];
            hello.extend_from_slice(&[0x42; 32]);
            hello.extend_from_slice(&[0x00, 0x00, 0x2f, 0x00]);
            let mut hs = vec![0x02, 0x00, 0x00, hello.len() as u8];
            hs.extend_from_slice(&hello);
            let mut record = vec![0x16, 0x03, 0x02, 0x00, hs.len() as u8];
            record.extend_from_slice(&hs);
            let _ = s.write_all(&record);
            thread::sleep(Duration::from_millis(200));
        }
    });
    (addr, handle)
}

/// A server that accepts the connection and never says a word.
fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..4 {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => return,
            }
        }
        thread::sleep(Duration::from_secs(10));
    });
    addr
}

/// Every log record of this test binary with its thread (tests run in parallel).
static LOG: Mutex<Vec<(thread::ThreadId, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            LOG.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((thread::current().id(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

/// This thread's log records from index `from` on.
fn my_log(from: usize) -> String {
    let me = thread::current().id();
    let log = LOG.lock().unwrap_or_else(PoisonError::into_inner);
    log[from..].iter().filter(|(t, _)| *t == me).map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_way_trust_can_fail_ends_in_1_1_1_with_nothing_stored() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Info);
    });
    let image = app_image("3.0.0", 64 * 1024, 4);
    let (_d, peer) = serve(&[("app.bin", &image)]);
    let ca = TestCa::new("fota CA").unwrap();
    let other = TestCa::new("another CA").unwrap();
    let clients = TestCa::new("device CA").unwrap();
    let strangers = TestCa::new("stranger CA").unwrap();
    let good = |names: &[&str]| ca.server(names, Validity::Current).unwrap();
    let expired = front(&peer, ca.server(&["127.0.0.1"], Validity::Expired).unwrap(), None);
    let future = front(&peer, ca.server(&["127.0.0.1"], Validity::NotYetValid).unwrap(), None);
    let foreign = front(&peer, other.server(&["127.0.0.1"], Validity::Current).unwrap(), None);
    let wrong_name = front(&peer, good(&["fota.example"]), None);
    let dns_only = front(&peer, good(&["localhost"]), None);
    let mtls = front(&peer, good(&["127.0.0.1"]), Some(&clients));
    let fine = front(&peer, good(&["127.0.0.1"]), None);
    let (old_tls, _h) = tls11_only_server();
    let silent = silent_server();
    let stranger_client = strangers.client("intruder").unwrap();
    // (what, url, what the sec_tag holds: CA, client cert, PSK only, the log must say)
    type Row<'a> = (&'a str, String, Option<&'a str>, Option<&'a Leaf>, bool, &'a str);
    let rows: Vec<Row<'_>> = vec![
        ("a sec_tag with no CA", fine.url("app.bin"), None, None, false, "holds no root CA"),
        ("a PSK-only sec_tag", fine.url("app.bin"), None, None, true, "TLS-PSK is not supported"),
        ("an expired server certificate", expired.url("app.bin"), Some(ca.cert_pem()), None, false, "xpired"),
        (
            "a not yet valid server certificate",
            future.url("app.bin"),
            Some(ca.cert_pem()),
            None,
            false,
            "not valid yet",
        ),
        ("a chain to another CA", foreign.url("app.bin"), Some(ca.cert_pem()), None, false, "UnknownIssuer"),
        (
            "a wrong host name",
            wrong_name.url("app.bin"),
            Some(ca.cert_pem()),
            None,
            false,
            "not valid for name",
        ),
        (
            "an IP literal with no IP SAN",
            dns_only.url("app.bin"),
            Some(ca.cert_pem()),
            None,
            false,
            "not valid for name",
        ),
        (
            "a server that offers only TLS 1.1",
            format!("https://{old_tls}/app.bin"),
            Some(ca.cert_pem()),
            None,
            false,
            "TLS",
        ),
        (
            "no client certificate for a server that wants one",
            mtls.url("app.bin"),
            Some(ca.cert_pem()),
            None,
            false,
            "TLS",
        ),
        (
            "a client certificate the server refuses",
            mtls.url("app.bin"),
            Some(ca.cert_pem()),
            Some(&stranger_client),
            false,
            "TLS",
        ),
        (
            "a handshake that stalls",
            format!("https://{silent}/app.bin"),
            Some(ca.cert_pem()),
            None,
            false,
            "sent nothing",
        ),
    ];
    for (what, url, ca_pem, client, psk, cause) in &rows {
        let (mut dev, _) = Dev::new();
        if *psk {
            assert_eq!(dev.send("AT+CFUN=4"), "\r\nOK\r\n");
            assert_eq!(dev.send(&format!("AT%CMNG=0,{TAG},3,\"c0ffee11\"")), "\r\nOK\r\n");
            assert_eq!(dev.send(&format!("AT%CMNG=0,{TAG},4,\"dev-1\"")), "\r\nOK\r\n");
            assert_eq!(dev.send("AT+CFUN=1"), "\r\nOK\r\n");
        } else if ca_pem.is_some() || client.is_some() {
            provision(&mut dev, TAG, *ca_pem, *client);
        }
        let before = LOG.lock().unwrap_or_else(PoisonError::into_inner).len();
        let out = dev.send(&start(url, TAG));
        let l = lines(&out);
        assert_eq!(l.first(), Some(&"OK"), "{what}: {out:?}");
        assert_eq!(l.last(), Some(&"#XFOTA: 1,1,1"), "{what}: {out:?}");
        assert!(!out.contains("#XFOTA: 1,0,"), "{what}: nothing was received: {out:?}");
        let log = my_log(before);
        assert!(log.contains(cause), "{what}: the log names the cause ({cause:?}):\n{log}");
        let mut f = dev.power_off();
        let mut secondary = vec![0u8; 4096];
        dev.layout.secondary.read(&mut f, 0, &mut secondary).unwrap();
        assert!(secondary.iter().all(|&b| b == 0xff), "{what}: nothing written to the slot");
        dev.boot(f);
        assert_unchanged(&mut dev, "1.0.0", what);
    }
    println!("{} TLS refusals, each 1,1,1 with nothing stored", rows.len());
}
