//! `atfota delta`: make, wrap, inspect and apply modem delta packages on the
//! host. The patch inside is a detools sequential patch (made here by our
//! differ, or by `detools create_patch`); the package around it is ours
//! (docs/FORMATS.md), signed like an application image.
//!
//! `apply` and `pack` stream: the old firmware is read in place, the patch and the new
//! firmware go through small buffers, so their memory does not grow with the firmware (only
//! the LZMA dictionary the patch declares, at most 8 MiB, is allocated besides).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use atfota_delta::{Compression, CreateOptions, FileAt, Limits, ReadAt};
use atfota_image::{DeltaHeader, DeltaVerifier, ModemFirmware, ModemVersion, SigningKey, TrustedKey};
use sha2::{Digest, Sha256};

/// Buffer size of the streams `apply` and `pack` read and write.
const IO_BUF: usize = 64 << 10;

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
        /// Also write the raw detools patch inside the package to FILE (what
        /// `detools apply_patch OLD FILE NEW` reads).
        #[arg(long, value_name = "FILE")]
        save_patch: Option<PathBuf>,
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
        Command::Create { from, to, to_version, from_version, key, compression, output, save_patch } => {
            let old = read(&from)?;
            let new = read(&to)?;
            let patch = atfota_delta::create(
                &old,
                &new,
                &CreateOptions { thorough: true, ..CreateOptions::new(compression) },
            )?;
            if let Some(path) = &save_patch {
                std::fs::write(path, &patch).with_context(|| format!("writing {}", path.display()))?;
            }
            let target = ModemFirmware::of(&new, to_version)?;
            write_package(&old, from_version, target, &patch, key.as_deref(), &output)
        }
        Command::Pack { from, patch, to_version, from_version, key, output } => {
            let old = read(&from)?;
            // The patch must apply to OLD: apply it once, which also gives the target's identity
            // (hashed on the way, never held).
            let mut sink = HashWriter::new(io::sink());
            atfota_delta::apply(
                &mut old.as_slice(),
                BufReader::with_capacity(IO_BUF, open(&patch)?),
                &mut sink,
                &Limits { max_to_size: u64::from(u32::MAX), ..Limits::default() },
            )
            .context("the patch does not apply to --from")?;
            let (size, sha256) = sink.finish();
            let target = ModemFirmware { size: u32::try_from(size)?, sha256, version: to_version };
            write_package(&old, from_version, target, &read(&patch)?, key.as_deref(), &output)
        }
        Command::Info { package, key } => info(&package, &key),
        Command::Apply { from, package, output } => apply(&from, &package, &output),
    }
}

/// `delta apply`: checks OLD against the package's source, streams the patch into a temporary
/// file beside OUTPUT while hashing it, and renames it into place only if it is the target.
fn apply(from: &Path, package: &Path, output: &Path) -> anyhow::Result<()> {
    let mut pkg = open(package)?;
    let mut head = Vec::with_capacity(DeltaHeader::LEN);
    (&mut pkg).take(DeltaHeader::LEN as u64).read_to_end(&mut head)?;
    let header =
        DeltaHeader::parse(&head).with_context(|| format!("{} is not a delta package", package.display()))?;
    let pkg_len = pkg.metadata()?.len();
    ensure!(
        header.signed_len() <= pkg_len,
        "{} is {pkg_len} bytes, shorter than its header says ({} bytes of header and patch): it is truncated",
        package.display(),
        header.signed_len()
    );

    // OLD is checked by size now and by SHA-256 only if the result is not the target: the
    // target's SHA-256 is what guarantees the output, and hashing OLD first would add a pass
    // over it to every successful apply. A failure still names the real cause.
    let mut old = FileAt::new(open(from)?)?;
    let wrong_source = || {
        anyhow::anyhow!(
            "{} is not the firmware the package applies to (it needs {}, {} bytes, UUID {})",
            from.display(),
            header.source.version,
            header.source.size,
            header.source.uuid()
        )
    };
    if ReadAt::len(&old) != u64::from(header.source.size) {
        return Err(wrong_source());
    }

    pkg.seek(SeekFrom::Start(header.patch_offset()))?;
    let patch = BufReader::with_capacity(IO_BUF, pkg.take(u64::from(header.patch_len)));
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    let mut sink = HashWriter::new(BufWriter::with_capacity(IO_BUF, tmp.as_file()));
    let limits = Limits { max_to_size: u64::from(header.target.size), ..Limits::default() };
    let applied = atfota_delta::apply(&mut old, patch, &mut sink, &limits);
    let (size, sha256) = sink.finish();
    let is_target = size == u64::from(header.target.size) && sha256 == header.target.sha256;
    if applied.is_err() || !is_target {
        let mut hasher = HashWriter::new(io::sink());
        let mut file = old.into_inner();
        file.seek(SeekFrom::Start(0))?;
        io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", from.display()))?;
        if hasher.finish().1 != header.source.sha256 {
            return Err(wrong_source());
        }
        applied?;
        bail!("the patch did not produce the firmware the package names (size or SHA-256 differs)");
    }
    tmp.persist(output).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "{}: {} bytes, version {}, UUID {}",
        output.display(),
        size,
        header.target.version,
        header.target.uuid()
    );
    Ok(())
}

/// A writer that hashes and counts what passes through it.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashWriter<W> {
    fn new(inner: W) -> Self {
        HashWriter { inner, hasher: Sha256::new(), len: 0 }
    }

    /// Bytes written and their SHA-256 (the inner writer was flushed by `apply`).
    fn finish(self) -> (u64, [u8; 32]) {
        (self.len, self.hasher.finalize().into())
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
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

fn open(p: &Path) -> anyhow::Result<File> {
    File::open(p).with_context(|| format!("opening {}", p.display()))
}

fn read(p: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/delta").join(rel)
    }

    fn version(s: &str) -> ModemVersion {
        s.parse().unwrap()
    }

    fn create(dir: &Path, compression: Compression) -> (PathBuf, PathBuf) {
        let (pkg, patch) = (dir.join("pkg.bin"), dir.join("raw.patch"));
        run(Command::Create {
            from: fixture("elf/from.bin"),
            to: fixture("elf/to.bin"),
            to_version: version("v2"),
            from_version: None,
            key: None,
            compression,
            output: pkg.clone(),
            save_patch: Some(patch.clone()),
        })
        .unwrap();
        (pkg, patch)
    }

    #[test]
    fn save_patch_writes_the_packages_patch_field() {
        let tmp = tempfile::tempdir().unwrap();
        for c in ["none", "lzma", "heatshrink"] {
            let (pkg, patch) = create(tmp.path(), c.parse().unwrap());
            let pkg = std::fs::read(pkg).unwrap();
            let header = DeltaHeader::parse(&pkg).unwrap();
            let start = header.patch_offset() as usize;
            let field = &pkg[start..start + header.patch_len as usize];
            assert_eq!(field, std::fs::read(&patch).unwrap(), "{c}");
            assert_eq!(atfota_delta::patch_info(field).unwrap().compression.name(), c);
        }
    }

    #[test]
    fn apply_writes_the_target_or_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (pkg, _) = create(tmp.path(), Compression::Lzma);
        let out = tmp.path().join("new.bin");
        apply(&fixture("elf/from.bin"), &pkg, &out).unwrap();
        assert!(std::fs::read(&out).unwrap() == std::fs::read(fixture("elf/to.bin")).unwrap());

        // Another old firmware: refused before anything is written.
        let absent = tmp.path().join("absent.bin");
        let err = apply(&fixture("elf/to.bin"), &pkg, &absent).unwrap_err();
        assert!(format!("{err:#}").contains("is not the firmware the package applies to"), "{err:#}");
        // Same size, one byte changed: found when the result is not the target.
        let mut near = std::fs::read(fixture("elf/from.bin")).unwrap();
        near[5000] ^= 0x55;
        let near_path = tmp.path().join("near.bin");
        std::fs::write(&near_path, &near).unwrap();
        let err = apply(&near_path, &pkg, &absent).unwrap_err();
        assert!(format!("{err:#}").contains("is not the firmware the package applies to"), "{err:#}");
        // A truncated package.
        let bytes = std::fs::read(&pkg).unwrap();
        let short = tmp.path().join("short.bin");
        std::fs::write(&short, &bytes[..DeltaHeader::LEN + 10]).unwrap();
        let err = apply(&fixture("elf/from.bin"), &short, &absent).unwrap_err();
        assert!(format!("{err:#}").contains("truncated"), "{err:#}");
        std::fs::write(&short, &bytes[..100]).unwrap();
        assert!(apply(&fixture("elf/from.bin"), &short, &absent).is_err());
        // A package whose target hash is not what its patch makes.
        let old = std::fs::read(fixture("elf/from.bin")).unwrap();
        let new = std::fs::read(fixture("elf/to.bin")).unwrap();
        let mut target = ModemFirmware::of(&new, version("v2")).unwrap();
        target.sha256[0] ^= 1;
        let patch = std::fs::read(fixture("elf/detools-lzma.patch")).unwrap();
        let liar = tmp.path().join("liar.bin");
        let source = ModemFirmware::of(&old, version("v1")).unwrap();
        std::fs::write(
            &liar,
            atfota_image::sign_delta(&source, &target, &patch, &SigningKey::development()).unwrap(),
        )
        .unwrap();
        let err = apply(&fixture("elf/from.bin"), &liar, &absent).unwrap_err();
        assert!(format!("{err:#}").contains("SHA-256 differs"), "{err:#}");
        assert!(!absent.exists());
        // Nothing was left behind beside the output.
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 6, "{names:?}");
    }

    #[test]
    fn pack_names_the_target_the_patch_makes() {
        let tmp = tempfile::tempdir().unwrap();
        let pkg = tmp.path().join("pkg.bin");
        run(Command::Pack {
            from: fixture("random/from.bin"),
            patch: fixture("random/detools-heatshrink.patch"),
            to_version: version("v2"),
            from_version: Some(version("v1")),
            key: None,
            output: pkg.clone(),
        })
        .unwrap();
        let header = DeltaHeader::parse(&std::fs::read(&pkg).unwrap()).unwrap();
        let new = std::fs::read(fixture("random/to.bin")).unwrap();
        assert_eq!(header.target, ModemFirmware::of(&new, version("v2")).unwrap());
        let err = run(Command::Pack {
            from: fixture("elf/from.bin"),
            patch: fixture("random/detools-heatshrink.patch"),
            to_version: version("v2"),
            from_version: None,
            key: None,
            output: tmp.path().join("no.bin"),
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("does not apply to --from"), "{err:#}");
    }
}
