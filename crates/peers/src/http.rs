//! [`HttpPeer`]: an axum server on its own tokio runtime serving a directory, plus a few
//! routes that make awkward server behaviour on demand (redirect chains, arbitrary status codes)
//! and a log of every request for assertions.
//!
//! Files are served by `tower_http::services::ServeDir`, which implements `Range` and sends
//! `ETag`/`Last-Modified` but does not evaluate `If-Range`; the fallback handler here evaluates
//! `If-Range` against the validators ServeDir itself reports (one HEAD through the same
//! service) and drops `Range` on a mismatch, as RFC 9110 §13.1.5 requires. It must never write
//! into the served directory.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tower_http::services::ServeDir;

/// How long in-flight responses get to finish once the peer is dropped.
const GRACE: Duration = Duration::from_secs(1);
/// Bound on the runtime's own shutdown (blocking file reads still running).
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(500);
/// ServeDir's read size; larger than its 64 KiB default to keep loopback benchmarks honest.
const FILE_CHUNK: usize = 0x4_0000;

/// One request as the server saw it, recorded when its response headers were ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    /// Request method, e.g. `GET`.
    pub method: String,
    /// Request path without the query.
    pub path: String,
    /// Query string without the `?`, if any.
    pub query: Option<String>,
    /// Value of the `Range` header, if sent.
    pub range: Option<String>,
    /// Value of the `If-Range` header, if sent.
    pub if_range: Option<String>,
    /// Status code of the response.
    pub status: u16,
}

/// An HTTP/1.1 server on 127.0.0.1 serving one directory; dropping it stops the server.
///
/// Besides the files: `/redirect/<n>/<path>` (a 302 chain of `n` relative hops ending at
/// `/<path>`), `/absredirect/<n>/<path>` (the same with absolute Locations) and
/// `/status/<code>` (that status, short body).
pub struct HttpPeer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<RequestLog>>>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpPeer {
    /// Serves the files under `root` (plus the built-in routes) on a free loopback port.
    pub fn serve_dir(root: impl Into<PathBuf>) -> io::Result<Self> {
        Self::serve_dir_with(root, Router::new())
    }

    /// Like [`HttpPeer::serve_dir`], with extra routes that take precedence over the files.
    pub fn serve_dir_with(root: impl Into<PathBuf>, routes: Router) -> io::Result<Self> {
        let files = ServeDir::new(root.into()).with_buf_chunk_size(FILE_CHUNK);
        let log = Arc::new(Mutex::new(Vec::new()));
        let app = app(files, routes, Arc::clone(&log));

        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, stopped) = watch::channel(false);
        let thread = thread::Builder::new().name(format!("http-peer-{}", addr.port())).spawn(move || {
            runtime.block_on(run(listener, app, stopped));
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
        })?;
        Ok(Self { addr, log, stop, thread: Some(thread) })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/<path>` (a leading `/` in `path` is optional).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Every request served so far, oldest first.
    pub fn requests(&self) -> Vec<RequestLog> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for HttpPeer {
    fn drop(&mut self) {
        // Receivers live as long as the server task; a send error means it already ended.
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::error!("http peer on {} panicked", self.addr);
        }
    }
}

/// Serves until `stopped` flips, then gives in-flight responses [`GRACE`] to finish.
async fn run(listener: std::net::TcpListener, app: Router, stopped: watch::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            log::error!("http peer cannot listen: {e}");
            return;
        }
    };
    let mut graceful = stopped.clone();
    let mut deadline = stopped;
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        // An error means the sender is gone, which is a stop as well.
        let _ = graceful.wait_for(|stop| *stop).await;
    });
    tokio::select! {
        result = async { server.await } => {
            if let Err(e) = result {
                log::warn!("http peer stopped with an error: {e}");
            }
        }
        () = async {
            let _ = deadline.wait_for(|stop| *stop).await;
            tokio::time::sleep(GRACE).await;
        } => log::debug!("http peer: connections still open after the grace period, closing them"),
    }
}

/// The whole router: built-in routes, the caller's routes, files as fallback, all logged.
fn app(files: ServeDir, routes: Router, log: Arc<Mutex<Vec<RequestLog>>>) -> Router {
    Router::new()
        .route(
            "/redirect/{n}/{*path}",
            get(|Path((n, path)): Path<(u32, String)>| async move { redirect(n, &path, None) }),
        )
        .route(
            "/absredirect/{n}/{*path}",
            get(|Path((n, path)): Path<(u32, String)>, headers: HeaderMap| async move {
                redirect(n, &path, Some(&headers))
            }),
        )
        .route("/status/{code}", get(|Path(code): Path<u16>| async move { status(code) }))
        .merge(routes)
        .fallback(move |request: Request| serve_file(files.clone(), request))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            record(Arc::clone(&log), request, next)
        }))
}

/// Runs the request and appends what was asked and answered to the log.
async fn record(log: Arc<Mutex<Vec<RequestLog>>>, request: Request, next: Next) -> Response {
    let mut entry = entry_for(&request);
    let response = next.run(request).await;
    entry.status = response.status().as_u16();
    log.lock().unwrap_or_else(PoisonError::into_inner).push(entry);
    response
}

/// The log entry for `request`, status still unknown.
fn entry_for(request: &Request) -> RequestLog {
    let text = |name| {
        request.headers().get(name).map(|v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    RequestLog {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        range: text(header::RANGE),
        if_range: text(header::IF_RANGE),
        status: 0,
    }
}

/// One hop of a redirect chain: `n` hops in all, the last one pointing at `/<path>`.
fn redirect(n: u32, path: &str, absolute_for: Option<&HeaderMap>) -> Response {
    if n == 0 {
        return (StatusCode::BAD_REQUEST, "a redirect chain needs at least one hop\n").into_response();
    }
    let next = if n == 1 {
        format!("/{path}")
    } else {
        let prefix = if absolute_for.is_some() { "absredirect" } else { "redirect" };
        format!("/{prefix}/{}/{path}", n - 1)
    };
    let location = match absolute_for {
        None => next,
        Some(headers) => {
            // The Host header is what the client dialled, which is right behind a proxy too.
            let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
                return (StatusCode::BAD_REQUEST, "an absolute redirect needs a Host header\n")
                    .into_response();
            };
            format!("http://{host}{next}")
        }
    };
    (StatusCode::FOUND, [(header::LOCATION, location)], "redirect\n").into_response()
}

/// A response with exactly the status asked for and a short body.
fn status(code: u16) -> Response {
    match StatusCode::from_u16(code) {
        Ok(status) if (200..=599).contains(&code) => (status, format!("status {code}\n")).into_response(),
        _ => (StatusCode::BAD_REQUEST, "the status must be 200..=599\n").into_response(),
    }
}

/// Serves a file through ServeDir after evaluating `If-Range`.
async fn serve_file(mut files: ServeDir, mut request: Request) -> Response {
    if request.headers().contains_key(header::RANGE)
        && let Some(validator) = request.headers().get(header::IF_RANGE).cloned()
        && !if_range_matches(&files, request.uri().clone(), &validator).await
    {
        request.headers_mut().remove(header::RANGE);
    }
    match files.try_call(request).await {
        Ok(response) => response.map(Body::new),
        Err(e) if is_not_found(&e) => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the file: {e}\n")).into_response(),
    }
}

/// The errors ServeDir itself answers with 404 (ENOTDIR: a file used as a directory).
fn is_not_found(e: &io::Error) -> bool {
    const ENOTDIR: i32 = 20;
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied)
        || e.raw_os_error() == Some(ENOTDIR)
}

/// RFC 9110 §13.1.5: an entity tag must match the current strong ETag, a date must equal
/// the current Last-Modified exactly; anything else (weak tags, unknown files) does not match.
async fn if_range_matches(files: &ServeDir, uri: Uri, validator: &HeaderValue) -> bool {
    let Ok(head) = axum::http::Request::builder().method(Method::HEAD).uri(uri).body(Body::empty()) else {
        return false;
    };
    let Ok(current) = files.clone().try_call(head).await else {
        return false;
    };
    if current.status() != StatusCode::OK {
        return false;
    }
    let wanted = validator.as_bytes();
    let name = if wanted.starts_with(b"\"") {
        header::ETAG
    } else if wanted.starts_with(b"W/") {
        return false;
    } else {
        header::LAST_MODIFIED
    };
    current.headers().get(name).is_some_and(|v| v.as_bytes() == wanted)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    /// A raw HTTP/1.1 exchange: returns (status, headers text, body).
    pub(crate) fn fetch(addr: SocketAddr, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n").unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let status = head[9..12].parse().unwrap();
        (status, head, raw[split + 4..].to_vec())
    }

    fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
        head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn peer_with_file(content: &[u8]) -> (tempfile::TempDir, HttpPeer) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fw.bin"), content).unwrap();
        let peer = HttpPeer::serve_dir(dir.path()).unwrap();
        (dir, peer)
    }

    #[test]
    fn serves_whole_file_and_logs_it() {
        let content: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let (_dir, peer) = peer_with_file(&content);
        let (status, head, body) = fetch(peer.addr(), "/fw.bin?x=1", "");
        assert_eq!(status, 200);
        assert_eq!(body, content);
        assert!(header(&head, "etag").is_some());
        let log = peer.requests();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].path, "/fw.bin");
        assert_eq!(log[0].query.as_deref(), Some("x=1"));
        assert_eq!(log[0].status, 200);
        assert_eq!(log[0].range, None);
    }

    #[test]
    fn serves_range_and_records_it() {
        let content: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let (_dir, peer) = peer_with_file(&content);
        let (status, head, body) = fetch(peer.addr(), "/fw.bin", "Range: bytes=9000-\r\n");
        assert_eq!(status, 206);
        assert_eq!(header(&head, "content-range"), Some("bytes 9000-9999/10000"));
        assert_eq!(body, &content[9000..]);
        assert_eq!(peer.requests()[0].range.as_deref(), Some("bytes=9000-"));
    }

    #[test]
    fn range_past_the_end_is_416() {
        let (_dir, peer) = peer_with_file(b"0123456789");
        let (status, _, _) = fetch(peer.addr(), "/fw.bin", "Range: bytes=10-\r\n");
        assert_eq!(status, 416);
    }

    #[test]
    fn if_range_matching_etag_keeps_range_and_stale_one_drops_it() {
        let (_dir, peer) = peer_with_file(b"0123456789");
        let (_, head, _) = fetch(peer.addr(), "/fw.bin", "");
        let etag = header(&head, "etag").unwrap().to_owned();
        let modified = header(&head, "last-modified").unwrap().to_owned();

        let range = "Range: bytes=4-\r\n";
        let (status, _, body) = fetch(peer.addr(), "/fw.bin", &format!("{range}If-Range: {etag}\r\n"));
        assert_eq!((status, body.as_slice()), (206, &b"456789"[..]));
        let (status, _, body) = fetch(peer.addr(), "/fw.bin", &format!("{range}If-Range: {modified}\r\n"));
        assert_eq!((status, body.as_slice()), (206, &b"456789"[..]));
        let (status, _, body) = fetch(peer.addr(), "/fw.bin", &format!("{range}If-Range: \"stale\"\r\n"));
        assert_eq!((status, body.as_slice()), (200, &b"0123456789"[..]));
        let (status, _, _) = fetch(peer.addr(), "/fw.bin", &format!("{range}If-Range: W/{etag}\r\n"));
        assert_eq!(status, 200);
    }

    #[test]
    fn redirect_chain_counts_down_to_the_file() {
        let (_dir, peer) = peer_with_file(b"data");
        let (status, head, _) = fetch(peer.addr(), "/redirect/3/fw.bin", "");
        assert_eq!(status, 302);
        assert_eq!(header(&head, "location"), Some("/redirect/2/fw.bin"));
        let (_, head, _) = fetch(peer.addr(), "/redirect/1/dir/fw.bin", "");
        assert_eq!(header(&head, "location"), Some("/dir/fw.bin"));
        let (_, head, _) = fetch(peer.addr(), "/absredirect/2/fw.bin", "");
        let expected = format!("http://{}/absredirect/1/fw.bin", peer.addr());
        assert_eq!(header(&head, "location"), Some(expected.as_str()));
        let (status, _, _) = fetch(peer.addr(), "/redirect/0/fw.bin", "");
        assert_eq!(status, 400);
    }

    #[test]
    fn status_route_answers_the_code() {
        let (_dir, peer) = peer_with_file(b"x");
        for code in [404u16, 500, 503, 204] {
            let (status, _, _) = fetch(peer.addr(), &format!("/status/{code}"), "");
            assert_eq!(status, code);
        }
        let (status, _, _) = fetch(peer.addr(), "/status/42", "");
        assert_eq!(status, 400);
        let (status, _, _) = fetch(peer.addr(), "/missing.bin", "");
        assert_eq!(status, 404);
    }

    #[test]
    fn extra_routes_take_precedence_and_are_logged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fw.bin"), b"file").unwrap();
        let routes = Router::new().route("/fw.bin", get(|| async { "route" }));
        let peer = HttpPeer::serve_dir_with(dir.path(), routes).unwrap();
        let (status, _, body) = fetch(peer.addr(), "/fw.bin", "");
        assert_eq!((status, body.as_slice()), (200, &b"route"[..]));
        assert_eq!(peer.requests().len(), 1);
    }

    #[test]
    fn url_joins_path() {
        let (_dir, peer) = peer_with_file(b"x");
        let port = peer.addr().port();
        assert_eq!(peer.url("/a/b.bin"), format!("http://127.0.0.1:{port}/a/b.bin"));
        assert_eq!(peer.url("a.bin"), format!("http://127.0.0.1:{port}/a.bin"));
    }

    #[test]
    fn drop_stops_the_server() {
        let (_dir, peer) = peer_with_file(b"x");
        let addr = peer.addr();
        drop(peer);
        assert!(TcpStream::connect(addr).is_err());
    }
}
