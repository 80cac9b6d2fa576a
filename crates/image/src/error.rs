//! The crate's one error type: every way an image, a delta package, a key or a version string
//! can be refused.
//!
//! Each message is a sentence a user can act on. This module owns no logic and must never
//! carry secrets (private key bytes) in a message.

/// Why an image, delta package, key or version was refused.
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
    /// A TLV sits in the wrong area: a hash, key or signature in the protected area, where it
    /// cannot be honoured, or a security counter in the unprotected one, where it is not signed.
    #[error(
        "TLV {name} ({kind:#04x}) is in the {found_in} TLV area; it belongs in the {belongs_in} area: re-sign the image"
    )]
    MisplacedTlv {
        /// TLV name.
        name: &'static str,
        /// TLV type.
        kind: u16,
        /// "protected" or "unprotected".
        found_in: &'static str,
        /// The other one.
        belongs_in: &'static str,
    },
    /// A TLV that may appear only once appears twice.
    #[error(
        "TLV {name} ({kind:#04x}) appears more than once: the image is corrupt or was not made by imgtool"
    )]
    DuplicateTlv {
        /// TLV name.
        name: &'static str,
        /// TLV type.
        kind: u16,
    },
    /// A TLV of a known type has a value it cannot have.
    #[error("TLV {name} ({kind:#04x}) is invalid: {reason}; the image is corrupt")]
    TlvValue {
        /// TLV name.
        name: &'static str,
        /// TLV type.
        kind: u16,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The image carries no hash TLV (a pure one: no SHA512 TLV).
    #[error("{}", if *pure {
        "pure image has no SHA512 TLV: sign it again with imgtool sign --pure"
    } else {
        "image has no hash TLV (SHA256 or SHA384): sign it with imgtool or atfota image sign"
    })]
    MissingHash {
        /// Whether the image is signed pure (SIG_PURE).
        pure: bool,
    },
    /// The hash computed over the image differs from its hash TLV.
    #[error(
        "image hash {computed} does not match its {name} TLV {expected}: the image is corrupt or was modified after signing"
    )]
    HashMismatch {
        /// The hash TLV's name ("SHA256", "SHA384", "SHA512").
        name: &'static str,
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
    /// A pure signature (`--pure`) made, or to be made, with something other than Ed25519.
    #[error(
        "pure signatures (--pure) are Ed25519 only, not {found}: sign with an Ed25519 key or without --pure"
    )]
    PureNeedsEd25519 {
        /// The key algorithm or signature TLV found.
        found: &'static str,
    },
    /// A delta package carries a pure signature, which the format does not use.
    #[error(
        "delta packages are signed over their digest, not pure (SIG_PURE): sign the package without --pure"
    )]
    PureNotAllowed,
    /// A pure image names more (signature, key) pairs than the second pass checks.
    #[error(
        "pure image has {count} signature and key combinations to check, more than the {max} this \
         verifier reads the image for: name the key (KEYHASH) and sign it once"
    )]
    TooManySignatures {
        /// Combinations the image asks for.
        count: usize,
        /// The most checked.
        max: usize,
    },
    /// The bytes fed to the second pass of a pure verification differ from the first pass's.
    #[error(
        "the image's {part} changed between the two verification passes: its storage is being written to or failing"
    )]
    ChangedBetweenPasses {
        /// "header" or "protected TLV area".
        part: &'static str,
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
    /// The key uses an algorithm (or RSA size) MCUboot does not verify.
    #[error(
        "unsupported key algorithm {algorithm}: use an Ed25519, ECDSA P-256/P-384 or RSA-2048/3072 key \
         (imgtool keygen -t ed25519|ecdsa-p256|ecdsa-p384|rsa-2048|rsa-3072)"
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
    /// `sign` or `sign_delta` was given a payload whose size does not fit a u32 field.
    #[error("payload of {len} bytes is too large for an MCUboot image or delta package (at most 4 GiB)")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
    },
    /// The u32 at offset 4 is not the modem delta magic.
    #[error("not a modem delta package: magic at offset 4 is {found:#010x}, expected 0x7544656d")]
    DeltaMagic {
        /// The little-endian u32 found.
        found: u32,
    },
    /// The package's format version or header length is not one this crate reads.
    #[error(
        "delta package format {version} with a {header_len:#x}-byte header is not supported: \
         this device reads format 1 with a 0x140-byte header; build the package with a matching tool"
    )]
    DeltaFormat {
        /// The format version found.
        version: u16,
        /// The header length found.
        header_len: u16,
    },
    /// Reserved flags are set.
    #[error("delta package sets flags {flags:#x}, which this device does not know: build it without them")]
    DeltaFlags {
        /// The flags found.
        flags: u32,
    },
    /// The reserved header bytes are not zero.
    #[error("delta package header has non-zero reserved bytes at 0x120..0x140: the package is corrupt")]
    DeltaReserved,
    /// A firmware UUID does not belong to the firmware's SHA-256.
    #[error(
        "delta package {which} UUID {found:?} does not match its {which} SHA-256 (expected {expected}): the package is corrupt"
    )]
    DeltaUuid {
        /// "source" or "target".
        which: &'static str,
        /// The field as found (lossy ASCII).
        found: String,
        /// The UUID derived from the SHA-256.
        expected: String,
    },
    /// A modem firmware version string is not 1 to 63 printable ASCII characters.
    #[error(
        "{which} version string is invalid: it must be 1 to 63 printable ASCII characters \
         (NUL-padded to 64 bytes in a package)"
    )]
    ModemVersion {
        /// "source", "target" or "given".
        which: &'static str,
    },
}
