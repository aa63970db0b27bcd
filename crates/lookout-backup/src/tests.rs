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
        before_commit: None,
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
                before_commit: Some(&hook),
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
