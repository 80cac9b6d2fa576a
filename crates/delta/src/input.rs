//! The raw patch bytes as `apply` pulls them from the caller's `Read`, through one fixed buffer.
//!
//! This module owns telling the end of the patch apart from a failed read: a read error is the
//! caller's ([`PatchError::ReadPatch`]), running out of bytes is [`PatchError::Truncated`]. It
//! must never hold more than its one buffer of patch bytes.

use std::io::{ErrorKind, Read};

use crate::PatchError;

/// Bytes read from the patch source at a time.
const BUF_LEN: usize = 4096;

/// A buffered reader over the patch that knows where the patch ends.
pub(crate) struct Input<P> {
    reader: P,
    buf: Box<[u8; BUF_LEN]>,
    start: usize,
    end: usize,
    at_eof: bool,
}

impl<P: Read> Input<P> {
    pub fn new(reader: P) -> Self {
        Input { reader, buf: Box::new([0; BUF_LEN]), start: 0, end: 0, at_eof: false }
    }

    /// The buffered bytes, reading more when none are left; empty at the end of the patch.
    pub fn fill(&mut self) -> Result<&[u8], PatchError> {
        while self.start == self.end && !self.at_eof {
            match self.reader.read(&mut self.buf[..]) {
                Ok(0) => self.at_eof = true,
                Ok(n) => {
                    self.start = 0;
                    self.end = n.min(BUF_LEN);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(PatchError::ReadPatch(e)),
            }
        }
        Ok(&self.buf[self.start..self.end])
    }

    /// Marks `n` bytes of the last [`Input::fill`] as used.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// The next byte; `what` names the field if the patch ends here.
    pub fn byte(&mut self, what: &'static str) -> Result<u8, PatchError> {
        let b = *self.fill()?.first().ok_or(PatchError::Truncated { what })?;
        self.consume(1);
        Ok(b)
    }

    /// Succeeds only at the end of the patch.
    pub fn expect_end(&mut self) -> Result<(), PatchError> {
        if self.fill()?.is_empty() { Ok(()) } else { Err(PatchError::TrailingData) }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// Returns one byte per read, with an `Interrupted` between, then fails or ends.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        interrupt: bool,
        fail_at_end: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            match self.data.get(self.pos) {
                Some(&b) => {
                    buf[0] = b;
                    self.pos += 1;
                    Ok(1)
                }
                None if self.fail_at_end => Err(io::Error::other("power lost")),
                None => Ok(0),
            }
        }
    }

    #[test]
    fn retries_interrupted_reads_and_reports_the_end() {
        let mut input =
            Input::new(Trickle { data: vec![1, 2], pos: 0, interrupt: false, fail_at_end: false });
        assert_eq!(input.byte("a").unwrap(), 1);
        assert!(matches!(input.expect_end(), Err(PatchError::TrailingData)));
        assert_eq!(input.byte("b").unwrap(), 2);
        assert!(matches!(input.byte("c"), Err(PatchError::Truncated { what: "c" })));
        input.expect_end().unwrap();
    }

    #[test]
    fn keeps_the_callers_read_error() {
        let mut input = Input::new(Trickle { data: vec![], pos: 0, interrupt: false, fail_at_end: true });
        let err = input.byte("a").unwrap_err().into_io_error().unwrap();
        assert_eq!(err.to_string(), "power lost");
    }
}
