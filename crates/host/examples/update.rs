//! Updates a modem from the command line with the host library, printing every event.
//!
//! Against the emulator:
//!
//! ```sh
//! atfota modem --data /tmp/dev --listen pty:/tmp/modem &
//! cargo run -p atfota-host --example update -- /tmp/modem nrf9160-slm http://127.0.0.1:8080/app.bin
//! ```
//!
//! `PORT` is a device path with an optional `@BAUD`, or `tcp:HOST:PORT`; the exit code is the
//! one `atfota update` gives.

use std::process::ExitCode;
use std::time::Duration;

use atfota_host::{Event, PortConnector, Profile, Request, Timeouts, Updater};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, profile, url] = args.as_slice() else {
        eprintln!("usage: update PORT nrf9160-slm|nl668 URL");
        return ExitCode::from(2);
    };
    let (port, profile) = match (port.parse(), profile.parse::<Profile>()) {
        (Ok(port), Ok(profile)) => (port, profile),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let request = Request::http(profile, url.as_str());
    let timeouts = Timeouts { stall: Duration::from_secs(30), ..Timeouts::default() };
    let outcome =
        Updater::new().timeouts(timeouts).run(&mut PortConnector::new(port), &request, |e| match e {
            Event::Progress { percent } => println!("{percent:>3}%"),
            Event::Sent { line } => println!("-> {line}"),
            Event::Urc { line } => println!("<~ {line}"),
            other => println!("   {other:?}"),
        });
    println!("{outcome}");
    ExitCode::from(outcome.exit_code())
}
