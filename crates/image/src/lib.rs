//! MCUboot images for atfota: detect the update type, parse headers and TLVs, verify hash and
//! signature while streaming, and sign payloads byte-compatibly with mcuboot's `imgtool`.
//!
//! This crate owns the image format and its trust decision. It must never do IO on its own
//! (verification is sans-IO: bytes in, verdict out; [`verify_reader`] is a thin shell), never
//! hold a whole image in memory while verifying, and never panic on bytes from outside.
//!
//! Supported: SHA-256 images signed with Ed25519 (TLV 0x24) or ECDSA P-256 (TLV 0x22), key
//! named by KEYHASH or PUBKEY. Refused with a clear error: RSA, `--pure` signatures, encrypted,
//! compressed and non-bootable images.
//!
//! DEVELOPMENT KEY: [`SigningKey::development`] / [`TrustedKey::development`] are a committed,
//! public Ed25519 key (`keys/dev-ed25519.pem`), like MCUboot's sample keys. Anyone can sign with
//! it; never trust it on a real device.
//!
//! Written by hand rather than with a crate: the header and TLV codecs (no maintained Rust
//! crate reads MCUboot images streaming with bounded memory) and version parsing (imgtool's
//! grammar, not semver's). PEM, DER and the cryptography come from RustCrypto and dalek.

mod check;
mod detect;
mod error;
mod header;
mod pkix;
mod sign;
mod signing_key;
mod stream;
pub mod tlv;
mod trusted_key;
mod version;

#[cfg(test)]
mod fixtures;

pub use detect::{DETECT_LEN, Detection, ImageKind, MCUBOOT_MAGIC, MODEM_DELTA_MAGIC, MODEM_FULL_MAGIC};
pub use error::ImageError;
pub use header::{ImageHeader, MAX_HDR_SIZE, flags};
pub use sign::{SignOptions, sign};
pub use signing_key::SigningKey;
pub use stream::{MAX_TLV_LEN, StreamVerifier, VerifiedImage, verify_reader};
pub use trusted_key::TrustedKey;
pub use version::ImageVersion;
