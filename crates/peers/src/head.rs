//! Rewriting the `Content-Length` of the first HTTP response head in a byte stream, for the
//! proxy's "server that lies about its length" fault.
//!
//! It owns only the head: bytes after the blank line pass through untouched, and a head that
//! does not end within [`MAX_HEAD`] bytes is forwarded unchanged rather than buffered further.
//! It must never alter anything but the value of an existing `Content-Length` line.

/// Largest response head buffered while looking for its end.
pub(crate) const MAX_HEAD: usize = 0x1_0000;

/// Stream filter that replaces the Content-Length value in the first response head.
pub(crate) struct HeadRewriter {
    value: u64,
    head: Vec<u8>,
    done: bool,
}

impl HeadRewriter {
    /// A rewriter that will announce `value` as the Content-Length.
    pub(crate) fn new(value: u64) -> Self {
        Self { value, head: Vec::new(), done: false }
    }

    /// Feeds bytes from upstream; appends what may be sent to the client to `out`.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.done {
            out.extend_from_slice(input);
            return;
        }
        self.head.extend_from_slice(input);
        if let Some(end) = find_blank_line(&self.head) {
            let (head, rest) = self.head.split_at(end);
            out.extend_from_slice(&rewrite(head, self.value));
            out.extend_from_slice(rest);
            self.finish();
        } else if self.head.len() > MAX_HEAD {
            out.extend_from_slice(&self.head);
            self.finish();
        }
    }

    /// Upstream ended: returns whatever is still buffered.
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        self.finish();
    }

    fn finish(&mut self) {
        self.head = Vec::new();
        self.done = true;
    }
}

/// Index just past the `\r\n\r\n` ending the head.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The head with every `Content-Length:` line's value replaced by `value`.
pub(crate) fn rewrite(head: &[u8], value: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 20);
    for line in head.split_inclusive(|&b| b == b'\n') {
        let is_length = line
            .iter()
            .position(|&b| b == b':')
            .is_some_and(|colon| line[..colon].eq_ignore_ascii_case(b"content-length"));
        if is_length {
            out.extend_from_slice(format!("Content-Length: {value}\r\n").as_bytes());
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: x\r\ncontent-length: 10\r\n\r\n";

    #[test]
    fn replaces_the_value_and_keeps_the_rest() {
        let mut r = HeadRewriter::new(99);
        let mut out = Vec::new();
        r.feed(HEAD, &mut out);
        r.feed(b"0123456789", &mut out);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-type: x\r\nContent-Length: 99\r\n\r\n0123456789");
    }

    #[test]
    fn a_head_without_content_length_is_unchanged() {
        let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert_eq!(rewrite(head, 5), head);
    }

    #[test]
    fn an_endless_head_is_forwarded_unchanged() {
        let mut r = HeadRewriter::new(1);
        let mut out = Vec::new();
        let junk = vec![b'a'; MAX_HEAD + 1];
        r.feed(&junk, &mut out);
        assert_eq!(out, junk);
        r.feed(b"content-length: 3\r\n\r\n", &mut out);
        assert!(out.ends_with(b"content-length: 3\r\n\r\n"));
    }

    #[test]
    fn flush_returns_a_partial_head() {
        let mut r = HeadRewriter::new(1);
        let mut out = Vec::new();
        r.feed(b"HTTP/1.1 200", &mut out);
        assert!(out.is_empty());
        r.flush(&mut out);
        assert_eq!(out, b"HTTP/1.1 200");
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_output(split in 0..HEAD.len() + 10, value in any::<u64>()) {
            let whole: Vec<u8> = [HEAD, b"0123456789"].concat();
            let mut once = Vec::new();
            HeadRewriter::new(value).feed(&whole, &mut once);
            let mut parts = Vec::new();
            let mut r = HeadRewriter::new(value);
            r.feed(&whole[..split], &mut parts);
            r.feed(&whole[split..], &mut parts);
            prop_assert_eq!(&once, &parts);
            let text = format!("Content-Length: {value}\r\n");
            prop_assert!(once.windows(text.len()).any(|w| w == text.as_bytes()));
            prop_assert!(once.ends_with(b"\r\n\r\n0123456789"));
        }

        #[test]
        fn arbitrary_bytes_pass_through_in_length(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut r = HeadRewriter::new(7);
            let mut out = Vec::new();
            r.feed(&bytes, &mut out);
            r.flush(&mut out);
            if find_blank_line(&bytes).is_none() {
                prop_assert_eq!(out, bytes);
            }
        }
    }
}
