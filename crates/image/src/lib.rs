//! MCUboot images and modem delta packages for atfota: detect the update type, parse headers
//! and TLVs, verify hash and signature while streaming, and sign byte-compatibly with mcuboot's
//! `imgtool`.
//!
//! This crate owns the image format and its trust decision. It must never do IO on its own
//! (verification is sans-IO: bytes in, verdict out; [`verify_reader`] is a thin shell), never
//! hold a whole image in memory while verifying, and never panic on bytes from outside.
//!
//! Supported: every signature `imgtool` makes: Ed25519 over the SHA-256 digest (TLV 0x24) or,
//! with `--pure`, over the whole image (SIG_PURE, SHA512 TLV; verified in a second pass, see
//! [`SecondPass`]), ECDSA P-256 (SHA-256) and P-384 (SHA-384) (TLV 0x22), RSA-2048 and
//! RSA-3072 PSS (TLV 0x20/0x23); the key named by KEYHASH or PUBKEY; the security counter
//! (SEC_CNT) reported for anti-rollback. Refused with a clear error: encrypted, compressed and
//! non-bootable images. The modem delta package ([`delta`]) is this project's own container,
//! verified by the same code with the same keys.
//!
//! DEVELOPMENT KEY: [`SigningKey::development`] / [`TrustedKey::development`] are a committed,
//! public Ed25519 key (`keys/dev-ed25519.pem`), like MCUboot's sample keys. Anyone can sign with
//! it; never trust it on a real device.
//!
//! Written by hand rather than with a crate: the header and TLV codecs (no maintained Rust
//! crate reads MCUboot images streaming with bounded memory) and version parsing (imgtool's
//! grammar, not semver's). PEM, DER and the cryptography come from RustCrypto and dalek.

mod check;
pub mod delta;
mod detect;
mod digest;
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

pub use delta::{
    DeltaHeader, DeltaVerifier, ModemFirmware, ModemVersion, VerifiedDelta, modem_uuid, sign_delta,
};
pub use detect::{DETECT_LEN, Detection, ImageKind, MCUBOOT_MAGIC, MODEM_DELTA_MAGIC, MODEM_FULL_MAGIC};
pub use digest::ImageDigest;
pub use error::ImageError;
pub use header::{ImageHeader, MAX_HDR_SIZE, flags};
pub use sign::{KeyFormat, SignOptions, sign};
pub use signing_key::SigningKey;
pub use stream::{Finish, MAX_TLV_LEN, SecondPass, StreamVerifier, VerifiedImage, verify_reader};
pub use trusted_key::TrustedKey;
pub use version::ImageVersion;
