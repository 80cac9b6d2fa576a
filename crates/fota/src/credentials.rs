//! The modem's TLS credential store (`AT%CMNG`): root CA certificates, client certificates,
//! client private keys, PSKs and PSK identities, each under a `(sec_tag, type)` pair.
//!
//! Owns how credentials are checked and how they live in the power-fail-safe settings store:
//! one record per credential (`cmng.<sec_tag>.<type>` = length ‖ SHA-256) and its content in
//! chunks of at most [`MAX_VALUE_LEN`] bytes (`cmng.<sec_tag>.<type>.<n>`), all written or
//! removed in one atomic batch, so a power cut leaves the old credential or the new one, never
//! a mix. It also hands a TLS client everything one sec_tag holds ([`tls_material`]).
//!
//! It must never log or format a credential's content (not even at trace level, and not
//! through a parser's error message, which may quote the input), never let a private key out
//! through [`read`], and never store content that failed its check.

use std::collections::BTreeMap;
use std::fmt;

use atfota_download::{ClientIdentity, TlsCredentials};
use atfota_storage::{MAX_VALUE_LEN, NorFlash, Settings, SettingsError};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{PemObject, SectionKind};
use sha2::{Digest, Sha256};

/// Longest credential accepted, in bytes of content (a certificate chain fits).
pub const MAX_CONTENT_LEN: usize = 16 * 1024;
/// Room for all credentials together, in bytes: each counts its length plus
/// [`ENTRY_OVERHEAD`]. It leaves the rest of the settings store to the FOTA engine.
pub const QUOTA: usize = 24 * 1024;
/// What one credential costs against [`QUOTA`] besides its content (its records' bookkeeping).
pub const ENTRY_OVERHEAD: usize = 64;

/// Settings key prefix of everything this module stores.
const PREFIX: &str = "cmng.";
/// Length of the record that describes a credential: content length (u32 LE) ‖ SHA-256.
const META_LEN: usize = 4 + 32;
/// Printable ASCII, the only bytes a PSK identity may hold.
const PRINTABLE: std::ops::RangeInclusive<u8> = 0x20..=0x7e;
/// Line start of a PEM section.
const PEM_BEGIN: &[u8] = b"-----BEGIN ";

/// A security tag: the number that groups the credentials one TLS connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecTag(u32);

impl SecTag {
    /// The largest sec_tag a host may use (larger ones are the modem's own).
    pub const MAX: u32 = 2_147_483_647;

    /// The tag's number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for SecTag {
    type Error = CredentialError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match u32::try_from(value) {
            Ok(v) if v <= Self::MAX => Ok(Self(v)),
            _ => Err(CredentialError::InvalidSecTag { value }),
        }
    }
}

impl fmt::Display for SecTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a credential is (`%CMNG`'s `<type>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CredentialType {
    /// 0: root CA certificate(s), PEM.
    RootCa,
    /// 1: client certificate (chain), PEM.
    ClientCert,
    /// 2: client private key, PEM; never readable.
    PrivateKey,
    /// 3: pre-shared key, hex digits.
    Psk,
    /// 4: PSK identity, printable text.
    PskIdentity,
}

impl CredentialType {
    /// All types, in `<type>` order.
    pub const ALL: [Self; 5] =
        [Self::RootCa, Self::ClientCert, Self::PrivateKey, Self::Psk, Self::PskIdentity];

    /// The `<type>` number.
    pub fn code(self) -> u8 {
        match self {
            Self::RootCa => 0,
            Self::ClientCert => 1,
            Self::PrivateKey => 2,
            Self::Psk => 3,
            Self::PskIdentity => 4,
        }
    }

    /// Whether `AT%CMNG=2` may send the content back (everything but the private key).
    pub fn is_readable(self) -> bool {
        self != Self::PrivateKey
    }
}

impl TryFrom<i64> for CredentialType {
    type Error = CredentialError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            5 | 6 => Err(CredentialError::UnsupportedType { value }),
            _ => Self::ALL
                .into_iter()
                .find(|t| i64::from(t.code()) == value)
                .ok_or(CredentialError::InvalidType { value }),
        }
    }
}

impl fmt::Display for CredentialType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RootCa => "root CA certificate",
            Self::ClientCert => "client certificate",
            Self::PrivateKey => "client private key",
            Self::Psk => "PSK",
            Self::PskIdentity => "PSK identity",
        })
    }
}

/// One stored credential as a list shows it: where it is, its size and digest, no content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its security tag.
    pub sec_tag: SecTag,
    /// Its type.
    pub kind: CredentialType,
    /// Content length in bytes.
    pub len: usize,
    /// SHA-256 of the content exactly as written.
    pub sha256: [u8; 32],
}

impl Entry {
    /// The digest as `%CMNG` shows it: 64 uppercase hex digits.
    pub fn sha256_hex(&self) -> String {
        hex::encode_upper(self.sha256)
    }
}

/// A credential read back: its entry and its content (never a private key).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Where it is, its size and digest.
    pub entry: Entry,
    /// The content exactly as written.
    pub content: String,
}

impl fmt::Debug for Credential {
    // A PSK is secret: show the entry only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("entry", &self.entry).finish_non_exhaustive()
    }
}

/// Everything one sec_tag holds for a TLS client, decoded.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsMaterial {
    /// Root CA certificates (type 0), DER, in the order of the PEM.
    pub ca_certs: Vec<Vec<u8>>,
    /// Client certificate chain (type 1), DER, the client's own first.
    pub client_chain: Vec<Vec<u8>>,
    /// Client private key (type 2).
    pub client_key: Option<ClientKey>,
    /// A PSK (type 3) is stored.
    pub has_psk: bool,
    /// A PSK identity (type 4) is stored.
    pub has_psk_identity: bool,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca_certs", &self.ca_certs.len())
            .field("client_chain", &self.client_chain.len())
            .field("client_key", &self.client_key)
            .field("has_psk", &self.has_psk)
            .field("has_psk_identity", &self.has_psk_identity)
            .finish()
    }
}

/// A client private key in DER, as the PEM carried it (not converted).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    format: KeyFormat,
    der: Vec<u8>,
}

impl ClientKey {
    /// How the DER is structured (maps one to one onto rustls' `PrivateKeyDer` variants).
    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// The key's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

impl fmt::Debug for ClientKey {
    // Key material never goes into a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey").field("format", &self.format).finish_non_exhaustive()
    }
}

/// The structure of a private key's DER (the download vocabulary's, so the
/// TLS client takes it as it is).
pub use atfota_download::KeyKind as KeyFormat;

/// Why a credential operation was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The sec_tag is outside 0..=2147483647.
    #[error("sec_tag {value} is out of range: use 0 to 2147483647")]
    InvalidSecTag {
        /// The number given.
        value: i64,
    },
    /// No such credential type.
    #[error("credential type {value} does not exist: use 0 (root CA) to 4 (PSK identity)")]
    InvalidType {
        /// The number given.
        value: i64,
    },
    /// A type of newer modems (5 public key, 6 device identity public key).
    #[error("credential type {value} exists only on newer modems: use 0 to 4")]
    UnsupportedType {
        /// The number given.
        value: i64,
    },
    /// Nothing stored under that pair.
    #[error("sec_tag {sec_tag} holds no {kind}")]
    NotFound {
        /// The tag asked for.
        sec_tag: SecTag,
        /// The type asked for.
        kind: CredentialType,
    },
    /// Nothing stored under that tag at all.
    #[error("sec_tag {sec_tag} holds no credential: write one with AT%CMNG=0 first")]
    EmptySecTag {
        /// The tag asked for.
        sec_tag: SecTag,
    },
    /// The credential may not leave the device.
    #[error("the {kind} of sec_tag {sec_tag} never leaves the device: it cannot be read")]
    NoAccess {
        /// The tag asked for.
        sec_tag: SecTag,
        /// The type asked for.
        kind: CredentialType,
    },
    /// One credential longer than [`MAX_CONTENT_LEN`].
    #[error("the credential is {len} bytes; at most 16384 are accepted")]
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// All credentials together would exceed [`QUOTA`].
    #[error("the credentials would need {needed} bytes of the {quota} available: delete some first")]
    QuotaExceeded {
        /// What they would need, bookkeeping included.
        needed: usize,
        /// The quota.
        quota: usize,
    },
    /// The settings store has no room left.
    #[error("the settings store has no room for the credential: delete credentials first")]
    StoreFull,
    /// The content is not what the type requires.
    #[error("invalid {kind}: {reason}")]
    InvalidContent {
        /// The type it was written as.
        kind: CredentialType,
        /// What is wrong, never quoting the content.
        reason: &'static str,
    },
    /// The stored content does not match its length or digest (a damaged store).
    #[error("the stored {kind} of sec_tag {sec_tag} is damaged: write it again")]
    Corrupt {
        /// Its tag.
        sec_tag: SecTag,
        /// Its type.
        kind: CredentialType,
    },
    /// The settings store failed.
    #[error("credential storage failed: {0}")]
    Storage(SettingsError),
}

/// Checks `content` for `kind`, then stores it under `(sec_tag, kind)` in one atomic batch,
/// replacing a credential already there. Returns its list entry.
pub fn write<F: NorFlash + ?Sized>(
    settings: &mut Settings,
    flash: &mut F,
    sec_tag: SecTag,
    kind: CredentialType,
    content: &str,
) -> Result<Entry, CredentialError> {
    let bytes = content.as_bytes();
    if bytes.len() > MAX_CONTENT_LEN {
        return Err(CredentialError::TooLarge { len: bytes.len() });
    }
    validate(kind, content)?;
    let others: usize = list(settings, None, None)
        .iter()
        .filter(|e| (e.sec_tag, e.kind) != (sec_tag, kind))
        .map(|e| cost(e.len))
        .sum();
    let needed = others + cost(bytes.len());
    if needed > QUOTA {
        return Err(CredentialError::QuotaExceeded { needed, quota: QUOTA });
    }
    let entry = Entry { sec_tag, kind, len: bytes.len(), sha256: Sha256::digest(bytes).into() };
    let meta = meta_bytes(&entry);
    let chunks: Vec<(String, &[u8])> =
        bytes.chunks(MAX_VALUE_LEN).enumerate().map(|(i, c)| (chunk_key(sec_tag, kind, i), c)).collect();
    let stale: Vec<String> = chunk_keys(settings, sec_tag, kind)
        .into_iter()
        .filter(|(i, _)| *i >= chunks.len())
        .map(|(_, k)| k)
        .collect();
    let meta_key = meta_key(sec_tag, kind);
    let mut batch: Vec<(&str, Option<&[u8]>)> = vec![(meta_key.as_str(), Some(meta.as_slice()))];
    batch.extend(chunks.iter().map(|(k, c)| (k.as_str(), Some(*c))));
    batch.extend(stale.iter().map(|k| (k.as_str(), None)));
    settings.apply(flash, &batch).map_err(storage_error)?;
    log::info!("credential stored: sec_tag {sec_tag}, {kind}, {} bytes", entry.len);
    Ok(entry)
}

/// Stored credentials, by sec_tag then type: all of them, one tag's, or one entry.
pub fn list(settings: &Settings, sec_tag: Option<SecTag>, kind: Option<CredentialType>) -> Vec<Entry> {
    let mut entries = BTreeMap::new();
    for (key, value) in settings.iter() {
        let Some((tag, t)) = parse_meta_key(key) else { continue };
        if sec_tag.is_some_and(|s| s != tag) || kind.is_some_and(|k| k != t) {
            continue;
        }
        match parse_meta(tag, t, value) {
            Some(entry) => {
                entries.insert((tag, t), entry);
            }
            None => log::warn!("credential record {key} is damaged; it is not listed"),
        }
    }
    entries.into_values().collect()
}

/// The credential under `(sec_tag, kind)`, checked against its digest. A private key is
/// refused ([`CredentialError::NoAccess`]): it never leaves the device.
pub fn read(
    settings: &Settings,
    sec_tag: SecTag,
    kind: CredentialType,
) -> Result<Credential, CredentialError> {
    if !kind.is_readable() {
        // Refused whether or not one is stored, so a read does not even reveal that.
        return Err(CredentialError::NoAccess { sec_tag, kind });
    }
    load(settings, sec_tag, kind)
}

/// Removes the credential under `(sec_tag, kind)` (all its records, atomically).
pub fn delete<F: NorFlash + ?Sized>(
    settings: &mut Settings,
    flash: &mut F,
    sec_tag: SecTag,
    kind: CredentialType,
) -> Result<(), CredentialError> {
    let meta_key = meta_key(sec_tag, kind);
    if settings.get(&meta_key).is_none() {
        return Err(CredentialError::NotFound { sec_tag, kind });
    }
    let chunks = chunk_keys(settings, sec_tag, kind);
    let mut batch: Vec<(&str, Option<&[u8]>)> = vec![(meta_key.as_str(), None)];
    batch.extend(chunks.iter().map(|(_, k)| (k.as_str(), None)));
    settings.apply(flash, &batch).map_err(storage_error)?;
    log::info!("credential deleted: sec_tag {sec_tag}, {kind}");
    Ok(())
}

/// Everything `sec_tag` holds for a TLS client: CA certificates, the client chain and key in
/// DER, and whether a PSK and its identity exist. Each part is checked against its digest and
/// decoded again; an empty tag is [`CredentialError::EmptySecTag`].
pub fn tls_material(settings: &Settings, sec_tag: SecTag) -> Result<TlsMaterial, CredentialError> {
    let entries = list(settings, Some(sec_tag), None);
    if entries.is_empty() {
        return Err(CredentialError::EmptySecTag { sec_tag });
    }
    let mut material = TlsMaterial::default();
    for entry in entries {
        let content = load(settings, sec_tag, entry.kind)?.content;
        match entry.kind {
            CredentialType::RootCa => material.ca_certs = certificates(entry.kind, &content)?,
            CredentialType::ClientCert => material.client_chain = certificates(entry.kind, &content)?,
            CredentialType::PrivateKey => material.client_key = Some(private_key(&content)?),
            CredentialType::Psk => material.has_psk = true,
            CredentialType::PskIdentity => material.has_psk_identity = true,
        }
    }
    Ok(material)
}

/// The seam between the credential store and TLS: what an HTTPS download
/// with `sec_tag` trusts (the sec_tag's root CAs, never the system's) and
/// presents (its client certificate and key, for servers that ask), or why
/// the sec_tag cannot serve one — a sentence for the log, naming the fix.
pub fn tls_credentials(settings: &Settings, sec_tag: SecTag) -> Result<TlsCredentials, String> {
    let m = match tls_material(settings, sec_tag) {
        Ok(m) => m,
        Err(CredentialError::EmptySecTag { .. }) => TlsMaterial::default(),
        Err(e) => return Err(e.to_string()),
    };
    if m.ca_certs.is_empty() {
        return Err(if m.has_psk || m.has_psk_identity {
            format!(
                "sec_tag {sec_tag} holds a PSK but no root CA certificate: TLS-PSK is not supported \
                 (rustls has none); store the server's root CA as type 0 (AT%CMNG=0,{sec_tag},0,\"<PEM>\")"
            )
        } else {
            format!(
                "sec_tag {sec_tag} holds no root CA certificate: store the server's root CA as type 0 \
                 (AT%CMNG=0,{sec_tag},0,\"<PEM>\") while the modem is offline (AT+CFUN=4)"
            )
        });
    }
    let client = match (m.client_chain.is_empty(), m.client_key) {
        (false, Some(key)) => Some(ClientIdentity {
            chain: m.client_chain,
            key_kind: key.format(),
            key_der: key.der().to_vec(),
        }),
        (true, None) => None,
        (false, None) | (true, Some(_)) => {
            log::warn!(
                "sec_tag {sec_tag} holds a client certificate or a client key but not both: \
                 no client certificate will be presented"
            );
            None
        }
    };
    Ok(TlsCredentials { roots: m.ca_certs, client })
}

/// Checks that `content` is what `kind` requires: PEM certificate(s) that parse as X.509 for
/// types 0 and 1, one unencrypted PEM private key for type 2, an even number of hex digits for
/// a PSK, printable ASCII for a PSK identity.
pub fn validate(kind: CredentialType, content: &str) -> Result<(), CredentialError> {
    if content.is_empty() {
        return Err(CredentialError::InvalidContent { kind, reason: "it is empty" });
    }
    match kind {
        CredentialType::RootCa | CredentialType::ClientCert => certificates(kind, content).map(drop),
        CredentialType::PrivateKey => private_key(content).map(drop),
        CredentialType::Psk => {
            let hex = content.bytes().all(|b| b.is_ascii_hexdigit());
            if hex && content.len().is_multiple_of(2) {
                Ok(())
            } else {
                Err(CredentialError::InvalidContent { kind, reason: "a PSK is an even number of hex digits" })
            }
        }
        CredentialType::PskIdentity => {
            if content.bytes().all(|b| PRINTABLE.contains(&b)) {
                Ok(())
            } else {
                Err(CredentialError::InvalidContent {
                    kind,
                    reason: "a PSK identity is printable ASCII text",
                })
            }
        }
    }
}

/// The DER of every certificate in a PEM that holds certificates and nothing else.
fn certificates(kind: CredentialType, content: &str) -> Result<Vec<Vec<u8>>, CredentialError> {
    let invalid = |reason| CredentialError::InvalidContent { kind, reason };
    let sections = pem_sections(content).ok_or(invalid("not a readable PEM"))?;
    if sections.is_empty() {
        return Err(invalid("no -----BEGIN CERTIFICATE----- section"));
    }
    let mut ders = Vec::with_capacity(sections.len());
    for (section, der) in sections {
        if section != SectionKind::Certificate {
            return Err(invalid("only CERTIFICATE sections are allowed"));
        }
        let cert = CertificateDer::from(der.as_slice());
        if webpki::anchor_from_trusted_cert(&cert).is_err() {
            return Err(invalid("a CERTIFICATE section is not an X.509 certificate"));
        }
        ders.push(der);
    }
    Ok(ders)
}

/// The one unencrypted private key of a PEM, its DER structure checked.
fn private_key(content: &str) -> Result<ClientKey, CredentialError> {
    let invalid = |reason| CredentialError::InvalidContent { kind: CredentialType::PrivateKey, reason };
    if content.contains("ENCRYPTED") {
        return Err(invalid("encrypted keys are not supported: decrypt it first (openssl pkey)"));
    }
    let mut sections = pem_sections(content).ok_or(invalid("not a readable PEM"))?;
    let (section, der) = match sections.pop() {
        Some(one) if sections.is_empty() => one,
        Some(_) => return Err(invalid("more than one PEM section")),
        None => return Err(invalid("no -----BEGIN PRIVATE KEY----- section")),
    };
    let format = match section {
        SectionKind::PrivateKey => KeyFormat::Pkcs8,
        SectionKind::EcPrivateKey => KeyFormat::Sec1,
        SectionKind::RsaPrivateKey => KeyFormat::Pkcs1,
        _ => return Err(invalid("the section is not PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY")),
    };
    let parses = match format {
        KeyFormat::Pkcs8 => pkcs8::PrivateKeyInfoRef::try_from(der.as_slice()).is_ok(),
        KeyFormat::Sec1 => sec1::EcPrivateKey::try_from(der.as_slice()).is_ok(),
        KeyFormat::Pkcs1 => is_rsa_private_key(&der),
        _ => false,
    };
    if !parses {
        return Err(invalid("the key's DER does not have the structure its PEM label announces"));
    }
    Ok(ClientKey { format, der })
}

/// Every PEM section of `content` with its DER, or `None` when a section is malformed or has a
/// label the PEM reader does not know (it would skip those silently).
fn pem_sections(content: &str) -> Option<Vec<(SectionKind, Vec<u8>)>> {
    let begins =
        content.as_bytes().split(|&b| b == b'\r' || b == b'\n').filter(|l| l.starts_with(PEM_BEGIN)).count();
    // The reader's errors may quote the input: only whether there was one is kept.
    let sections: Vec<(SectionKind, Vec<u8>)> =
        <(SectionKind, Vec<u8>)>::pem_slice_iter(content.as_bytes()).collect::<Result<_, _>>().ok()?;
    (sections.len() == begins).then_some(sections)
}

/// A PKCS#1 `RSAPrivateKey` (two-prime): a SEQUENCE of version 0 and eight more INTEGERs.
fn is_rsa_private_key(der: &[u8]) -> bool {
    use der::Decode;
    match Vec::<der::asn1::IntRef<'_>>::from_der(der) {
        Ok(ints) => ints.len() == 9 && ints[0].as_bytes() == [0],
        Err(_) => false,
    }
}

/// The content under `(sec_tag, kind)`, whatever its type, checked against its record.
fn load(settings: &Settings, sec_tag: SecTag, kind: CredentialType) -> Result<Credential, CredentialError> {
    let meta = settings.get(&meta_key(sec_tag, kind)).ok_or(CredentialError::NotFound { sec_tag, kind })?;
    let corrupt = || CredentialError::Corrupt { sec_tag, kind };
    let entry = parse_meta(sec_tag, kind, meta).ok_or_else(corrupt)?;
    let mut bytes = Vec::with_capacity(entry.len);
    for i in 0..entry.len.div_ceil(MAX_VALUE_LEN) {
        bytes.extend_from_slice(settings.get(&chunk_key(sec_tag, kind, i)).ok_or_else(corrupt)?);
    }
    if bytes.len() != entry.len || <[u8; 32]>::from(Sha256::digest(&bytes)) != entry.sha256 {
        log::error!("credential sec_tag {sec_tag}, {kind}: stored bytes do not match their digest");
        return Err(corrupt());
    }
    let content = String::from_utf8(bytes).map_err(|_| corrupt())?;
    Ok(Credential { entry, content })
}

fn cost(len: usize) -> usize {
    len + ENTRY_OVERHEAD
}

fn storage_error(e: SettingsError) -> CredentialError {
    match e {
        SettingsError::Full { .. } => CredentialError::StoreFull,
        other => CredentialError::Storage(other),
    }
}

fn meta_key(sec_tag: SecTag, kind: CredentialType) -> String {
    format!("{PREFIX}{sec_tag}.{}", kind.code())
}

fn chunk_key(sec_tag: SecTag, kind: CredentialType, index: usize) -> String {
    format!("{PREFIX}{sec_tag}.{}.{index}", kind.code())
}

/// The chunk keys stored for `(sec_tag, kind)` with their index, whatever their number.
fn chunk_keys(settings: &Settings, sec_tag: SecTag, kind: CredentialType) -> Vec<(usize, String)> {
    let prefix = format!("{}.", meta_key(sec_tag, kind));
    settings
        .iter()
        .filter_map(|(key, _)| {
            let index = key.strip_prefix(&prefix)?;
            let n: usize = index.parse().ok()?;
            (n.to_string() == index).then(|| (n, key.to_owned()))
        })
        .collect()
}

fn meta_bytes(entry: &Entry) -> Vec<u8> {
    // MAX_CONTENT_LEN fits in a u32.
    let mut meta = (entry.len as u32).to_le_bytes().to_vec();
    meta.extend_from_slice(&entry.sha256);
    meta
}

fn parse_meta(sec_tag: SecTag, kind: CredentialType, value: &[u8]) -> Option<Entry> {
    if value.len() != META_LEN {
        return None;
    }
    let (len, sha) = value.split_at(4);
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    (1..=MAX_CONTENT_LEN).contains(&len).then_some(())?;
    Some(Entry { sec_tag, kind, len, sha256: sha.try_into().ok()? })
}

/// `cmng.<sec_tag>.<type>` in canonical decimal, or `None` for any other key.
fn parse_meta_key(key: &str) -> Option<(SecTag, CredentialType)> {
    let (tag, kind) = key.strip_prefix(PREFIX)?.split_once('.')?;
    let tag_n: i64 = tag.parse().ok()?;
    let kind_n: i64 = kind.parse().ok()?;
    let parsed = (SecTag::try_from(tag_n).ok()?, CredentialType::try_from(kind_n).ok()?);
    (meta_key(parsed.0, parsed.1) == key).then_some(parsed)
}

#[cfg(test)]
mod tests;
