//! The data dir lock: `serve` holds an exclusive advisory lock (`flock`) on
//! `<data_dir>/lookout.lock` for as long as it runs, and writes its pid
//! there. `backup restore` takes the same lock, so it cannot replace the
//! database under a running server, and a server cannot start mid-restore.
//! The kernel drops the lock when the process dies, even by `kill -9`, so
//! a stale lock file never blocks anything.

use crate::BackupError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data dir.
pub const LOCK_FILE: &str = "lookout.lock";

/// Holds the data dir lock until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on `data_dir` (created if missing) without waiting.
    /// Fails with [`BackupError::Locked`] naming the holder's pid when
    /// another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, BackupError> {
        std::fs::create_dir_all(data_dir).map_err(|e| BackupError::io(data_dir, e))?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| BackupError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(BackupError::Locked {
                    dir: data_dir.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(BackupError::io(&path, e)),
        }
        file.set_len(0).map_err(|e| BackupError::io(&path, e))?;
        file.rewind().map_err(|e| BackupError::io(&path, e))?;
        let _ = writeln!(file, "{}", std::process::id());
        Ok(DataDirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        match &err {
            BackupError::Locked { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("running"), "{err}");
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
