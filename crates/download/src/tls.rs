//! What an HTTPS download trusts and presents, as plain data: the root CA
//! certificates it verifies the server against (exactly these: never the
//! system's roots), and an optional client certificate chain with its key
//! for mutual TLS. The device fills it from its credential store (a
//! `sec_tag`); the client builds its TLS configuration from it once per
//! download.
//!
//! It must never print a private key: `Debug` shows sizes only.

use std::fmt;

/// Trust and identity for one HTTPS download.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsCredentials {
    /// Root CA certificates (DER) the server's chain must lead to.
    pub roots: Vec<Vec<u8>>,
    /// A client certificate chain and key, presented when the server asks (mutual TLS).
    pub client: Option<ClientIdentity>,
}

/// A client certificate chain (DER, leaf first) and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The chain, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The private key's encoding.
    pub key_kind: KeyKind,
    /// The private key, DER.
    pub key_der: Vec<u8>,
}

/// How a private key is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// PKCS#8 (`PRIVATE KEY`).
    Pkcs8,
    /// SEC1 (`EC PRIVATE KEY`).
    Sec1,
    /// PKCS#1 (`RSA PRIVATE KEY`).
    Pkcs1,
}

impl fmt::Debug for TlsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsCredentials")
            .field("roots", &self.roots.len())
            .field("client", &self.client)
            .finish()
    }
}

impl fmt::Debug for ClientIdentity {
    /// The key never appears, only its kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("chain", &self.chain.len())
            .field("key_kind", &self.key_kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_key_bytes() {
        let c = TlsCredentials {
            roots: vec![vec![1, 2, 3]],
            client: Some(ClientIdentity {
                chain: vec![vec![4]],
                key_kind: KeyKind::Sec1,
                key_der: vec![0xab, 0xcd],
            }),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("Sec1") && !shown.contains("171") && !shown.contains("ab"), "{shown}");
    }
}
