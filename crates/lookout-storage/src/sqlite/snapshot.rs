//! Database files as a whole: consistent online snapshots (for backups),
//! and inspection of a file that is not open as a store (verifying a
//! backup, `lookout check`).
//!
//! A snapshot uses SQLite's online backup API in a single step: the copy
//! runs inside one read transaction, so it is a consistent picture of the
//! last commit before it began. In WAL mode a reader never blocks the
//! writer, so ingest goes on while the copy runs; the WAL only grows a
//! little because the checkpointer cannot pass the reader's snapshot.

use super::{migrations, ops};
use crate::{Result, StorageError};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Copies the live database at `db` into a new, self-contained file at
/// `dest` (rollback-journal mode, no `-wal` needed). Returns the schema
/// version of the copy.
///
/// `dest` is a scratch copy: it is **not** fsynced (the caller compresses
/// it at once into the file that must be durable, and deletes it), so the
/// copy does not flood the disk with a burst that stalls ingest's commits.
pub fn snapshot(db: &Path, dest: &Path) -> Result<u32> {
    if !db.is_file() {
        return Err(StorageError::NotFound(format!("database {}", db.display())));
    }
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(Duration::from_secs(30))?;
    let _ = std::fs::remove_file(dest);
    let mut dst = Connection::open(dest)?;
    // A scratch file: no journal, no syncs while it is filled.
    dst.pragma_update(None, "synchronous", "OFF")?;
    {
        let backup = Backup::new(&src, &mut dst)?;
        // One step: the whole copy under one read transaction. Stepping in
        // pieces would restart whenever the writer commits in between, and
        // under steady ingest might never finish.
        let mut tries = 0;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => continue,
                StepResult::Busy | StepResult::Locked => {
                    tries += 1;
                    if tries > 300 {
                        return Err(StorageError::Backend(
                            "the database stayed locked for 30 s; snapshot abandoned".into(),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => continue,
            }
        }
    }
    dst.pragma_update(None, "journal_mode", "DELETE")?;
    let version = migrations::current(&dst).unwrap_or(0);
    drop(dst);
    Ok(version)
}

/// What [`inspect`] found in a database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Problems `PRAGMA integrity_check` reported; empty when healthy.
    pub problems: Vec<String>,
    /// The schema version recorded in the file (0 when none).
    pub schema_version: u32,
    /// Rows per table, by table name.
    pub tables: Vec<(String, u64)>,
}

/// Opens the file at `path` read-only, runs the full integrity check, and
/// counts the rows of every table. Never modifies the file.
pub fn inspect(path: &Path) -> Result<Inspection> {
    let c = open_read_only(path)?;
    let problems = ops::integrity_check(&c, 20).map_err(|e| corrupt(path, e))?;
    let schema_version = if problems.is_empty() {
        migrations::current(&c).unwrap_or(0)
    } else {
        0
    };
    let mut tables = Vec::new();
    if problems.is_empty() {
        let names: Vec<String> = {
            let mut stmt = c.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        for name in names {
            let n: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\"")),
                [],
                |r| r.get(0),
            )?;
            tables.push((name, n.max(0) as u64));
        }
    }
    Ok(Inspection {
        problems,
        schema_version,
        tables,
    })
}

/// The full integrity check of the database at `path` (it may be in use by
/// a running server: the check runs in a read transaction). Empty when
/// healthy.
pub fn full_check(path: &Path) -> Result<Vec<String>> {
    if !path.is_file() {
        return Err(StorageError::NotFound(format!(
            "database {}",
            path.display()
        )));
    }
    super::check_header(path)?;
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(Duration::from_secs(30))?;
    match ops::integrity_check(&c, 20) {
        Ok(p) => Ok(p),
        Err(StorageError::Corrupt { detail, .. }) => Ok(vec![detail]),
        Err(e) => Err(e),
    }
}

fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(StorageError::NotFound(format!(
            "database {}",
            path.display()
        )));
    }
    super::check_header(path)?;
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| super::corrupt_or(e, path))?;
    Ok(c)
}

fn corrupt(path: &Path, e: StorageError) -> StorageError {
    match e {
        StorageError::Corrupt { detail, .. } => StorageError::Corrupt {
            path: path.to_path_buf(),
            detail,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{DB_FILE, SqliteOptions, SqliteStore};
    use crate::{NewProject, Store};

    #[tokio::test(flavor = "multi_thread")]
    async fn snapshot_of_a_live_store_is_complete_and_checks_clean() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        for i in 0..20 {
            store
                .create_project(NewProject {
                    name: format!("p{i}"),
                })
                .await
                .unwrap();
        }
        let dest = dir.path().join("copy.db");
        let db = dir.path().join(DB_FILE);
        let d2 = dest.clone();
        let v = tokio::task::spawn_blocking(move || snapshot(&db, &d2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v, migrations::latest());
        let ins = inspect(&dest).unwrap();
        assert!(ins.problems.is_empty(), "{:?}", ins.problems);
        assert_eq!(ins.schema_version, v);
        let projects = ins.tables.iter().find(|(t, _)| t == "projects").unwrap();
        assert_eq!(projects.1, 20);
        assert!(full_check(&dest).unwrap().is_empty());
        store.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_fenced_store_refuses_every_write_but_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        store
            .create_project(NewProject { name: "a".into() })
            .await
            .unwrap();
        assert!(store.fenced().is_none());
        store.fence("integrity check failed: page 7".into());
        let err = store
            .create_project(NewProject { name: "b".into() })
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Fenced(_)), "{err}");
        assert!(err.to_string().contains("page 7"), "{err}");
        assert!(matches!(
            store.probe_write().await,
            Err(StorageError::Fenced(_))
        ));
        assert_eq!(store.list_projects().await.unwrap().len(), 1);
    }

    #[test]
    fn inspecting_garbage_names_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.db");
        std::fs::write(&p, b"definitely not sqlite").unwrap();
        let err = inspect(&p).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        assert!(matches!(
            inspect(&dir.path().join("missing.db")),
            Err(StorageError::NotFound(_))
        ));
    }
}
