//! End-to-end tests of `atfota_net::download` against real servers on loopback: the
//! `atfota-peers` file server, its fault proxy and TLS front, hand-made axum routes and, for
//! responses no well-behaved server produces, a raw socket server. Every test is bounded in
//! time by short timeouts and a fixed number of connections.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::ops::ControlFlow;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use atfota_net::{
    CancelToken, DownloadError, Event, HttpSource, Options, Outcome, Resume, Source, download,
    download_with_cancel, parse_http_url,
};
use atfota_peers::{Fault, FaultProxy, HttpPeer, TlsProxy};
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::Recorder;

/// Runs a download of an HTTP(S) URL into a recorder.
trait RunUrl {
    fn run(&mut self, url: &str, resume: Option<&Resume>, opts: &Options) -> Result<Outcome, DownloadError>;
}

impl RunUrl for Recorder {
    fn run(&mut self, url: &str, resume: Option<&Resume>, opts: &Options) -> Result<Outcome, DownloadError> {
        self.run_source(&http(url), resume, opts)
    }
}

fn http(url: &str) -> Source {
    https(url, Vec::new())
}

fn https(url: &str, ca_certs: Vec<Vec<u8>>) -> Source {
    let mut source = HttpSource::new(parse_http_url(url).unwrap());
    source.tls.roots = ca_certs;
    Source::Http(source)
}

/// Short timeouts so failures show up in well under a second.
fn fast() -> Options {
    Options {
        connect_timeout: Duration::from_secs(2),
        recv_timeout: Duration::from_secs(5),
        retry_delay: Duration::from_millis(10),
        ..Options::default()
    }
}

fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// A directory with `fw.bin` of `len` random bytes, served by an HttpPeer.
fn serve(len: usize) -> (tempfile::TempDir, HttpPeer, Vec<u8>) {
    serve_with(len, Router::new())
}

fn serve_with(len: usize, routes: Router) -> (tempfile::TempDir, HttpPeer, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let data = content(len, len as u64);
    std::fs::write(dir.path().join("fw.bin"), &data).unwrap();
    let peer = HttpPeer::serve_dir_with(dir.path(), routes).unwrap();
    (dir, peer, data)
}

/// Replaces fw.bin with new content and a clearly different modification time.
fn replace_file(dir: &Path, data: &[u8]) {
    let path = dir.join("fw.bin");
    std::fs::write(&path, data).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(3600)).unwrap();
}

/// A server for responses no sane server sends: answers every connection with `response`
/// (after reading the request head), then closes. Serves at most `connections` connections.
fn raw_server(response: Vec<u8>, connections: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = stream.write_all(&response);
        }
    });
    addr
}

/// A loopback port with nothing listening.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn whole_file_is_byte_exact() {
    let (_dir, peer, data) = serve(3 * 1024 * 1024 + 17);
    let mut rec = Recorder::default();
    let outcome = rec.run(&peer.url("fw.bin"), None, &fast()).unwrap();
    assert_eq!(outcome, Outcome::Complete);
    assert_eq!(rec.file, data);
    assert_eq!(rec.starts.len(), 1);
    assert_eq!((rec.starts[0].offset, rec.starts[0].total), (0, data.len() as u64));
    assert!(rec.starts[0].validator.as_deref().is_some_and(|v| v.starts_with('"')));
    assert!(rec.data_events >= data.len() / (64 * 1024));
    let log = peer.requests();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].method.as_str(), log[0].status, log[0].range.as_deref()), ("GET", 200, None));
}

#[test]
fn chunk_size_bounds_every_data_slice() {
    let (_dir, peer, data) = serve(100_000);
    let opts = Options { chunk_size: 1000, ..fast() };
    let mut biggest = 0;
    let mut file = Vec::new();
    let outcome = download(&http(&peer.url("fw.bin")), None, &opts, &mut |e| {
        if let Event::Data(bytes) = e {
            biggest = biggest.max(bytes.len());
            file.extend_from_slice(bytes);
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(outcome, Outcome::Complete);
    assert_eq!(file, data);
    assert!(biggest <= 1000 && biggest > 0);
}

#[test]
fn empty_file_completes_without_data() {
    let (_dir, peer, _) = serve(0);
    let mut rec = Recorder::default();
    assert_eq!(rec.run(&peer.url("fw.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert_eq!((rec.starts.len(), rec.data_events, rec.total), (1, 0, 0));
}

#[test]
fn resume_asks_for_the_rest_only() {
    let (_dir, peer, data) = serve(1_000_000);
    let offset = 600_000u64;
    let mut rec = Recorder { file: data[..offset as usize].to_vec(), ..Recorder::default() };
    let resume = Resume { offset, validator: None };
    assert_eq!(rec.run(&peer.url("fw.bin"), Some(&resume), &fast()).unwrap(), Outcome::Complete);
    assert_eq!(rec.file, data);
    assert_eq!((rec.starts[0].offset, rec.starts[0].total), (offset, data.len() as u64));
    let log = peer.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].range.as_deref(), Some("bytes=600000-"));
    assert_eq!(log[0].if_range, None);
    assert_eq!(log[0].status, 206);
}

#[test]
fn resume_sends_the_validator_as_if_range() {
    let (_dir, peer, data) = serve(200_000);
    let mut first = Recorder::default();
    first.run(&peer.url("fw.bin"), None, &fast()).unwrap();
    let validator = first.starts[0].validator.clone();
    assert!(validator.is_some());

    let mut rec = Recorder { file: data[..1234].to_vec(), ..Recorder::default() };
    let resume = Resume { offset: 1234, validator: validator.clone() };
    rec.run(&peer.url("fw.bin"), Some(&resume), &fast()).unwrap();
    assert_eq!(rec.file, data);
    assert_eq!(rec.starts[0].offset, 1234);
    assert_eq!(rec.starts[0].validator, validator);
    let last = peer.requests().pop().unwrap();
    assert_eq!((last.range.as_deref(), last.if_range, last.status), (Some("bytes=1234-"), validator, 206));
}

#[test]
fn changed_file_with_if_range_starts_over() {
    let (dir, peer, old) = serve(300_000);
    let mut first = Recorder::default();
    first.run(&peer.url("fw.bin"), None, &fast()).unwrap();
    let resume = Resume { offset: 100_000, validator: first.starts[0].validator.clone() };
    let new = content(250_000, 99);
    replace_file(dir.path(), &new);

    let mut rec = Recorder { file: old[..100_000].to_vec(), ..Recorder::default() };
    assert_eq!(rec.run(&peer.url("fw.bin"), Some(&resume), &fast()).unwrap(), Outcome::Complete);
    assert_eq!(rec.starts.len(), 1);
    assert_eq!((rec.starts[0].offset, rec.starts[0].total), (0, 250_000));
    assert_ne!(rec.starts[0].validator, resume.validator);
    assert_eq!(rec.file, new);
    let last = peer.requests().pop().unwrap();
    assert_eq!((last.range.as_deref(), last.status), (Some("bytes=100000-"), 200));
}

#[test]
fn server_ignoring_range_restarts_from_zero() {
    let body = content(5000, 5);
    let answer = body.clone();
    let routes = Router::new().route("/norange.bin", get(move || async move { answer }));
    let (_dir, peer, _) = serve_with(10, routes);
    let mut rec = Recorder { file: body[..3000].to_vec(), ..Recorder::default() };
    let resume = Resume { offset: 3000, validator: None };
    assert_eq!(rec.run(&peer.url("norange.bin"), Some(&resume), &fast()).unwrap(), Outcome::Complete);
    assert_eq!((rec.starts[0].offset, rec.starts[0].total), (0, 5000));
    assert_eq!(rec.file, body);
    assert_eq!(peer.requests()[0].range.as_deref(), Some("bytes=3000-"));
}

#[test]
fn redirect_chains_within_the_limit_are_followed_with_the_range() {
    let (_dir, peer, data) = serve(50_000);
    for path in ["redirect/3/fw.bin", "absredirect/3/fw.bin"] {
        let mut rec = Recorder { file: data[..1000].to_vec(), ..Recorder::default() };
        let resume = Resume { offset: 1000, validator: None };
        let before = peer.requests().len();
        assert_eq!(rec.run(&peer.url(path), Some(&resume), &fast()).unwrap(), Outcome::Complete);
        assert_eq!(rec.file, data);
        let log = &peer.requests()[before..];
        assert_eq!(log.len(), 4, "{log:?}");
        assert!(log.iter().all(|r| r.range.as_deref() == Some("bytes=1000-")), "{log:?}");
        assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), [302, 302, 302, 206]);
    }
    // Exactly at the limit is still fine.
    let opts = Options { max_redirects: 2, ..fast() };
    let mut rec = Recorder::default();
    assert_eq!(rec.run(&peer.url("redirect/2/fw.bin"), None, &opts).unwrap(), Outcome::Complete);
}

#[test]
fn redirect_chain_beyond_the_limit_fails_without_retry() {
    let (_dir, peer, _) = serve(100);
    let mut rec = Recorder::default();
    let err = rec.run(&peer.url("redirect/6/fw.bin"), None, &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::TooManyRedirects(5)), "{err}");
    assert_eq!(peer.requests().len(), 6);
    assert!(rec.starts.is_empty() && rec.retries.is_empty());
}

#[test]
fn redirect_to_another_scheme_is_refused() {
    let routes = Router::new().route(
        "/to-ftp",
        get(|| async { (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "ftp://127.0.0.1/fw.bin")]) }),
    );
    let (_dir, peer, _) = serve_with(10, routes);
    let err = Recorder::default().run(&peer.url("to-ftp"), None, &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::BadRedirect(_)), "{err}");
}

#[test]
fn error_statuses_are_reported_and_not_retried() {
    let (_dir, peer, _) = serve(100);
    for (path, code) in [("status/404", 404), ("status/500", 500), ("missing.bin", 404), ("status/503", 503)]
    {
        let before = peer.requests().len();
        let err = Recorder::default().run(&peer.url(path), None, &fast()).unwrap_err();
        assert!(matches!(err, DownloadError::Status(c) if c == code), "{path}: {err}");
        assert!(err.to_string().contains(&code.to_string()));
        assert_eq!(peer.requests().len(), before + 1, "{path} was retried");
    }
}

#[test]
fn range_past_the_end_is_416_and_at_the_end_is_complete() {
    let (_dir, peer, _) = serve(1000);
    let past = Resume { offset: 2000, validator: None };
    let err = Recorder::default().run(&peer.url("fw.bin"), Some(&past), &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::RangeNotSatisfiable { offset: 2000 }), "{err}");
    assert!(err.to_string().contains("416"));

    let at_end = Resume { offset: 1000, validator: None };
    let mut rec = Recorder { file: vec![0; 1000], ..Recorder::default() };
    assert_eq!(rec.run(&peer.url("fw.bin"), Some(&at_end), &fast()).unwrap(), Outcome::Complete);
    assert_eq!((rec.starts[0].offset, rec.starts[0].total, rec.data_events), (1000, 1000, 0));
}

#[test]
fn cut_mid_body_once_is_retried_from_the_delivered_bytes() {
    let (_dir, peer, data) = serve(1_000_000);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::CutAfter(300_000), Fault::Pass]).unwrap();
    let mut rec = Recorder::default();
    assert_eq!(rec.run(&proxy.url("fw.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert_eq!(rec.file, data);
    assert_eq!(proxy.connections(), 2);
    assert_eq!(rec.retries.len(), 1);
    let (attempt, _, delivered) = rec.retries[0].clone();
    assert_eq!(attempt, 1);
    assert!(delivered > 250_000 && delivered < 300_000, "{delivered}");
    let log = peer.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].range, Some(format!("bytes={delivered}-")));
    assert_eq!(log[1].if_range, rec.starts[0].validator);
    assert_eq!(rec.starts[1].offset, delivered);
}

#[test]
fn cut_on_every_connection_fails_after_one_plus_retries() {
    let (_dir, peer, data) = serve(1_000_000);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::CutAfter(100_000)]).unwrap();
    let mut rec = Recorder::default();
    let err = rec.run(&proxy.url("fw.bin"), None, &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::Truncated { .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(proxy.connections(), 3);
    assert_eq!(rec.retries.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
    // Every byte delivered is the file's: resume made progress on each attempt.
    assert!(rec.file.len() > 250_000);
    assert_eq!(rec.file, data[..rec.file.len()]);

    let no_retry = Options { retries: 0, ..fast() };
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::CutAfter(100_000)]).unwrap();
    assert!(Recorder::default().run(&proxy.url("fw.bin"), None, &no_retry).is_err());
    assert_eq!(proxy.connections(), 1);
}

#[test]
fn reset_and_refused_connections_are_transient() {
    let (_dir, peer, data) = serve(10_000);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::ResetOnConnect, Fault::Pass]).unwrap();
    let mut rec = Recorder::default();
    assert_eq!(rec.run(&proxy.url("fw.bin"), None, &fast()).unwrap(), Outcome::Complete);
    assert_eq!(rec.file, data);
    assert_eq!((proxy.connections(), rec.retries.len()), (2, 1));

    let mut rec = Recorder::default();
    let url = format!("http://{}/fw.bin", closed_port());
    let err = rec.run(&url, None, &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::Connect(_)), "{err}");
    assert_eq!(rec.retries.len(), 2);
}

#[test]
fn stall_hits_the_idle_timeout_then_resumes() {
    let (_dir, peer, data) = serve(500_000);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::StallAfter(100_000), Fault::Pass]).unwrap();
    let opts = Options { recv_timeout: Duration::from_millis(300), ..fast() };
    let started = Instant::now();
    let mut rec = Recorder::default();
    assert_eq!(rec.run(&proxy.url("fw.bin"), None, &opts).unwrap(), Outcome::Complete);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(rec.file, data);
    assert_eq!(rec.retries.len(), 1);
    assert!(rec.retries[0].1.contains("sent nothing"), "{}", rec.retries[0].1);

    let proxy = FaultProxy::start(peer.addr(), vec![Fault::StallAfter(100_000)]).unwrap();
    let opts = Options { retries: 0, ..opts };
    let err = Recorder::default().run(&proxy.url("fw.bin"), None, &opts).unwrap_err();
    assert!(matches!(err, DownloadError::IdleTimeout(_)), "{err}");
}

#[test]
fn slow_but_steady_link_is_not_a_timeout() {
    // 150 KB at 100 KB/s takes ~1.5 s, longer than the 1 s idle timeout as a whole; the
    // gaps between pieces (~0.1 s) are far shorter.
    let (_dir, peer, data) = serve(150_000);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::Throttle(100_000)]).unwrap();
    let opts = Options { recv_timeout: Duration::from_secs(1), retries: 0, ..fast() };
    let started = Instant::now();
    let mut rec = Recorder::default();
    assert_eq!(rec.run(&proxy.url("fw.bin"), None, &opts).unwrap(), Outcome::Complete);
    assert_eq!(rec.file, data);
    assert!(started.elapsed() > Duration::from_secs(1), "{:?}", started.elapsed());
}

#[test]
fn content_length_larger_than_the_body_never_yields_extra_bytes() {
    let (_dir, peer, data) = serve(100_000);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::RewriteContentLength(150_000)]).unwrap();
    let opts = Options { recv_timeout: Duration::from_millis(300), ..fast() };
    let mut rec = Recorder::default();
    let err = rec.run(&proxy.url("fw.bin"), None, &opts).unwrap_err();
    eprintln!("lying Content-Length ends with: {err}");
    assert!(matches!(err, DownloadError::SizeChanged { before: 150_000, now: 100_000 }), "{err}");
    assert_eq!(rec.retries.len(), 1);
    assert_eq!(rec.starts[0].total, 150_000);
    assert_eq!(rec.file, data, "the delivered bytes are exactly the real file");
}

#[test]
fn content_range_mismatches_are_refused() {
    fn partial(range: &'static str) -> impl Fn() -> std::future::Ready<axum::response::Response> + Clone {
        move || {
            std::future::ready(
                (StatusCode::PARTIAL_CONTENT, [(header::CONTENT_RANGE, range)], vec![7u8; 5]).into_response(),
            )
        }
    }
    let routes = Router::new()
        .route("/wrong-start", get(partial("bytes 0-4/10")))
        .route("/short", get(partial("bytes 5-8/10")))
        .route("/no-total", get(partial("bytes 5-9/*")))
        .route("/garbage", get(partial("bytes five-nine/10")))
        .route("/missing", get(|| async { (StatusCode::PARTIAL_CONTENT, vec![7u8; 5]) }));
    let (_dir, peer, _) = serve_with(10, routes);
    let resume = Resume { offset: 5, validator: None };
    for path in ["wrong-start", "short", "no-total", "garbage", "missing"] {
        let mut rec = Recorder { file: vec![0; 5], ..Recorder::default() };
        let err = rec.run(&peer.url(path), Some(&resume), &fast()).unwrap_err();
        assert!(matches!(err, DownloadError::BadContentRange { requested: 5, .. }), "{path}: {err}");
        assert!(rec.starts.is_empty() && rec.data_events == 0, "{path}");
    }
    let requests = peer.requests();
    assert_eq!(requests.len(), 5, "mismatches are not retried");
    assert!(requests.iter().all(|r| r.range.as_deref() == Some("bytes=5-")));
}

#[test]
fn missing_size_and_extra_bytes_are_refused() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec();
    let url = format!("http://{}/fw.bin", raw_server(chunked, 1));
    let err = Recorder::default().run(&url, None, &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::MissingSize), "{err}");
    assert!(err.to_string().contains("size"));

    let mut extra =
        b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nConnection: close\r\n\r\n".to_vec();
    extra.extend_from_slice(&[1u8; 20]);
    let url = format!("http://{}/fw.bin", raw_server(extra, 1));
    let mut rec = Recorder { file: vec![0; 5], ..Recorder::default() };
    let err = rec.run(&url, Some(&Resume { offset: 5, validator: None }), &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::TooMuchData { expected: 5 }), "{err}");
    assert!(rec.file.len() <= 10);

    let mut short =
        b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nConnection: close\r\n\r\n".to_vec();
    short.extend_from_slice(&[1u8; 3]);
    let url = format!("http://{}/fw.bin", raw_server(short, 3));
    let mut rec = Recorder { file: vec![0; 5], ..Recorder::default() };
    let no_retry = Options { retries: 0, ..fast() };
    let err = rec.run(&url, Some(&Resume { offset: 5, validator: None }), &no_retry).unwrap_err();
    assert!(matches!(err, DownloadError::Truncated { received: 3, expected: 5 }), "{err}");
}

#[test]
fn callback_break_cancels_at_once() {
    let (_dir, peer, data) = serve(2_000_000);
    let opts = Options { chunk_size: 4096, ..fast() };
    let mut got = Vec::new();
    let outcome = download(&http(&peer.url("fw.bin")), None, &opts, &mut |e| match e {
        Event::Data(bytes) => {
            got.extend_from_slice(bytes);
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert!(!got.is_empty() && got.len() <= 4096);
    assert_eq!(got, data[..got.len()]);

    let outcome = download(&http(&peer.url("fw.bin")), None, &opts, &mut |e| match e {
        Event::Started(_) => ControlFlow::Break(()),
        _ => panic!("event after a Break"),
    })
    .unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
}

#[test]
fn cancel_token_interrupts_a_stalled_read() {
    let (_dir, peer, _) = serve(500_000);
    let proxy = FaultProxy::start(peer.addr(), vec![Fault::StallAfter(50_000)]).unwrap();
    let opts = Options { recv_timeout: Duration::from_secs(30), ..fast() };
    let token = CancelToken::new();
    let canceller = token.clone();
    let source = http(&proxy.url("fw.bin"));
    let started = Instant::now();
    let worker = thread::spawn(move || {
        let mut rec = Recorder::default();
        download_with_cancel(&source, None, &opts, &token, &mut |e| rec.on(e))
    });
    thread::sleep(Duration::from_millis(300));
    canceller.cancel();
    let outcome = worker.join().unwrap().unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    // A token that already fired stops the download before any request.
    let before = peer.requests().len();
    let outcome = download_with_cancel(&http(&peer.url("fw.bin")), None, &fast(), &canceller, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert_eq!(peer.requests().len(), before);
}

#[test]
fn rate_limit_is_roughly_honoured() {
    let (_dir, peer, data) = serve(64 * 1024);
    let opts = Options { rate_limit: Some(64 * 1024), ..fast() };
    let started = Instant::now();
    let mut rec = Recorder::default();
    assert_eq!(rec.run(&peer.url("fw.bin"), None, &opts).unwrap(), Outcome::Complete);
    assert_eq!(rec.file, data);
    // The first quarter second of traffic is free; the rest takes about 0.75 s. Loose bound.
    assert!(started.elapsed() >= Duration::from_millis(500), "{:?}", started.elapsed());
    assert!(rec.data_events >= 4);
}

#[test]
fn request_carries_identity_encoding_and_the_query() {
    let routes = Router::new().route(
        "/plain.bin",
        get(|headers: HeaderMap| async move {
            let identity = headers.get(header::ACCEPT_ENCODING).is_some_and(|v| v == "identity");
            if identity { (StatusCode::OK, "ok") } else { (StatusCode::BAD_REQUEST, "compressed?") }
        }),
    );
    let (_dir, peer, _) = serve_with(10, routes);
    let mut rec = Recorder::default();
    assert_eq!(rec.run(&peer.url("plain.bin?token=abc&v=2"), None, &fast()).unwrap(), Outcome::Complete);
    assert_eq!(rec.file, b"ok");
    assert_eq!(peer.requests()[0].query.as_deref(), Some("token=abc&v=2"));
}

#[test]
fn invalid_sources_and_options_fail_before_any_request() {
    let (_dir, peer, _) = serve(10);
    let mut source = HttpSource::new(parse_http_url(&peer.url("fw.bin")).unwrap());
    source.url.set_path("/");
    let err = Recorder::default().run_source(&Source::Http(source), None, &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::Url(_)), "{err}");

    let err = Recorder::default().run(&peer.url("fw.bin"), None, &Options { chunk_size: 0, ..fast() });
    assert!(matches!(err, Err(DownloadError::BadOptions(_))));

    let bad = Resume { offset: 1, validator: Some("\"a\r\nX-Evil: 1\"".into()) };
    let err = Recorder::default().run(&peer.url("fw.bin"), Some(&bad), &fast());
    assert!(matches!(err, Err(DownloadError::BadOptions(_))));

    let err = Recorder::default().run_source(
        &https(&peer.url("fw.bin").replace("http:", "https:"), vec![]),
        None,
        &fast(),
    );
    assert!(matches!(err, Err(DownloadError::NoCaCertificates)));
    assert!(peer.requests().is_empty());
}

#[test]
fn https_trusts_exactly_the_given_ca() {
    let (_dir, peer, data) = serve(700_000);
    let tls = TlsProxy::start(peer.addr()).unwrap();
    let ca = vec![tls.ca_der().to_vec()];

    for url in [tls.url("fw.bin"), tls.url_for_host("localhost", "fw.bin")] {
        let mut rec = Recorder::default();
        assert_eq!(rec.run_source(&https(&url, ca.clone()), None, &fast()).unwrap(), Outcome::Complete);
        assert_eq!(rec.file, data);
    }

    let other = TlsProxy::start(peer.addr()).unwrap();
    let before = tls.connections();
    let mut rec = Recorder::default();
    let err =
        rec.run_source(&https(&tls.url("fw.bin"), vec![other.ca_der().to_vec()]), None, &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::Tls(_)), "{err}");
    assert!(rec.retries.is_empty());
    assert_eq!(tls.connections(), before + 1);
}

#[test]
fn https_checks_the_host_name() {
    let (_dir, peer, _) = serve(100);
    let tls = TlsProxy::start_for_names(peer.addr(), &["firmware.example"]).unwrap();
    let source = https(&tls.url("fw.bin"), vec![tls.ca_der().to_vec()]);
    let err = Recorder::default().run_source(&source, None, &fast()).unwrap_err();
    assert!(matches!(err, DownloadError::Tls(_)), "{err}");
    assert!(peer.requests().is_empty());
}

#[test]
fn https_cut_mid_body_resumes() {
    let (_dir, peer, data) = serve(800_000);
    let tls = TlsProxy::start(peer.addr()).unwrap();
    let proxy = FaultProxy::start(tls.addr(), vec![Fault::CutAfter(200_000), Fault::Pass]).unwrap();
    let url = format!("https://127.0.0.1:{}/fw.bin", proxy.addr().port());
    let mut rec = Recorder::default();
    let outcome = rec.run_source(&https(&url, vec![tls.ca_der().to_vec()]), None, &fast()).unwrap();
    assert_eq!(outcome, Outcome::Complete);
    assert_eq!(rec.file, data);
    assert_eq!(rec.retries.len(), 1);
    assert_eq!(proxy.connections(), 2);
    let log = peer.requests();
    assert_eq!(log[1].range, Some(format!("bytes={}-", rec.retries[0].2)));
}

#[test]
fn redirect_from_http_to_https_uses_the_ca() {
    let (_dir, peer, data) = serve(10_000);
    let tls = TlsProxy::start(peer.addr()).unwrap();
    let target = tls.url("fw.bin");
    let routes = Router::new().route(
        "/to-https",
        get(move || {
            let target = target.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }
        }),
    );
    let (_dir2, front, _) = serve_with(10, routes);
    let mut rec = Recorder::default();
    let source = https(&front.url("to-https"), vec![tls.ca_der().to_vec()]);
    assert_eq!(rec.run_source(&source, None, &fast()).unwrap(), Outcome::Complete);
    assert_eq!(rec.file, data);
}
