//! SQL for Telegram linking (issue #6): which Telegram account acts as
//! which Lookout user, and the one-time codes that link them. Free
//! functions over a connection; `mod.rs` runs them on the writer or a
//! reader.

use super::migrations::ms_to_time;
use super::row_user;
use crate::{Result, StorageError, TelegramLink};
use chrono::{DateTime, Utc};
use lookout_model::User;
use rusqlite::{Connection, OptionalExtension, params};

/// Codes a user may have waiting at once (older ones are dropped).
const CODES_PER_USER: i64 = 3;

pub(crate) fn create_link_code(
    c: &Connection,
    user_id: i64,
    code_hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    if expires_at <= now {
        return Err(StorageError::InvalidInput(
            "a link code must expire in the future".into(),
        ));
    }
    c.execute(
        "DELETE FROM telegram_link_codes WHERE expires_at <= ?1",
        [now.timestamp_millis()],
    )?;
    c.execute(
        "INSERT INTO telegram_link_codes (code_hash, user_id, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            code_hash,
            user_id,
            expires_at.timestamp_millis(),
            now.timestamp_millis()
        ],
    )?;
    c.execute(
        "DELETE FROM telegram_link_codes WHERE user_id = ?1 AND code_hash NOT IN
           (SELECT code_hash FROM telegram_link_codes WHERE user_id = ?1
            ORDER BY created_at DESC, rowid DESC LIMIT ?2)",
        params![user_id, CODES_PER_USER],
    )?;
    Ok(())
}

pub(crate) fn consume_link_code(
    c: &Connection,
    code_hash: &str,
    telegram_user_id: i64,
    display_name: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>> {
    let owner: Option<(i64, i64)> = c
        .query_row(
            "SELECT user_id, expires_at FROM telegram_link_codes WHERE code_hash = ?1",
            [code_hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((user_id, expires_at)) = owner else {
        return Ok(None);
    };
    // Used or not, a presented code is gone: it cannot be tried twice.
    c.execute(
        "DELETE FROM telegram_link_codes WHERE code_hash = ?1",
        [code_hash],
    )?;
    if expires_at <= now.timestamp_millis() {
        return Ok(None);
    }
    let name: String = display_name.chars().take(100).collect();
    c.execute(
        "INSERT INTO telegram_links (telegram_user_id, user_id, display_name, created_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (telegram_user_id) DO UPDATE SET user_id = excluded.user_id,
           display_name = excluded.display_name, created_at = excluded.created_at",
        params![telegram_user_id, user_id, name, now.timestamp_millis()],
    )?;
    Ok(c.query_row(
        "SELECT id, email, is_admin, created_at FROM users WHERE id = ?1",
        [user_id],
        row_user,
    )
    .optional()?)
}

pub(crate) fn list_links(c: &Connection, user_id: i64) -> Result<Vec<TelegramLink>> {
    let mut s = c.prepare_cached(
        "SELECT telegram_user_id, user_id, display_name, created_at FROM telegram_links
         WHERE user_id = ?1 ORDER BY created_at, telegram_user_id",
    )?;
    let rows = s.query_map([user_id], |r| {
        Ok(TelegramLink {
            telegram_user_id: r.get(0)?,
            user_id: r.get(1)?,
            display_name: r.get(2)?,
            created_at: ms_to_time(r.get(3)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(crate) fn delete_link(c: &Connection, user_id: i64, telegram_user_id: i64) -> Result<bool> {
    Ok(c.execute(
        "DELETE FROM telegram_links WHERE user_id = ?1 AND telegram_user_id = ?2",
        params![user_id, telegram_user_id],
    )? > 0)
}

pub(crate) fn linked_user(c: &Connection, telegram_user_id: i64) -> Result<Option<User>> {
    Ok(c.query_row(
        "SELECT u.id, u.email, u.is_admin, u.created_at FROM telegram_links l
         JOIN users u ON u.id = l.user_id WHERE l.telegram_user_id = ?1",
        [telegram_user_id],
        row_user,
    )
    .optional()?)
}
