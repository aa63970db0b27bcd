//! The embedded SQLite backend: one file `lookout.db` in the data dir, in
//! WAL mode, written by one group-committing writer thread and read by a
//! small pool of read-only connections.

mod accounts;
mod alerts;
mod ingest;
mod migrations;
mod monitors;
mod ops;
mod overview;
mod queries;
pub mod snapshot;
mod telegram;
mod writer;

use crate::codec::DictCache;
use crate::{
    CheckRecord, MonitorDay, MonitorEvent, MonitorHour, MonitorIncident, MonitorRecord,
    MonitorResult, NewMonitor, NewStatusPage, StatusPage, UptimeSummary,
};
use crate::{
    IssueQuery, NewApiToken, NewDeploy, NewInvitation, NewProject, NewUser, Page, ReleaseUpdate,
    Result, RetentionReport, Signal, StorageError, StorageUsage, Store, SystemEvent,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lookout_model::errors::{
    AttachmentMeta, CheckInRow, Deploy, EventResult, EventSummaryRow, Feedback, IngestBatch, Issue,
    LogRow, Outcome, OutcomeCount, Release, StatusChange, StoredEvent, TagSummary, TransactionRow,
};
use lookout_model::settings::ProjectSettings;
use lookout_model::{
    ApiToken, AppliedMigration, Invitation, Membership, MigrationStatus, Project, ProjectKey,
    ProjectRole, TokenScope, User, WebSession,
};
use migrations::ms_to_time;
use parking_lot::{Mutex, RwLock};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The database file's name inside the data dir.
pub const DB_FILE: &str = "lookout.db";

/// Rows per write when a deleted project's data is purged.
const PROJECT_PURGE_BATCH: usize = 2_000;

/// How to open the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The data directory; created if missing.
    pub data_dir: PathBuf,
    /// `true`: fsync every commit (survives power loss). `false`: WAL
    /// `synchronous=NORMAL` (survives a process crash only).
    pub fsync_every_commit: bool,
    /// How long to wait for a lock held by another process.
    pub busy_timeout: Duration,
    /// Most writes grouped into one commit.
    pub max_batch: usize,
    /// Writes that may wait for the writer before `Overloaded`.
    pub queue_capacity: usize,
    /// Apply pending migrations on open. When `false` (the `migrate`
    /// commands), the schema is left as found.
    pub migrate: bool,
}

impl SqliteOptions {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            data_dir: data_dir.into(),
            fsync_every_commit: true,
            busy_timeout: Duration::from_secs(5),
            max_batch: 512,
            queue_capacity: 20_000,
            migrate: true,
        }
    }
}

/// The SQLite implementation of [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    sender: RwLock<Option<mpsc::Sender<writer::Msg>>>,
    queue_capacity: usize,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<ReadPool>,
    checkpointer: Mutex<Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    dicts: Arc<DictCache>,
    /// Why writes are refused (the store was found damaged), if they are.
    fence: RwLock<Option<String>>,
}

/// How often the WAL is checkpointed into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies committed WAL frames into the database file in the background
/// (PASSIVE: never blocks the writer or readers), and truncates the WAL on
/// shutdown. Ends when `stop` receives or is dropped.
fn run_checkpointer(path: &Path, busy: Duration, stop: std::sync::mpsc::Receiver<()>) {
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "checkpoint thread cannot open the database");
            return;
        }
    };
    let _ = conn.busy_timeout(busy);
    let _ = conn.pragma_update(None, "synchronous", "FULL");
    let checkpoint = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
    };
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY)
    {
        if let Err(e) = checkpoint("PASSIVE") {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
    if let Err(e) = checkpoint("TRUNCATE") {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
}

#[derive(Debug)]
struct ReadPool {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

/// Idle read connections kept open; more are opened on demand.
const MAX_IDLE_READERS: usize = 4;

impl ReadPool {
    fn get(&self) -> Result<Connection> {
        if let Some(c) = self.idle.lock().pop() {
            return Ok(c);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy_timeout)?;
        Ok(conn)
    }
    fn put(&self, c: Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE_READERS {
            idle.push(c);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `opts.data_dir`.
    ///
    /// Refuses — without modifying the file — a database that is not SQLite
    /// or fails `PRAGMA quick_check`, and one whose schema is newer than
    /// this binary.
    pub fn open(opts: SqliteOptions) -> Result<SqliteStore> {
        let dir = &opts.data_dir;
        ensure_writable_dir(dir)?;
        let path = dir.join(DB_FILE);
        check_header(&path)?;
        let existed = path.metadata().map(|m| m.len() > 0).unwrap_or(false);
        let is_new = !existed;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StorageError::NotWritable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        conn.busy_timeout(opts.busy_timeout)?;
        if existed {
            quick_check(&conn, &path)?;
        }
        if is_new {
            // Must precede the first table: lets retention give pages back
            // to the file system with `PRAGMA incremental_vacuum`.
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| corrupt_or(e, &path))?;
        conn.pragma_update(
            None,
            "synchronous",
            if opts.fsync_every_commit {
                "FULL"
            } else {
                "NORMAL"
            },
        )?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The writer still checkpoints after commits that take the WAL past
        // 1000 pages, which lets the WAL restart from its beginning; the
        // checkpoint thread (see `run_checkpointer`) copies pages in between,
        // so that inline checkpoint finds little left to do.
        conn.pragma_update(None, "wal_autocheckpoint", 1000)?;
        migrations::ensure_table(&conn).map_err(|e| match e {
            StorageError::Backend(reason) => StorageError::NotWritable {
                path: path.clone(),
                reason,
            },
            other => other,
        })?;
        let current = migrations::current(&conn)?;
        if current > migrations::latest() {
            return Err(StorageError::SchemaTooNew {
                found: current,
                supported: migrations::latest(),
            });
        }
        if opts.migrate && current < migrations::latest() {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            match migrations::up(&conn, None, Utc::now()) {
                Ok(applied) => {
                    conn.execute_batch("COMMIT")?;
                    tracing::info!(?applied, "applied schema migrations");
                }
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        }

        let (tx, rx) = mpsc::channel(opts.queue_capacity.max(1));
        let max_batch = opts.max_batch.max(1);
        let handle = std::thread::Builder::new()
            .name("lookout-sqlite-writer".into())
            .spawn(move || writer::run(conn, rx, max_batch))
            .map_err(|e| StorageError::Backend(format!("cannot start writer thread: {e}")))?;
        let (ckpt_tx, ckpt_rx) = std::sync::mpsc::channel::<()>();
        let ckpt_path = path.clone();
        let ckpt_timeout = opts.busy_timeout;
        let checkpointer = std::thread::Builder::new()
            .name("lookout-sqlite-checkpoint".into())
            .spawn(move || run_checkpointer(&ckpt_path, ckpt_timeout, ckpt_rx))
            .map_err(|e| StorageError::Backend(format!("cannot start checkpoint thread: {e}")))?;
        Ok(SqliteStore {
            readers: Arc::new(ReadPool {
                path: path.clone(),
                busy_timeout: opts.busy_timeout,
                idle: Mutex::new(Vec::new()),
            }),
            path,
            sender: RwLock::new(Some(tx)),
            queue_capacity: opts.queue_capacity.max(1),
            writer_thread: Mutex::new(Some(handle)),
            checkpointer: Mutex::new(Some((ckpt_tx, checkpointer))),
            dicts: Arc::new(DictCache::default()),
            fence: RwLock::new(None),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sender(&self) -> Result<mpsc::Sender<writer::Msg>> {
        if let Some(reason) = self.fence.read().clone() {
            return Err(StorageError::Fenced(reason));
        }
        self.sender.read().clone().ok_or(StorageError::Closed)
    }

    /// Runs `f` in the writer's next group commit; waits for room in the
    /// queue. Resolves after the commit is durable.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (job, rx) = writer::job(f);
        self.sender()?
            .send(writer::Msg::Job(job))
            .await
            .map_err(|_| StorageError::Closed)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Like [`write`](Self::write) but fails with `Overloaded` instead of
    /// waiting when the queue is full.
    pub(crate) async fn try_write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (job, rx) = writer::job(f);
        self.sender()?
            .try_send(writer::Msg::Job(job))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StorageError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => StorageError::Closed,
            })?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Runs `f` on a pooled read-only connection, off the async executor.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get()?;
            let out = f(&conn);
            pool.put(conn);
            out
        })
        .await
        .map_err(|e| StorageError::Backend(format!("read task failed: {e}")))?
    }
}

fn ensure_writable_dir(dir: &Path) -> Result<()> {
    let not_writable = |e: std::io::Error| StorageError::NotWritable {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(not_writable)?;
    let probe = dir.join(".lookout-write-test");
    std::fs::write(&probe, b"ok").map_err(not_writable)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Rejects a non-empty file that does not start with SQLite's magic,
/// without opening it through SQLite.
fn check_header(path: &Path) -> Result<()> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(()); // absent: will be created
    };
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => {
                return Err(StorageError::NotWritable {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        }
    }
    if n == 0 || &head[..n] == SQLITE_MAGIC.as_slice() {
        return Ok(());
    }
    Err(StorageError::Corrupt {
        path: path.to_path_buf(),
        detail: "the file does not start with the SQLite header".into(),
    })
}

fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| corrupt_or(e, path))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|it| it.collect())
        .map_err(|e| corrupt_or(e, path))?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            detail: rows.join("; "),
        })
    }
}

fn corrupt_or(e: rusqlite::Error, path: &Path) -> StorageError {
    match StorageError::from(e) {
        StorageError::Corrupt { detail, .. } => StorageError::Corrupt {
            path: path.to_path_buf(),
            detail,
        },
        other => other,
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(buf.as_mut_slice());
    hex::encode(buf)
}

fn row_project(r: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        slug: r.get(1)?,
        name: r.get(2)?,
        created_at: ms_to_time(r.get(3)?),
    })
}

fn row_key(r: &Row<'_>) -> rusqlite::Result<ProjectKey> {
    Ok(ProjectKey {
        id: r.get(0)?,
        project_id: r.get(1)?,
        public_key: r.get(2)?,
        label: r.get(3)?,
        created_at: ms_to_time(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(ms_to_time),
    })
}

fn row_user(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        is_admin: r.get(2)?,
        created_at: ms_to_time(r.get(3)?),
    })
}

fn row_token(r: &Row<'_>) -> rusqlite::Result<ApiToken> {
    let scope: String = r.get(3)?;
    Ok(ApiToken {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        scope: TokenScope::parse(&scope).unwrap_or(TokenScope::Read),
        prefix: r.get(4)?,
        created_at: ms_to_time(r.get(5)?),
        last_used_at: r.get::<_, Option<i64>>(6)?.map(ms_to_time),
        revoked_at: r.get::<_, Option<i64>>(7)?.map(ms_to_time),
    })
}

const KEY_COLS: &str = "id, project_id, public_key, label, created_at, revoked_at";
const TOKEN_COLS: &str = "id, user_id, name, scope, prefix, created_at, last_used_at, revoked_at";

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn probe_write(&self) -> Result<Duration> {
        let started = Instant::now();
        self.write(|c| {
            c.execute(
                "INSERT INTO write_probe (id, at) VALUES (1, ?1)
                 ON CONFLICT(id) DO UPDATE SET at = excluded.at",
                params![now_ms()],
            )?;
            Ok(())
        })
        .await?;
        Ok(started.elapsed())
    }

    async fn migration_status(&self) -> Result<MigrationStatus> {
        self.read(migrations::status).await
    }

    async fn migration_history(&self) -> Result<Vec<AppliedMigration>> {
        self.read(migrations::history).await
    }

    async fn migrate_up(&self, to: Option<u32>) -> Result<Vec<u32>> {
        self.write(move |c| migrations::up(c, to, Utc::now())).await
    }

    async fn migrate_down(&self, to: Option<u32>) -> Result<Vec<u32>> {
        self.write(move |c| migrations::down(c, to)).await
    }

    async fn create_project(&self, new: NewProject) -> Result<(Project, ProjectKey)> {
        let name = new.name.trim().to_string();
        if name.is_empty() {
            return Err(StorageError::Conflict(
                "project name must not be empty".into(),
            ));
        }
        self.write(move |c| {
            let base = lookout_model::slugify(&name);
            let mut slug = base.clone();
            let mut n = 1;
            while c
                .query_row(
                    "SELECT 1 FROM projects WHERE slug = ?1",
                    [&slug],
                    |_| Ok(()),
                )
                .optional()?
                .is_some()
            {
                n += 1;
                slug = format!("{base}-{n}");
            }
            let now = now_ms();
            c.execute(
                "INSERT INTO projects (slug, name, created_at) VALUES (?1, ?2, ?3)",
                params![slug, name, now],
            )?;
            let pid = c.last_insert_rowid();
            c.execute(
                "INSERT INTO project_keys (project_id, public_key, label, created_at)
                 VALUES (?1, ?2, 'Default', ?3)",
                params![pid, random_hex(16), now],
            )?;
            let kid = c.last_insert_rowid();
            let project = c.query_row(
                "SELECT id, slug, name, created_at FROM projects WHERE id = ?1",
                [pid],
                row_project,
            )?;
            let key = c.query_row(
                &format!("SELECT {KEY_COLS} FROM project_keys WHERE id = ?1"),
                [kid],
                row_key,
            )?;
            Ok((project, key))
        })
        .await
    }

    async fn list_projects(&self) -> Result<Vec<Project>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT id, slug, name, created_at FROM projects WHERE deleting = 0 ORDER BY id",
            )?;
            let rows = s.query_map([], row_project)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn get_project(&self, id: i64) -> Result<Option<Project>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, slug, name, created_at FROM projects WHERE id = ?1 AND deleting = 0",
                [id],
                row_project,
            )
            .optional()?)
        })
        .await
    }

    async fn project_keys(&self, project_id: i64) -> Result<Vec<ProjectKey>> {
        self.read(move |c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM project_keys WHERE project_id = ?1 ORDER BY id"
            ))?;
            let rows = s.query_map([project_id], row_key)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn find_project_key(&self, public_key: &str) -> Result<Option<ProjectKey>> {
        let public_key = public_key.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {KEY_COLS} FROM project_keys WHERE public_key = ?1
                       AND project_id IN (SELECT id FROM projects WHERE deleting = 0)"
                ),
                [public_key],
                row_key,
            )
            .optional()?)
        })
        .await
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.write(move |c| {
            let exists = c
                .query_row("SELECT 1 FROM users WHERE email = ?1", [&new.email], |_| {
                    Ok(())
                })
                .optional()?;
            if exists.is_some() {
                return Err(StorageError::Conflict(format!(
                    "a user with e-mail {} already exists",
                    new.email
                )));
            }
            c.execute(
                "INSERT INTO users (email, password_hash, is_admin, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![new.email, new.password_hash, new.is_admin, now_ms()],
            )?;
            let id = c.last_insert_rowid();
            Ok(c.query_row(
                "SELECT id, email, is_admin, created_at FROM users WHERE id = ?1",
                [id],
                row_user,
            )?)
        })
        .await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let email = email.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, email, is_admin, created_at, password_hash FROM users WHERE email = ?1",
                [email],
                |r| Ok((row_user(r)?, r.get(4)?)),
            )
            .optional()?)
        })
        .await
    }

    async fn count_users(&self) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64)
        })
        .await
    }

    async fn get_user(&self, id: i64) -> Result<Option<User>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, email, is_admin, created_at FROM users WHERE id = ?1",
                [id],
                row_user,
            )
            .optional()?)
        })
        .await
    }

    async fn create_first_admin(&self, new: NewUser) -> Result<Option<User>> {
        self.write(move |c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
            if n > 0 {
                return Ok(None);
            }
            c.execute(
                "INSERT INTO users (email, password_hash, is_admin, created_at) VALUES (?1, ?2, 1, ?3)",
                params![new.email, new.password_hash, now_ms()],
            )?;
            let id = c.last_insert_rowid();
            Ok(Some(c.query_row(
                "SELECT id, email, is_admin, created_at FROM users WHERE id = ?1",
                [id],
                row_user,
            )?))
        })
        .await
    }

    async fn create_session(&self, s: WebSession) -> Result<()> {
        self.write(move |c| {
            // Sweep expired sessions while we are here.
            c.execute("DELETE FROM sessions WHERE expires_at < ?1", [now_ms()])?;
            c.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    s.id_hash,
                    s.user_id,
                    s.csrf_token,
                    now_ms(),
                    s.expires_at.timestamp_millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn find_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(WebSession, User)>> {
        let h = id_hash.to_string();
        let now = now.timestamp_millis();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT s.id_hash, s.user_id, s.csrf_token, s.expires_at,
                        u.id, u.email, u.is_admin, u.created_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_hash = ?1 AND s.expires_at > ?2",
                params![h, now],
                |r| {
                    Ok((
                        WebSession {
                            id_hash: r.get(0)?,
                            user_id: r.get(1)?,
                            csrf_token: r.get(2)?,
                            expires_at: ms_to_time(r.get(3)?),
                        },
                        User {
                            id: r.get(4)?,
                            email: r.get(5)?,
                            is_admin: r.get(6)?,
                            created_at: ms_to_time(r.get(7)?),
                        },
                    ))
                },
            )
            .optional()?)
        })
        .await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let h = id_hash.to_string();
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE id_hash = ?1", [h])?;
            Ok(())
        })
        .await
    }

    async fn create_api_token(&self, new: NewApiToken) -> Result<ApiToken> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO api_tokens (user_id, name, scope, token_hash, prefix, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    new.user_id,
                    new.name,
                    new.scope.as_str(),
                    new.token_hash,
                    new.prefix,
                    now_ms()
                ],
            )?;
            let id = c.last_insert_rowid();
            Ok(c.query_row(
                &format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = ?1"),
                [id],
                row_token,
            )?)
        })
        .await
    }

    async fn authenticate_api_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiToken>> {
        let hash = token_hash.to_string();
        let found = self
            .read(move |c| {
                Ok(c.query_row(
                    &format!(
                        "SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL"
                    ),
                    [hash],
                    row_token,
                )
                .optional()?)
            })
            .await?;
        if let Some(token) = &found {
            // Record the use at most once a minute per token; never fail the
            // request because the bookkeeping could not be queued.
            let stale = token
                .last_used_at
                .is_none_or(|t| (now - t).num_seconds() >= 60);
            if stale {
                let id = token.id;
                let at = now.timestamp_millis();
                let _ = self
                    .try_write(move |c| {
                        c.execute(
                            "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2",
                            params![at, id],
                        )?;
                        Ok(())
                    })
                    .await;
            }
        }
        Ok(found)
    }

    async fn rename_project(&self, id: i64, name: &str) -> Result<Project> {
        let name = name.to_string();
        self.write(move |c| accounts::rename_project(c, id, &name))
            .await
    }

    async fn delete_project(&self, id: i64) -> Result<bool> {
        // Marked first: from this write on the project is gone to every
        // list, lookup and key (and a restart resumes the rest). Then its
        // bulky rows go in batches, each its own short write, so ingest
        // for other projects never waits seconds behind one transaction
        // (500,000 events took 4 s in one); the row itself goes last.
        let marked = self
            .write(move |c| {
                Ok(c.execute("UPDATE projects SET deleting = 1 WHERE id = ?1", [id])? > 0)
            })
            .await?;
        if !marked {
            return Ok(false);
        }
        for table in accounts::BULKY_PROJECT_TABLES {
            loop {
                let n = self
                    .write(move |c| {
                        accounts::delete_project_rows(c, table, id, PROJECT_PURGE_BATCH)
                    })
                    .await?;
                if n < PROJECT_PURGE_BATCH {
                    break;
                }
            }
        }
        self.write(move |c| accounts::delete_project(c, id)).await
    }

    async fn resume_project_deletions(&self) -> Result<Vec<i64>> {
        let pending: Vec<i64> = self
            .read(|c| {
                Ok(
                    c.prepare("SELECT id FROM projects WHERE deleting = 1 ORDER BY id")?
                        .query_map([], |r| r.get(0))?
                        .collect::<Result<_, _>>()?,
                )
            })
            .await?;
        for id in &pending {
            self.delete_project(*id).await?;
        }
        Ok(pending)
    }

    async fn create_project_key(&self, project_id: i64, label: &str) -> Result<ProjectKey> {
        let label = label.to_string();
        self.write(move |c| accounts::create_project_key(c, project_id, &label))
            .await
    }

    async fn revoke_project_key(&self, project_id: i64, key_id: i64) -> Result<Option<ProjectKey>> {
        self.write(move |c| accounts::revoke_project_key(c, project_id, key_id))
            .await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.read(accounts::list_users).await
    }

    async fn set_password(
        &self,
        user_id: i64,
        password_hash: String,
        keep_session: Option<String>,
    ) -> Result<()> {
        self.write(move |c| {
            accounts::set_password(c, user_id, &password_hash, keep_session.as_deref())
        })
        .await
    }

    async fn set_user_admin(&self, user_id: i64, is_admin: bool) -> Result<User> {
        self.write(move |c| accounts::set_user_admin(c, user_id, is_admin))
            .await
    }

    async fn delete_user(&self, user_id: i64) -> Result<bool> {
        self.write(move |c| accounts::delete_user(c, user_id)).await
    }

    async fn user_password_hash(&self, user_id: i64) -> Result<Option<String>> {
        self.read(move |c| accounts::user_password_hash(c, user_id))
            .await
    }

    async fn project_role(&self, project_id: i64, user_id: i64) -> Result<Option<ProjectRole>> {
        self.read(move |c| accounts::project_role(c, project_id, user_id))
            .await
    }

    async fn user_memberships(&self, user_id: i64) -> Result<Vec<Membership>> {
        self.read(move |c| accounts::user_memberships(c, user_id))
            .await
    }

    async fn project_members(&self, project_id: i64) -> Result<Vec<Membership>> {
        self.read(move |c| accounts::project_members(c, project_id))
            .await
    }

    async fn set_project_role(
        &self,
        project_id: i64,
        user_id: i64,
        role: Option<ProjectRole>,
    ) -> Result<()> {
        self.write(move |c| accounts::set_project_role(c, project_id, user_id, role))
            .await
    }

    async fn create_invitation(&self, new: NewInvitation) -> Result<Invitation> {
        self.write(move |c| accounts::create_invitation(c, &new))
            .await
    }

    async fn pending_invitations(&self, now: DateTime<Utc>) -> Result<Vec<Invitation>> {
        let now = now.timestamp_millis();
        self.read(move |c| accounts::pending_invitations(c, now))
            .await
    }

    async fn find_invitation(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Invitation>> {
        let h = token_hash.to_string();
        let now = now.timestamp_millis();
        self.read(move |c| accounts::find_invitation(c, &h, now))
            .await
    }

    async fn accept_invitation(
        &self,
        token_hash: &str,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let h = token_hash.to_string();
        let now = now.timestamp_millis();
        self.write(move |c| accounts::accept_invitation(c, &h, &password_hash, now))
            .await
    }

    async fn revoke_invitation(&self, id: i64) -> Result<bool> {
        self.write(move |c| accounts::revoke_invitation(c, id))
            .await
    }

    async fn list_api_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiToken>> {
        self.read(move |c| accounts::list_api_tokens(c, user_id))
            .await
    }

    async fn revoke_api_token(&self, id: i64, user_id: Option<i64>) -> Result<bool> {
        self.write(move |c| accounts::revoke_api_token(c, id, user_id))
            .await
    }

    fn write_queue_depth(&self) -> usize {
        match &*self.sender.read() {
            Some(s) => self.queue_capacity - s.capacity(),
            None => 0,
        }
    }

    async fn ingest(&self, batch: IngestBatch) -> Result<Vec<EventResult>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sender = self.sender()?;
        sender
            .try_send(writer::Msg::Ingest(Box::new(batch), tx))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StorageError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => StorageError::Closed,
            })?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    async fn add_outcomes(&self, rows: Vec<(i64, i64, Outcome, String, i64)>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            let rows: Vec<_> = rows
                .into_iter()
                .map(|(p, h, o, cat, q)| (p, h, o.as_str(), cat, q))
                .collect();
            ingest::add_outcomes(c, &rows)
        })
        .await
    }

    async fn project_settings(&self, project_id: i64) -> Result<ProjectSettings> {
        self.read(move |c| queries::project_settings(c, project_id))
            .await
    }

    async fn set_project_settings(&self, project_id: i64, s: ProjectSettings) -> Result<()> {
        let text = serde_json::to_string(&s).map_err(|e| StorageError::Backend(e.to_string()))?;
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO project_settings (project_id, settings)
                 SELECT id, ?2 FROM projects WHERE id = ?1 AND deleting = 0
                 ON CONFLICT (project_id) DO UPDATE SET settings = excluded.settings",
                params![project_id, text],
            )?;
            if n == 0 {
                return Err(StorageError::NotFound(format!("project {project_id}")));
            }
            Ok(())
        })
        .await
    }

    async fn find_project_by_slug(&self, slug: &str) -> Result<Option<Project>> {
        let slug = slug.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, slug, name, created_at FROM projects WHERE slug = ?1 AND deleting = 0",
                [slug],
                row_project,
            )
            .optional()?)
        })
        .await
    }

    async fn current_dict(&self, project_id: i64) -> Result<Option<(i64, Vec<u8>)>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, dict FROM zstd_dicts WHERE project_id = ?1 ORDER BY id DESC LIMIT 1",
                [project_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
        .await
    }

    async fn count_events_with_dict(&self, project_id: i64, dict_id: i64) -> Result<u64> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM events WHERE project_id = ?1 AND dict_id = ?2",
                params![project_id, dict_id],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
        .await
    }

    async fn sample_event_payloads(&self, project_id: i64, limit: usize) -> Result<Vec<Vec<u8>>> {
        let dicts = self.dicts.clone();
        self.read(move |c| queries::sample_payloads(c, &dicts, project_id, limit))
            .await
    }

    async fn store_dict(&self, project_id: i64, dict: Vec<u8>) -> Result<i64> {
        let id = self
            .write(move |c| {
                c.execute(
                    "INSERT INTO zstd_dicts (project_id, created_at, dict) VALUES (?1, ?2, ?3)",
                    params![project_id, now_ms(), dict],
                )?;
                Ok(c.last_insert_rowid())
            })
            .await?;
        Ok(id)
    }

    async fn list_issues(&self, project_id: i64, q: IssueQuery) -> Result<Page<Issue>> {
        self.read(move |c| queries::list_issues(c, project_id, &q))
            .await
    }

    async fn get_issue(&self, issue_id: i64) -> Result<Option<Issue>> {
        self.read(move |c| queries::get_issue(c, issue_id)).await
    }

    async fn issue_tags(&self, issue_id: i64, top_n: usize) -> Result<Vec<TagSummary>> {
        self.read(move |c| queries::issue_tags(c, issue_id, top_n))
            .await
    }

    async fn issue_hourly(&self, issue_id: i64, since_hour: i64) -> Result<Vec<(i64, i64)>> {
        self.read(move |c| queries::issue_hourly(c, issue_id, since_hour))
            .await
    }

    async fn set_issue_status(&self, issue_id: i64, change: StatusChange) -> Result<Issue> {
        self.write(move |c| queries::set_issue_status(c, issue_id, &change))
            .await
    }

    async fn issue_events(
        &self,
        issue_id: i64,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<EventSummaryRow>> {
        self.read(move |c| queries::issue_events(c, issue_id, limit, cursor.as_deref()))
            .await
    }

    async fn get_event(&self, project_id: i64, event_id: [u8; 16]) -> Result<Option<StoredEvent>> {
        let dicts = self.dicts.clone();
        self.read(move |c| queries::get_event(c, &dicts, project_id, &event_id))
            .await
    }

    async fn issue_feedback(&self, issue_id: i64) -> Result<Vec<Feedback>> {
        self.read(move |c| queries::issue_feedback(c, issue_id))
            .await
    }

    async fn event_attachments(
        &self,
        project_id: i64,
        event_id: [u8; 16],
    ) -> Result<Vec<AttachmentMeta>> {
        self.read(move |c| queries::event_attachments(c, project_id, &event_id))
            .await
    }

    async fn attachment(&self, id: i64) -> Result<Option<(AttachmentMeta, i64, Vec<u8>)>> {
        self.read(move |c| queries::attachment(c, id)).await
    }

    async fn list_releases(&self, project_id: i64) -> Result<Vec<Release>> {
        self.read(move |c| queries::list_releases(c, project_id))
            .await
    }

    async fn get_release(&self, project_id: i64, version: &str) -> Result<Option<Release>> {
        let v = version.to_string();
        self.read(move |c| queries::get_release(c, project_id, &v))
            .await
    }

    async fn upsert_release(
        &self,
        project_id: i64,
        version: &str,
        update: ReleaseUpdate,
    ) -> Result<(Release, bool)> {
        let v = version.to_string();
        self.write(move |c| queries::upsert_release(c, project_id, &v, &update, Utc::now()))
            .await
    }

    async fn add_deploy(&self, project_id: i64, version: &str, d: NewDeploy) -> Result<Deploy> {
        let v = version.to_string();
        self.write(move |c| queries::add_deploy(c, project_id, &v, &d, Utc::now()))
            .await
    }

    async fn project_outcomes(&self, project_id: i64, since_ms: i64) -> Result<Vec<OutcomeCount>> {
        self.read(move |c| queries::project_outcomes(c, project_id, since_ms))
            .await
    }

    async fn list_transactions(
        &self,
        project_id: i64,
        limit: usize,
    ) -> Result<Vec<TransactionRow>> {
        self.read(move |c| queries::list_transactions(c, project_id, limit))
            .await
    }

    async fn list_check_ins(&self, project_id: i64, limit: usize) -> Result<Vec<CheckInRow>> {
        self.read(move |c| queries::list_check_ins(c, project_id, limit))
            .await
    }

    async fn list_logs(&self, project_id: i64, limit: usize) -> Result<Vec<LogRow>> {
        self.read(move |c| queries::list_logs(c, project_id, limit))
            .await
    }

    async fn project_overview(
        &self,
        project_id: i64,
        now: DateTime<Utc>,
        top_n: usize,
    ) -> Result<crate::ProjectOverview> {
        self.read(move |c| overview::project_overview(c, project_id, now, top_n))
            .await
    }

    async fn issues_hourly(
        &self,
        issue_ids: Vec<i64>,
        since_hour: i64,
    ) -> Result<Vec<(i64, i64, i64)>> {
        self.read(move |c| overview::issues_hourly(c, &issue_ids, since_hour))
            .await
    }

    async fn filter_values(&self, project_id: i64) -> Result<crate::FilterValues> {
        self.read(move |c| overview::filter_values(c, project_id))
            .await
    }

    async fn set_issues_status(
        &self,
        issue_ids: Vec<i64>,
        change: StatusChange,
    ) -> Result<Vec<Issue>> {
        self.write(move |c| overview::set_issues_status(c, &issue_ids, &change))
            .await
    }

    async fn release_new_issues(
        &self,
        project_id: i64,
        versions: Vec<String>,
        per_release: usize,
    ) -> Result<Vec<(String, Vec<Issue>)>> {
        self.read(move |c| overview::release_new_issues(c, project_id, &versions, per_release))
            .await
    }

    async fn enforce_retention(
        &self,
        project_id: i64,
        older_than_ms: i64,
        max_events: u64,
        budget: usize,
    ) -> Result<RetentionReport> {
        self.write(move |c| {
            queries::enforce_retention(c, project_id, older_than_ms, max_events, budget)
        })
        .await
    }

    async fn reclaim_space(&self, max_pages: u32) -> Result<u64> {
        // incremental_vacuum cannot run inside the writer's transaction, so
        // it uses its own connection; SQLite's lock serialises it with the
        // writer (busy_timeout applies).
        if let Some(reason) = self.fence.read().clone() {
            return Err(StorageError::Fenced(reason));
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> Result<u64> {
            let c = Connection::open(&path)?;
            c.busy_timeout(Duration::from_secs(5))?;
            let before: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            // Each step of this pragma frees one page: step it to the end.
            let mut stmt = c.prepare(&format!("PRAGMA incremental_vacuum({max_pages})"))?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
            drop(rows);
            drop(stmt);
            let after: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            Ok((before - after).max(0) as u64)
        })
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?
    }

    fn disk_usage(&self) -> u64 {
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                let mut p = self.path.clone().into_os_string();
                p.push(suffix);
                std::fs::metadata(PathBuf::from(p)).ok().map(|m| m.len())
            })
            .sum()
    }

    async fn close(&self) -> Result<()> {
        // Dropping the last sender lets the writer drain the queue and exit.
        self.sender.write().take();
        let handle = self.writer_thread.lock().take();
        if let Some(h) = handle {
            tokio::task::spawn_blocking(move || h.join())
                .await
                .map_err(|e| StorageError::Backend(e.to_string()))?
                .map_err(|_| StorageError::Backend("writer thread panicked".into()))?;
        }
        let ckpt = self.checkpointer.lock().take();
        if let Some((stop, h)) = ckpt {
            let _ = stop.send(());
            tokio::task::spawn_blocking(move || h.join())
                .await
                .map_err(|e| StorageError::Backend(e.to_string()))?
                .map_err(|_| StorageError::Backend("checkpoint thread panicked".into()))?;
        }
        Ok(())
    }

    async fn record_system_event(&self, event: SystemEvent) -> Result<i64> {
        self.write(move |c| ops::insert_system_event(c, &event))
            .await
    }

    async fn list_system_events(&self, limit: usize) -> Result<Vec<SystemEvent>> {
        self.read(move |c| ops::list_system_events(c, limit)).await
    }

    async fn enforce_signal_retention(
        &self,
        signal: Signal,
        older_than_ms: i64,
        budget: usize,
    ) -> Result<u64> {
        self.write(move |c| ops::enforce_signal_retention(c, signal, older_than_ms, budget))
            .await
    }

    async fn storage_usage(&self) -> Result<StorageUsage> {
        self.read(ops::storage_usage).await
    }

    async fn integrity_check(&self) -> Result<Vec<String>> {
        self.read(|c| ops::integrity_check(c, 20)).await
    }

    fn fence(&self, reason: String) {
        tracing::error!(reason = %reason, "storage fenced: every later write is refused");
        *self.fence.write() = Some(reason);
    }

    fn fenced(&self) -> Option<String> {
        self.fence.read().clone()
    }

    // --- monitors and status pages (issue #5) -----------------------------

    async fn create_monitor(&self, new: NewMonitor) -> Result<MonitorRecord> {
        self.write(move |c| monitors::create(c, &new, now_ms()))
            .await
    }

    async fn upsert_monitor(&self, new: NewMonitor) -> Result<(MonitorRecord, bool)> {
        self.write(move |c| monitors::upsert(c, &new, now_ms()))
            .await
    }

    async fn update_monitor(
        &self,
        id: i64,
        name: String,
        kind: String,
        spec: serde_json::Value,
    ) -> Result<MonitorRecord> {
        self.write(move |c| monitors::update(c, id, &name, &kind, &spec, now_ms()))
            .await
    }

    async fn set_monitor_paused(&self, id: i64, paused: bool) -> Result<MonitorRecord> {
        self.write(move |c| monitors::set_paused(c, id, paused))
            .await
    }

    async fn delete_monitor(&self, id: i64) -> Result<bool> {
        self.write(move |c| monitors::delete(c, id)).await
    }

    async fn get_monitor(&self, id: i64) -> Result<Option<MonitorRecord>> {
        self.read(move |c| monitors::get(c, id)).await
    }

    async fn find_monitor(&self, project_id: i64, slug: &str) -> Result<Option<MonitorRecord>> {
        let slug = slug.to_string();
        self.read(move |c| monitors::find(c, project_id, &slug))
            .await
    }

    async fn find_monitor_by_token(&self, token: &str) -> Result<Option<MonitorRecord>> {
        let token = token.to_string();
        self.read(move |c| monitors::find_by_token(c, &token)).await
    }

    async fn list_monitors(&self, project_id: Option<i64>) -> Result<Vec<MonitorRecord>> {
        self.read(move |c| monitors::list(c, project_id)).await
    }

    async fn record_check(&self, record: CheckRecord) -> Result<Option<MonitorEvent>> {
        self.write(move |c| monitors::record_check(c, &record))
            .await
    }

    async fn monitor_results(
        &self,
        monitor_id: i64,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<MonitorResult>> {
        self.read(move |c| monitors::results(c, monitor_id, since.timestamp_millis(), limit))
            .await
    }

    async fn monitor_hourly(
        &self,
        monitor_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<MonitorHour>> {
        self.read(move |c| monitors::hourly(c, monitor_id, since.timestamp_millis()))
            .await
    }

    async fn monitor_incidents(
        &self,
        monitor_id: i64,
        limit: usize,
    ) -> Result<Vec<MonitorIncident>> {
        self.read(move |c| monitors::incidents(c, monitor_id, limit))
            .await
    }

    async fn monitor_uptime(&self, monitor_id: i64, now: DateTime<Utc>) -> Result<UptimeSummary> {
        self.read(move |c| monitors::uptime(c, monitor_id, now))
            .await
    }

    async fn monitor_daily(
        &self,
        monitor_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<MonitorDay>> {
        self.read(move |c| monitors::daily(c, monitor_id, since.timestamp_millis()))
            .await
    }

    async fn monitor_events_after(&self, after_id: i64, limit: usize) -> Result<Vec<MonitorEvent>> {
        self.read(move |c| monitors::events_after(c, after_id, limit))
            .await
    }

    async fn compact_monitor_history(
        &self,
        raw_before: DateTime<Utc>,
        history_before: DateTime<Utc>,
        budget: usize,
    ) -> Result<u64> {
        self.write(move |c| {
            monitors::compact(
                c,
                raw_before.timestamp_millis(),
                history_before.timestamp_millis(),
                budget,
            )
        })
        .await
    }

    async fn check_ins_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, i64, CheckInRow)>> {
        self.read(move |c| monitors::check_ins_after(c, after_id, limit))
            .await
    }

    async fn last_check_in_id(&self) -> Result<i64> {
        self.read(monitors::last_check_in_id).await
    }

    async fn monitor_cursor(&self, name: &str) -> Result<Option<i64>> {
        let name = name.to_string();
        self.read(move |c| monitors::cursor(c, &name)).await
    }

    async fn set_monitor_cursor(&self, name: &str, value: i64) -> Result<()> {
        let name = name.to_string();
        self.write(move |c| monitors::set_cursor(c, &name, value))
            .await
    }

    async fn create_status_page(&self, new: NewStatusPage) -> Result<StatusPage> {
        self.write(move |c| monitors::create_page(c, &new, now_ms()))
            .await
    }

    async fn update_status_page(&self, id: i64, new: NewStatusPage) -> Result<StatusPage> {
        self.write(move |c| monitors::update_page(c, id, &new, now_ms()))
            .await
    }

    async fn delete_status_page(&self, id: i64) -> Result<bool> {
        self.write(move |c| monitors::delete_page(c, id)).await
    }

    async fn list_status_pages(&self) -> Result<Vec<StatusPage>> {
        self.read(monitors::list_pages).await
    }

    async fn find_status_page(&self, slug: &str) -> Result<Option<StatusPage>> {
        let slug = slug.to_string();
        self.read(move |c| monitors::find_page(c, &slug)).await
    }
    // --- alerting (issue #6) --------------------------------------------

    async fn create_alert_rule(
        &self,
        new: crate::NewAlertRule,
        now: DateTime<Utc>,
    ) -> Result<crate::AlertRuleRow> {
        self.write(move |c| alerts::create_alert_rule(c, &new, now))
            .await
    }

    async fn update_alert_rule(
        &self,
        id: i64,
        new: crate::NewAlertRule,
        now: DateTime<Utc>,
    ) -> Result<crate::AlertRuleRow> {
        self.write(move |c| alerts::update_alert_rule(c, id, &new, now))
            .await
    }

    async fn delete_alert_rule(&self, id: i64) -> Result<bool> {
        self.write(move |c| alerts::delete_alert_rule(c, id)).await
    }

    async fn get_alert_rule(&self, id: i64) -> Result<Option<crate::AlertRuleRow>> {
        self.read(move |c| alerts::get_alert_rule(c, id)).await
    }

    async fn list_alert_rules(&self) -> Result<Vec<crate::AlertRuleRow>> {
        self.read(alerts::list_alert_rules).await
    }

    async fn sync_config_alert_rules(
        &self,
        rules: Vec<crate::NewAlertRule>,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::AlertRuleRow>> {
        self.write(move |c| alerts::sync_config_alert_rules(c, &rules, now))
            .await
    }

    async fn save_alert_instances(
        &self,
        upserts: Vec<crate::AlertInstanceRow>,
        discards: Vec<(i64, String)>,
    ) -> Result<()> {
        self.write(move |c| alerts::save_alert_instances(c, &upserts, &discards))
            .await
    }

    async fn list_alert_instances(
        &self,
        q: crate::AlertInstanceQuery,
    ) -> Result<Vec<crate::AlertInstanceRow>> {
        self.read(move |c| alerts::list_alert_instances(c, &q))
            .await
    }

    async fn get_alert_instance(&self, id: i64) -> Result<Option<crate::AlertInstanceRow>> {
        self.read(move |c| alerts::get_alert_instance(c, id)).await
    }

    async fn find_alert_instance(
        &self,
        rule_id: i64,
        fingerprint: String,
        active_since: DateTime<Utc>,
    ) -> Result<Option<crate::AlertInstanceRow>> {
        self.read(move |c| alerts::find_alert_instance(c, rule_id, &fingerprint, active_since))
            .await
    }

    async fn get_outbox_item(&self, id: i64) -> Result<Option<crate::OutboxItem>> {
        self.read(move |c| alerts::outbox_item(c, id)).await
    }

    async fn create_telegram_link_code(
        &self,
        user_id: i64,
        code_hash: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(move |c| telegram::create_link_code(c, user_id, &code_hash, expires_at, now))
            .await
    }

    async fn consume_telegram_link_code(
        &self,
        code_hash: String,
        telegram_user_id: i64,
        display_name: String,
        now: DateTime<Utc>,
    ) -> Result<Option<User>> {
        self.write(move |c| {
            telegram::consume_link_code(c, &code_hash, telegram_user_id, &display_name, now)
        })
        .await
    }

    async fn list_telegram_links(&self, user_id: i64) -> Result<Vec<crate::TelegramLink>> {
        self.read(move |c| telegram::list_links(c, user_id)).await
    }

    async fn delete_telegram_link(&self, user_id: i64, telegram_user_id: i64) -> Result<bool> {
        self.write(move |c| telegram::delete_link(c, user_id, telegram_user_id))
            .await
    }

    async fn telegram_linked_user(&self, telegram_user_id: i64) -> Result<Option<User>> {
        self.read(move |c| telegram::linked_user(c, telegram_user_id))
            .await
    }

    async fn prune_alert_instances(&self, before: DateTime<Utc>, budget: usize) -> Result<u64> {
        self.write(move |c| alerts::prune_alert_instances(c, before, budget))
            .await
    }

    async fn prune_silences(&self, before: DateTime<Utc>, budget: usize) -> Result<u64> {
        self.write(move |c| alerts::prune_silences(c, before, budget))
            .await
    }

    async fn create_silence(
        &self,
        new: crate::NewSilence,
        now: DateTime<Utc>,
    ) -> Result<crate::SilenceRow> {
        self.write(move |c| alerts::create_silence(c, &new, now))
            .await
    }

    async fn expire_silence(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::SilenceRow>> {
        self.write(move |c| alerts::expire_silence(c, id, now))
            .await
    }

    async fn get_silence(&self, id: i64) -> Result<Option<crate::SilenceRow>> {
        self.read(move |c| alerts::get_silence(c, id)).await
    }

    async fn list_silences(&self, ends_after: DateTime<Utc>) -> Result<Vec<crate::SilenceRow>> {
        self.read(move |c| alerts::list_silences(c, ends_after))
            .await
    }

    async fn upsert_channel(
        &self,
        new: crate::NewChannel,
        now: DateTime<Utc>,
    ) -> Result<crate::ChannelRow> {
        self.write(move |c| alerts::upsert_channel(c, &new, now))
            .await
    }

    async fn delete_channel(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| alerts::delete_channel(c, &name)).await
    }

    async fn list_channels(&self) -> Result<Vec<crate::ChannelRow>> {
        self.read(alerts::list_channels).await
    }

    async fn enqueue_outbox(
        &self,
        items: Vec<crate::NewOutboxItem>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.write(move |c| alerts::enqueue_outbox(c, &items, now))
            .await
    }

    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(alerts::outbox_next_due).await
    }

    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<crate::OutboxItem>> {
        self.write(move |c| alerts::claim_outbox(c, now, limit))
            .await
    }

    async fn finish_outbox_attempt(
        &self,
        id: i64,
        outcome: crate::AttemptOutcome,
        duration_ms: i64,
        now: DateTime<Utc>,
    ) -> Result<crate::OutboxItem> {
        self.write(move |c| alerts::finish_outbox_attempt(c, id, &outcome, duration_ms, now))
            .await
    }

    async fn release_outbox_sending(&self, now: DateTime<Utc>) -> Result<u64> {
        self.write(move |c| alerts::release_outbox_sending(c, now))
            .await
    }

    async fn list_outbox(
        &self,
        state: Option<crate::OutboxState>,
        limit: usize,
    ) -> Result<Vec<crate::OutboxItem>> {
        self.read(move |c| alerts::list_outbox(c, state, limit))
            .await
    }

    async fn outbox_counts(&self) -> Result<Vec<(crate::OutboxState, u64)>> {
        self.read(alerts::outbox_counts).await
    }

    async fn list_deliveries(
        &self,
        outbox_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<crate::DeliveryAttempt>> {
        self.read(move |c| alerts::list_deliveries(c, outbox_id, limit))
            .await
    }

    async fn query_deliveries(
        &self,
        q: crate::DeliveryQuery,
    ) -> Result<Vec<crate::DeliveryAttempt>> {
        self.read(move |c| alerts::query_deliveries(c, &q)).await
    }

    async fn prune_outbox(&self, before: DateTime<Utc>, budget: usize) -> Result<u64> {
        self.write(move |c| alerts::prune_outbox(c, before, budget))
            .await
    }

    async fn save_breaker(&self, b: crate::BreakerRow) -> Result<()> {
        self.write(move |c| alerts::save_breaker(c, &b)).await
    }

    async fn list_breakers(&self) -> Result<Vec<crate::BreakerRow>> {
        self.read(alerts::list_breakers).await
    }

    async fn alert_cursor(&self, name: &str) -> Result<i64> {
        let name = name.to_string();
        self.read(move |c| alerts::alert_cursor(c, &name)).await
    }

    async fn set_alert_cursor(&self, name: &str, value: i64) -> Result<()> {
        let name = name.to_string();
        self.write(move |c| alerts::set_alert_cursor(c, &name, value))
            .await
    }

    async fn system_events_after(&self, after_id: i64, limit: usize) -> Result<Vec<SystemEvent>> {
        self.read(move |c| alerts::system_events_after(c, after_id, limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> SqliteOptions {
        SqliteOptions::new(dir)
    }

    #[tokio::test]
    async fn conformance_suite_passes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(opts(dir.path())).unwrap();
        crate::conformance::run_all(&store).await;
        store.close().await.unwrap();
    }

    /// Retention's batches walk an index over the rows they delete; a scan
    /// plus a sort of the whole table on every batch is what they must not
    /// do (the plan SQLite chose for transactions, logs, check-ins,
    /// attachments and feedback before migration 10).
    #[tokio::test]
    async fn retention_batches_use_an_index_not_a_scan_and_sort() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(opts(dir.path())).unwrap();
        store.close().await.unwrap();
        let c = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        for (table, col) in [
            ("events", "received_at"),
            ("transactions", "received_at"),
            ("check_ins", "received_at"),
            ("logs", "received_at"),
            ("attachments", "received_at"),
            ("user_feedback", "received_at"),
        ] {
            let q = format!(
                "EXPLAIN QUERY PLAN SELECT rowid FROM {table}
                   WHERE project_id = 1 AND {col} < 5 ORDER BY {col} LIMIT 10"
            );
            let plan: Vec<String> = c
                .prepare(&q)
                .unwrap()
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains(&format!("project_id=? AND {col}<?"))
                    && !plan.contains("TEMP B-TREE"),
                "{table}: {plan}"
            );
        }
        let plan: String = c
            .query_row(
                "EXPLAIN QUERY PLAN DELETE FROM monitor_hourly WHERE hour < 5",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(
            plan.contains("USING") && plan.contains("hour<?"),
            "monitor_hourly: {plan}"
        );
    }

    /// A project with more rows than two purge batches is deleted whole
    /// (the batch loop runs on past full batches and stops), and another
    /// project's rows stay.
    #[tokio::test]
    async fn deleting_a_big_project_purges_in_batches_and_spares_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(opts(dir.path())).unwrap();
        let (big, _) = store
            .create_project(NewProject { name: "big".into() })
            .await
            .unwrap();
        let (other, _) = store
            .create_project(NewProject {
                name: "other".into(),
            })
            .await
            .unwrap();
        let rows = 2 * PROJECT_PURGE_BATCH + 500;
        let (b, o) = (big.id, other.id);
        store
            .write(move |c| {
                let mut ins = c.prepare(
                    "INSERT INTO logs (project_id, timestamp, body, received_at) VALUES (?1, 1, 'x', 1)",
                )?;
                for i in 0..rows {
                    ins.execute([if i % 10 == 0 { o } else { b }])?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let count = |pid: i64| {
            let s = &store;
            async move {
                s.read(move |c| {
                    Ok(c.query_row(
                        "SELECT COUNT(*) FROM logs WHERE project_id = ?1",
                        [pid],
                        |r| r.get::<_, i64>(0),
                    )?)
                })
                .await
                .unwrap()
            }
        };
        let others = count(o).await;
        assert!(count(b).await > 2 * PROJECT_PURGE_BATCH as i64);
        assert!(store.delete_project(b).await.unwrap());
        assert_eq!(count(b).await, 0);
        assert_eq!(count(o).await, others);
        assert_eq!(store.get_project(b).await.unwrap(), None);

        // A deletion cut short after its first write (the mark): the
        // project is gone to lookups, lists and its key at once, and the
        // next start finishes the purge.
        let (cut, key) = store
            .create_project(NewProject { name: "cut".into() })
            .await
            .unwrap();
        let id = cut.id;
        store
            .write(move |c| {
                c.execute(
                    "INSERT INTO logs (project_id, timestamp, body, received_at) VALUES (?1, 1, 'x', 1)",
                    [id],
                )?;
                c.execute("UPDATE projects SET deleting = 1 WHERE id = ?1", [id])?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(store.get_project(id).await.unwrap(), None);
        assert_eq!(store.find_project_by_slug("cut").await.unwrap(), None);
        assert!(
            store
                .list_projects()
                .await
                .unwrap()
                .iter()
                .all(|p| p.id != id)
        );
        assert!(
            store
                .find_project_key(&key.public_key)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(count(id).await, 1);
        assert_eq!(store.resume_project_deletions().await.unwrap(), vec![id]);
        assert_eq!(count(id).await, 0);
        assert!(store.resume_project_deletions().await.unwrap().is_empty());
        assert!(!store.delete_project(id).await.unwrap());
        store.close().await.unwrap();
    }

    #[test]
    fn garbage_file_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let garbage = b"this is not a database, it is a shopping list".repeat(100);
        std::fs::write(&path, &garbage).unwrap();
        let err = SqliteStore::open(opts(dir.path())).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("backup"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), garbage);
    }

    #[tokio::test]
    async fn damaged_pages_are_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(opts(dir.path())).unwrap();
            for i in 0..200 {
                store
                    .create_project(NewProject {
                        name: format!("project {i} {}", "x".repeat(200)),
                    })
                    .await
                    .unwrap();
            }
            store.close().await.unwrap();
        }
        // Checkpoint the WAL into the main file, then damage a page.
        {
            let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
            c.pragma_update(None, "journal_mode", "DELETE").unwrap();
        }
        let path = dir.path().join(DB_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 8192);
        for b in &mut bytes[4096..4096 + 600] {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = SqliteStore::open(opts(dir.path())).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "file not modified");
    }

    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        SqliteStore::open(opts(dir.path()))
            .unwrap()
            .close()
            .await
            .unwrap();
        let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
        c.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
            [],
        )
        .unwrap();
        drop(c);
        let err = SqliteStore::open(opts(dir.path())).unwrap_err();
        assert!(
            matches!(err, StorageError::SchemaTooNew { found: 999, .. }),
            "{err}"
        );
    }

    #[test]
    fn unwritable_dir_names_the_path() {
        let err = SqliteStore::open(opts(Path::new("/proc/lookout-nope"))).unwrap_err();
        assert!(err.to_string().contains("/proc/lookout-nope"), "{err}");
    }

    #[tokio::test]
    async fn group_commit_batches_concurrent_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(opts(dir.path())).unwrap());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.create_project(NewProject {
                    name: format!("p{i}"),
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(store.list_projects().await.unwrap().len(), 200);
        store.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_ingest_queue_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path());
        o.queue_capacity = 2;
        let store = Arc::new(SqliteStore::open(o).unwrap());
        let (p, _) = store
            .create_project(NewProject { name: "p".into() })
            .await
            .unwrap();
        // Hold the writer busy so nothing drains.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let s = store.clone();
            tokio::spawn(async move {
                s.write(move |_| {
                    let _ = release_rx.recv_timeout(Duration::from_secs(10));
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut pending = Vec::new();
        let mut refused = 0;
        for _ in 0..10 {
            let s = store.clone();
            let batch = IngestBatch {
                project_id: p.id,
                received_ms: 0,
                ..Default::default()
            };
            let h = tokio::spawn(async move { s.ingest(batch).await });
            tokio::time::sleep(Duration::from_millis(20)).await;
            if h.is_finished() {
                match h.await.unwrap() {
                    Err(StorageError::Overloaded) => refused += 1,
                    other => panic!("unexpected early answer: {other:?}"),
                }
            } else {
                pending.push(h);
            }
        }
        assert!(
            refused >= 5,
            "a full queue answers Overloaded at once ({refused} refused)"
        );
        release_tx.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        for h in pending {
            h.await
                .unwrap()
                .expect("queued envelopes are stored once the writer frees up");
        }
        store.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retention_gives_the_space_back_to_the_file_system() {
        use lookout_model::errors::NewEvent;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(opts(dir.path())).unwrap();
        let (p, _) = store
            .create_project(NewProject { name: "p".into() })
            .await
            .unwrap();
        // 4,000 events with incompressible 2 KB payloads, received long ago.
        for chunk in 0..40 {
            let events = (0..100)
                .map(|i| {
                    let n: u32 = chunk * 100 + i;
                    let mut id = [0u8; 16];
                    id[..4].copy_from_slice(&n.to_be_bytes());
                    let payload: Vec<u8> = (0..2048u32)
                        .map(|k| (k.wrapping_mul(2_654_435_761).wrapping_add(n) >> 13) as u8)
                        .collect();
                    NewEvent {
                        event_id: id,
                        grouping_hash: "h".into(),
                        grouping_version: "t".into(),
                        title: "t".into(),
                        culprit: String::new(),
                        level: "error".into(),
                        exception_type: None,
                        platform: None,
                        timestamp_ms: 1_000,
                        release: None,
                        environment: None,
                        user_key: None,
                        trace_id: None,
                        tags: vec![],
                        dict_id: 0,
                        payload,
                    }
                })
                .collect();
            store
                .ingest(IngestBatch {
                    project_id: p.id,
                    received_ms: 1_000,
                    events,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        // Let the checkpoint thread move everything into the main file.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let size = || std::fs::metadata(store.path()).unwrap().len();
        let before = size();
        assert!(before > 8_000_000, "{before}");
        loop {
            let r = store
                .enforce_retention(p.id, 2_000, u64::MAX, 1000)
                .await
                .unwrap();
            if r.events < 1000 {
                break;
            }
        }
        let freed = store.reclaim_space(1_000_000).await.unwrap();
        assert!(freed > 3000, "free pages handed back: {freed}");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let after = size();
        assert!(
            after < before / 4,
            "the file shrank after retention: {before} -> {after}"
        );
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn failed_job_rolls_back_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(opts(dir.path())).unwrap());
        let a = {
            let s = store.clone();
            tokio::spawn(async move {
                s.write(|c| {
                    c.execute(
                        "INSERT INTO projects (slug, name, created_at) VALUES ('a','a',0)",
                        [],
                    )?;
                    Err::<(), _>(StorageError::Conflict("deliberate".into()))
                })
                .await
            })
        };
        let b = {
            let s = store.clone();
            tokio::spawn(async move { s.create_project(NewProject { name: "b".into() }).await })
        };
        assert!(a.await.unwrap().is_err());
        b.await.unwrap().unwrap();
        let slugs: Vec<String> = store
            .list_projects()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.slug)
            .collect();
        assert_eq!(slugs, vec!["b".to_string()]);
        store.close().await.unwrap();
    }
}
