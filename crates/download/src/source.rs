//! Where a download comes from: the [`Source`] and [`HttpSource`] types, the validation of
//! http(s) URLs (the rules the nRF SLM applies to `AT#XFOTA` URLs), and a redacted form of a
//! URL for logs. FTP sources live in `ftp`; [`UrlError`] covers both.
//!
//! It must never let a URL with credentials reach a log line: [`redacted`] is the only way URLs
//! are printed, here and by the clients.

use std::fmt;

use url::Url;

use crate::ftp::FtpSource;
use crate::tls::TlsCredentials;

/// A place to download a firmware image from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// An `http://` or `https://` URL.
    Http(HttpSource),
    /// A file on an FTP server, with the login to fetch it.
    Ftp(FtpSource),
}

/// An HTTP or HTTPS file, with what HTTPS trusts and presents.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSource {
    /// The file's URL, as returned by [`parse_http_url`].
    pub url: Url,
    /// For `https`: the root CAs trusted (exactly these, no built-in roots) and the client
    /// identity for mutual TLS.
    pub tls: TlsCredentials,
}

impl HttpSource {
    /// A plain source for `url` (no TLS credentials: `https` then fails to verify).
    pub fn new(url: Url) -> Self {
        Self { url, tls: TlsCredentials::default() }
    }
}

/// Why a URL cannot be downloaded from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The text is not a URL at all.
    #[error("the URL is malformed ({0}); write it as http://host[:port]/path")]
    Malformed(url::ParseError),
    /// The scheme is not http or https.
    #[error("the URL scheme {0:?} is not supported; use http:// or https://")]
    UnsupportedScheme(String),
    /// There is no host name or address.
    #[error("the URL has no host; write it as http://host[:port]/path")]
    MissingHost,
    /// The path is empty or just `/`, so no file is named.
    #[error("the URL names no file; add the image's path, e.g. http://host/app_update.bin")]
    MissingPath,
    /// An FTP server address with a scheme other than `ftp://`.
    #[error("the server address has the scheme {0:?}; an FTP server is host[:port] or ftp://host[:port]")]
    NotFtp(String),
    /// An FTP server address with a path after the host.
    #[error(
        "the FTP server address contains a path; give only host[:port] and pass the file name \
         as its own parameter"
    )]
    FtpServerWithPath,
    /// An FTP server address that is not `host[:port]`.
    #[error("the FTP server address is not valid ({0}); write it as host, host:port or ftp://host:port")]
    BadFtpServer(&'static str),
}

/// Parses and checks an http(s) URL: scheme http|https, a host, a path other than `/`.
/// The query is kept; a fragment is dropped since it is never sent to a server.
pub fn parse_http_url(s: &str) -> Result<Url, UrlError> {
    let mut url = Url::parse(s).map_err(|e| match e {
        url::ParseError::EmptyHost => UrlError::MissingHost,
        other => UrlError::Malformed(other),
    })?;
    // WHATWG parsing reads "http:///fw.bin" as host "fw.bin" and no path; the writer meant
    // an empty host.
    if matches!(url.scheme(), "http" | "https")
        && s.trim_start().split_once("://").is_some_and(|(_, rest)| rest.starts_with('/'))
    {
        return Err(UrlError::MissingHost);
    }
    check_http_url(&url)?;
    url.set_fragment(None);
    Ok(url)
}

/// The checks of [`parse_http_url`] on an already parsed URL (sources have public fields).
pub fn check_http_url(url: &Url) -> Result<(), UrlError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::UnsupportedScheme(url.scheme().to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::MissingHost);
    }
    if matches!(url.path(), "" | "/") {
        return Err(UrlError::MissingPath);
    }
    Ok(())
}

/// A URL safe to log: scheme, host, port and path only (no userinfo, no query).
pub fn redacted(url: &Url) -> Redacted<'_> {
    Redacted(url)
}

/// Display adapter returned by [`redacted`].
pub struct Redacted<'a>(&'a Url);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        write!(f, "{}://", url.scheme())?;
        // Url::host keeps the brackets of IPv6 literals in its Display.
        if let Some(host) = url.host() {
            write!(f, "{host}")?;
        }
        if let Some(port) = url.port() {
            write!(f, ":{port}")?;
        }
        f.write_str(url.path())?;
        if url.query().is_some() {
            // The query may carry tokens; say it exists without printing it.
            f.write_str("?…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for HttpSource {
    /// Redacted like the logs: a Debug print must not leak credentials either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSource")
            .field("url", &format_args!("{}", redacted(&self.url)))
            .field("tls", &self.tls)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn url_table() {
        let ok = |s: &str| parse_http_url(s).map(|u| u.to_string());
        assert_eq!(ok("http://host/fw.bin"), Ok("http://host/fw.bin".into()));
        assert_eq!(ok("https://host/a/b.bin"), Ok("https://host/a/b.bin".into()));
        assert_eq!(ok("http://host/fw.bin?v=2&k=x"), Ok("http://host/fw.bin?v=2&k=x".into()));
        assert_eq!(ok("http://host:8080/fw.bin"), Ok("http://host:8080/fw.bin".into()));
        assert_eq!(ok("http://host:80/fw.bin"), Ok("http://host/fw.bin".into()));
        assert_eq!(ok("http://[::1]:8080/fw.bin"), Ok("http://[::1]:8080/fw.bin".into()));
        assert_eq!(ok("http://127.0.0.1/fw.bin#frag"), Ok("http://127.0.0.1/fw.bin".into()));
        assert_eq!(ok("HTTP://Host/fw.bin"), Ok("http://host/fw.bin".into()));

        assert_eq!(parse_http_url("ftp://host/fw.bin"), Err(UrlError::UnsupportedScheme("ftp".into())));
        assert_eq!(parse_http_url("file:///fw.bin"), Err(UrlError::UnsupportedScheme("file".into())));
        assert_eq!(parse_http_url("http:///fw.bin"), Err(UrlError::MissingHost));
        assert_eq!(parse_http_url("http://host"), Err(UrlError::MissingPath));
        assert_eq!(parse_http_url("http://host/"), Err(UrlError::MissingPath));
        assert_eq!(parse_http_url("http://host:99/?q=1"), Err(UrlError::MissingPath));
        assert!(matches!(parse_http_url("host/fw.bin"), Err(UrlError::Malformed(_))));
        assert!(matches!(parse_http_url("http://host:99999/f"), Err(UrlError::Malformed(_))));
        assert!(matches!(parse_http_url(""), Err(UrlError::Malformed(_))));
    }

    #[test]
    fn port_and_ipv6_host_are_kept() {
        let url = parse_http_url("https://[2001:db8::1]:8443/fw.bin").unwrap();
        assert_eq!(url.port(), Some(8443));
        assert_eq!(url.host_str(), Some("[2001:db8::1]"));
    }

    #[test]
    fn redaction_drops_userinfo_and_query() {
        let url = parse_http_url("https://user:secret@host:8443/fw.bin?token=abc").unwrap();
        let shown = redacted(&url).to_string();
        assert_eq!(shown, "https://host:8443/fw.bin?…");
        let source = HttpSource { url, tls: TlsCredentials { roots: vec![vec![0x30]], client: None } };
        let debug = format!("{source:?}");
        assert!(!debug.contains("secret") && !debug.contains("user") && !debug.contains("abc"));
        let ipv6 = parse_http_url("http://[::1]/f").unwrap();
        assert_eq!(redacted(&ipv6).to_string(), "http://[::1]/f");
    }

    #[test]
    fn errors_are_sentences() {
        for e in [
            UrlError::UnsupportedScheme("ftp".into()),
            UrlError::MissingHost,
            UrlError::MissingPath,
            UrlError::Malformed(url::ParseError::InvalidPort),
        ] {
            let text = e.to_string();
            assert!(text.starts_with("the URL"), "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_urls_satisfy_the_rules(s in "\\PC{0,60}") {
            if let Ok(url) = parse_http_url(&s) {
                prop_assert!(matches!(url.scheme(), "http" | "https"));
                prop_assert!(url.host_str().is_some());
                prop_assert!(url.path() != "/");
                prop_assert!(url.fragment().is_none());
            }
        }

        #[test]
        fn generated_urls_round_trip(
            https in any::<bool>(),
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5})?",
            port in proptest::option::of(1u16..),
            path in "(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,7}){1,3}",
            query in proptest::option::of("[a-z]{1,5}=[a-z0-9]{0,5}"),
        ) {
            let scheme = if https { "https" } else { "http" };
            let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query_text = query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
            let text = format!("{scheme}://{host}{port_text}{path}{query_text}");
            let url = parse_http_url(&text).unwrap();
            prop_assert_eq!(url.host_str(), Some(host.as_str()));
            prop_assert_eq!(url.path(), path.as_str());
            prop_assert_eq!(url.query(), query.as_deref());
            prop_assert_eq!(url.port_or_known_default(), port.or(Some(if https { 443 } else { 80 })));
            prop_assert_eq!(parse_http_url(url.as_str()), Ok(url.clone()));
        }
    }
}
