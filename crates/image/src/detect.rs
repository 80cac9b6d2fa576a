//! Image type detection from the first bytes of a download, the way Nordic's `dfu_target` does it.
//!
//! Owns only the magic-number table and its precedence (MCUboot, then modem delta, then full
//! modem). It must never guess: too few bytes give `NeedMore`, and the caller decides at EOF.

/// Bytes that always suffice for [`ImageKind::detect`] to decide.
pub const DETECT_LEN: usize = 8;

/// u32 LE at offset 0 of an MCUboot image.
pub const MCUBOOT_MAGIC: u32 = 0x96f3_b83d;
/// u32 LE at offset 4 of a modem delta update.
pub const MODEM_DELTA_MAGIC: u32 = 0x7544_656d;
/// u16 LE at offset 0 of a full modem firmware package.
pub const MODEM_FULL_MAGIC: u16 = 0x84d2;

/// What kind of update a byte stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageKind {
    /// An MCUboot application image.
    McubootApp,
    /// A modem delta (differential) update.
    ModemDelta,
    /// A full modem firmware image.
    ModemFull,
}

/// The outcome of looking at the first bytes of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Detection {
    /// The bytes identify this kind.
    Kind(ImageKind),
    /// Not enough bytes yet to decide; give at most [`DETECT_LEN`].
    NeedMore,
    /// The bytes match no known kind.
    Unknown,
}

impl ImageKind {
    /// Identifies the kind of update from its first bytes (any length; only the first 8 matter).
    pub fn detect(first_bytes: &[u8]) -> Detection {
        // Precedence as in Nordic's dfu_target_img_type(): MCUboot, modem delta, full modem.
        // A full-modem magic in bytes 0..2 therefore only counts once bytes 4..8 exclude a delta.
        if let Some(magic) = le_u32(first_bytes, 0)
            && magic == MCUBOOT_MAGIC
        {
            return Detection::Kind(ImageKind::McubootApp);
        }
        let Some(delta) = le_u32(first_bytes, 4) else {
            return Detection::NeedMore;
        };
        if delta == MODEM_DELTA_MAGIC {
            return Detection::Kind(ImageKind::ModemDelta);
        }
        // Bytes 4..8 exist, so bytes 0 and 1 do.
        if u16::from_le_bytes([first_bytes[0], first_bytes[1]]) == MODEM_FULL_MAGIC {
            return Detection::Kind(ImageKind::ModemFull);
        }
        Detection::Unknown
    }
}

fn le_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset + 4)?;
    Some(u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn detection_table() {
        let cases: &[(&[u8], Detection)] = &[
            (&[], Detection::NeedMore),
            (&[0x3d, 0xb8, 0xf3], Detection::NeedMore),
            (&[0x3d, 0xb8, 0xf3, 0x96], Detection::Kind(ImageKind::McubootApp)),
            (&[0x3d, 0xb8, 0xf3, 0x96, 0, 0, 0, 0, 9], Detection::Kind(ImageKind::McubootApp)),
            (&[0, 0, 0, 0, 0x6d, 0x65, 0x44], Detection::NeedMore),
            (&[0, 0, 0, 0, 0x6d, 0x65, 0x44, 0x75], Detection::Kind(ImageKind::ModemDelta)),
            // A delta magic wins over a full-modem magic, as in Nordic's order.
            (&[0xd2, 0x84, 0, 0, 0x6d, 0x65, 0x44, 0x75], Detection::Kind(ImageKind::ModemDelta)),
            (&[0xd2, 0x84], Detection::NeedMore),
            (&[0xd2, 0x84, 1, 2, 3, 4, 5, 6], Detection::Kind(ImageKind::ModemFull)),
            (&[0x84, 0xd2, 1, 2, 3, 4, 5, 6], Detection::Unknown),
            (&[0x96, 0xf3, 0xb8, 0x3d, 0, 0, 0, 0], Detection::Unknown),
            (&[0xff; 8], Detection::Unknown),
        ];
        for (bytes, want) in cases {
            assert_eq!(ImageKind::detect(bytes), *want, "bytes {bytes:02x?}");
        }
    }

    #[test]
    fn fixture_is_an_mcuboot_app() {
        assert_eq!(
            ImageKind::detect(crate::fixtures::SIGNED_ED25519),
            Detection::Kind(ImageKind::McubootApp)
        );
    }

    proptest! {
        #[test]
        fn detect_len_always_suffices(bytes in proptest::collection::vec(any::<u8>(), DETECT_LEN..64)) {
            prop_assert_ne!(ImageKind::detect(&bytes), Detection::NeedMore);
            // Bytes past DETECT_LEN never change the verdict.
            prop_assert_eq!(ImageKind::detect(&bytes), ImageKind::detect(&bytes[..DETECT_LEN]));
        }

        #[test]
        fn a_decided_prefix_stays_decided(bytes in proptest::collection::vec(any::<u8>(), 0..16), cut in 0usize..16) {
            let cut = cut.min(bytes.len());
            if let Detection::Kind(kind) = ImageKind::detect(&bytes[..cut]) {
                prop_assert_eq!(ImageKind::detect(&bytes), Detection::Kind(kind));
            }
        }
    }
}
