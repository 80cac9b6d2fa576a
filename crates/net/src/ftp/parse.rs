//! The values inside FTP reply texts: the port of a `229` (EPSV, RFC 2428), the address of a
//! `227` (PASV, RFC 959), the size of a `213` to SIZE and the time of a `213` to MDTM
//! (RFC 3659), and where a passive data connection really goes.
//!
//! Pure functions over text; they must never trust a number without range-checking it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

/// The port of an EPSV reply text: `Entering Extended Passive Mode (|||6446|)`, where `|`
/// may be any printable delimiter.
pub fn epsv_port(text: &str) -> Option<u16> {
    let inner = &text[text.find('(')? + 1..];
    let mut chars = inner.chars();
    let delimiter = chars.next().filter(|c| c.is_ascii_graphic() && !c.is_ascii_digit())?;
    let rest = chars.as_str().strip_prefix(delimiter)?.strip_prefix(delimiter)?;
    let (port, tail) = rest.split_once(delimiter)?;
    if !tail.starts_with(')') {
        return None;
    }
    digits(port)?.parse().ok().filter(|&p| p != 0)
}

/// The address of a PASV reply text: the first six comma-separated numbers, with or without
/// the parentheses some servers leave out.
pub fn pasv_address(text: &str) -> Option<SocketAddrV4> {
    let bytes = text.as_bytes();
    (0..bytes.len())
        .filter(|&i| bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()))
        .find_map(|i| six_numbers(&text[i..]))
}

/// The size in a `213` reply to SIZE.
pub fn size(text: &str) -> Option<u64> {
    digits(text)?.parse().ok()
}

/// The time in a `213` reply to MDTM, `YYYYMMDDHHMMSS[.sss]`, kept as text: it is only ever
/// compared for equality.
pub fn modification_time(text: &str) -> Option<&str> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    (whole.len() == 14 && digits(whole).is_some() && digits(fraction).is_some()).then_some(text)
}

/// Where to open a PASV data connection announced as `announced`, given the control
/// connection's `peer`.
///
/// A server behind NAT often announces its private address (or 0.0.0.0) because it does not
/// know its public one; connecting there fails or, worse, reaches another host on the client's
/// own network. So, as FileZilla and curl do, an announced address that is unspecified, or
/// that is not publicly routable while the server itself is reached on a public address, is
/// replaced by the control connection's peer address; the port is kept. A private address from
/// a server on a private network is kept: it may be a separate data host.
pub fn pasv_target(announced: SocketAddrV4, peer: SocketAddr) -> SocketAddr {
    let ip = *announced.ip();
    if ip.is_unspecified() || (!is_public_v4(ip) && is_public(peer.ip())) {
        SocketAddr::new(peer.ip(), announced.port())
    } else {
        SocketAddr::V4(announced)
    }
}

/// `n,n,n,n,n,n` at the start of `text`, each 0..=255, port not 0.
fn six_numbers(text: &str) -> Option<SocketAddrV4> {
    let mut parts = text.splitn(6, ',');
    let mut n = [0u8; 6];
    for (i, slot) in n.iter_mut().enumerate() {
        let part = parts.next()?;
        // The last number may be followed by `).` or text; the others by their comma only.
        let len = if i == 5 { part.bytes().take_while(u8::is_ascii_digit).count() } else { part.len() };
        *slot = digits(&part[..len])?.parse().ok()?;
    }
    let port = u16::from_be_bytes([n[4], n[5]]);
    (port != 0).then(|| SocketAddrV4::new(Ipv4Addr::new(n[0], n[1], n[2], n[3]), port))
}

/// `text` if it is a non-empty run of ASCII digits of reasonable length.
fn digits(text: &str) -> Option<&str> {
    (!text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

/// Whether `ip` is reachable on the public internet (not private, loopback, link-local,
/// shared CGNAT 100.64/10, documentation, broadcast or multicast).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xFE00) == 0xFC00
                || (first & 0xFFC0) == 0xFE80)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (b & 0xC0) == 0x40;
    !(ip.is_unspecified()
        || ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || shared)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn epsv_replies() {
        assert_eq!(epsv_port("Entering Extended Passive Mode (|||6446|)"), Some(6446));
        assert_eq!(epsv_port("Entering extended passive mode (!!!1!)."), Some(1));
        assert_eq!(epsv_port("(|||65535|)"), Some(65535));
        for bad in
            ["(|||0|)", "(|||65536|)", "(||6446|)", "(|||6446)", "(|||64a6|)", "no parens", "(|||-1|)", "("]
        {
            assert_eq!(epsv_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn pasv_replies() {
        let a = |s: &str| pasv_address(s).map(|a| a.to_string());
        assert_eq!(a("Entering Passive Mode (127,0,0,1,195,80)."), Some("127.0.0.1:50000".into()));
        assert_eq!(a("Entering Passive Mode 10,1,2,3,0,21"), Some("10.1.2.3:21".into()));
        assert_eq!(a("=192,168,0,9,4,1"), Some("192.168.0.9:1025".into()));
        assert_eq!(a("Mode 2 (1,2,3,4,5,6)"), Some("1.2.3.4:1286".into()));
        for bad in ["(256,0,0,1,1,1)", "(1,2,3,4,0,0)", "(1,2,3,4,5)", "nothing", ""] {
            assert_eq!(pasv_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn size_and_time() {
        assert_eq!(size("123456789"), Some(123_456_789));
        assert_eq!(size("0"), Some(0));
        for bad in ["", "12 bytes", "-1", "99999999999999999999999"] {
            assert_eq!(size(bad), None, "{bad}");
        }
        assert_eq!(modification_time("20240131235959"), Some("20240131235959"));
        assert_eq!(modification_time("20240131235959.123"), Some("20240131235959.123"));
        for bad in ["2024013123595", "20240131235959.", "2024-01-31", ""] {
            assert_eq!(modification_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn pasv_target_table() {
        let v4 = |s: &str| s.parse::<SocketAddrV4>().unwrap();
        let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
        let cases = [
            // (announced, control peer, connect to)
            ("0.0.0.0:5000", "127.0.0.1:21", "127.0.0.1:5000"),
            ("0.0.0.0:5000", "10.0.0.1:21", "10.0.0.1:5000"),
            ("192.168.1.2:5000", "93.184.216.34:21", "93.184.216.34:5000"),
            ("10.0.0.7:5000", "93.184.216.34:21", "93.184.216.34:5000"),
            ("100.64.3.4:5000", "93.184.216.34:21", "93.184.216.34:5000"),
            ("127.0.0.1:5000", "[2001:4860::1]:21", "[2001:4860::1]:5000"),
            ("192.168.1.2:5000", "192.168.1.1:21", "192.168.1.2:5000"),
            ("127.0.0.1:5000", "127.0.0.1:21", "127.0.0.1:5000"),
            ("93.184.216.35:5000", "93.184.216.34:21", "93.184.216.35:5000"),
            ("10.0.0.7:5000", "[fd00::1]:21", "10.0.0.7:5000"),
        ];
        for (announced, peer, expected) in cases {
            assert_eq!(pasv_target(v4(announced), sa(peer)), sa(expected), "{announced} via {peer}");
        }
    }

    proptest! {
        #[test]
        fn formatted_pasv_round_trips(ip in any::<[u8; 4]>(), port in 1u16.., prefix in "[A-Za-z ]{0,20}", parens in any::<bool>()) {
            let [p1, p2] = port.to_be_bytes();
            let numbers = format!("{},{},{},{},{p1},{p2}", ip[0], ip[1], ip[2], ip[3]);
            let text = if parens { format!("{prefix}({numbers}).") } else { format!("{prefix}{numbers}") };
            prop_assert_eq!(pasv_address(&text), Some(SocketAddrV4::new(ip.into(), port)));
        }

        #[test]
        fn formatted_epsv_round_trips(port in 1u16.., delimiter in "[!-/:-~]") {
            let d = delimiter;
            let text = format!("Entering Extended Passive Mode ({d}{d}{d}{port}{d})");
            prop_assert_eq!(epsv_port(&text), Some(port));
        }

        #[test]
        fn parsers_never_panic(text in "\\PC{0,80}") {
            let _ = (epsv_port(&text), pasv_address(&text), size(&text), modification_time(&text));
        }
    }
}
