//! Command-line shell around atfota-delta, used by `testdata/delta/make-fixtures.sh` and for
//! measurements:
//!
//! ```text
//! delta create FROM TO OUT [--compression none|lzma|heatshrink] [--heatshrink WINDOW,LOOKAHEAD] [--fast]
//! delta apply FROM PATCH OUT
//! delta info PATCH
//! ```
//!
//! `apply` streams: the old firmware is read in place, the patch and the new firmware go
//! through small buffers, so its peak memory is that of the library's `apply`.

use std::error::Error;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::process::ExitCode;

use atfota_delta::{Compression, CreateOptions, FileAt, HeatshrinkParams, Limits, MAX_HEADER_LEN};

const USAGE: &str = "usage:
  delta create FROM TO OUT [--compression none|lzma|heatshrink] [--heatshrink WINDOW,LOOKAHEAD] [--fast]
  delta apply FROM PATCH OUT
  delta info PATCH";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("delta: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Box<dyn Error>> {
    match args.first().map(String::as_str) {
        Some("create") => create(&args[1..]),
        Some("apply") => apply(&args[1..]),
        Some("info") => info(&args[1..]),
        _ => Err(USAGE.into()),
    }
}

fn create(args: &[String]) -> Result<(), Box<dyn Error>> {
    let [from, to, out, flags @ ..] = args else { return Err(USAGE.into()) };
    let mut opts = CreateOptions::default();
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        match flag.as_str() {
            "--compression" | "-c" => opts.compression = flags.next().ok_or(USAGE)?.parse::<Compression>()?,
            "--heatshrink" => {
                let value = flags.next().ok_or(USAGE)?;
                let (w, l) = value.split_once(',').ok_or("--heatshrink takes WINDOW,LOOKAHEAD (e.g. 8,7)")?;
                opts.heatshrink = Some(HeatshrinkParams::new(w.parse()?, l.parse()?)?);
            }
            "--fast" => opts.thorough = false,
            other => return Err(format!("unknown option {other:?}\n{USAGE}").into()),
        }
    }
    let patch = atfota_delta::create(&std::fs::read(from)?, &std::fs::read(to)?, &opts)?;
    std::fs::write(out, &patch)?;
    println!("{} bytes", patch.len());
    Ok(())
}

fn apply(args: &[String]) -> Result<(), Box<dyn Error>> {
    let [from, patch, out] = args else { return Err(USAGE.into()) };
    let mut from = FileAt::new(File::open(from)?)?;
    let patch = BufReader::new(File::open(patch)?);
    let mut to = BufWriter::new(File::create(out)?);
    let limits = Limits { max_to_size: u64::MAX, ..Limits::default() };
    let size = atfota_delta::apply(&mut from, patch, &mut to, &limits)?;
    println!("{size} bytes");
    Ok(())
}

fn info(args: &[String]) -> Result<(), Box<dyn Error>> {
    let [patch] = args else { return Err(USAGE.into()) };
    let mut start = Vec::with_capacity(MAX_HEADER_LEN);
    File::open(patch)?.take(MAX_HEADER_LEN as u64).read_to_end(&mut start)?;
    let info = atfota_delta::patch_info(&start)?;
    println!("compression: {}", info.compression.name());
    println!("to size: {}", info.to_size);
    if let Some(hs) = info.heatshrink {
        println!("heatshrink: window 2^{}, lookahead 2^{}", hs.window_sz2(), hs.lookahead_sz2());
    }
    if let Some(dict) = info.lzma_dict_size {
        println!("lzma dictionary: {dict} bytes");
    }
    Ok(())
}
