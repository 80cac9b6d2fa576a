//! Downloads one URL into a file the way the modem does (chunks written as they arrive), for
//! comparing wall time and peak memory with `curl -o` against the same server:
//! `cargo run --release -p atfota-net --example fetch -- URL OUT [CA.der]`.

use std::fs::File;
use std::io::Write;
use std::ops::ControlFlow;
use std::time::Instant;

use atfota_net::{Event, HttpSource, Options, Source, download, parse_http_url};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: fetch URL OUT [CA.der]".into());
    };
    let ca_certs = args.next().map(std::fs::read).transpose()?.into_iter().collect();
    let source = Source::Http(HttpSource { url: parse_http_url(&url)?, ca_certs });
    let mut file = File::create(out)?;
    let mut written: u64 = 0;
    let mut failed = None;
    let started = Instant::now();
    let outcome = download(&source, None, &Options::default(), &mut |event| {
        if let Event::Data(bytes) = event {
            if let Err(e) = file.write_all(bytes) {
                failed = Some(e);
                return ControlFlow::Break(());
            }
            written += bytes.len() as u64;
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    let secs = started.elapsed().as_secs_f64();
    let mib = written as f64 / f64::from(1 << 20);
    eprintln!("{outcome:?}: {mib:.1} MiB in {secs:.3} s ({:.0} MiB/s)", mib / secs);
    Ok(())
}
