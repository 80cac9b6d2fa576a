//! Fuzz target: FTP control-connection bytes through the reply framer and the parsers of reply
//! texts (`atfota-net`, feature `fuzzing`).
//!
//! Input: `[chunk pattern: 3 bytes][peer: 1 byte]`, then the bytes the server sends. They are
//! fed to `ReplyReader` in chunks the pattern chooses (a read never larger than the space the
//! reader offers, as the socket loop does), and again in one piece; every reply text then goes
//! through the EPSV, PASV, SIZE and MDTM parsers, and a PASV address through `pasv_target`
//! with a control-connection peer the peer byte picks (public or private, v4 or v6).
//!
//! Checks that nothing panics or grows without bound, that the replies and the first error do
//! not depend on the chunking, that the reader always offers space while it waits for bytes,
//! and that every value a parser returns is one its text really states. It keeps no state
//! between inputs.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use atfota_fuzz::input;
use atfota_net::fuzzing::{
    Reply, ReplyReader, epsv_port, modification_time, pasv_address, pasv_target, size,
};
use libfuzzer_sys::fuzz_target;

/// The reader's buffer, which is also its longest line (`crates/net/src/ftp/reply.rs`).
const LINE_LIMIT: usize = 0x1000;

fuzz_target!(|data: &[u8]| {
    let ([p0, p1, p2, peer], bytes) = input::header::<4>(data);
    let chunked = replies(input::chunks(&[p0, p1, p2], bytes));
    let whole = replies(std::iter::once(bytes).filter(|b| !b.is_empty()));
    assert_eq!(chunked, whole, "the replies depend on the chunking");
    let (replies, _error) = chunked;
    let line_ends = bytes.iter().filter(|&&b| b == b'\n').count();
    assert!(replies.len() <= line_ends, "{} replies from {line_ends} line ends", replies.len());
    for reply in &replies {
        check_reply(reply);
        check_texts(&reply.text, peer);
    }
});

/// The replies read from `chunks`, then the first error as text (the reader is not used after
/// an error, as the client drops the connection).
fn replies<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<Reply>, Option<String>) {
    let mut reader = ReplyReader::new();
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest = chunk;
        while !rest.is_empty() {
            let space = reader.unfilled();
            assert!(!space.is_empty(), "the reader waits for bytes but offers no space");
            let n = space.len().min(rest.len());
            space[..n].copy_from_slice(&rest[..n]);
            reader.filled(n);
            rest = &rest[n..];
            loop {
                match reader.poll_reply() {
                    Ok(Some(reply)) => out.push(reply),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e.to_string())),
                }
            }
        }
    }
    (out, None)
}

fn check_reply(reply: &Reply) {
    assert!((100..600).contains(&reply.code), "reply code {} out of 100..=599", reply.code);
    let class = reply.code / 100;
    assert_eq!(reply.is_preliminary(), class == 1, "{reply:?}");
    assert_eq!(reply.is_complete(), class == 2, "{reply:?}");
    assert_eq!(reply.is_transient_refusal(), class == 4, "{reply:?}");
    let text = &reply.text;
    assert_eq!(text.trim(), text, "untrimmed reply text");
    assert!(!text.chars().any(char::is_control), "control character in {text:?}");
    // Each byte of the line becomes at most one character (U+FFFD for invalid UTF-8).
    assert!(text.chars().count() <= LINE_LIMIT, "reply text longer than a line");
}

fn check_texts(text: &str, peer: u8) {
    if let Some(port) = epsv_port(text) {
        assert_ne!(port, 0, "EPSV port 0 from {text:?}");
        assert!(text.contains(&port.to_string()), "EPSV port {port} not in {text:?}");
    }
    if let Some(announced) = pasv_address(text) {
        assert_ne!(announced.port(), 0, "PASV port 0 from {text:?}");
        let peer = peer_address(peer);
        let target = pasv_target(announced, peer);
        assert_eq!(target.port(), announced.port(), "pasv_target changed the port");
        let ip = target.ip();
        assert!(ip == IpAddr::V4(*announced.ip()) || ip == peer.ip(), "pasv_target invented {ip}");
        if announced.ip().is_unspecified() {
            assert_eq!(ip, peer.ip(), "an unspecified PASV address was kept");
        }
    }
    if let Some(n) = size(text) {
        assert_eq!(text.parse::<u64>().ok(), Some(n), "SIZE {n} from {text:?}");
        assert!(text.bytes().all(|b| b.is_ascii_digit()), "SIZE accepted {text:?}");
    }
    if let Some(time) = modification_time(text) {
        assert_eq!(time, text, "MDTM must keep the text as it is");
        let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
        assert!(whole.len() == 14 && whole.bytes().all(|b| b.is_ascii_digit()), "MDTM accepted {text:?}");
        assert!(
            !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit()),
            "MDTM accepted {text:?}"
        );
    }
}

/// The control connection's peer: public or private, IPv4 or IPv6, by the peer byte.
fn peer_address(byte: u8) -> SocketAddr {
    let ip = match byte & 0x03 {
        0 => IpAddr::V4(Ipv4Addr::new(93, 184, 216, byte)),
        1 => IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        2 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, byte)),
        _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0x4860, 0, 0, 0, 0, 0, u16::from(byte))),
    };
    SocketAddr::new(ip, 21)
}
