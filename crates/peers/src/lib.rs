//! Real servers on loopback for tests and the demo: an HTTP file server that honours `Range`
//! and `If-Range` ([`HttpPeer`]), an FTP server with a user and password ([`FtpPeer`]), a TLS
//! front that terminates HTTPS in front of any TCP server ([`TlsProxy`]) and a TCP proxy that
//! injects faults ([`FaultProxy`]).
//!
//! Every peer binds 127.0.0.1 on a free port, runs on its own threads and stops in a bounded
//! time when dropped. Nothing here is meant for production traffic, and nothing here ever
//! binds a non-loopback address.

pub mod ftp;
mod head;
pub mod http;
pub mod pki;
pub mod proxy;
mod relay;
pub mod tls;

pub use ftp::{FtpPeer, Retrieval};
pub use http::{HttpPeer, RequestLog};
pub use pki::{Leaf, TestCa, Validity};
pub use proxy::{Fault, FaultProxy};
pub use tls::{ServerTls, TlsProxy};
