//! Random-access reads of the old firmware, the one thing `apply` needs besides the patch.
//!
//! This module owns the [`ReadAt`] trait and its implementations for memory and files. It must
//! never buffer a whole firmware: each call reads exactly the range asked for.

use std::fs::File;
use std::io;

/// Random-access reads of the old ("from") firmware.
pub trait ReadAt {
    /// Size of the old firmware in bytes.
    fn len(&self) -> u64;

    /// Whether the old firmware is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` from `offset`; `apply` only asks for ranges within [`ReadAt::len`].
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl ReadAt for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_slice(self, offset, buf)
    }
}

impl ReadAt for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_slice(self, offset, buf)
    }
}

impl ReadAt for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_slice(self, offset, buf)
    }
}

/// A file read as the old firmware; its length is taken once, when it is opened.
#[derive(Debug)]
pub struct FileAt {
    file: File,
    len: u64,
}

impl FileAt {
    /// Wraps `file`, reading its length now.
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileAt { file, len })
    }

    /// Gives the file back.
    pub fn into_inner(self) -> File {
        self.file
    }
}

impl ReadAt for FileAt {
    fn len(&self) -> u64 {
        self.len
    }

    #[cfg(unix)]
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        // One pread per call instead of a seek and a read.
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }

    #[cfg(not(unix))]
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(buf)
    }
}

fn read_slice(data: &[u8], offset: u64, buf: &mut [u8]) -> io::Result<()> {
    let src = usize::try_from(offset)
        .ok()
        .and_then(|start| data.get(start..start.checked_add(buf.len())?))
        .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    buf.copy_from_slice(src);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn slices_read_ranges_and_refuse_past_the_end() {
        let mut data: &[u8] = b"abcdef";
        let mut buf = [0; 3];
        data.read_exact_at(2, &mut buf).unwrap();
        assert_eq!(&buf, b"cde");
        assert!(data.read_exact_at(4, &mut buf).is_err());
        assert!(data.read_exact_at(u64::MAX, &mut buf).is_err());
        let mut v = b"xyz".to_vec();
        v.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"xyz");
        assert_eq!(ReadAt::len(&v), 3);
    }

    #[test]
    fn files_read_ranges() {
        let path = std::env::temp_dir().join(format!("atfota-delta-readat-{}", std::process::id()));
        File::create(&path).unwrap().write_all(b"0123456789").unwrap();
        let mut file = FileAt::new(File::open(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.len(), 10);
        let mut buf = [0; 4];
        file.read_exact_at(6, &mut buf).unwrap();
        assert_eq!(&buf, b"6789");
        assert!(file.read_exact_at(8, &mut buf).is_err());
    }
}
