//! `atfota delta`: make, wrap, inspect and apply modem delta packages on the
//! host. The patch inside is a detools sequential patch (made here by our
//! differ, or by `detools create_patch`); the package around it is ours
//! (docs/FORMATS.md), signed like an application image.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use atfota_delta::{Compression, CreateOptions, Limits};
use atfota_image::{DeltaHeader, DeltaVerifier, ModemFirmware, ModemVersion, SigningKey, TrustedKey};

/// `atfota delta` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Make a signed delta package from two modem firmware images.
    Create {
        /// The firmware the package applies to (export it with `atfota modem-fw export`).
        #[arg(long, value_name = "OLD")]
        from: PathBuf,
        /// The firmware the package produces.
        #[arg(long, value_name = "NEW")]
        to: PathBuf,
        /// Version string of NEW (what `AT+CGMR` shows after the update).
        #[arg(long, value_name = "STRING")]
        to_version: ModemVersion,
        /// Version string of OLD (default: "unknown").
        #[arg(long, value_name = "STRING")]
        from_version: Option<ModemVersion>,
        /// Private key (PKCS#8 PEM from `imgtool keygen`); default: the development key.
        #[arg(long, value_name = "KEY.pem")]
        key: Option<PathBuf>,
        /// Compression of the patch: lzma (default), heatshrink or none.
        #[arg(long, default_value = "lzma")]
        compression: Compression,
        /// Where to write the package.
        #[arg(short, long, value_name = "PKG")]
        output: PathBuf,
    },
    /// Wrap a detools sequential patch made elsewhere (e.g. `detools create_patch`) into a
    /// signed package.
    Pack {
        /// The firmware the patch applies to.
        #[arg(long, value_name = "OLD")]
        from: PathBuf,
        /// The patch.
        #[arg(long, value_name = "FILE.patch")]
        patch: PathBuf,
        /// Version string of the firmware the patch produces.
        #[arg(long, value_name = "STRING")]
        to_version: ModemVersion,
        /// Version string of OLD (default: "unknown").
        #[arg(long, value_name = "STRING")]
        from_version: Option<ModemVersion>,
        /// Private key (PKCS#8 PEM); default: the development key.
        #[arg(long, value_name = "KEY.pem")]
        key: Option<PathBuf>,
        /// Where to write the package.
        #[arg(short, long, value_name = "PKG")]
        output: PathBuf,
    },
    /// Print a package's header and check its signature.
    Info {
        /// The package.
        package: PathBuf,
        /// Public key to check the signature against (repeatable; the development key is
        /// always tried).
        #[arg(long, value_name = "PUB.pem")]
        key: Vec<PathBuf>,
    },
    /// Apply a package's patch to a firmware on the host.
    Apply {
        /// The firmware the package applies to.
        #[arg(long, value_name = "OLD")]
        from: PathBuf,
        /// The package.
        package: PathBuf,
        /// Where to write the new firmware.
        #[arg(short, long, value_name = "NEW")]
        output: PathBuf,
    },
}

/// Runs a `delta` subcommand.
pub fn run(c: Command) -> anyhow::Result<()> {
    match c {
        Command::Create { from, to, to_version, from_version, key, compression, output } => {
            let old = read(&from)?;
            let new = read(&to)?;
            let patch = atfota_delta::create(
                &old,
                &new,
                &CreateOptions { thorough: true, ..CreateOptions::new(compression) },
            )?;
            let target = ModemFirmware::of(&new, to_version)?;
            write_package(&old, from_version, target, &patch, key.as_deref(), &output)
        }
        Command::Pack { from, patch, to_version, from_version, key, output } => {
            let old = read(&from)?;
            let patch = read(&patch)?;
            // The patch must apply to OLD: apply it once, which also gives the target's identity.
            let mut new = Vec::new();
            atfota_delta::apply(&mut old.as_slice(), patch.as_slice(), &mut new, &Limits::default())
                .context("the patch does not apply to --from")?;
            let target = ModemFirmware::of(&new, to_version)?;
            write_package(&old, from_version, target, &patch, key.as_deref(), &output)
        }
        Command::Info { package, key } => info(&package, &key),
        Command::Apply { from, package, output } => {
            let old = read(&from)?;
            let bytes = read(&package)?;
            let header = DeltaHeader::parse(&bytes)?;
            if ModemFirmware::of(&old, header.source.version.clone())?.sha256 != header.source.sha256 {
                bail!(
                    "{} is not the firmware the package applies to (it needs {}, UUID {})",
                    from.display(),
                    header.source.version,
                    header.source.uuid()
                );
            }
            let start = header.patch_offset() as usize;
            let patch = bytes
                .get(start..start + header.patch_len as usize)
                .context("the package is shorter than its header says")?;
            let mut new = Vec::new();
            atfota_delta::apply(&mut old.as_slice(), patch, &mut new, &Limits::default())?;
            if ModemFirmware::of(&new, header.target.version.clone())?.sha256 != header.target.sha256 {
                bail!("the patch did not produce the firmware the package names (SHA-256 differs)");
            }
            std::fs::write(&output, &new).with_context(|| format!("writing {}", output.display()))?;
            println!(
                "{}: {} bytes, version {}, UUID {}",
                output.display(),
                new.len(),
                header.target.version,
                header.target.uuid()
            );
            Ok(())
        }
    }
}

fn write_package(
    old: &[u8],
    from_version: Option<ModemVersion>,
    target: ModemFirmware,
    patch: &[u8],
    key: Option<&Path>,
    output: &Path,
) -> anyhow::Result<()> {
    let from_version = match from_version {
        Some(v) => v,
        None => "unknown".parse()?,
    };
    let source = ModemFirmware::of(old, from_version)?;
    let key = signing_key(key)?;
    let package = atfota_image::sign_delta(&source, &target, patch, &key)?;
    std::fs::write(output, &package).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "{}: {} bytes (patch {} bytes), {} {} -> {} {}",
        output.display(),
        package.len(),
        patch.len(),
        source.version,
        source.uuid(),
        target.version,
        target.uuid()
    );
    Ok(())
}

fn info(package: &Path, keys: &[PathBuf]) -> anyhow::Result<()> {
    let mut trusted = vec![TrustedKey::development()];
    for p in keys {
        trusted.push(
            TrustedKey::from_pem(&String::from_utf8(read(p)?)?)
                .with_context(|| format!("{} is not a public key", p.display()))?,
        );
    }
    let bytes = read(package)?;
    let header = DeltaHeader::parse(&bytes)?;
    println!("source        {} ({} bytes)", header.source.version, header.source.size);
    println!("source UUID   {}", header.source.uuid());
    println!("target        {} ({} bytes)", header.target.version, header.target.size);
    println!("target UUID   {}", header.target.uuid());
    println!("patch         {} bytes at {:#x}", header.patch_len, header.patch_offset());
    if let Ok(p) = atfota_delta::patch_info(&bytes[header.patch_offset() as usize..]) {
        println!("compression   {}", p.compression.name());
    }
    let mut verifier = DeltaVerifier::new(bytes.len() as u64, &trusted);
    verifier.update(&bytes)?;
    let verified = verifier.finish(&trusted).context("signature check failed")?;
    println!("signature     good (key #{} of those given; #0 is the development key)", verified.key_index);
    Ok(())
}

fn signing_key(path: Option<&Path>) -> anyhow::Result<SigningKey> {
    match path {
        Some(p) => SigningKey::from_pem(&String::from_utf8(read(p)?)?)
            .with_context(|| format!("{} is not a private key", p.display())),
        None => {
            log::warn!("signing with the built-in DEVELOPMENT key: anyone can make packages it accepts");
            Ok(SigningKey::development())
        }
    }
}

fn read(p: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
}
