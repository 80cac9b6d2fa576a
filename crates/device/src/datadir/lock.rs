//! One process per device: an exclusive `flock` on the data directory,
//! taken before anything in it is read or written and held for as long as
//! the device is open. The kernel releases it when the process dies, so a
//! SIGKILL never leaves a stale lock. A second process is refused at once
//! with the directory and, where Linux tells it (`/proc/locks`), the other
//! process's PID.

use std::fs::File;
use std::path::Path;

use super::DataDirError;

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) struct DirLock {
    _dir: File,
}

impl DirLock {
    /// Locks `path` (a directory) or says who holds it.
    pub fn acquire(path: &Path) -> Result<Self, DataDirError> {
        let io = |source| DataDirError::Io { path: path.to_path_buf(), source };
        let dir = File::open(path).map_err(io)?;
        match dir.try_lock() {
            Ok(()) => Ok(Self { _dir: dir }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = holder(&dir).map_or_else(String::new, |pid| format!(" (process {pid})"));
                Err(DataDirError::InUse(format!(
                    "{} is in use by another atfota{holder}: one process per device; stop it first, \
                     or use another --data directory",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// The PID holding a lock on `file`, from `/proc/locks` (Linux only).
fn holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let want = format!(":{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (pid, id) = (fields.get(4)?, fields.get(5)?);
        id.ends_with(&want).then(|| pid.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holder_and_freed_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(tmp.path()).unwrap();
        let err = DirLock::acquire(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another atfota"), "{err}");
        assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
        drop(first);
        DirLock::acquire(tmp.path()).unwrap();
    }
}
