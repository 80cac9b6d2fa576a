//! Verifies one MCUboot image file against one trusted public key, streaming it from disk as
//! the device's verifier does (a pure Ed25519 image is read twice): the benchmark's measure of
//! verification throughput per signature type (`bench/download.sh`).
//!
//! Usage: `verify_file IMAGE KEY.pub.pem` (a key as `imgtool getpub -e pem` writes it). Prints
//! the verdict, the digest, the size and the verification time on stdout; exits 1 if the image
//! does not verify, 2 on a usage or IO error.

use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use atfota_image::{TrustedKey, verify_reader};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [image, key] = args.as_slice() else {
        eprintln!("usage: verify_file IMAGE KEY.pub.pem");
        return ExitCode::from(2);
    };
    let key = match std::fs::read_to_string(key)
        .map_err(|e| e.to_string())
        .and_then(|pem| TrustedKey::from_pem(&pem).map_err(|e| e.to_string()))
    {
        Ok(key) => key,
        Err(e) => {
            eprintln!("verify_file: {key}: {e}");
            return ExitCode::from(2);
        }
    };
    let file = match File::open(image) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("verify_file: {image}: {e}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    match verify_reader(file, u64::MAX, &[key]) {
        Ok(verified) => {
            let secs = start.elapsed().as_secs_f64();
            let mib = verified.total_len as f64 / f64::from(1 << 20);
            println!(
                "verified {image}: {} bytes, {} in {secs:.3} s ({:.0} MiB/s)",
                verified.total_len,
                verified.digest,
                mib / secs
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("verify_file: {image} does not verify: {e}");
            ExitCode::from(1)
        }
    }
}
