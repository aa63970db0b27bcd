//! Encrypted backups (age), through the real binary: made during ingest,
//! verified with and without the key, restored, refused with a wrong key,
//! made on a schedule, recovered automatically, and checked for tampering.

use crate::harness::{Server, run, run_ok};
use crate::ingest::{Load, api, setup};
use age::secrecy::ExposeSecret;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NO_SCHEDULE: (&str, &str) = ("LOOKOUT_BACKUP__ENABLED", "false");
const SQLITE_MAGIC: &[u8] = b"SQLite format 3";
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The data file is age, and neither SQLite nor zstd shows through.
fn assert_opaque(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"age-encryption.org/v1\n"),
        "an age file: {}",
        path.display()
    );
    assert!(!contains(&bytes, SQLITE_MAGIC), "no SQLite header inside");
    assert!(!contains(&bytes, ZSTD_MAGIC), "no zstd frame inside");
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn write_key_file(path: &Path, id: &age::x25519::Identity) {
    std::fs::write(
        path,
        format!(
            "# created: by the test\n# public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        ),
    )
    .unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_passphrase_backup_during_ingest_is_opaque_and_restores_every_acknowledged_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let pass = tmp.path().join("passphrase");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "correct horse battery stapler\n").unwrap();
    let srv = Server::start_in(&dir, &[NO_SCHEDULE]);
    let p = setup(&srv);
    let load = Load::start(&srv.base, &p, 2);
    std::thread::sleep(Duration::from_millis(800));
    let before = load.acked();
    let out = run_ok(
        &dir,
        &[
            "backup",
            "create",
            "--name",
            "sealed",
            "--passphrase-file",
            s(&pass),
            "--json",
        ],
    );
    load.stop();
    assert!(
        before.len() > 20,
        "load produced only {} acks",
        before.len()
    );
    let m: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["encryption"], "age-scrypt", "{m}");
    assert_eq!(m["files"][0]["name"], "sealed.db.zst.age", "{m}");
    assert!(
        !out.contains("correct horse"),
        "the passphrase is never printed"
    );
    srv.stop();
    let data = dir.join("backups/sealed.db.zst.age");
    assert_opaque(&data);
    assert!(!dir.join("backups/sealed.db.zst").exists());

    // Without the passphrase: the hashes are checked, and it says so.
    let out = run(&dir, &["backup", "verify", "sealed"], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("intact") && text.contains("not checked") && text.contains("passphrase"),
        "{text}"
    );
    let v = json(&run(&dir, &["backup", "verify", "sealed", "--json"], None));
    assert_eq!(
        (v["ok"].clone(), v["content_checked"].clone()),
        (true.into(), false.into()),
        "{v}"
    );
    let l: Value = serde_json::from_str(&run_ok(&dir, &["backup", "list", "--json"])).unwrap();
    assert_eq!(l[0]["state"], "intact", "{l}");
    assert_eq!(l[0]["encryption"], "age-scrypt", "{l}");

    // With it: decrypted, integrity-checked, rows counted.
    let out = run(
        &dir,
        &["backup", "verify", "sealed", "--passphrase-stdin"],
        Some("correct horse battery staple\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("is sound") && text.contains("events"),
        "{text}"
    );

    // A wrong passphrase: a clear error naming the backup, exit 1, and the
    // target data dir exactly as it was.
    let target = tmp.path().join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("lookout.db"), b"what was here before").unwrap();
    let out = run(
        &dir,
        &[
            "backup",
            "restore",
            "sealed",
            "--into",
            s(&target),
            "--passphrase-file",
            s(&wrong),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("backup `sealed`") && err.contains("cannot be decrypted"),
        "{err}"
    );
    assert!(
        !err.contains("stapler"),
        "the passphrase is never printed: {err}"
    );
    assert_eq!(
        std::fs::read(target.join("lookout.db")).unwrap(),
        b"what was here before"
    );
    let left: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lookout.lock")
        .collect();
    assert_eq!(left, ["lookout.db"], "nothing moved aside or left behind");
    // No key at all: refused, naming what it needs.
    let out = run(
        &dir,
        &["backup", "restore", "sealed", "--into", s(&target)],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--passphrase-file"));

    // The right passphrase restores every acknowledged event.
    let restored = tmp.path().join("restored");
    let out = run_ok(
        &dir,
        &[
            "backup",
            "restore",
            "sealed",
            "--into",
            s(&restored),
            "--passphrase-file",
            s(&pass),
        ],
    );
    assert!(out.contains("restored backup sealed"), "{out}");
    let s2 = Server::start_in(&restored, &[NO_SCHEDULE]);
    let missing = before
        .iter()
        .filter(|id| api(&s2, &p, &format!("/api/v1/events/{id}")).0 != 200)
        .count();
    assert_eq!(missing, 0, "of {} acknowledged events", before.len());
}

#[test]
fn an_x25519_key_file_round_trip_and_a_flipped_byte_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (id, other) = (
        age::x25519::Identity::generate(),
        age::x25519::Identity::generate(),
    );
    let key = tmp.path().join("backup-key.txt");
    let other_key = tmp.path().join("other-key.txt");
    write_key_file(&key, &id);
    write_key_file(&other_key, &other);
    run_ok(&dir, &["project", "create", "--name", "keyed-project"]);
    let recipient = id.to_public().to_string();
    let out = run_ok(
        &dir,
        &["backup", "create", "--name", "k", "--recipient", &recipient],
    );
    assert!(out.contains("encrypted (age-x25519)"), "{out}");
    let data = dir.join("backups/k.db.zst.age");
    assert_opaque(&data);

    let out = run(
        &dir,
        &["backup", "verify", "k", "--identity-file", s(&other_key)],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("backup `k`") && err.contains("identity"),
        "{err}"
    );
    let v = json(&run(
        &dir,
        &[
            "backup",
            "verify",
            "k",
            "--identity-file",
            s(&key),
            "--json",
        ],
        None,
    ));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["content_checked"], true, "{v}");
    let restored = tmp.path().join("restored");
    run_ok(
        &dir,
        &[
            "backup",
            "restore",
            "k",
            "--into",
            s(&restored),
            "--identity-file",
            s(&key),
        ],
    );
    assert!(run_ok(&restored, &["project", "list"]).contains("keyed-project"));

    // Tampering: verify names the file, with and without the key.
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    for extra in [&[][..], &["--identity-file", s(&key)][..]] {
        let mut args = vec!["backup", "verify", "k"];
        args.extend_from_slice(extra);
        let out = run(&dir, &args, None);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("k.db.zst.age") && err.contains("SHA-256"),
            "names the file: {err}"
        );
    }
    let out = run(
        &dir,
        &[
            "backup",
            "restore",
            "k",
            "--into",
            s(&tmp.path().join("r2")),
            "--identity-file",
            s(&key),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("damaged") && err.contains("k.db.zst.age"),
        "{err}"
    );
    // A bad recipient is a usage error.
    let out = run(&dir, &["backup", "create", "--recipient", "age1nope"], None);
    assert_eq!(out.status.code(), Some(2));
}

fn wait_for_backup(dir: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let l: Value = serde_json::from_str(&run_ok(dir, &["backup", "list", "--json"])).unwrap();
        if !l.as_array().unwrap().is_empty() {
            return l[0].clone();
        }
        assert!(Instant::now() < deadline, "no scheduled backup");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn corrupt_database(dir: &Path) {
    let path = dir.join("lookout.db");
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 16384, "{} bytes", bytes.len());
    for b in &mut bytes[4096..4096 + 600] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
}

#[test]
fn scheduled_encrypted_backups_and_auto_recover_need_the_configured_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let id = age::x25519::Identity::generate();
    let key: PathBuf = tmp.path().join("offline/backup-key.txt");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    write_key_file(&key, &id);
    let recipient = id.to_public().to_string();
    let keyed = [
        ("LOOKOUT_BACKUP__ENCRYPT", "key"),
        ("LOOKOUT_BACKUP__RECIPIENTS", recipient.as_str()),
    ];
    for i in 0..30 {
        run_ok(&dir, &["project", "create", "--name", &format!("p{i}")]);
    }
    // A misconfigured encryption stops the server at start.
    let mut c = crate::harness::cmd(&dir);
    let out = c
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LOOKOUT_BACKUP__ENCRYPT", "passphrase")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("passphrase_file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut env = keyed.to_vec();
    env.push(("LOOKOUT_BACKUP__INTERVAL_SECS", "1"));
    let srv = Server::start_in(&dir, &env);
    let newest = wait_for_backup(&dir);
    assert_eq!(newest["encryption"], "age-x25519", "{newest}");
    assert_eq!(newest["trigger"], "scheduled", "{newest}");
    let name = newest["name"].as_str().unwrap().to_string();
    assert_opaque(&dir.join(format!("backups/{name}.db.zst.age")));
    // The server has no identity: its verification is by hash only.
    let t: Value = serde_json::from_str(&run_ok(
        &dir,
        &["token", "create", "--name", "ops", "--json"],
    ))
    .unwrap();
    let mut r = crate::harness::agent()
        .post(format!("{}/api/v1/backups/{name}/verify", srv.base))
        .header(
            "Authorization",
            &format!("Bearer {}", t["token"].as_str().unwrap()),
        )
        .send_empty()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["content_checked"].clone()),
        (true.into(), false.into()),
        "{v}"
    );
    srv.stop();
    corrupt_database(&dir);

    // Auto-recover without the identity refuses, and changes nothing.
    let before = std::fs::read(dir.join("lookout.db")).unwrap();
    let mut c = crate::harness::cmd(&dir);
    let out = c
        .args(["serve", "--listen", "127.0.0.1:0", "--auto-recover"])
        .envs(keyed)
        .env("LOOKOUT_BACKUP__ENABLED", "false")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is encrypted")
            && err.contains("identity")
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("lookout.db")).unwrap(), before);

    // With backup.identity_file it decrypts and restores.
    let mut env = keyed.to_vec();
    env.push(NO_SCHEDULE);
    env.push(("LOOKOUT_BACKUP__IDENTITY_FILE", s(&key)));
    let srv = Server::start_with(&dir, &["--auto-recover"], &env);
    assert_eq!(srv.get("/ready").0, 200);
    assert!(srv.stderr().contains("AUTO-RECOVERY"), "{}", srv.stderr());
    let projects = run_ok(&dir, &["project", "list", "--json"]);
    assert!(projects.contains("p29"), "{projects}");
    srv.stop();
    // The CLI uses the configured identity too.
    let mut c = crate::harness::cmd(&dir);
    let out = c
        .args(["backup", "verify", &name])
        .env("LOOKOUT_BACKUP__IDENTITY_FILE", s(&key))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is sound"));
}
