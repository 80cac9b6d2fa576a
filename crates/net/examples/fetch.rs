//! Downloads one URL into a file the way the modem does (chunks written as they arrive), for
//! comparing wall time and peak memory with `curl -o` against the same server, and for the
//! FTP interop checks:
//! `cargo run --release -p atfota-net --example fetch -- [--resume] URL OUT [CA.der]`.
//!
//! URL is `http(s)://...` or `ftp://user:password@host[:port]/path` (user, password and path
//! percent-decoded). `--resume` continues an existing OUT from its length (REST or Range).

use std::fs::File;
use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Instant;

use atfota_net::{
    Event, FtpSource, HttpSource, Options, Resume, Source, download, parse_ftp_server, parse_http_url,
};

fn main() -> ExitCode {
    match fetch() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Display, not Debug: the message is the sentence a user acts on.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fetch() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let resume_wanted = args.iter().any(|a| a == "--resume");
    args.retain(|a| a != "--resume");
    let mut args = args.into_iter();
    let (Some(url), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: fetch [--resume] URL OUT [CA.der]".into());
    };
    let source = if url.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("ftp://")) {
        Source::Ftp(ftp_source(&url[6..])?)
    } else {
        let roots = args.next().map(std::fs::read).transpose()?.into_iter().collect();
        let mut source = HttpSource::new(parse_http_url(&url)?);
        source.tls.roots = roots;
        Source::Http(source)
    };
    let existing = if resume_wanted { std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) } else { 0 };
    let resume = (existing > 0).then_some(Resume { offset: existing, validator: None });
    let mut file = if existing > 0 { File::options().append(true).open(&out)? } else { File::create(&out)? };

    let mut written: u64 = 0;
    let mut failed = None;
    let started = Instant::now();
    let outcome = download(&source, resume.as_ref(), &Options::default(), &mut |event| {
        match event {
            Event::Started(start) => {
                eprintln!("started at byte {} of {}", start.offset, start.total);
                // A restart from an earlier offset (REST refused, file changed) rewrites the file.
                if let Err(e) = file.set_len(start.offset) {
                    failed = Some(e);
                    return ControlFlow::Break(());
                }
            }
            Event::Data(bytes) => {
                if let Err(e) = file.write_all(bytes) {
                    failed = Some(e);
                    return ControlFlow::Break(());
                }
                written += bytes.len() as u64;
            }
            Event::Retrying { attempt, cause } => eprintln!("retry {attempt}: {cause}"),
            _ => {}
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

/// `user:password@host[:port]/path` (after `ftp://`) as an FTP source.
fn ftp_source(rest: &str) -> Result<FtpSource, Box<dyn std::error::Error>> {
    let slash = rest.find('/').ok_or("an ftp:// URL needs a /path")?;
    let (authority, path) = (&rest[..slash], &rest[slash + 1..]);
    let (login, server) = authority.rsplit_once('@').ok_or("an ftp:// URL needs user:password@")?;
    let (user, password) = login.split_once(':').unwrap_or((login, ""));
    let (host, port) = parse_ftp_server(server)?;
    Ok(FtpSource {
        host,
        port,
        path: percent_decoded(path)?,
        user: percent_decoded(user)?,
        password: percent_decoded(password)?,
    })
}

/// RFC 3986 percent-decoding, UTF-8 result.
fn percent_decoded(text: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex =
            [bytes.next().ok_or("a % escape is cut short")?, bytes.next().ok_or("a % escape is cut short")?];
        out.push(u8::from_str_radix(std::str::from_utf8(&hex)?, 16)?);
    }
    Ok(String::from_utf8(out)?)
}
