//! Where an FTP download comes from: [`FtpSource`] (server, file, credentials), the parsing of
//! the server parameter of `AT+GTOTA=1,"<server>",...` ([`parse_ftp_server`]), the checks a
//! source passes before any byte is sent, and its form for logs.
//!
//! The server parameter is hand-parsed rather than given to `url::Url`: it is not a URL (a
//! bare `host:port` is the usual form, and a path must be refused, not taken apart), and
//! WHATWG parsing would accept `ftp://user:pw@host/` forms this parameter must not carry. Host
//! names themselves are still checked by `url::Host`. It must never print the password, and
//! never let a line break into a field that becomes a command argument.

use std::fmt;
use std::net::Ipv6Addr;

use url::Host;

use crate::source::UrlError;

/// The well-known FTP control port.
const DEFAULT_PORT: u16 = 21;

/// An FTP file, the server it lives on and the login to fetch it with.
#[derive(Clone, PartialEq, Eq)]
pub struct FtpSource {
    /// Host name or address, as returned by [`parse_ftp_server`] (IPv6 without brackets).
    pub host: String,
    /// Control port, usually 21.
    pub port: u16,
    /// The file's path as the server names it, relative to the login directory unless it
    /// starts with `/`; may contain directories (`fw/pkg.bin`).
    pub path: String,
    /// User name for `USER` (`anonymous` for public servers).
    pub user: String,
    /// Password for `PASS`; never printed.
    pub password: String,
}

/// Parses the server parameter of an FTP download: `host`, `host:port`, `ftp://host`,
/// `ftp://host:port`, `ftp://host:port/` or an IPv6 address in brackets (`[::1]:2121`; a
/// bare IPv6 address without port is accepted too). The default port is 21.
pub fn parse_ftp_server(s: &str) -> Result<(String, u16), UrlError> {
    let authority = match s.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ftp") => rest,
        Some((scheme, _)) if is_scheme(scheme) => return Err(UrlError::NotFtp(scheme.to_ascii_lowercase())),
        Some(_) => return Err(UrlError::BadFtpServer("it is not an address")),
        None => s,
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.contains('/') {
        return Err(UrlError::FtpServerWithPath);
    }
    if authority.contains('@') {
        return Err(UrlError::BadFtpServer(
            "user name and password are separate parameters, not part of the address",
        ));
    }
    if authority.contains(['?', '#']) {
        return Err(UrlError::BadFtpServer("it contains a query or fragment"));
    }
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        None => DEFAULT_PORT,
        Some(text) => parse_port(text)?,
    };
    Ok((host, port))
}

impl FtpSource {
    /// Refuses fields that cannot be sent: empty ones and line breaks (which would inject
    /// commands). Checked before connecting, so a bad source sends nothing.
    pub fn check(&self) -> Result<(), &'static str> {
        let bad = |s: &str| s.contains(['\r', '\n', '\0']);
        if self.host.is_empty() || self.host.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err("the host is empty or has blanks or control characters");
        }
        if self.port == 0 {
            return Err("the port is 0");
        }
        if self.path.is_empty() || bad(&self.path) {
            return Err("the file name is empty or has line breaks");
        }
        if self.user.is_empty() || bad(&self.user) {
            return Err("the user name is empty or has line breaks (use anonymous for public servers)");
        }
        if bad(&self.password) {
            return Err("the password has line breaks");
        }
        Ok(())
    }

    /// The host as `ToSocketAddrs` takes it: IPv6 without brackets.
    pub fn dial_host(&self) -> &str {
        self.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&self.host)
    }

    /// `ftp://host:port/path`, for logs: no user, no password.
    pub fn shown(&self) -> FtpShown<'_> {
        FtpShown(self)
    }
}

impl fmt::Debug for FtpSource {
    /// Everything but the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpSource")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Display adapter returned by [`FtpSource::shown`].
pub struct FtpShown<'a>(&'a FtpSource);

impl fmt::Display for FtpShown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.0.dial_host();
        if host.contains(':') {
            write!(f, "ftp://[{host}]:{}", self.0.port)?;
        } else {
            write!(f, "ftp://{host}:{}", self.0.port)?;
        }
        if !self.0.path.starts_with('/') {
            f.write_str("/")?;
        }
        f.write_str(&self.0.path)
    }
}

/// RFC 3986 scheme syntax: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Splits `host[:port]`, `[v6][:port]` or a bare IPv6 address; checks the host.
fn split_host_port(authority: &str) -> Result<(String, Option<&str>), UrlError> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (inside, after) =
            bracketed.split_once(']').ok_or(UrlError::BadFtpServer("an IPv6 address lacks its closing ]"))?;
        let addr: Ipv6Addr =
            inside.parse().map_err(|_| UrlError::BadFtpServer("the address in brackets is not IPv6"))?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(UrlError::BadFtpServer("only :port may follow ]"))?),
        };
        return Ok((addr.to_string(), port));
    }
    if authority.matches(':').count() > 1 {
        let addr: Ipv6Addr = authority.parse().map_err(|_| {
            UrlError::BadFtpServer("an IPv6 address must be in brackets when a port follows, e.g. [::1]:21")
        })?;
        return Ok((addr.to_string(), None));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(UrlError::BadFtpServer("it has no host"));
    }
    match Host::parse(host) {
        Ok(Host::Domain(name)) => Ok((name, port)),
        Ok(Host::Ipv4(addr)) => Ok((addr.to_string(), port)),
        Ok(Host::Ipv6(addr)) => Ok((addr.to_string(), port)),
        Err(_) => Err(UrlError::BadFtpServer("the host name has characters a host name cannot have")),
    }
}

/// A port: decimal digits only, 1..=65535.
fn parse_port(text: &str) -> Result<u16, UrlError> {
    let bad = UrlError::BadFtpServer("the port must be a number from 1 to 65535");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    text.parse().ok().filter(|&p| p != 0).ok_or(bad)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn source(password: &str) -> FtpSource {
        FtpSource {
            host: "ftp.example.com".into(),
            port: 21,
            path: "fw/pkg.bin".into(),
            user: "modem".into(),
            password: password.into(),
        }
    }

    #[test]
    fn server_table() {
        let ok = |s: &str| parse_ftp_server(s);
        let hp = |h: &str, p: u16| Ok((h.to_owned(), p));
        assert_eq!(ok("host"), hp("host", 21));
        assert_eq!(ok("host:2121"), hp("host", 2121));
        assert_eq!(ok("ftp://host"), hp("host", 21));
        assert_eq!(ok("FTP://Host.Example:2121"), hp("host.example", 2121));
        assert_eq!(ok("ftp://host:2121/"), hp("host", 2121));
        assert_eq!(ok("host/"), hp("host", 21));
        assert_eq!(ok("127.0.0.1:2121"), hp("127.0.0.1", 2121));
        assert_eq!(ok("[::1]:2121"), hp("::1", 2121));
        assert_eq!(ok("ftp://[2001:DB8::1]"), hp("2001:db8::1", 21));
        assert_eq!(ok("::1"), hp("::1", 21));
        assert_eq!(ok("host:65535"), hp("host", 65535));

        assert_eq!(ok("http://host/"), Err(UrlError::NotFtp("http".into())));
        assert_eq!(ok("sftp://host"), Err(UrlError::NotFtp("sftp".into())));
        assert_eq!(ok("HTTPS://host"), Err(UrlError::NotFtp("https".into())));
        assert_eq!(ok("ftp://host/fw.bin"), Err(UrlError::FtpServerWithPath));
        assert_eq!(ok("host:21/dir/"), Err(UrlError::FtpServerWithPath));
        for bad in [
            "",
            "ftp://",
            ":21",
            "ftp://:21",
            "host:",
            "host:0",
            "host:65536",
            "host:+21",
            "host:2 1",
            "user:pw@host",
            "ho st",
            "host?x=1",
            "[::1",
            "[::1]x",
            "[1.2.3.4]:21",
            "::1:99999:zz",
            "1ftp://host",
        ] {
            assert!(matches!(ok(bad), Err(UrlError::BadFtpServer(_))), "{bad:?} -> {:?}", ok(bad));
        }
    }

    #[test]
    fn errors_never_echo_the_input() {
        let input = "ftp://user:hunter2@host";
        let e = parse_ftp_server(input).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn debug_and_log_form_hide_the_password() {
        let s = source("hunter2");
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("modem") && debug.contains("fw/pkg.bin"));
        assert_eq!(s.shown().to_string(), "ftp://ftp.example.com:21/fw/pkg.bin");
        let v6 = FtpSource { host: "::1".into(), path: "/abs.bin".into(), ..s };
        assert_eq!(v6.shown().to_string(), "ftp://[::1]:21/abs.bin");
        assert_eq!(v6.dial_host(), "::1");
        assert_eq!(FtpSource { host: "[::1]".into(), ..v6 }.dial_host(), "::1");
    }

    #[test]
    fn check_refuses_unsendable_fields() {
        assert!(source("").check().is_ok());
        let bad = [
            FtpSource { host: String::new(), ..source("p") },
            FtpSource { host: "a b".into(), ..source("p") },
            FtpSource { port: 0, ..source("p") },
            FtpSource { path: String::new(), ..source("p") },
            FtpSource { path: "a\r\nDELE b".into(), ..source("p") },
            FtpSource { user: String::new(), ..source("p") },
            FtpSource { user: "u\n".into(), ..source("p") },
            source("p\r\nQUIT"),
        ];
        for s in bad {
            let e = s.check().unwrap_err();
            assert!(!e.contains("QUIT"), "{s:?}: {e}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            if let Ok((host, port)) = parse_ftp_server(&s) {
                prop_assert!(!host.is_empty() && port != 0);
                prop_assert!(!host.contains(['/', '@', ' ']));
            }
        }

        #[test]
        fn generated_servers_round_trip(
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5})?",
            port in proptest::option::of(1u16..),
            scheme in any::<bool>(),
            slash in any::<bool>(),
        ) {
            let text = format!(
                "{}{host}{}{}",
                if scheme { "ftp://" } else { "" },
                port.map(|p| format!(":{p}")).unwrap_or_default(),
                if slash { "/" } else { "" },
            );
            prop_assert_eq!(parse_ftp_server(&text), Ok((host.clone(), port.unwrap_or(21))));
        }
    }
}
