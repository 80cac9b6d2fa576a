//! AT command syntax for the atfota modem: bytes to lines ([`framer`]), lines to commands
//! ([`parse`], ITU-T V.250 §5 and 3GPP TS 27.007 §4), and responses back to bytes
//! ([`mod@format`]).
//!
//! This crate owns syntax only: it knows nothing of what a command means, of devices, of time or
//! of IO. Everything here is a pure function or a byte-fed state machine, so it must never read a
//! clock, touch a file or socket, panic on input from outside, or let memory grow with the input.
//!
//! ```
//! use atfota_at::{Arg, CmeError, CmeeMode, Frame, Framer, Op, Response, parse_line};
//!
//! let mut framer = Framer::default();
//! let frames: Vec<Frame> = b"AT+CMEE=1;#XFOTA=1,\"http://h/a.bin\"\r\n"
//!     .iter()
//!     .filter_map(|&b| framer.push(b))
//!     .collect();
//! let [Frame::Line(line)] = frames.as_slice() else { panic!("one line expected") };
//! let commands = parse_line(line)?;
//! assert_eq!(commands[1].name, "#XFOTA");
//! let Op::Set(args) = &commands[1].op else { panic!("a set command") };
//! assert_eq!(args.get(1), Some(&Arg::Str("http://h/a.bin".into())));
//! assert_eq!(
//!     Response::cme(CmeError::OPERATION_NOT_ALLOWED).render(CmeeMode::Numeric),
//!     "\r\n+CME ERROR: 3\r\n"
//! );
//! # Ok::<(), atfota_at::ParseError>(())
//! ```

pub mod format;
pub mod framer;
pub mod parse;

pub use format::{CmeError, CmeeMode, Final, Response, line, quote, quote_multiline};
pub use framer::{Frame, Framer, MAX_LINE_LEN};
pub use parse::{Arg, ArgError, Args, Command, Op, ParseError, parse_args, parse_line};
