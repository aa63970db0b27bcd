use super::*;
use progress::NoProgress;

fn make_db(dir: &Path, rows: usize) -> PathBuf {
    let db = dir.join("data").join(lookout_storage::sqlite::DB_FILE);
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
         INSERT INTO schema_migrations VALUES (1, 'x', 0);
         CREATE TABLE things (id INTEGER PRIMARY KEY, v TEXT);",
    )
    .unwrap();
    for i in 0..rows {
        c.execute("INSERT INTO things (v) VALUES (?1)", [format!("thing {i}")])
            .unwrap();
    }
    db
}

fn opts(name: Option<&str>) -> CreateOptions<'static> {
    CreateOptions {
        name: name.map(str::to_string),
        trigger: Trigger::Cli,
        progress: &NoProgress,
        encrypt: None,
        before_commit: None,
        max_write_bytes_per_sec: 0,
    }
}

#[test]
fn create_list_verify_restore_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make_db(tmp.path(), 500);
    let dir = tmp.path().join("backups");
    let m = create(&db, &dir, opts(None)).unwrap();
    assert!(m.name.starts_with("lookout-"));
    assert!(!m.pinned);
    assert_eq!(m.schema_version, 1);
    let l = list(&dir).unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].state(), "unverified");
    let r = verify(&dir, &m.name, &NoProgress).unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert!(r.tables.contains(&("things".to_string(), 500)));
    assert_eq!(list(&dir).unwrap()[0].state(), "verified");

    let into = tmp.path().join("restored");
    let rep = restore(&dir, &m.name, &into, &NoProgress).unwrap();
    assert!(rep.replaced.is_none());
    // Restoring again keeps the replaced file aside.
    let rep = restore(&dir, &m.name, &into, &NoProgress).unwrap();
    let aside = rep.replaced.unwrap();
    assert!(aside.join("lookout.db").is_file());
    let c = rusqlite::Connection::open(into.join("lookout.db")).unwrap();
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM things", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 500);
}

#[test]
fn a_flipped_byte_fails_verification_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make_db(tmp.path(), 100);
    let dir = tmp.path().join("backups");
    let m = create(&db, &dir, opts(Some("before-upgrade"))).unwrap();
    assert!(m.pinned);
    let data = data_path(&dir, "before-upgrade");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();
    let r = verify(&dir, "before-upgrade", &NoProgress).unwrap();
    assert!(!r.ok());
    assert!(
        r.problems[0].contains("before-upgrade.db.zst"),
        "{:?}",
        r.problems
    );
    assert_eq!(list(&dir).unwrap()[0].state(), "failed");
    let err = restore(&dir, "before-upgrade", &tmp.path().join("r"), &NoProgress).unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
    assert!(!tmp.path().join("r/lookout.db").exists());
}

#[test]
fn names_are_checked_and_never_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make_db(tmp.path(), 1);
    let dir = tmp.path().join("backups");
    for bad in ["", "../x", ".hidden", "a/b", "sp ace"] {
        assert!(matches!(
            create(&db, &dir, opts(Some(bad))),
            Err(BackupError::InvalidName(_))
        ));
    }
    create(&db, &dir, opts(Some("one"))).unwrap();
    assert!(matches!(
        create(&db, &dir, opts(Some("one"))),
        Err(BackupError::Exists(_))
    ));
    assert!(matches!(
        verify(&dir, "two", &NoProgress),
        Err(BackupError::NotFound { .. })
    ));
}

#[test]
fn without_a_manifest_a_backup_is_not_listed_and_prune_keeps_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make_db(tmp.path(), 1);
    let dir = tmp.path().join("backups");
    let hook = || panic!("crash before the manifest");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        create(
            &db,
            &dir,
            CreateOptions {
                name: Some("half".into()),
                trigger: Trigger::Cli,
                progress: &NoProgress,
                encrypt: None,
                before_commit: Some(&hook),
                max_write_bytes_per_sec: 0,
            },
        )
    }));
    assert!(r.is_err());
    assert!(data_path(&dir, "half").exists());
    assert!(list(&dir).unwrap().is_empty(), "no manifest, not listed");

    create(&db, &dir, opts(Some("pinned"))).unwrap();
    let a = create(&db, &dir, opts(None)).unwrap();
    let b = create(&db, &dir, opts(None)).unwrap();
    let none = Policy {
        hourly: 1,
        daily: 0,
        weekly: 0,
    };
    let removed = prune(&dir, &none, false).unwrap();
    assert_eq!(removed, vec![a.name.clone()], "the older one of the hour");
    let names: Vec<String> = list(&dir)
        .unwrap()
        .into_iter()
        .map(|l| l.manifest.name)
        .collect();
    assert!(names.contains(&"pinned".to_string()));
    assert!(names.contains(&b.name));
    assert!(!data_path(&dir, &a.name).exists());
}

#[test]
fn restore_refuses_a_locked_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make_db(tmp.path(), 1);
    let dir = tmp.path().join("backups");
    let m = create(&db, &dir, opts(None)).unwrap();
    let data_dir = db.parent().unwrap();
    let _held = DataDirLock::acquire(data_dir).unwrap();
    let err = restore(&dir, &m.name, data_dir, &NoProgress).unwrap_err();
    assert!(matches!(err, BackupError::Locked { .. }), "{err}");
}

fn secret(s: &str) -> age::secrecy::SecretString {
    age::secrecy::SecretString::from(s.to_string())
}

fn create_encrypted(db: &Path, dir: &Path, name: &str, e: &Encrypt) -> Manifest {
    create(
        db,
        dir,
        CreateOptions {
            name: Some(name.into()),
            trigger: Trigger::Cli,
            progress: &NoProgress,
            encrypt: Some(e),
            before_commit: None,
            max_write_bytes_per_sec: 0,
        },
    )
    .unwrap()
}

#[test]
fn a_passphrase_backup_is_opaque_verifiable_by_hash_and_restores_with_the_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make_db(tmp.path(), 300);
    let dir = tmp.path().join("backups");
    let m = create_encrypted(
        &db,
        &dir,
        "sealed",
        &Encrypt::Passphrase(secret("open sesame")),
    );
    assert_eq!(m.format, FORMAT_ENCRYPTED);
    assert_eq!(m.encryption, Some(Encryption::AgeScrypt));
    assert_eq!(m.files[0].name, "sealed.db.zst.age");
    assert!(!data_path(&dir, "sealed").exists());
    let bytes = std::fs::read(encrypted_data_path(&dir, "sealed")).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
    let json = std::fs::read_to_string(manifest_path(&dir, "sealed")).unwrap();
    assert!(json.contains("\"encryption\": \"age-scrypt\""), "{json}");

    // Without the passphrase: hashes only, listed `intact`.
    let r = verify(&dir, "sealed", &NoProgress).unwrap();
    assert!(r.ok() && !r.content_checked, "{r:?}");
    assert!(r.tables.is_empty());
    assert_eq!(list(&dir).unwrap()[0].state(), "intact");
    let err = restore(&dir, "sealed", &tmp.path().join("r0"), &NoProgress).unwrap_err();
    assert!(matches!(err, BackupError::KeyRequired { .. }), "{err}");

    // A wrong passphrase is an error, not damage, and replaces nothing.
    let wrong = Keys::none().with_passphrase(secret("open sesame!"));
    let err = verify_with(&dir, "sealed", &wrong, &NoProgress).unwrap_err();
    assert!(matches!(err, BackupError::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains("sealed"), "{err}");
    assert_eq!(list(&dir).unwrap()[0].state(), "intact");
    let into = tmp.path().join("r1");
    std::fs::create_dir_all(&into).unwrap();
    std::fs::write(into.join("lookout.db"), b"the old one").unwrap();
    let err = restore_with(&dir, "sealed", &into, &wrong, &NoProgress).unwrap_err();
    assert!(matches!(err, BackupError::WrongKey { .. }), "{err}");
    assert_eq!(
        std::fs::read(into.join("lookout.db")).unwrap(),
        b"the old one"
    );
    let names: Vec<String> = std::fs::read_dir(&into)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lookout.lock")
        .collect();
    assert_eq!(names, ["lookout.db"], "nothing moved aside or left behind");

    // The right one: full verification and a restore.
    let keys = Keys::none().with_passphrase(secret("open sesame"));
    let r = verify_with(&dir, "sealed", &keys, &NoProgress).unwrap();
    assert!(r.ok() && r.content_checked, "{r:?}");
    assert!(r.tables.contains(&("things".to_string(), 300)));
    assert_eq!(list(&dir).unwrap()[0].state(), "verified");
    // A later hash-only check does not downgrade it.
    assert!(verify(&dir, "sealed", &NoProgress).unwrap().ok());
    assert_eq!(list(&dir).unwrap()[0].state(), "verified");
    let rep = restore_with(&dir, "sealed", &into, &keys, &NoProgress).unwrap();
    assert!(rep.replaced.is_some());
    let c = rusqlite::Connection::open(into.join("lookout.db")).unwrap();
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM things", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 300);

    // Copies keep the encrypted file; prune and delete remove it.
    let copy = tmp.path().join("copy");
    copy_to(&dir, "sealed", &copy).unwrap();
    assert!(encrypted_data_path(&copy, "sealed").is_file());
    delete(&copy, "sealed").unwrap();
    assert!(!encrypted_data_path(&copy, "sealed").exists());
}

#[test]
fn x25519_backups_open_with_any_matching_identity_only() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make_db(tmp.path(), 50);
    let dir = tmp.path().join("backups");
    let (a, b, other) = (
        age::x25519::Identity::generate(),
        age::x25519::Identity::generate(),
        age::x25519::Identity::generate(),
    );
    let e = Encrypt::Recipients(vec![a.to_public(), b.to_public()]);
    let m = create_encrypted(&db, &dir, "keyed", &e);
    assert_eq!(m.encryption, Some(Encryption::AgeX25519));
    let err = verify_with(
        &dir,
        "keyed",
        &Keys::none().with_identities(vec![other]),
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, BackupError::WrongKey { .. }), "{err}");
    // A passphrase does not open a key-encrypted backup: hashes only.
    let r = verify_with(
        &dir,
        "keyed",
        &Keys::none().with_passphrase(secret("x")),
        &NoProgress,
    )
    .unwrap();
    assert!(!r.content_checked);
    let r = verify_with(
        &dir,
        "keyed",
        &Keys::none().with_identities(vec![b]),
        &NoProgress,
    )
    .unwrap();
    assert!(r.ok() && r.content_checked, "{r:?}");
    let into = tmp.path().join("r");
    restore_with(
        &dir,
        "keyed",
        &into,
        &Keys::none().with_identities(vec![a]),
        &NoProgress,
    )
    .unwrap();
    assert!(into.join("lookout.db").is_file());
}

#[test]
fn a_flipped_byte_in_an_encrypted_backup_is_damage_with_or_without_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make_db(tmp.path(), 200);
    let dir = tmp.path().join("backups");
    let id = age::x25519::Identity::generate();
    create_encrypted(&db, &dir, "e", &Encrypt::Recipients(vec![id.to_public()]));
    let data = encrypted_data_path(&dir, "e");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();
    let keys = Keys::none().with_identities(vec![id]);
    for k in [&Keys::none(), &keys] {
        let r = verify_with(&dir, "e", k, &NoProgress).unwrap();
        assert!(!r.ok());
        assert!(r.problems[0].contains("e.db.zst.age"), "{:?}", r.problems);
        assert!(r.problems[0].contains("SHA-256"), "{:?}", r.problems);
    }
    assert_eq!(list(&dir).unwrap()[0].state(), "failed");
    // Restore (which streams without a separate hash pass) blames the
    // file, not the key.
    let err = restore_with(&dir, "e", &tmp.path().join("r"), &keys, &NoProgress).unwrap_err();
    assert!(matches!(err, BackupError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("e.db.zst.age"), "{err}");
    assert!(!tmp.path().join("r/lookout.db").exists());
    // So does a damaged header.
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[mid] ^= 0x01;
    bytes[40] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();
    let err = restore_with(&dir, "e", &tmp.path().join("r"), &keys, &NoProgress).unwrap_err();
    assert!(matches!(err, BackupError::Damaged { .. }), "{err}");
}

#[test]
fn auto_recovery_refuses_an_encrypted_backup_it_cannot_open() {
    let tmp = tempfile::tempdir().unwrap();
    let db = make_db(tmp.path(), 10);
    let dir = tmp.path().join("backups");
    create(&db, &dir, opts(Some("old-plain"))).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    create_encrypted(&db, &dir, "new-sealed", &Encrypt::Passphrase(secret("pw")));
    let err = latest_verified(&dir, &Keys::none()).unwrap_err();
    assert!(
        matches!(&err, BackupError::KeyRequired { name, .. } if name == "new-sealed"),
        "{err}"
    );
    let (m, _) = latest_verified(&dir, &Keys::none().with_passphrase(secret("pw")))
        .unwrap()
        .unwrap();
    assert_eq!(m.name, "new-sealed");
}

#[test]
fn the_backup_file_is_written_no_faster_than_its_rate() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let chunk = vec![7u8; 1 << 20];
    let write = |rate: u64| {
        let f = std::fs::File::create(dir.path().join(format!("paced-{rate}"))).unwrap();
        let mut p = crate::PacedFile::new(f, rate);
        let t = std::time::Instant::now();
        for _ in 0..12 {
            p.write_all(&chunk).unwrap();
        }
        t.elapsed()
    };
    // 12 MiB at 40 MiB/s: three write-backs, the last due at 0.3 s.
    let paced = write(40 << 20);
    assert!(paced >= std::time::Duration::from_millis(290), "{paced:?}");
    let free = write(0);
    assert!(free < paced, "{free:?} vs {paced:?}");
}
