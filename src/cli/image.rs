//! `atfota image`: sign and inspect MCUboot images (imgtool-compatible).

use std::path::PathBuf;

use anyhow::Context;
use atfota_image::{ImageHeader, ImageVersion, SignOptions, SigningKey, TrustedKey};

/// `atfota image` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Wrap a binary into a signed MCUboot image (like `imgtool sign --pad-header`).
    Sign {
        /// The application binary.
        input: PathBuf,
        /// Where to write the image.
        output: PathBuf,
        /// Image version, e.g. 1.2.3 or 1.2.3+4.
        #[arg(long)]
        version: ImageVersion,
        /// Private key (PKCS#8 PEM from `imgtool keygen`: Ed25519, ECDSA P-256/P-384,
        /// RSA-2048/3072); default: the development key.
        #[arg(long, value_name = "KEY.pem")]
        key: Option<PathBuf>,
        /// Sign the whole image instead of its digest (Ed25519 keys only), like `imgtool --pure`.
        #[arg(long)]
        pure: bool,
        /// Security counter for anti-rollback (SEC_CNT TLV), like `imgtool --security-counter`.
        #[arg(long, value_name = "N")]
        security_counter: Option<u32>,
        /// Header size in bytes.
        #[arg(long, default_value = "0x200", value_parser = super::parse_size)]
        header_size: u32,
    },
    /// Print an image's header and check it against keys.
    Info {
        /// The image.
        image: PathBuf,
        /// Public keys to check the signature against (the development key is always tried).
        #[arg(long, value_name = "PUBKEY.pem")]
        key: Vec<PathBuf>,
    },
}

/// Runs an `image` subcommand.
pub fn run(c: Command) -> anyhow::Result<()> {
    match c {
        Command::Sign { input, output, version, key, header_size, pure, security_counter } => {
            let key = match key {
                Some(p) => SigningKey::from_pem(&read(&p)?)
                    .with_context(|| format!("{} is not a private key", p.display()))?,
                None => {
                    log::warn!(
                        "signing with the built-in DEVELOPMENT key: anyone can make images it accepts"
                    );
                    SigningKey::development()
                }
            };
            let header_size = u16::try_from(header_size).context("--header-size must fit in 16 bits")?;
            let payload = std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let opts = SignOptions { version, header_size, pure, security_counter, ..SignOptions::default() };
            let image = atfota_image::sign(&payload, &opts, &key)?;
            std::fs::write(&output, &image).with_context(|| format!("writing {}", output.display()))?;
            println!("{}: version {version}, {} bytes", output.display(), image.len());
            Ok(())
        }
        Command::Info { image, key } => {
            let mut keys = vec![TrustedKey::development()];
            for p in &key {
                keys.push(
                    TrustedKey::from_pem(&read(p)?)
                        .with_context(|| format!("{} is not a public key", p.display()))?,
                );
            }
            let bytes = std::fs::read(&image).with_context(|| format!("reading {}", image.display()))?;
            let header = ImageHeader::parse(&bytes)?;
            println!("version       {}", header.version);
            println!("header size   {:#x}", header.hdr_size);
            println!("body size     {}", header.img_size);
            println!("load address  {:#x}", header.load_addr);
            println!("flags         {:#x}", header.flags);
            match atfota_image::verify_reader(std::io::Cursor::new(&bytes), bytes.len() as u64, &keys) {
                Ok(v) => {
                    println!("image length  {}", v.total_len);
                    println!("{:<13} {}", v.digest.name().to_lowercase(), v.digest);
                    if let Some(counter) = v.security_counter {
                        println!("sec. counter  {counter}");
                    }
                    println!("signature     valid (key #{} of {})", v.key_index, keys.len());
                    Ok(())
                }
                Err(e) => anyhow::bail!("image does not verify: {e}"),
            }
        }
    }
}

fn read(p: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}
