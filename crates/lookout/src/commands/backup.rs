//! `lookout backup …` and `lookout check`. They work on files directly:
//! a snapshot is safe beside a running server (one read transaction), and
//! restore refuses a data dir that a server holds.

use crate::cli::{BackupAction, DecryptArgs, EncryptArgs, S3Action};
use crate::exit::Exit;
use lookout_backup::crypto::{passphrase_file, read_passphrase};
use lookout_backup::progress::TtyBar;
use lookout_backup::{CreateOptions, Encrypt, Keys, Policy, Trigger};
use lookout_config::Config;
use lookout_storage::sqlite::{DB_FILE, snapshot};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Test hook (deliberately outside the strict `LOOKOUT_*` namespace):
/// milliseconds to pause between writing a backup's data file
/// and its manifest, so that tests can kill the process at the worst
/// moment. Not a user setting.
const PAUSE_ENV: &str = "LOOKOUTTEST_BACKUP_PAUSE_MS";

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Human-readable bytes.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// What to encrypt a new backup with: the flags, else `[backup] encrypt`.
fn encryption(cfg: &Config, a: EncryptArgs) -> Result<Option<Encrypt>, Exit> {
    if let Some(path) = a.passphrase_file {
        return Ok(Some(Encrypt::Passphrase(passphrase_file(&path)?)));
    }
    if a.passphrase_stdin {
        return Ok(Some(Encrypt::Passphrase(read_passphrase(
            std::io::stdin().lock(),
            "standard input",
        )?)));
    }
    if !a.recipient.is_empty() {
        return Encrypt::recipients(&a.recipient)
            .map(Some)
            .map_err(|e| Exit::Usage(e.to_string()));
    }
    Ok(lookout_server::ops::backup_encryption(cfg)?)
}

/// Keys to open an encrypted backup: the flags, else the files
/// `[backup]` names.
fn keys(cfg: &Config, a: DecryptArgs) -> Result<Keys, Exit> {
    if a.passphrase_file.is_none() && !a.passphrase_stdin && a.identity_file.is_none() {
        return Ok(lookout_server::ops::backup_keys(cfg)?);
    }
    let mut keys = Keys::none();
    if let Some(path) = a.passphrase_file {
        keys = keys.with_passphrase(passphrase_file(&path)?);
    }
    if a.passphrase_stdin {
        keys = keys.with_passphrase(read_passphrase(std::io::stdin().lock(), "standard input")?);
    }
    if let Some(path) = a.identity_file {
        keys = keys.with_identities(lookout_backup::crypto::identity_file(&path)?);
    }
    Ok(keys)
}

/// `lookout backup …`.
pub fn run(
    cfg: &Config,
    action: BackupAction,
    runtime: &tokio::runtime::Handle,
) -> Result<(), Exit> {
    let default_dir = cfg.backup_dir();
    match action {
        BackupAction::Create {
            name,
            to,
            json,
            encrypt,
        } => {
            let dir = to.unwrap_or(default_dir);
            let db = cfg.data_dir.join(DB_FILE);
            if !db.is_file() {
                return Err(Exit::Failure(format!(
                    "no database at {}: nothing to back up (check --data-dir)",
                    db.display()
                )));
            }
            let pause = std::env::var(PAUSE_ENV)
                .ok()
                .and_then(|v| v.parse::<u64>().ok());
            let hook = move || {
                if let Some(ms) = pause {
                    eprintln!("backup data file written; pausing {ms} ms before the manifest");
                    std::thread::sleep(Duration::from_millis(ms));
                }
            };
            let encrypt = encryption(cfg, encrypt)?;
            let bar = TtyBar::for_stderr();
            // Online, beside a server that ingests: give way to it.
            lookout_backup::priority::lower_current_thread();
            let m = lookout_backup::create(
                &db,
                &dir,
                CreateOptions {
                    name,
                    trigger: Trigger::Cli,
                    progress: bar.as_ref(),
                    encrypt: encrypt.as_ref(),
                    before_commit: Some(&hook),
                    max_write_bytes_per_sec: u64::from(cfg.backup.max_write_mib_per_sec) << 20,
                },
            )?;
            if json {
                print_json(&serde_json::to_value(&m).unwrap_or_default());
            } else {
                println!(
                    "backup {} created in {}: {} ({} uncompressed), schema version {}, {}{} ms",
                    m.name,
                    dir.display(),
                    human_bytes(m.size()),
                    human_bytes(m.database.size),
                    m.schema_version,
                    m.encryption
                        .map(|e| format!("encrypted ({e}), "))
                        .unwrap_or_default(),
                    m.duration_ms
                );
            }
            Ok(())
        }
        BackupAction::List { from, json } => {
            let dir = from.unwrap_or(default_dir);
            let items = lookout_backup::list(&dir)?;
            if json {
                let rows: Vec<_> = items
                    .iter()
                    .map(|l| {
                        let mut row = l.manifest.summary();
                        row.insert("state".into(), json!(l.state()));
                        row.insert(
                            "verified_at".into(),
                            json!(l.verification.as_ref().map(|v| v.at)),
                        );
                        serde_json::Value::Object(row)
                    })
                    .collect();
                print_json(&serde_json::Value::Array(rows));
            } else if items.is_empty() {
                println!(
                    "no backups in {}: make one with `lookout backup create`",
                    dir.display()
                );
            } else {
                println!("{}  STATE", TABLE_HEADER);
                for l in items {
                    println!(
                        "{}  {}{}",
                        manifest_cells(&l.manifest),
                        l.state(),
                        flags(&l.manifest)
                    );
                }
            }
            Ok(())
        }
        BackupAction::Verify {
            name,
            from,
            json,
            keys: k,
        } => {
            let dir = from.unwrap_or(default_dir);
            let keys = keys(cfg, k)?;
            let bar = TtyBar::for_stderr();
            let r = lookout_backup::verify_with(&dir, &name, &keys, bar.as_ref())?;
            if json {
                print_json(&json!({
                    "name": r.name,
                    "ok": r.ok(),
                    "problems": r.problems,
                    "encryption": r.encryption,
                    "content_checked": r.content_checked,
                    "schema_version": r.schema_version,
                    "tables": r.tables.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
                }));
            } else if r.ok() && !r.content_checked {
                let e = r.encryption.map(|e| e.to_string()).unwrap_or_default();
                println!(
                    "backup {name} is intact: hashes match (encrypted, {e}); its content was not checked: that needs {}",
                    r.encryption.map(|e| e.needs()).unwrap_or_default()
                );
            } else if r.ok() {
                println!(
                    "backup {name} is sound: hashes match, integrity check ok, schema version {}",
                    r.schema_version
                );
                for (t, n) in &r.tables {
                    println!("  {t:<24} {n:>10} rows");
                }
            }
            if r.ok() {
                Ok(())
            } else {
                Err(Exit::Failure(format!(
                    "backup {name} failed verification: {}",
                    r.problems.join("; ")
                )))
            }
        }
        BackupAction::Restore {
            name,
            from,
            into,
            keys: k,
        } => {
            let dir = from.unwrap_or(default_dir);
            let keys = keys(cfg, k)?;
            let bar = TtyBar::for_stderr();
            let r = lookout_backup::restore_with(&dir, &name, &into, &keys, bar.as_ref())?;
            println!(
                "restored backup {name} into {} ({}, schema version {})",
                r.database.display(),
                human_bytes(r.bytes),
                r.schema_version
            );
            if let Some(aside) = r.replaced {
                println!(
                    "the replaced database files were moved to {}",
                    aside.display()
                );
            }
            println!(
                "start Lookout on {} to use it; an older schema is migrated up on start",
                into.display()
            );
            Ok(())
        }
        BackupAction::S3 { action } => s3(cfg, action, runtime),
        BackupAction::Prune { from, dry_run } => {
            let dir = from.unwrap_or(default_dir);
            let policy = policy(cfg);
            let removed = lookout_backup::prune(&dir, &policy, dry_run)?;
            print_pruned(&removed, &policy, dry_run, &dir.display().to_string());
            Ok(())
        }
    }
}

/// `lookout backup s3 …`.
fn s3(cfg: &Config, action: S3Action, runtime: &tokio::runtime::Handle) -> Result<(), Exit> {
    let Some(copies) = lookout_server::ops::s3_copies(cfg)? else {
        return Err(Exit::Usage(
            "no object storage is configured: set [backup.s3] bucket (see docs/operations.md)"
                .into(),
        ));
    };
    let label = copies.label();
    match action {
        S3Action::List { json } => {
            let items = runtime.block_on(copies.list())?;
            if json {
                let rows: Vec<_> = items
                    .iter()
                    .map(|c| {
                        let mut row = c.manifest.summary();
                        row.insert("uploaded_at".into(), json!(c.uploaded_at));
                        serde_json::Value::Object(row)
                    })
                    .collect();
                print_json(&serde_json::Value::Array(rows));
            } else if items.is_empty() {
                println!("no backup copies in {label}");
            } else {
                println!("{TABLE_HEADER}");
                for c in items {
                    println!("{}{}", manifest_cells(&c.manifest), flags(&c.manifest));
                }
            }
            Ok(())
        }
        S3Action::Push { name, from } => {
            let dir = from.unwrap_or_else(|| cfg.backup_dir());
            let m = runtime.block_on(copies.push(&dir, &name))?;
            println!(
                "uploaded backup {name} to {label} ({})",
                human_bytes(m.size())
            );
            Ok(())
        }
        S3Action::Fetch { name, to } => {
            let dir = to.unwrap_or_else(|| cfg.backup_dir());
            let m = runtime.block_on(copies.fetch(&name, &dir))?;
            println!(
                "downloaded backup {name} from {label} into {} ({}, hashes match); restore it with `lookout backup restore {name} --from {} --into DATA_DIR`",
                dir.display(),
                human_bytes(m.size()),
                dir.display()
            );
            Ok(())
        }
        S3Action::Prune { dry_run } => {
            let policy = policy(cfg);
            let removed = runtime.block_on(copies.prune(&policy, dry_run))?;
            print_pruned(&removed, &policy, dry_run, &label);
            Ok(())
        }
    }
}

/// The columns `backup list` and `backup s3 list` share.
const TABLE_HEADER: &str =
    "NAME                             CREATED (UTC)              SIZE SCHEMA";

/// A listed backup's shared columns, aligned with [`TABLE_HEADER`].
fn manifest_cells(m: &lookout_backup::Manifest) -> String {
    format!(
        "{:<32} {:<20} {:>10} {:>6}",
        m.name,
        m.created_at.format("%Y-%m-%d %H:%M:%S"),
        human_bytes(m.size()),
        m.schema_version
    )
}

/// ` (pinned, age-scrypt)` and the like after a listed backup's row.
fn flags(m: &lookout_backup::Manifest) -> String {
    match (m.pinned, m.encryption) {
        (true, Some(e)) => format!(" (pinned, {e})"),
        (true, None) => " (pinned)".to_string(),
        (false, Some(e)) => format!(" ({e})"),
        (false, None) => String::new(),
    }
}

/// What `prune` and `s3 prune` print: each backup deleted (or that would
/// be, with `dry_run`) from `place`, or that nothing was.
fn print_pruned(removed: &[String], policy: &Policy, dry_run: bool, place: &str) {
    if removed.is_empty() {
        println!(
            "nothing to prune in {place} (keeping {} hourly, {} daily, {} weekly)",
            policy.hourly, policy.daily, policy.weekly
        );
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    for n in removed {
        println!("{verb} {n} from {place}");
    }
}

/// The retention policy from the configuration.
pub fn policy(cfg: &Config) -> Policy {
    Policy {
        hourly: cfg.backup.keep_hourly,
        daily: cfg.backup.keep_daily,
        weekly: cfg.backup.keep_weekly,
    }
}

/// `lookout check`.
pub fn check(cfg: &Config, json: bool) -> Result<(), Exit> {
    let db: PathBuf = cfg.data_dir.join(DB_FILE);
    let started = std::time::Instant::now();
    let problems = snapshot::full_check(&db)?;
    let ms = started.elapsed().as_millis() as u64;
    if json {
        print_json(
            &json!({"database": db, "ok": problems.is_empty(), "problems": problems, "duration_ms": ms}),
        );
    } else if problems.is_empty() {
        println!("{}: integrity check ok ({ms} ms)", db.display());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Exit::Failure(format!(
            "{} is damaged: {}. Restore a backup (`lookout backup restore`) or start with `lookout serve --auto-recover`",
            db.display(),
            problems.join("; ")
        )))
    }
}
