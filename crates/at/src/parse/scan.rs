//! Character cursor over one command line that skips the blanks V.250 §5.1 tells a DCE to ignore.
//!
//! It owns position keeping (byte offsets into the line, for error messages) and blank skipping.
//! It must never skip inside double quotes: the string reader uses the `raw` methods there.

/// Cursor over a command line; offsets are byte offsets into that line.
pub(super) struct Scanner<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(line: &'a str) -> Self {
        Self { line, pos: 0 }
    }

    /// The next significant character, blanks skipped.
    pub(super) fn peek(&mut self) -> Option<char> {
        self.skip_blanks();
        self.peek_raw()
    }

    /// Consume and return the next significant character, blanks skipped.
    pub(super) fn bump(&mut self) -> Option<char> {
        self.skip_blanks();
        self.bump_raw()
    }

    /// Byte offset of the next significant character (the line length at its end).
    pub(super) fn offset(&mut self) -> usize {
        self.skip_blanks();
        self.pos
    }

    /// Byte offset of the next character, blanks included.
    pub(super) fn offset_raw(&self) -> usize {
        self.pos
    }

    /// The next character, blanks included.
    pub(super) fn peek_raw(&self) -> Option<char> {
        // `pos` only ever advances by whole characters, so it is always a char boundary; `get`
        // keeps even a broken invariant from panicking.
        self.line.get(self.pos..).and_then(|rest| rest.chars().next())
    }

    /// Consume and return the next character, blanks included.
    pub(super) fn bump_raw(&mut self) -> Option<char> {
        let c = self.peek_raw()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek_raw(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_blanks_only_in_cooked_mode() {
        let mut s = Scanner::new(" a \tb");
        assert_eq!(s.offset(), 1);
        assert_eq!(s.bump(), Some('a'));
        assert_eq!(s.peek_raw(), Some(' '));
        assert_eq!(s.offset_raw(), 2);
        assert_eq!(s.bump(), Some('b'));
        assert_eq!(s.bump(), None);
        assert_eq!(s.offset(), 5);
    }

    #[test]
    fn offsets_count_bytes_of_multibyte_chars() {
        let mut s = Scanner::new("\u{e9}x");
        assert_eq!(s.bump_raw(), Some('\u{e9}'));
        assert_eq!(s.offset_raw(), 2);
        assert_eq!(s.bump_raw(), Some('x'));
        assert_eq!(s.bump_raw(), None);
    }
}
