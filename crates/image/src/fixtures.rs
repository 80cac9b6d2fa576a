//! Test-only access to the committed fixtures made by imgtool (testdata/make-image-fixtures.sh).
//!
//! Owns nothing but `include_*!` paths and a tiny TLV lookup that deliberately does not use
//! the crate's own parser, so tests compare the crate against independent reading.

macro_rules! image {
    ($name:literal) => {
        include_bytes!(concat!("../../../testdata/images/", $name))
    };
}

macro_rules! key {
    ($name:literal) => {
        include_str!(concat!("../../../testdata/keys/", $name))
    };
}

pub const PAYLOAD: &[u8] = image!("payload.bin");
pub const SIGNED_ED25519: &[u8] = image!("signed-ed25519.bin");
pub const SIGNED_ECDSA: &[u8] = image!("signed-ecdsa-p256.bin");
pub const UNSIGNED: &[u8] = image!("unsigned.bin");
pub const SIGNED_UNTRUSTED: &[u8] = image!("signed-untrusted.bin");
pub const SIGNED_PADDED: &[u8] = image!("signed-padded.bin");
pub const BAD_HASH: &[u8] = image!("bad-hash.bin");
pub const SIGNED_DEV: &[u8] = image!("signed-dev.bin");
pub const SIGNED_SEC_CNT: &[u8] = image!("signed-sec-cnt.bin");
pub const SIGNED_PUBKEY: &[u8] = image!("signed-pubkey.bin");
pub const SIGNED_PURE: &[u8] = image!("signed-pure.bin");
pub const SIGNED_P384: &[u8] = image!("signed-ecdsa-p384.bin");
pub const SIGNED_RSA2048: &[u8] = image!("signed-rsa2048.bin");
pub const SIGNED_RSA3072: &[u8] = image!("signed-rsa3072.bin");
pub const SIGNED_PUBKEY_P256: &[u8] = image!("signed-pubkey-ecdsa-p256.bin");
pub const SIGNED_PUBKEY_P384: &[u8] = image!("signed-pubkey-ecdsa-p384.bin");
pub const SIGNED_PUBKEY_RSA2048: &[u8] = image!("signed-pubkey-rsa-2048.bin");
pub const SIGNED_PUBKEY_RSA3072: &[u8] = image!("signed-pubkey-rsa-3072.bin");
pub const SIGNED_PUBKEY_PURE: &[u8] = image!("signed-pubkey-pure.bin");
pub const SIGNED_P384_SEC_CNT: &[u8] = image!("signed-p384-sec-cnt.bin");
pub const RSA_SALT20: &[u8] = image!("rsa-salt20.bin");

pub const TRUSTED_PRIV: &str = key!("trusted-ed25519.pem");
pub const TRUSTED_PUB: &str = key!("trusted-ed25519.pub.pem");
pub const UNTRUSTED_PRIV: &str = key!("untrusted-ed25519.pem");
pub const UNTRUSTED_PUB: &str = key!("untrusted-ed25519.pub.pem");
pub const ECDSA_PRIV: &str = key!("ecdsa-p256.pem");
pub const ECDSA_PUB: &str = key!("ecdsa-p256.pub.pem");
pub const P384_PRIV: &str = key!("ecdsa-p384.pem");
pub const P384_PUB: &str = key!("ecdsa-p384.pub.pem");
pub const RSA2048_PRIV: &str = key!("rsa-2048.pem");
pub const RSA2048_PUB: &str = key!("rsa-2048.pub.pem");
pub const RSA3072_PRIV: &str = key!("rsa-3072.pem");
pub const RSA3072_PUB: &str = key!("rsa-3072.pub.pem");
pub const RSA4096_PUB: &str = key!("foreign/rsa-4096.pub.pem");
pub const RSA1024_PRIV: &str = key!("foreign/rsa-1024.pem");
pub const P521_PUB: &str = key!("foreign/ecdsa-p521.pub.pem");
pub const X25519_PUB: &str = key!("foreign/x25519.pub.pem");
pub const ENCRYPTED_PRIV: &str = key!("foreign/encrypted-ed25519.pem");

/// One key pair of every type imgtool makes: private PEM, public PEM, algorithm name.
pub const KEY_PAIRS: &[(&str, &str, &str)] = &[
    (TRUSTED_PRIV, TRUSTED_PUB, "Ed25519"),
    (ECDSA_PRIV, ECDSA_PUB, "ECDSA P-256"),
    (P384_PRIV, P384_PUB, "ECDSA P-384"),
    (RSA2048_PRIV, RSA2048_PUB, "RSA-2048"),
    (RSA3072_PRIV, RSA3072_PUB, "RSA-3072"),
];

/// Every public key fixture and its algorithm name.
pub const PUBLIC_KEYS: &[(&str, &str)] = &[
    (TRUSTED_PUB, "Ed25519"),
    (UNTRUSTED_PUB, "Ed25519"),
    (ECDSA_PUB, "ECDSA P-256"),
    (P384_PUB, "ECDSA P-384"),
    (RSA2048_PUB, "RSA-2048"),
    (RSA3072_PUB, "RSA-3072"),
];

/// `imgtool getpub -e pem` of crates/image/keys/dev-ed25519.pem.
pub const DEV_PUB: &str = "-----BEGIN PUBLIC KEY-----\n\
    MCowBQYDK2VwAyEAdvcMNvy7Fo/gvmXlYntgomxJ3uUPBIaqIpKANZboy8o=\n\
    -----END PUBLIC KEY-----\n";

/// Header, body and protected TLV area: what the hash (or a pure signature) covers.
pub fn hashed_region(image: &[u8]) -> &[u8] {
    let word = |at: usize| usize::from(u16::from_le_bytes([image[at], image[at + 1]]));
    let img_size = u32::from_le_bytes(image[12..16].try_into().unwrap()) as usize;
    &image[..word(8) + img_size + word(10)]
}

/// The value of the first TLV of `kind` in the unprotected area (fixtures have hdr_size 0x200).
pub fn tlv(image: &[u8], kind: u16) -> Vec<u8> {
    let word = |at: usize| usize::from(u16::from_le_bytes([image[at], image[at + 1]]));
    let img_size = u32::from_le_bytes(image[12..16].try_into().unwrap()) as usize;
    let mut at = 0x200 + img_size + word(10);
    assert_eq!(word(at), 0x6907);
    let end = at + word(at + 2);
    at += 4;
    while at < end {
        let len = word(at + 2);
        if word(at) == usize::from(kind) {
            return image[at + 4..at + 4 + len].to_vec();
        }
        at += 4 + len;
    }
    panic!("no TLV {kind:#x}");
}
