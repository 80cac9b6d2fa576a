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

pub const TRUSTED_PRIV: &str = key!("trusted-ed25519.pem");
pub const TRUSTED_PUB: &str = key!("trusted-ed25519.pub.pem");
pub const UNTRUSTED_PRIV: &str = key!("untrusted-ed25519.pem");
pub const UNTRUSTED_PUB: &str = key!("untrusted-ed25519.pub.pem");
pub const ECDSA_PRIV: &str = key!("ecdsa-p256.pem");
pub const ECDSA_PUB: &str = key!("ecdsa-p256.pub.pem");
pub const RSA2048_PUB: &str = key!("foreign/rsa-2048.pub.pem");
pub const P384_PRIV: &str = key!("foreign/ecdsa-p384.pem");
pub const P384_PUB: &str = key!("foreign/ecdsa-p384.pub.pem");
pub const X25519_PUB: &str = key!("foreign/x25519.pub.pem");
pub const ENCRYPTED_PRIV: &str = key!("foreign/encrypted-ed25519.pem");

/// `imgtool getpub -e pem` of crates/image/keys/dev-ed25519.pem.
pub const DEV_PUB: &str = "-----BEGIN PUBLIC KEY-----\n\
    MCowBQYDK2VwAyEAdvcMNvy7Fo/gvmXlYntgomxJ3uUPBIaqIpKANZboy8o=\n\
    -----END PUBLIC KEY-----\n";

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
