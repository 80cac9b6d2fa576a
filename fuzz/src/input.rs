//! Cutting a fuzz input into the parts a target needs: a fixed-size control header, and a
//! stream split into chunks whose sizes the input chooses.
//!
//! Owns only slicing. It never allocates in proportion to the input and never drops or
//! reorders a byte of the stream: chunks concatenate back to exactly what was split.

/// Splits `N` leading control bytes off `data`, zero-filling those a short input lacks.
pub fn header<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut head = [0u8; N];
    let taken = data.len().min(N);
    head[..taken].copy_from_slice(&data[..taken]);
    (head, &data[taken..])
}

/// Cuts `data` into chunks whose sizes cycle through `pattern` (see [`chunk_len`]); an empty
/// pattern gives one chunk. Never yields an empty chunk.
pub fn chunks<'a>(pattern: &'a [u8], data: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = data;
    let mut sizes = pattern.iter().copied().map(chunk_len).cycle();
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

/// Chunk size for one pattern byte: 1 to 8 129 bytes, dense among small sizes, where the
/// boundary cases of a stream parser are (1-byte chunks, a header split in two).
pub fn chunk_len(byte: u8) -> usize {
    1 + usize::from(byte) * usize::from(byte) / 8
}

/// Splits `data` at its first `separator` byte (dropped); the second part is empty without one.
pub fn split_at_byte(data: &[u8], separator: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == separator) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// Cuts `data` after each CR or LF, so each piece holds at most one line terminator, at its end.
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&b| b == b'\r' || b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_zero_fills_a_short_input() {
        assert_eq!(header::<3>(b"ab"), ([b'a', b'b', 0], &b""[..]));
        assert_eq!(header::<2>(b"abcd"), ([b'a', b'b'], &b"cd"[..]));
    }

    #[test]
    fn chunks_follow_the_pattern_and_keep_every_byte() {
        let data: Vec<u8> = (0..=255).collect();
        // Sizes 1, 1 + 64*64/8 = 513 (capped by the data), cycling.
        let got: Vec<&[u8]> = chunks(&[0, 64], &data).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], &data[..1]);
        assert_eq!(got[1], &data[1..]);
        let small: Vec<usize> = chunks(&[0, 8], &data[..10]).map(<[u8]>::len).collect();
        assert_eq!(small, [1, 9]);
    }

    #[test]
    fn an_empty_pattern_gives_one_chunk_and_empty_data_none() {
        assert_eq!(chunks(&[], b"abc").collect::<Vec<_>>(), [&b"abc"[..]]);
        assert_eq!(chunks(&[3], b"").count(), 0);
    }

    #[test]
    fn chunk_len_spans_one_byte_to_eight_kib() {
        assert_eq!(chunk_len(0), 1);
        assert_eq!(chunk_len(3), 2);
        assert_eq!(chunk_len(255), 8129);
    }

    #[test]
    fn split_at_byte_drops_the_first_separator_only() {
        assert_eq!(split_at_byte(b"ab\0c\0d", 0), (&b"ab"[..], &b"c\0d"[..]));
        assert_eq!(split_at_byte(b"abc", 0), (&b"abc"[..], &b""[..]));
    }

    #[test]
    fn lines_end_at_each_terminator() {
        let got: Vec<&[u8]> = lines(b"AT\r\nATI\rx").collect();
        assert_eq!(got, [&b"AT\r"[..], b"\n", b"ATI\r", b"x"]);
    }
}
