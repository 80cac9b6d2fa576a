//! The crate's one error type: every way an image, a key or a version string can be refused.
//!
//! Each message is a sentence a user can act on. This module owns no logic and must never
//! carry secrets (private key bytes) in a message.

/// Why an image, key or version was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Fewer bytes than an MCUboot header were given to the header parser.
    #[error("an MCUboot header needs 32 bytes but only {len} were given")]
    HeaderTooShort {
        /// Bytes available.
        len: usize,
    },
    /// The first four bytes are not the MCUboot magic.
    #[error("not an MCUboot image: magic is {found:#010x}, expected 0x96f3b83d")]
    BadMagic {
        /// The little-endian u32 found at offset 0.
        found: u32,
    },
    /// `hdr_size` is smaller than the fixed header or absurdly large.
    #[error(
        "image header size {hdr_size:#x} is invalid: it must be between 0x20 and {max:#x} \
         (imgtool --header-size, usually 0x200)"
    )]
    HeaderSize {
        /// The header size the image claims.
        hdr_size: u16,
        /// The largest header size accepted.
        max: u16,
    },
    /// The image (as its header and TLVs describe it, or as fed) is bigger than the slot.
    #[error(
        "image needs at least {len} bytes but the slot holds only {limit}: \
         build a smaller image or use a larger slot"
    )]
    TooLarge {
        /// Bytes the image needs (or bytes fed so far).
        len: u64,
        /// The slot size given as limit.
        limit: u64,
    },
    /// The image is encrypted (flags 0x04/0x08), which this bootloader cannot decrypt.
    #[error(
        "image is encrypted (flags {flags:#x}); this bootloader cannot boot encrypted images: sign without --encrypt"
    )]
    Encrypted {
        /// The header flags.
        flags: u32,
    },
    /// The image is compressed (flags 0x200/0x400), which this bootloader cannot decompress.
    #[error(
        "image is compressed (flags {flags:#x}); this bootloader cannot boot compressed images: sign without --compression"
    )]
    Compressed {
        /// The header flags.
        flags: u32,
    },
    /// The image is marked NON_BOOTABLE (flag 0x10).
    #[error("image is marked non-bootable (flags {flags:#x}); sign it without --non-bootable")]
    NonBootable {
        /// The header flags.
        flags: u32,
    },
    /// A TLV area does not start with the expected magic.
    #[error(
        "expected TLV area magic {expected:#06x} at offset {offset:#x}, found {found:#06x}: the image is corrupt or its header sizes are wrong"
    )]
    TlvAreaMagic {
        /// Offset of the area in the image.
        offset: u64,
        /// The magic that should be there.
        expected: u16,
        /// The magic that is there.
        found: u16,
    },
    /// A TLV area's length is shorter than its own info header.
    #[error(
        "TLV area at offset {offset:#x} claims {len} bytes, less than its 4-byte info header: the image is corrupt"
    )]
    TlvAreaLength {
        /// Offset of the area in the image.
        offset: u64,
        /// The length the area claims.
        len: u16,
    },
    /// The protected TLV area's length disagrees with the header's `protect_tlv_size`.
    #[error("protected TLV area is {area} bytes but the header says {header}: the image is corrupt")]
    ProtectedSizeMismatch {
        /// `protect_tlv_size` from the header.
        header: u16,
        /// The length in the protected area's info header.
        area: u16,
    },
    /// Both TLV areas together are larger than this verifier buffers.
    #[error(
        "TLV areas total {len} bytes, more than the {max} bytes allowed: the image is corrupt or carries oversized metadata"
    )]
    TlvTooLarge {
        /// Protected plus unprotected area length.
        len: u64,
        /// The largest total accepted.
        max: u64,
    },
    /// A TLV entry runs past the end of its area.
    #[error("TLV at offset {offset:#x} runs past the end of its area: the image is corrupt")]
    TlvOverrun {
        /// Offset of the TLV entry in the image.
        offset: u64,
    },
    /// A TLV of a known type has the wrong length.
    #[error("TLV {name} ({kind:#04x}) has {len} bytes, expected {expected}: the image is corrupt")]
    TlvLength {
        /// TLV name.
        name: &'static str,
        /// TLV type.
        kind: u16,
        /// Its length.
        len: usize,
        /// The length its type requires.
        expected: usize,
    },
    /// A hash, key or signature TLV sits in the protected area, where it cannot be honoured.
    #[error(
        "TLV {name} ({kind:#04x}) is in the protected TLV area; it belongs in the unprotected area: re-sign the image"
    )]
    MisplacedTlv {
        /// TLV name.
        name: &'static str,
        /// TLV type.
        kind: u16,
    },
    /// The image carries no SHA256 TLV.
    #[error(
        "image has no SHA256 TLV: sign it with SHA-256 (imgtool's default for Ed25519 and ECDSA P-256 keys)"
    )]
    MissingSha256,
    /// The computed SHA-256 differs from the SHA256 TLV.
    #[error(
        "image hash {computed} does not match its SHA256 TLV {expected}: the image is corrupt or was modified after signing"
    )]
    HashMismatch {
        /// The hex digest in the TLV.
        expected: String,
        /// The hex digest of the image.
        computed: String,
    },
    /// The image carries no signature TLV.
    #[error("unsigned image: it has no signature TLV; sign it with a trusted key")]
    Unsigned,
    /// The image is signed, but by no key in the trusted set.
    #[error(
        "image is signed by a key this device does not trust (key hash {key_hash}); sign it with a trusted key"
    )]
    UntrustedKey {
        /// Hex SHA-256 of the signer's public key, or "unknown" when the image names no key.
        key_hash: String,
    },
    /// A trusted key was named but its signature does not verify.
    #[error(
        "signature by trusted key #{key_index} does not verify: the image was tampered with or signed incorrectly"
    )]
    BadSignature {
        /// Index of the trusted key in the list given to the verifier.
        key_index: usize,
    },
    /// The image is signed with an algorithm this verifier does not implement.
    #[error(
        "signature type {name} (TLV {kind:#04x}) is not supported: sign with an Ed25519 or ECDSA P-256 key and without --pure"
    )]
    UnsupportedSignature {
        /// TLV name.
        name: &'static str,
        /// TLV type.
        kind: u16,
    },
    /// The input ended before the image did.
    #[error("image truncated: got {seen} bytes, {expected}; the transfer ended early")]
    Truncated {
        /// Bytes received.
        seen: u64,
        /// What was still expected, as a phrase.
        expected: String,
    },
    /// `update` or `finish` was called after the verifier had already rejected the image.
    #[error("this verifier already rejected the image; start a new verification")]
    AlreadyFailed,
    /// Reading the image failed.
    #[error("reading the image failed: {0}")]
    Io(#[from] std::io::Error),
    /// A PEM document could not be decoded.
    #[error("not a valid PEM document: {reason}")]
    Pem {
        /// What the PEM decoder said.
        reason: String,
    },
    /// A PEM document has another label than the one expected.
    #[error("expected a PEM \"{expected}\" block, found \"{found}\"{hint}")]
    PemLabel {
        /// The label wanted.
        expected: &'static str,
        /// The label found.
        found: String,
        /// Extra advice, empty or starting with ": ".
        hint: &'static str,
    },
    /// The key uses an algorithm other than Ed25519 or ECDSA P-256.
    #[error(
        "unsupported key algorithm {algorithm}: use an Ed25519 or ECDSA P-256 key (imgtool keygen -t ed25519|ecdsa-p256)"
    )]
    UnsupportedKey {
        /// The algorithm found, by name or OID.
        algorithm: String,
    },
    /// The key's encoding is malformed.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// What the decoder said.
        reason: String,
    },
    /// A version string is not `major.minor.revision+build`.
    #[error(
        "invalid version {input:?}: use major.minor.revision+build (e.g. 1.2.3+4), each part a number in range"
    )]
    Version {
        /// The string given.
        input: String,
    },
    /// `sign` was given a header size smaller than the fixed header.
    #[error("header size {header_size:#x} is too small: it must be at least 0x20 (usually 0x200)")]
    SignHeaderSize {
        /// The header size asked for.
        header_size: u16,
    },
    /// `sign` was given a payload whose size does not fit the header's u32 field.
    #[error("payload of {len} bytes is too large for an MCUboot image (at most 4 GiB)")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
    },
}
