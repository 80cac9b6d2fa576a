//! The HTTP(S) download loop on top of ureq: one GET per attempt, redirects followed here,
//! transient failures retried from the bytes already delivered, the body streamed through one
//! reused buffer into the caller's callback.
//!
//! Choices, and why:
//! - Idle timeout: ureq 3's `timeout_per_read` restarts for every transport read and covers
//!   the response head, TLS records and the body, which is exactly "no byte for
//!   `recv_timeout`"; the whole-body timeouts (`timeout_recv_body`, `timeout_global`) stay off
//!   so a 256 MiB body may take hours on a throttled link. No transport wrapper is needed.
//! - Redirects are followed here (ureq's `max_redirects(0)`), because ureq would neither keep
//!   `Range`/`If-Range` on the next hop nor let us refuse non-http schemes or count hops our way.
//! - Statuses are never errors inside ureq (`http_status_as_error(false)`): `classify` decides.
//! - Env proxies are ignored: an emulated modem has no host proxy, and tests must be hermetic.
//!
//! It must never buffer the body, allocate per chunk, deliver a byte twice within one response
//! or past the announced size, or log a URL other than through `redacted`.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use atfota_download::{HttpSource, KeyKind, Outcome, Resume, StartInfo, check_http_url, redacted};
use base64::Engine as _;
use ureq::http::Response;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};
use ureq::{Agent, Body};
use url::Url;

use crate::body::{self, Sink};
use crate::cancel::CancelToken;
use crate::error::{DownloadError, Phase, from_ureq};
use crate::event::Event;
use crate::options::Options;
use crate::response::{Head, Verdict, classify};
use crate::retry::{self, Attempts};
use crate::throttle::Throttle;

/// Sent as User-Agent so server logs show who asked.
const USER_AGENT: &str = concat!("atfota/", env!("CARGO_PKG_VERSION"));

/// Downloads `source` as described in the crate docs.
pub(crate) fn download_http(
    source: &HttpSource,
    resume: Option<&Resume>,
    opts: &Options,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<Outcome, DownloadError> {
    check_http_url(&source.url)?;
    opts.check()?;
    if source.url.scheme() == "https" && source.tls.roots.is_empty() {
        return Err(DownloadError::NoCaCertificates);
    }
    let resume = resume.cloned().unwrap_or_default();
    if resume
        .validator
        .as_deref()
        .is_some_and(|v| !v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
    {
        return Err(DownloadError::BadOptions(
            "the resume validator has characters an HTTP header cannot carry",
        ));
    }

    let agent = agent(source, opts);
    if !cancel.attach(&agent) {
        return Ok(Outcome::Cancelled);
    }
    let _detach = Detach(cancel);
    let mut run = Run {
        agent,
        source,
        opts,
        cancel,
        buf: vec![0; opts.chunk_size],
        throttle: opts.rate_limit.map(|rate| Throttle::new(rate, Instant::now())),
        position: resume.offset,
        validator: resume.validator,
        total: None,
    };
    retry::run(&mut run, &redacted(&source.url), opts, cancel, on_event)
}

/// State that carries over from one attempt to the next.
struct Run<'a> {
    agent: Agent,
    source: &'a HttpSource,
    opts: &'a Options,
    cancel: &'a CancelToken,
    /// The one read buffer of the whole download.
    buf: Vec<u8>,
    throttle: Option<Throttle>,
    /// File offset of the next byte to deliver: what a retry asks for.
    position: u64,
    /// Validator of the bytes delivered so far, for `If-Range`.
    validator: Option<String>,
    /// File size reported by the first response of this download.
    total: Option<u64>,
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
    /// One request (with its redirects) and its body.
    fn attempt_once(
        &mut self,
        on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<Outcome, DownloadError> {
        let mut url = self.source.url.clone();
        let mut redirects = 0;
        loop {
            let requested = self.position;
            let response = self.send(&url)?;
            let head = head(&response);
            match classify(&head, requested, self.validator.as_deref())? {
                Verdict::Redirect(location) => {
                    if redirects == self.opts.max_redirects {
                        return Err(DownloadError::TooManyRedirects(self.opts.max_redirects));
                    }
                    redirects += 1;
                    url = follow(&url, location, &self.source.tls.roots)?;
                    log::debug!("redirect {redirects} to {}", redacted(&url));
                }
                Verdict::Body { start, length } => {
                    return self.receive(response, start, length, on_event);
                }
            }
        }
    }

    /// Sends the GET, asking for the rest of the file when some of it is already delivered.
    fn send(&self, url: &Url) -> Result<Response<Body>, DownloadError> {
        let mut request = self.agent.get(url.as_str());
        if self.position > 0 {
            request = request.header("Range", format!("bytes={}-", self.position));
            if let Some(validator) = &self.validator {
                request = request.header("If-Range", validator.as_str());
            }
        }
        let phase = Phase::Request { https: url.scheme() == "https" };
        request.call().map_err(|e| from_ureq(e, phase, self.timeouts()))
    }

    /// Streams `length` body bytes starting at file offset `start.offset` to the callback.
    fn receive(
        &mut self,
        mut response: Response<Body>,
        start: StartInfo,
        length: u64,
        on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<Outcome, DownloadError> {
        // A 206 (or a resume at the end) continues the same file: its size cannot change. Only
        // a 200 starts over, and may bring a new file.
        if start.offset > 0
            && let Some(before) = self.total.filter(|&t| t != start.total)
        {
            return Err(DownloadError::SizeChanged { before, now: start.total });
        }
        self.total = Some(start.total);
        // Set before the callback: whatever it does next, a retry resumes from here.
        self.position = start.offset;
        self.validator.clone_from(&start.validator);
        log::debug!("receiving {length} bytes at {} of {}", start.offset, start.total);
        if on_event(Event::Started(start)).is_break() {
            return Ok(Outcome::Cancelled);
        }
        if length == 0 {
            // Nothing follows (an empty file, or a resume from the very end): never read the
            // body, which may be an error page.
            return Ok(Outcome::Complete);
        }
        let timeouts = self.timeouts();
        let mut reader = response.body_mut().as_reader();
        let sink = Sink {
            buf: &mut self.buf,
            throttle: &mut self.throttle,
            cancel: self.cancel,
            position: &mut self.position,
            link: self.opts.link.as_ref(),
            idle: self.opts.recv_timeout,
        };
        let outcome = body::stream(&mut reader, length, sink, on_event, &mut |e, received| {
            let phase = Phase::Body { received, expected: length };
            from_ureq(ureq::Error::from(e), phase, timeouts)
        })?;
        if matches!(outcome, Outcome::Complete) {
            log::info!("download {} complete", redacted(&self.source.url));
        }
        Ok(outcome)
    }

    fn timeouts(&self) -> (std::time::Duration, std::time::Duration) {
        (self.opts.connect_timeout, self.opts.recv_timeout)
    }
}

/// Detaches the agent from the cancel token when the download returns, however it returns.
struct Detach<'a>(&'a CancelToken);

impl Drop for Detach<'_> {
    fn drop(&mut self) {
        self.0.detach();
    }
}

/// The ureq agent for one download: our timeouts, our roots, no automatic anything.
/// One agent per download: its TLS configuration (the source's roots, and its client
/// identity for mutual TLS; TLS 1.2 and 1.3, rustls with ring) is built here, once.
fn agent(source: &HttpSource, opts: &Options) -> Agent {
    let roots: Vec<Certificate<'static>> =
        source.tls.roots.iter().map(|der| Certificate::from_der(der).to_owned()).collect();
    let client = source.tls.client.as_ref().map(|id| {
        let chain: Vec<Certificate<'static>> =
            id.chain.iter().map(|der| Certificate::from_der(der).to_owned()).collect();
        // ureq names a key's encoding only through its PEM label (its `KeyKind` is private).
        let label = match id.key_kind {
            KeyKind::Sec1 => "EC PRIVATE KEY",
            KeyKind::Pkcs1 => "RSA PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        let pem = format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            base64::engine::general_purpose::STANDARD.encode(&id.key_der)
        );
        match PrivateKey::from_pem(pem.as_bytes()) {
            Ok(key) => Some(ClientCert::new_with_certs(&chain, key)),
            Err(e) => {
                log::warn!("the client key cannot be used ({e}); no client certificate will be presented");
                None
            }
        }
    });
    let client = client.flatten();
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .client_cert(client)
        .build();
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .accept_encoding("identity")
        .user_agent(USER_AGENT)
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_per_read(Some(opts.recv_timeout))
        .timeout_per_write(Some(opts.recv_timeout))
        .tls_config(tls)
        .build()
        .new_agent()
}

/// The header fields `classify` needs; values that are not visible ASCII count as absent.
/// Generic over the body so that the fuzz target can pass the head ureq's parser returns.
pub fn head<B>(response: &Response<B>) -> Head<'_> {
    let field = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    Head {
        status: response.status().as_u16(),
        content_length: field("content-length"),
        content_range: field("content-range"),
        etag: field("etag"),
        last_modified: field("last-modified"),
        location: field("location"),
    }
}

/// Resolves a redirect's Location against the URL that returned it.
fn follow(base: &Url, location: &str, ca_certs: &[Vec<u8>]) -> Result<Url, DownloadError> {
    let mut next = base
        .join(location)
        .map_err(|e| DownloadError::BadRedirect(format!("the Location is not a valid URL ({e})")))?;
    next.set_fragment(None);
    match next.scheme() {
        "http" | "https" => {}
        other => {
            return Err(DownloadError::BadRedirect(format!("it points to an unsupported {other}: URL")));
        }
    }
    if base.scheme() == "https" && next.scheme() == "http" {
        // The image is signed, but a plain hop would still expose the request and its
        // credentials; a firmware server has no reason to downgrade.
        return Err(DownloadError::BadRedirect("it leaves https for plain http".into()));
    }
    if next.host_str().is_none_or(str::is_empty) {
        return Err(DownloadError::BadRedirect("the Location has no host".into()));
    }
    if next.scheme() == "https" && ca_certs.is_empty() {
        return Err(DownloadError::NoCaCertificates);
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_resolves_relative_and_absolute_locations() {
        let base = Url::parse("http://u:p@host:8080/a/b.bin?x=1").unwrap();
        let none: &[Vec<u8>] = &[];
        assert_eq!(follow(&base, "c.bin", none).unwrap().as_str(), "http://u:p@host:8080/a/c.bin");
        assert_eq!(follow(&base, "/d.bin#f", none).unwrap().as_str(), "http://u:p@host:8080/d.bin");
        assert_eq!(follow(&base, "http://other/e.bin", none).unwrap().as_str(), "http://other/e.bin");
        assert_eq!(follow(&base, "//other2/f.bin", none).unwrap().as_str(), "http://other2/f.bin");
    }

    #[test]
    fn follow_refuses_other_schemes_and_https_without_roots() {
        let base = Url::parse("http://host/a.bin").unwrap();
        assert!(matches!(follow(&base, "ftp://host/a.bin", &[]), Err(DownloadError::BadRedirect(_))));
        assert!(matches!(follow(&base, "file:///etc/passwd", &[]), Err(DownloadError::BadRedirect(_))));
        assert!(matches!(follow(&base, "https://host/a.bin", &[]), Err(DownloadError::NoCaCertificates)));
        assert!(follow(&base, "https://host/a.bin", &[vec![0x30]]).is_ok());
        let secure = Url::parse("https://host/a.bin").unwrap();
        assert!(matches!(
            follow(&secure, "http://host/a.bin", &[vec![0x30]]),
            Err(DownloadError::BadRedirect(_))
        ));
        assert!(matches!(follow(&base, "http://[::1", &[]), Err(DownloadError::BadRedirect(_))));
    }
}
