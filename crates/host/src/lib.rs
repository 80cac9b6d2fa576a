//! The host side of atfota: drive a real or emulated modem through a whole FOTA over a serial
//! port, a pseudo-terminal, TCP or any byte stream.
//!
//! - [`Updater`] runs an update to its end over a port a [`Connector`] opens ([`PortConnector`]
//!   for `PATH[@BAUD]` and `tcp:HOST:PORT`, or a closure for anything else) and reports
//!   [`Event`]s to a callback; the [`Outcome`] carries the exit code `atfota update` uses.
//! - [`Campaign`] runs one update against many modems, at most K at once, and tallies the
//!   outcomes ([`Report`], [`Tally`]).
//! - [`Update`] is the sans-IO state machine inside it, for hosts with their own IO loop.
//! - [`Session`] is a low-level AT session for scripting a conversation by hand.
//!
//! This crate never reads a clock inside [`Update`], keeps no global state, and never shows a
//! password: events carry command lines with passwords masked.
//!
//! ```no_run
//! use atfota_host::{PortConnector, Profile, Request, Updater};
//!
//! let mut port = PortConnector::new("/dev/ttyACM0@115200".parse()?);
//! let request = Request::http(Profile::Nl668, "http://192.0.2.1/fw/pkg.bin");
//! let outcome = Updater::new().run(&mut port, &request, |e| eprintln!("{e:?}"));
//! std::process::exit(outcome.exit_code().into());
//! # Ok::<(), String>(())
//! ```

pub mod campaign;
mod driver;
pub mod machine;
mod outcome;
pub mod port;
mod request;
pub mod session;
pub mod update;
mod wire;

pub use campaign::{Campaign, Report, Tally};
pub use driver::Updater;
pub use machine::{Output, Update};
pub use outcome::{Event, Outcome};
pub use port::{Channel, Connector, Link, PortConnector, PortSpec, Received};
pub use request::{Profile, Request, Source, Target, Timeouts};
pub use session::{Direction, Reply, Session, SessionError, UrcFilter};
