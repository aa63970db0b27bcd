//! Backups of Lookout's store.
//!
//! A backup is two files in the backup directory:
//!
//! - `<name>.db.zst`: a consistent online snapshot of the database
//!   (`lookout_storage::sqlite::snapshot`), zstd-compressed; or
//!   `<name>.db.zst.age` when it is encrypted ([`crypto`]: compressed
//!   first, then encrypted in the age format);
//! - `<name>.manifest.json`: the [`Manifest`]: Lookout and schema versions,
//!   creation time, and the size and SHA-256 of every file (and of the
//!   uncompressed database), and its encryption if any. The hashes are
//!   of the files as stored, so an encrypted backup's integrity is
//!   verifiable without its key.
//!
//! A third file, `<name>.verify.json`, records the last verification.
//!
//! **A backup is listed valid only once its manifest is renamed into
//! place.** Everything is written under a `.tmp-` name, fsynced and renamed;
//! the manifest goes last. A crash at any point leaves at most temporary
//! files or a data file without a manifest, which no listing shows and
//! `prune` removes.
//!
//! Nothing here knows SQL: snapshots and integrity checks come from
//! `lookout-storage`.

pub mod crypto;
pub mod lock;
pub mod policy;
pub mod priority;
pub mod progress;
pub mod s3;

use chrono::{DateTime, Utc};
use lookout_storage::StorageError;
use lookout_storage::sqlite::snapshot;
use progress::Progress;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use crypto::{Encrypt, Encryption, Keys};
pub use lock::DataDirLock;
pub use policy::Policy;

/// The manifest format of plain backups (older versions read it too).
pub const FORMAT: u32 = 1;
/// The manifest format of encrypted backups: versions that know only
/// [`FORMAT`] refuse it by number instead of failing on the data file.
pub const FORMAT_ENCRYPTED: u32 = 2;
/// zstd level for snapshots: fast, and still 3–5× smaller for our data.
const ZSTD_LEVEL: i32 = 3;
const MANIFEST_SUFFIX: &str = ".manifest.json";
const DATA_SUFFIX: &str = ".db.zst";
const AGE_SUFFIX: &str = ".db.zst.age";
const VERIFY_SUFFIX: &str = ".verify.json";
const TMP_PREFIX: &str = ".tmp-";
const CHUNK: usize = 1 << 20;

/// Why a backup operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No backup of that name.
    #[error("no backup named `{name}` in {dir}")]
    NotFound {
        /// The name asked for.
        name: String,
        /// Where we looked.
        dir: PathBuf,
    },
    /// The name is not usable.
    #[error(
        "invalid backup name `{0}`: use 1-100 letters, digits, `.`, `_` or `-`, not starting with `.`"
    )]
    InvalidName(String),
    /// A backup of that name exists.
    #[error("a backup named `{0}` already exists")]
    Exists(String),
    /// A file of the backup does not match its manifest.
    #[error("backup `{name}` is damaged: {problem}")]
    Damaged {
        /// The backup.
        name: String,
        /// Which file and how.
        problem: String,
    },
    /// The manifest cannot be read.
    #[error("backup manifest {path} is unreadable: {detail}")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A server (or a restore) holds the data dir.
    #[error(
        "a Lookout server{} is running on {dir}: stop it first, or restore into another directory with --into",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked {
        /// The data dir.
        dir: PathBuf,
        /// The holder's pid, when the lock file names it.
        pid: Option<u32>,
    },
    /// A key, passphrase or recipient cannot be used (the message names
    /// its file, never its content).
    #[error("{0}")]
    Key(String),
    /// The backup is encrypted and no key for it was given.
    #[error("backup `{name}` is encrypted ({encryption}): opening it needs {}", encryption.needs())]
    KeyRequired {
        /// The backup.
        name: String,
        /// How it is encrypted.
        encryption: Encryption,
    },
    /// The key given does not open the backup (its file is intact).
    #[error(
        "backup `{name}` cannot be decrypted with the {what} given ({encryption}): {detail}; nothing was restored or changed"
    )]
    WrongKey {
        /// The backup.
        name: String,
        /// How it is encrypted.
        encryption: Encryption,
        /// `passphrase` or `identity`.
        what: &'static str,
        /// What age said.
        detail: String,
    },
    /// Object storage (an S3 copy) refused or failed a request.
    #[error("{target}: {detail}")]
    Remote {
        /// The object or bucket, as `s3://bucket/key`.
        target: String,
        /// What the store or the network said.
        detail: String,
    },
    /// The storage layer failed (snapshot, inspection).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl BackupError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> BackupError {
        BackupError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

type Result<T, E = BackupError> = std::result::Result<T, E>;

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name, relative to the backup directory.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// What made a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// `lookout backup create`.
    Cli,
    /// The schedule inside `serve`.
    Scheduled,
    /// `POST /api/v1/backups`.
    Api,
    /// Taken before an automatic recovery replaced the database.
    Recovery,
}

/// Describes one backup. Written last: its presence makes the backup valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format ([`FORMAT`]).
    pub format: u32,
    /// The backup's name.
    pub name: String,
    /// The Lookout version that made it.
    pub lookout_version: String,
    /// The schema version of the database in it.
    pub schema_version: u32,
    /// When the snapshot was taken.
    pub created_at: DateTime<Utc>,
    /// How long making it took, in milliseconds.
    pub duration_ms: u64,
    /// What made it.
    pub trigger: Trigger,
    /// Named explicitly (`--name`): retention never deletes it.
    pub pinned: bool,
    /// How the data file is encrypted; `None` (`null`) when it is not.
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// The uncompressed database (`lookout.db` once restored).
    pub database: FileEntry,
    /// The files of the backup, with their sizes and hashes.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Bytes on disk.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// What a listing shows of a backup (the CLI's `--json`, the API):
    /// name, times, sizes, versions, trigger, pin and encryption.
    pub fn summary(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut row = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            row.insert(k.to_string(), v);
        };
        put("name", self.name.clone().into());
        put("created_at", serde_json::json!(self.created_at));
        put("size", self.size().into());
        put("database_size", self.database.size.into());
        put("schema_version", self.schema_version.into());
        put("lookout_version", self.lookout_version.clone().into());
        put("trigger", serde_json::json!(self.trigger));
        put("pinned", self.pinned.into());
        put("encryption", serde_json::json!(self.encryption));
        put("duration_ms", self.duration_ms.into());
        row
    }
}

/// The outcome of the last verification, kept beside the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// When it ran.
    pub at: DateTime<Utc>,
    /// Whether the backup passed.
    pub ok: bool,
    /// What failed, if anything.
    pub problems: Vec<String>,
    /// Whether the content was checked (decrypted, integrity check, row
    /// counts); `false` when an encrypted backup was checked by its hashes
    /// only, for want of its key.
    #[serde(default = "yes")]
    pub content_checked: bool,
}

fn yes() -> bool {
    true
}

/// A backup as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its last verification, if it ever ran.
    pub verification: Option<Verification>,
}

impl Listed {
    /// `verified`, `failed`, `unverified`, or `intact` (an encrypted
    /// backup whose hashes matched when it was last checked without its
    /// key).
    pub fn state(&self) -> &'static str {
        match &self.verification {
            Some(v) if v.ok && !v.content_checked => "intact",
            Some(v) if v.ok => "verified",
            Some(_) => "failed",
            None => "unverified",
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The backup.
    pub name: String,
    /// Every problem; empty when the backup is sound.
    pub problems: Vec<String>,
    /// Schema version in the snapshot (0 when it could not be read).
    pub schema_version: u32,
    /// Rows per table.
    pub tables: Vec<(String, u64)>,
    /// How the backup is encrypted.
    pub encryption: Option<Encryption>,
    /// Whether the content was checked; `false` for an encrypted backup
    /// verified without its key (hashes only).
    pub content_checked: bool,
}

impl VerifyReport {
    /// Whether the backup passed.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What `restore` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The database file written.
    pub database: PathBuf,
    /// Where the replaced files were moved, if there were any.
    pub replaced: Option<PathBuf>,
    /// Schema version of the restored database (migrated up on next start).
    pub schema_version: u32,
    /// Bytes written.
    pub bytes: u64,
}

/// How to make a backup.
pub struct CreateOptions<'a> {
    /// Explicit name; `None` generates `lookout-YYYYMMDDTHHMMSSZ`.
    pub name: Option<String>,
    /// What is making it.
    pub trigger: Trigger,
    /// Progress sink.
    pub progress: &'a dyn Progress,
    /// Encrypt the data file (`NAME.db.zst.age`); `None`: plain.
    pub encrypt: Option<&'a Encrypt>,
    /// Called after the data file is in place and before the manifest is
    /// written (tests use it to crash at the worst moment).
    pub before_commit: Option<&'a dyn Fn()>,
    /// The most the data file is written at, in bytes per second (0: no
    /// limit).
    pub max_write_bytes_per_sec: u64,
}

impl std::fmt::Debug for CreateOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateOptions")
            .field("name", &self.name)
            .field("trigger", &self.trigger)
            .field("encryption", &self.encrypt.map(Encrypt::kind))
            .finish_non_exhaustive()
    }
}

/// Checks a backup name.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(BackupError::InvalidName(name.to_string()))
    }
}

fn manifest_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{MANIFEST_SUFFIX}"))
}

/// The data file of a plain backup `name` in `dir` (an encrypted one's is
/// [`encrypted_data_path`]; the manifest's `files` names the one it has).
pub fn data_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{DATA_SUFFIX}"))
}

/// The data file of an encrypted backup `name` in `dir`.
pub fn encrypted_data_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{AGE_SUFFIX}"))
}

/// Removes both possible data files of backup `name`.
fn remove_data(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(data_path(dir, name));
    let _ = std::fs::remove_file(encrypted_data_path(dir, name));
}

fn verify_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{VERIFY_SUFFIX}"))
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BackupError::io(dir, e))
}

/// Writes `bytes` to `path` atomically: temporary name, fsync, rename,
/// fsync of the directory.
fn write_atomic(dir: &Path, file_name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{TMP_PREFIX}{file_name}"));
    let dest = dir.join(file_name);
    {
        let mut f = File::create(&tmp).map_err(|e| BackupError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| BackupError::io(&tmp, e))?;
        f.sync_all().map_err(|e| BackupError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &dest).map_err(|e| BackupError::io(&dest, e))?;
    fsync_dir(dir)
}

/// A writer that hashes and counts what passes through.
/// A file written with bounded dirty data: every [`PACE_BYTES`] it asks
/// the kernel to write back what it has so far. A backup then becomes a
/// steady trickle of writes instead of one burst of hundreds of megabytes
/// at the final fsync, which would stall the fsyncs of ingest's commits on
/// the same disk.
struct PacedFile {
    file: File,
    since_sync: u64,
    written: u64,
    started: Instant,
    /// Bytes per second at most (0: no limit).
    rate: u64,
}

/// How much a backup writes between two write-backs.
const PACE_BYTES: u64 = 4 * 1024 * 1024;

impl PacedFile {
    fn new(file: File, rate: u64) -> Self {
        PacedFile {
            file,
            since_sync: 0,
            written: 0,
            started: Instant::now(),
            rate,
        }
    }

    /// After a write-back: sleeps until the average rate is back under the
    /// limit.
    fn pace(&self) {
        if self.rate == 0 {
            return;
        }
        let due = std::time::Duration::from_secs_f64(self.written as f64 / self.rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

impl Write for PacedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since_sync += n as u64;
        self.written += n as u64;
        if self.since_sync >= PACE_BYTES {
            self.file.sync_data()?;
            self.since_sync = 0;
            self.pace();
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

struct HashWriter<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts what passes through.
struct HashReader<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Where compressed bytes go: the file itself, or an age stream over it.
enum Sink<'w, W: Write> {
    Plain(&'w mut W),
    Age(age::stream::StreamWriter<&'w mut W>),
}

impl<W: Write> Write for Sink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Age(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Age(w) => w.flush(),
        }
    }
}

impl<W: Write> Sink<'_, W> {
    /// Ends the stream (age writes its last, authenticated chunk).
    fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Plain(_) => Ok(()),
            Sink::Age(w) => w.finish().map(|_| ()),
        }
    }
}

/// Where compressed bytes come from: the file itself, or an age stream
/// over it.
enum Source<'r, R: Read> {
    Plain(&'r mut R),
    Age(age::stream::StreamReader<&'r mut R>),
}

impl<R: Read> Read for Source<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Age(r) => r.read(buf),
        }
    }
}

/// Makes a backup of the live database `db` in `dir`. Safe while a server
/// runs and ingests: the snapshot is one read transaction.
pub fn create(db: &Path, dir: &Path, opts: CreateOptions<'_>) -> Result<Manifest> {
    let started = Instant::now();
    std::fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;
    let created_at = Utc::now();
    let (name, pinned) = match opts.name {
        Some(n) => {
            validate_name(&n)?;
            if manifest_path(dir, &n).exists() {
                return Err(BackupError::Exists(n));
            }
            (n, true)
        }
        None => {
            let base = format!("lookout-{}", created_at.format("%Y%m%dT%H%M%SZ"));
            let mut name = base.clone();
            let mut i = 2;
            while manifest_path(dir, &name).exists() {
                name = format!("{base}-{i}");
                i += 1;
            }
            (name, false)
        }
    };
    let tmp_db = dir.join(format!("{TMP_PREFIX}{name}.{}.db", std::process::id()));
    let suffix = if opts.encrypt.is_some() {
        AGE_SUFFIX
    } else {
        DATA_SUFFIX
    };
    let tmp_zst = dir.join(format!("{TMP_PREFIX}{name}.{}{suffix}", std::process::id()));
    let result = (|| {
        opts.progress.phase("snapshot", 0);
        let schema_version = snapshot::snapshot(db, &tmp_db)?;
        let raw_len = tmp_db
            .metadata()
            .map_err(|e| BackupError::io(&tmp_db, e))?
            .len();
        opts.progress.phase("compress", raw_len);
        let mut input = HashReader {
            inner: File::open(&tmp_db).map_err(|e| BackupError::io(&tmp_db, e))?,
            hash: Sha256::new(),
            bytes: 0,
        };
        let out = File::create(&tmp_zst).map_err(|e| BackupError::io(&tmp_zst, e))?;
        let mut writer = HashWriter {
            inner: BufWriter::with_capacity(
                CHUNK,
                PacedFile::new(out, opts.max_write_bytes_per_sec),
            ),
            hash: Sha256::new(),
            bytes: 0,
        };
        {
            let mut sink = match opts.encrypt {
                None => Sink::Plain(&mut writer),
                Some(e) => Sink::Age(
                    e.wrap(&mut writer)
                        .map_err(|e| BackupError::io(&tmp_zst, e))?,
                ),
            };
            let mut enc = zstd::stream::Encoder::new(&mut sink, ZSTD_LEVEL)
                .map_err(|e| BackupError::io(&tmp_zst, e))?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = input
                    .read(&mut buf)
                    .map_err(|e| BackupError::io(&tmp_db, e))?;
                if n == 0 {
                    break;
                }
                enc.write_all(&buf[..n])
                    .map_err(|e| BackupError::io(&tmp_zst, e))?;
                opts.progress.update(input.bytes);
            }
            enc.finish().map_err(|e| BackupError::io(&tmp_zst, e))?;
            sink.finish().map_err(|e| BackupError::io(&tmp_zst, e))?;
        }
        writer.flush().map_err(|e| BackupError::io(&tmp_zst, e))?;
        let zst_bytes = writer.bytes;
        let zst_hash = hex::encode(writer.hash.finalize_reset());
        let out = writer
            .inner
            .into_inner()
            .map_err(|e| BackupError::io(&tmp_zst, e.into_error()))?
            .file;
        out.sync_all().map_err(|e| BackupError::io(&tmp_zst, e))?;
        drop(out);
        let data_name = format!("{name}{suffix}");
        let data = dir.join(&data_name);
        std::fs::rename(&tmp_zst, &data).map_err(|e| BackupError::io(&data, e))?;
        let _ = std::fs::remove_file(&tmp_db);
        fsync_dir(dir)?;
        if let Some(hook) = opts.before_commit {
            hook();
        }
        let encryption = opts.encrypt.map(Encrypt::kind);
        let manifest = Manifest {
            format: if encryption.is_some() {
                FORMAT_ENCRYPTED
            } else {
                FORMAT
            },
            name: name.clone(),
            lookout_version: env!("CARGO_PKG_VERSION").to_string(),
            schema_version,
            created_at,
            duration_ms: started.elapsed().as_millis() as u64,
            trigger: opts.trigger,
            pinned,
            encryption,
            database: FileEntry {
                name: lookout_storage::sqlite::DB_FILE.to_string(),
                size: input.bytes,
                sha256: hex::encode(input.hash.finalize()),
            },
            files: vec![FileEntry {
                name: data_name,
                size: zst_bytes,
                sha256: zst_hash,
            }],
        };
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        write_atomic(dir, &format!("{name}{MANIFEST_SUFFIX}"), &json)?;
        opts.progress.finish();
        Ok(manifest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_db);
        let _ = std::fs::remove_file(&tmp_zst);
    }
    result
}

/// Reads the manifest of backup `name`.
pub fn manifest(dir: &Path, name: &str) -> Result<Manifest> {
    validate_name(name)?;
    let path = manifest_path(dir, name);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::NotFound {
                name: name.to_string(),
                dir: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(BackupError::io(&path, e)),
    };
    parse_manifest(&text, path, name)
}

/// Parses and checks the manifest of backup `name` read from `path`
/// (a file, or an object's address for a remote copy).
pub(crate) fn parse_manifest(text: &[u8], path: PathBuf, name: &str) -> Result<Manifest> {
    let m: Manifest = serde_json::from_slice(text).map_err(|e| BackupError::BadManifest {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    if m.format != FORMAT && m.format != FORMAT_ENCRYPTED {
        return Err(BackupError::BadManifest {
            path,
            detail: format!(
                "format {} is not supported (this Lookout reads {FORMAT} and {FORMAT_ENCRYPTED})",
                m.format
            ),
        });
    }
    if m.name != name {
        return Err(BackupError::BadManifest {
            path,
            detail: format!("it describes backup `{}`", m.name),
        });
    }
    for f in &m.files {
        // Never follow a manifest out of its directory.
        if f.name.contains('/') || f.name.starts_with('.') {
            return Err(BackupError::BadManifest {
                path,
                detail: format!("file name `{}` is not allowed", f.name),
            });
        }
    }
    Ok(m)
}

/// Every valid backup in `dir`, newest first. A missing directory is an
/// empty list; an unreadable manifest is skipped with a warning.
pub fn list(dir: &Path) -> Result<Vec<Listed>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BackupError::io(dir, e))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file_name.strip_suffix(MANIFEST_SUFFIX) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        match manifest(dir, name) {
            Ok(m) => {
                let verification = std::fs::read(verify_path(dir, name))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                out.push(Listed {
                    manifest: m,
                    verification,
                });
            }
            Err(e) => tracing::warn!(error = %e, "skipping an unreadable backup manifest"),
        }
    }
    out.sort_by(|a, b| newest_first(&a.manifest, &b.manifest));
    Ok(out)
}

/// The order backups are listed in: newest first, then by name.
pub(crate) fn newest_first(a: &Manifest, b: &Manifest) -> std::cmp::Ordering {
    b.created_at
        .cmp(&a.created_at)
        .then_with(|| b.name.cmp(&a.name))
}

/// Checks each file's size and SHA-256 against the manifest, without
/// decompressing. Returns the problems (empty when all match).
fn check_files(dir: &Path, m: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for f in &m.files {
        let path = dir.join(&f.name);
        match hash_file(&path) {
            Ok((size, _)) if size != f.size => problems.push(format!(
                "file {} has {size} bytes; the manifest says {}",
                f.name, f.size
            )),
            Ok((_, hash)) if hash != f.sha256 => problems.push(format!(
                "file {} does not match its SHA-256 in the manifest (expected {}, found {hash})",
                f.name, f.sha256
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("file {} cannot be read: {e}", f.name)),
        }
    }
    problems
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut r = HashReader {
        inner: File::open(path)?,
        hash: Sha256::new(),
        bytes: 0,
    };
    std::io::copy(&mut r, &mut std::io::sink())?;
    Ok((r.bytes, hex::encode(r.hash.finalize())))
}

/// Reads the rest of the stored file into its hash and compares the
/// result with the manifest. `None` when it matches, else the problem.
fn finish_hash(reader: &mut HashReader<File>, entry: &FileEntry) -> Option<String> {
    if let Err(e) = std::io::copy(reader, &mut std::io::sink()) {
        return Some(format!("file {} cannot be read: {e}", entry.name));
    }
    let hash = hex::encode(reader.hash.finalize_reset());
    (reader.bytes != entry.size || hash != entry.sha256).then(|| {
        format!(
            "file {} does not match its size and SHA-256 in the manifest",
            entry.name
        )
    })
}

/// Why [`extract`] stopped.
enum Fail {
    /// age refused the header with the keys given.
    Key(Encryption, age::DecryptError),
    /// The stored bytes could not be decrypted or decompressed.
    Read(String),
    /// Anything else (the destination, an oversized stream).
    Other(BackupError),
}

/// Decompresses the backup's database into `dest` (fsynced), decrypting
/// it first when it is encrypted, and checks the stored file's and the
/// database's hashes on the way. Returns the bytes written. A stream that
/// cannot be read is blamed on the file when its hash differs from the
/// manifest, and on the key when it matches.
fn extract(
    dir: &Path,
    m: &Manifest,
    keys: &Keys,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let entry = m
        .files
        .iter()
        .find(|f| f.name.ends_with(DATA_SUFFIX) || f.name.ends_with(AGE_SUFFIX))
        .ok_or_else(|| BackupError::BadManifest {
            path: manifest_path(dir, &m.name),
            detail: "it lists no database file".into(),
        })?;
    if let Some(enc) = m.encryption
        && !keys.can_open(enc)
    {
        return Err(BackupError::KeyRequired {
            name: m.name.clone(),
            encryption: enc,
        });
    }
    let src = dir.join(&entry.name);
    let damaged = |problem: String| BackupError::Damaged {
        name: m.name.clone(),
        problem,
    };
    let file = File::open(&src).map_err(|e| BackupError::io(&src, e))?;
    let mut reader = HashReader {
        inner: file,
        hash: Sha256::new(),
        bytes: 0,
    };
    let out = File::create(dest).map_err(|e| BackupError::io(dest, e))?;
    let mut writer = HashWriter {
        inner: BufWriter::with_capacity(CHUNK, out),
        hash: Sha256::new(),
        bytes: 0,
    };
    progress.phase("restore", m.database.size);
    let outcome = (|| -> Result<(), Fail> {
        let mut source = match m.encryption {
            None => Source::Plain(&mut reader),
            Some(enc) => Source::Age(
                keys.decrypt(enc, &mut reader)
                    .map_err(|e| Fail::Key(enc, e))?,
            ),
        };
        {
            let mut dec =
                zstd::stream::Decoder::with_buffer(BufReader::with_capacity(CHUNK, &mut source))
                    .map_err(|e| {
                        Fail::Read(format!("file {} is not a zstd stream: {e}", entry.name))
                    })?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = dec.read(&mut buf).map_err(|e| {
                    Fail::Read(format!(
                        "file {} cannot be {}: {e}",
                        entry.name,
                        if m.encryption.is_some() {
                            "decrypted and decompressed"
                        } else {
                            "decompressed"
                        }
                    ))
                })?;
                if n == 0 {
                    break;
                }
                if writer.bytes + n as u64 > m.database.size {
                    return Err(Fail::Other(damaged(format!(
                        "file {} decompresses to more than the {} bytes the manifest records",
                        entry.name, m.database.size
                    ))));
                }
                writer
                    .write_all(&buf[..n])
                    .map_err(|e| Fail::Other(BackupError::io(dest, e)))?;
                progress.update(writer.bytes);
            }
        }
        // Read whatever trails the zstd frame: the hash covers the whole
        // file, and age authenticates its last chunk only at the end.
        std::io::copy(&mut source, &mut std::io::sink())
            .map_err(|e| Fail::Read(format!("file {} cannot be read: {e}", entry.name)))?;
        Ok(())
    })();
    if let Err(fail) = outcome {
        let err = match fail {
            Fail::Other(e) => e,
            fail => match (finish_hash(&mut reader, entry), fail) {
                (Some(problem), _) => damaged(problem),
                (
                    None,
                    Fail::Key(
                        encryption,
                        age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed,
                    ),
                ) => BackupError::WrongKey {
                    name: m.name.clone(),
                    encryption,
                    what: keys.describe(encryption),
                    detail: "it does not match the one this backup was encrypted with".into(),
                },
                (None, Fail::Key(_, e)) => {
                    damaged(format!("file {} cannot be decrypted: {e}", entry.name))
                }
                (None, Fail::Read(problem)) => damaged(problem),
                (None, Fail::Other(e)) => e,
            },
        };
        return Err(err);
    }
    writer.flush().map_err(|e| BackupError::io(dest, e))?;
    if let Some(problem) = finish_hash(&mut reader, entry) {
        return Err(damaged(problem));
    }
    let db_hash = hex::encode(writer.hash.finalize_reset());
    if writer.bytes != m.database.size || db_hash != m.database.sha256 {
        return Err(damaged(format!(
            "the database in file {} does not match its SHA-256 in the manifest",
            entry.name
        )));
    }
    let bytes = writer.bytes;
    let out = writer
        .inner
        .into_inner()
        .map_err(|e| BackupError::io(dest, e.into_error()))?;
    out.sync_all().map_err(|e| BackupError::io(dest, e))?;
    progress.finish();
    Ok(bytes)
}

/// Verifies backup `name` with no keys: see [`verify_with`].
pub fn verify(dir: &Path, name: &str, progress: &dyn Progress) -> Result<VerifyReport> {
    verify_with(dir, name, &Keys::none(), progress)
}

/// Verifies backup `name`: every file's size and hash, then the snapshot
/// itself (decrypted when it is encrypted, decompressed to a temporary
/// file in `dir`): SQLite's full integrity check and the row count of
/// every table. Records the outcome beside the backup. A damaged backup
/// is a report with problems, not an error; errors are for a missing
/// backup, an unusable directory, or a key that does not open it.
///
/// An encrypted backup without a key for it is checked by its hashes
/// only (the manifest hashes the file as stored): the report says
/// `content_checked: false`, and the backup is listed `intact` unless an
/// earlier check with the key found it `verified`.
pub fn verify_with(
    dir: &Path,
    name: &str,
    keys: &Keys,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let m = manifest(dir, name)?;
    let mut report = VerifyReport {
        name: name.to_string(),
        problems: check_files(dir, &m),
        schema_version: 0,
        tables: Vec::new(),
        encryption: m.encryption,
        content_checked: true,
    };
    let locked = m.encryption.is_some_and(|e| !keys.can_open(e));
    if report.problems.is_empty() && locked {
        report.content_checked = false;
    } else if report.problems.is_empty() {
        let tmp = dir.join(format!(
            "{TMP_PREFIX}verify-{name}.{}.db",
            std::process::id()
        ));
        match extract(dir, &m, keys, &tmp, progress) {
            Ok(_) => match snapshot::inspect(&tmp) {
                Ok(ins) => {
                    report
                        .problems
                        .extend(ins.problems.iter().map(|p| format!("integrity check: {p}")));
                    report.schema_version = ins.schema_version;
                    report.tables = ins.tables;
                    if report.problems.is_empty() && ins.schema_version != m.schema_version {
                        report.problems.push(format!(
                            "the snapshot is at schema version {}, the manifest says {}",
                            ins.schema_version, m.schema_version
                        ));
                    }
                }
                Err(e) => report
                    .problems
                    .push(format!("the snapshot cannot be opened: {e}")),
            },
            Err(BackupError::Damaged { problem, .. }) => report.problems.push(problem),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
        let _ = std::fs::remove_file(&tmp);
    }
    if report.ok() && !report.content_checked {
        // Hashes alone do not undo an earlier full verification: the
        // file is the one that was checked.
        let earlier: Option<Verification> = std::fs::read(verify_path(dir, name))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if earlier.is_some_and(|v| v.ok && v.content_checked) {
            return Ok(report);
        }
    }
    let v = Verification {
        at: Utc::now(),
        ok: report.ok(),
        problems: report.problems.clone(),
        content_checked: report.content_checked,
    };
    let json = serde_json::to_vec_pretty(&v).expect("verification serialises");
    write_atomic(dir, &format!("{name}{VERIFY_SUFFIX}"), &json)?;
    Ok(report)
}

/// Restores a plain backup: [`restore_with`] with no keys.
pub fn restore(
    dir: &Path,
    name: &str,
    into: &Path,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    restore_with(dir, name, into, &Keys::none(), progress)
}

/// Restores backup `name` from `dir` into the data dir `into`: refuses
/// while a server holds `into`; writes `lookout.db` under a temporary
/// name (decrypting it with `keys` when the backup is encrypted), checks
/// its hashes, and only then moves any existing database files aside into
/// `into/replaced-<time>/` (never deleting them) and renames the new file
/// into place. A missing or wrong key fails before anything is replaced.
/// An older schema is migrated up when Lookout next opens it.
pub fn restore_with(
    dir: &Path,
    name: &str,
    into: &Path,
    keys: &Keys,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let m = manifest(dir, name)?;
    if let Some(e) = m.encryption
        && !keys.can_open(e)
    {
        return Err(BackupError::KeyRequired {
            name: m.name,
            encryption: e,
        });
    }
    let _lock = DataDirLock::acquire(into)?;
    restore_locked(dir, &m, into, "replaced", keys, progress)
}

/// [`restore_with`] for a caller that already holds the data dir lock (the
/// server's automatic recovery). `aside` names the folder the old files go
/// to (`replaced`, `corrupt`).
pub fn restore_locked(
    dir: &Path,
    m: &Manifest,
    into: &Path,
    aside: &str,
    keys: &Keys,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    std::fs::create_dir_all(into).map_err(|e| BackupError::io(into, e))?;
    let db_name = lookout_storage::sqlite::DB_FILE;
    let tmp = into.join(format!("{TMP_PREFIX}{db_name}.restoring"));
    let bytes = match extract(dir, m, keys, &tmp, progress) {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let mut replaced = None;
    let existing: Vec<String> = ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| format!("{db_name}{s}"))
        .filter(|f| into.join(f).exists())
        .collect();
    if !existing.is_empty() {
        let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let aside_dir = into.join(format!("{aside}-{stamp}"));
        std::fs::create_dir_all(&aside_dir).map_err(|e| BackupError::io(&aside_dir, e))?;
        for f in &existing {
            let to = aside_dir.join(f);
            std::fs::rename(into.join(f), &to).map_err(|e| BackupError::io(&to, e))?;
        }
        fsync_dir(&aside_dir)?;
        replaced = Some(aside_dir);
    }
    let dest = into.join(db_name);
    std::fs::rename(&tmp, &dest).map_err(|e| BackupError::io(&dest, e))?;
    fsync_dir(into)?;
    Ok(RestoreReport {
        database: dest,
        replaced,
        schema_version: m.schema_version,
        bytes,
    })
}

/// The newest backup that passes [`verify_with`] now, content included
/// (backups that failed an earlier verification are skipped). Used by
/// automatic recovery. An encrypted backup that `keys` cannot open is an
/// error, not a reason to fall back to an older backup: recovery must
/// not silently restore older data because a key is missing.
pub fn latest_verified(dir: &Path, keys: &Keys) -> Result<Option<(Manifest, VerifyReport)>> {
    for l in list(dir)? {
        if l.verification.as_ref().is_some_and(|v| !v.ok) {
            continue;
        }
        if let Some(e) = l.manifest.encryption
            && !keys.can_open(e)
        {
            return Err(BackupError::KeyRequired {
                name: l.manifest.name,
                encryption: e,
            });
        }
        let report = verify_with(dir, &l.manifest.name, keys, &progress::NoProgress)?;
        if report.ok() {
            return Ok(Some((l.manifest, report)));
        }
        tracing::warn!(backup = %l.manifest.name, problems = ?report.problems, "backup failed verification; trying an older one");
    }
    Ok(None)
}

/// Copies backup `name` from `dir` to `dest_dir` (data file first, then
/// the manifest, each fsynced and renamed), checking the copy's hash.
pub fn copy_to(dir: &Path, name: &str, dest_dir: &Path) -> Result<()> {
    let m = manifest(dir, name)?;
    std::fs::create_dir_all(dest_dir).map_err(|e| BackupError::io(dest_dir, e))?;
    for f in &m.files {
        let tmp = dest_dir.join(format!("{TMP_PREFIX}{}", f.name));
        let src = dir.join(&f.name);
        {
            let mut r = File::open(&src).map_err(|e| BackupError::io(&src, e))?;
            let out = File::create(&tmp).map_err(|e| BackupError::io(&tmp, e))?;
            let mut w = HashWriter {
                inner: BufWriter::with_capacity(CHUNK, out),
                hash: Sha256::new(),
                bytes: 0,
            };
            std::io::copy(&mut r, &mut w).map_err(|e| BackupError::io(&tmp, e))?;
            w.flush().map_err(|e| BackupError::io(&tmp, e))?;
            if hex::encode(w.hash.finalize_reset()) != f.sha256 {
                let _ = std::fs::remove_file(&tmp);
                return Err(BackupError::Damaged {
                    name: name.to_string(),
                    problem: format!("file {} changed while it was copied", f.name),
                });
            }
            let out = w
                .inner
                .into_inner()
                .map_err(|e| BackupError::io(&tmp, e.into_error()))?;
            out.sync_all().map_err(|e| BackupError::io(&tmp, e))?;
        }
        let dest = dest_dir.join(&f.name);
        std::fs::rename(&tmp, &dest).map_err(|e| BackupError::io(&dest, e))?;
    }
    let json = std::fs::read(manifest_path(dir, name))
        .map_err(|e| BackupError::io(&manifest_path(dir, name), e))?;
    write_atomic(dest_dir, &format!("{name}{MANIFEST_SUFFIX}"), &json)
}

/// Deletes backups the policy does not keep (never a pinned one), and
/// leftovers of interrupted backups older than an hour. With `dry_run`,
/// only reports. Returns the names of the backups deleted.
pub fn prune(dir: &Path, policy: &Policy, dry_run: bool) -> Result<Vec<String>> {
    let listed = list(dir)?;
    let candidates: Vec<(String, DateTime<Utc>)> = listed
        .iter()
        .filter(|l| !l.manifest.pinned)
        .map(|l| (l.manifest.name.clone(), l.manifest.created_at))
        .collect();
    let keep = policy::keep(&candidates, policy);
    let mut removed = Vec::new();
    for (name, _) in candidates {
        if keep.contains(&name) {
            continue;
        }
        if !dry_run {
            // The manifest first: from that moment the backup is not listed.
            let mp = manifest_path(dir, &name);
            std::fs::remove_file(&mp).map_err(|e| BackupError::io(&mp, e))?;
            remove_data(dir, &name);
            let _ = std::fs::remove_file(verify_path(dir, &name));
        }
        removed.push(name);
    }
    if !dry_run {
        remove_leftovers(dir, &listed);
    }
    Ok(removed)
}

/// Removes temporary files and data files without a manifest, when they
/// are older than an hour (younger ones may belong to a backup in
/// progress).
fn remove_leftovers(dir: &Path, listed: &[Listed]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let hour = std::time::Duration::from_secs(3600);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let orphan_data = name
            .strip_suffix(DATA_SUFFIX)
            .or_else(|| name.strip_suffix(AGE_SUFFIX))
            .is_some_and(|n| !n.starts_with('.') && !listed.iter().any(|l| l.manifest.name == n));
        if !(name.starts_with(TMP_PREFIX) || orphan_data) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > hour);
        if old {
            tracing::info!(file = %name, "removing the leftover of an interrupted backup");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Deletes one backup (manifest first).
pub fn delete(dir: &Path, name: &str) -> Result<()> {
    manifest(dir, name)?;
    let mp = manifest_path(dir, name);
    std::fs::remove_file(&mp).map_err(|e| BackupError::io(&mp, e))?;
    remove_data(dir, name);
    let _ = std::fs::remove_file(verify_path(dir, name));
    Ok(())
}

#[cfg(test)]
mod tests;
