//! Versioned SQLite schema migrations, embedded in the binary.
//!
//! Each migration has an up and a down script under `migrations/sqlite/`.
//! Applied versions are recorded in `schema_migrations` with their time.
//! A migration and its record are written in one transaction, so a crash
//! mid-migration leaves the previous version intact.

use crate::{Result, StorageError};
use chrono::{DateTime, Utc};
use lookout_model::{AppliedMigration, MigrationStatus};
use rusqlite::{Connection, params};

/// One schema change.
#[derive(Debug)]
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub up: &'static str,
    pub down: &'static str,
}

macro_rules! migration {
    ($v:literal, $name:literal, $file:literal) => {
        Migration {
            version: $v,
            name: $name,
            up: include_str!(concat!("../../migrations/sqlite/", $file, ".up.sql")),
            down: include_str!(concat!("../../migrations/sqlite/", $file, ".down.sql")),
        }
    };
}

/// Every migration this binary knows, in order. Versions are the file
/// prefixes, so `0001_foundation` is version 1.
pub(crate) const MIGRATIONS: &[Migration] = &[
    migration!(1, "foundation", "0001_foundation"),
    migration!(2, "errors", "0002_errors"),
    migration!(3, "accounts", "0003_accounts"),
    migration!(4, "access", "0004_access"),
    migration!(5, "system_events", "0005_system_events"),
    migration!(6, "overview", "0006_overview"),
    migration!(7, "monitors", "0007_monitors"),
    migration!(8, "alerts", "0008_alerts"),
    migration!(9, "telegram", "0009_telegram"),
    migration!(10, "retention_indexes", "0010_retention_indexes"),
    migration!(11, "project_deletion", "0011_project_deletion"),
];

/// The highest version this binary knows.
pub(crate) fn latest() -> u32 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

pub(crate) fn ensure_table(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT    NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )?;
    Ok(())
}

pub(crate) fn current(conn: &Connection) -> Result<u32> {
    let v: Option<u32> = conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
        r.get(0)
    })?;
    Ok(v.unwrap_or(0))
}

pub(crate) fn status(conn: &Connection) -> Result<MigrationStatus> {
    let current = current(conn)?;
    Ok(MigrationStatus {
        current,
        latest: latest(),
        pending: MIGRATIONS
            .iter()
            .map(|m| m.version)
            .filter(|v| *v > current)
            .collect(),
    })
}

pub(crate) fn history(conn: &Connection) -> Result<Vec<AppliedMigration>> {
    let mut stmt =
        conn.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")?;
    let rows = stmt.query_map([], |r| {
        Ok(AppliedMigration {
            version: r.get(0)?,
            name: r.get(1)?,
            applied_at: ms_to_time(r.get(2)?),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Applies pending migrations up to `to`. The caller provides the
/// transaction (the writer's batch or an explicit one).
pub(crate) fn up(conn: &Connection, to: Option<u32>, now: DateTime<Utc>) -> Result<Vec<u32>> {
    let current = current(conn)?;
    let target = to.unwrap_or_else(latest);
    if target > latest() {
        return Err(StorageError::InvalidMigration(format!(
            "no migration {target}: the latest this binary knows is {}",
            latest()
        )));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > current && m.version <= target)
    {
        conn.execute_batch(m.up).map_err(|e| {
            StorageError::Backend(format!("migration {} ({}) failed: {e}", m.version, m.name))
        })?;
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now.timestamp_millis()],
        )?;
        applied.push(m.version);
    }
    Ok(applied)
}

/// Reverts applied migrations down to `to` (exclusive: version `to` stays
/// applied); one step when `to` is `None`.
pub(crate) fn down(conn: &Connection, to: Option<u32>) -> Result<Vec<u32>> {
    let current = current(conn)?;
    if current == 0 {
        return Err(StorageError::InvalidMigration(
            "no migration is applied; nothing to revert".into(),
        ));
    }
    let target = to.unwrap_or(current - 1);
    if target >= current {
        return Err(StorageError::InvalidMigration(format!(
            "schema is at version {current}; cannot go down to {target}"
        )));
    }
    let mut reverted = Vec::new();
    for m in MIGRATIONS
        .iter()
        .rev()
        .filter(|m| m.version <= current && m.version > target)
    {
        conn.execute_batch(m.down).map_err(|e| {
            StorageError::Backend(format!(
                "reverting migration {} ({}) failed: {e}",
                m.version, m.name
            ))
        })?;
        conn.execute(
            "DELETE FROM schema_migrations WHERE version = ?1",
            params![m.version],
        )?;
        reverted.push(m.version);
    }
    Ok(reverted)
}

pub(crate) fn ms_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut s = conn
            .prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn every_migration_goes_up_and_down_cleanly() {
        let conn = Connection::open_in_memory().unwrap();
        ensure_table(&conn).unwrap();
        let empty = tables(&conn);
        let applied = up(&conn, None, Utc::now()).unwrap();
        assert_eq!(applied.len(), MIGRATIONS.len());
        assert_eq!(current(&conn).unwrap(), latest());
        // Walk down one step at a time; each down must succeed.
        for m in MIGRATIONS.iter().rev() {
            assert_eq!(down(&conn, None).unwrap(), vec![m.version]);
        }
        assert_eq!(tables(&conn), empty, "down steps leave no table behind");
        // And back up again: down steps left a clean slate.
        up(&conn, None, Utc::now()).unwrap();
        assert_eq!(current(&conn).unwrap(), latest());
    }

    #[test]
    fn down_past_zero_is_an_error() {
        let conn = Connection::open_in_memory().unwrap();
        ensure_table(&conn).unwrap();
        assert!(matches!(
            down(&conn, None),
            Err(StorageError::InvalidMigration(_))
        ));
        assert!(matches!(
            up(&conn, Some(latest() + 1), Utc::now()),
            Err(StorageError::InvalidMigration(_))
        ));
    }

    #[test]
    fn versions_are_increasing() {
        for w in MIGRATIONS.windows(2) {
            assert!(w[0].version < w[1].version);
        }
    }
}
