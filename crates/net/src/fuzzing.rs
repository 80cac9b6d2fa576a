//! The parsers of server bytes, exposed to the fuzz targets in `fuzz/` (feature `fuzzing`,
//! which nothing else enables): the FTP reply framer and the values read from reply texts,
//! the fields of an HTTP response head that ureq parsed, and the decision on that head with
//! its `Content-Range` parser.
//!
//! It only re-exports; an API here is no promise to any other caller.

pub use crate::ftp::parse::{epsv_port, modification_time, pasv_address, pasv_target, size};
pub use crate::ftp::reply::{Reply, ReplyReader};
pub use crate::http::head;
pub use crate::response::{ContentRange, Head, Verdict, classify};
