//! Copies of backups in S3-compatible object storage (AWS S3, MinIO,
//! Backblaze B2, Cloudflare R2, Wasabi, Garage…), through the
//! `object_store` crate.
//!
//! A copy has the local layout under a key prefix: `<prefix>/<name>.db.zst`
//! (or `.db.zst.age`) and `<prefix>/<name>.manifest.json`. The same rule
//! as on disk makes it valid: **the manifest is uploaded last**, after
//! every data file is complete and its size checked, so a listing never
//! shows a backup whose data is missing. Data files go up as multipart
//! uploads of [`PART_BYTES`] parts, at most [`PARTS_IN_FLIGHT`] at a time
//! (at most 24 MiB held, two parts in flight and one filling), and are hashed on
//! the way: a file that does not match its manifest is aborted, not
//! completed. Fetching checks every byte against the manifest before the
//! files are renamed into the backup directory.
//!
//! The functions are `async`; the backup thread and the CLI call them on
//! a Tokio runtime handle. The credentials never appear in errors or logs:
//! errors name the bucket and key only.

use crate::{
    AGE_SUFFIX, BackupError, DATA_SUFFIX, MANIFEST_SUFFIX, Manifest, Policy, Result, TMP_PREFIX,
    fsync_dir, manifest_path, parse_manifest, validate_name, write_atomic,
};
use chrono::{DateTime, Utc};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectMeta, ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bytes per multipart part (S3's minimum is 5 MiB for all but the last).
pub const PART_BYTES: usize = 8 << 20;
/// Parts uploaded at once.
pub const PARTS_IN_FLIGHT: usize = 2;
/// Bytes read per request when fetching.
const FETCH_BYTES: u64 = 8 << 20;
/// The largest manifest read from a bucket.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Data objects no manifest names are deleted by [`S3Copies::prune`] once
/// they are this old (an upload in progress is younger).
const ORPHAN_AGE: chrono::Duration = chrono::Duration::hours(1);

/// Where copies go and how to sign in.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// The service's URL (`https://s3.example.com`); empty: AWS, from
    /// `region`.
    pub endpoint: String,
    /// The region (`us-east-1` when empty and not set in `AWS_REGION`).
    pub region: String,
    /// Key prefix, without leading or trailing `/`; empty: the bucket's
    /// top level.
    pub prefix: String,
    /// Access key id; empty: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// Secret access key; empty: `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// Allow an `http://` endpoint (a service on the same host or LAN).
    pub allow_http: bool,
    /// Address the bucket as `bucket.endpoint` instead of
    /// `endpoint/bucket`.
    pub virtual_hosted_style: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &if self.secret_access_key.is_empty() {
                    ""
                } else {
                    "***"
                },
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .finish()
    }
}

/// A backup copy as listed in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteBackup {
    /// Its manifest.
    pub manifest: Manifest,
    /// When the manifest was uploaded.
    pub uploaded_at: DateTime<Utc>,
}

/// The backup copies in one bucket and prefix.
#[derive(Debug)]
pub struct S3Copies {
    store: AmazonS3,
    bucket: String,
    prefix: String,
}

impl S3Copies {
    /// Checks the settings and makes the client (no request is sent).
    pub fn new(settings: &S3Settings) -> Result<S3Copies> {
        let bucket = settings.bucket.trim().to_string();
        if bucket.is_empty() {
            return Err(BackupError::Remote {
                target: "s3://".into(),
                detail: "no bucket is configured ([backup.s3] bucket)".into(),
            });
        }
        let prefix = settings.prefix.trim().trim_matches('/').to_string();
        // Settings not given here come from the standard AWS_* variables.
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(300)),
            );
        if !settings.endpoint.trim().is_empty() {
            b = b.with_endpoint(settings.endpoint.trim());
        }
        if !settings.region.trim().is_empty() {
            b = b.with_region(settings.region.trim());
        }
        if !settings.access_key_id.is_empty() {
            b = b.with_access_key_id(&settings.access_key_id);
        }
        if !settings.secret_access_key.is_empty() {
            b = b.with_secret_access_key(&settings.secret_access_key);
        }
        if settings.allow_http {
            b = b.with_allow_http(true);
        }
        if settings.virtual_hosted_style {
            b = b.with_virtual_hosted_style_request(true);
        }
        let store = b.build().map_err(|e| BackupError::Remote {
            target: format!("s3://{bucket}"),
            detail: format!("the [backup.s3] settings are not usable: {e}"),
        })?;
        Ok(S3Copies {
            store,
            bucket,
            prefix,
        })
    }

    /// `s3://bucket/prefix`, for messages.
    pub fn label(&self) -> String {
        label(&self.bucket, &self.prefix)
    }

    fn key(&self, file_name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(file_name)
        } else {
            ObjectPath::from(format!("{}/{file_name}", self.prefix))
        }
    }

    fn target(&self, key: &ObjectPath) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn remote_err(&self, key: &ObjectPath, e: object_store::Error) -> BackupError {
        BackupError::Remote {
            target: self.target(key),
            detail: e.to_string(),
        }
    }

    /// Uploads backup `name` from `dir`: its data files (checked against
    /// the manifest while they are read), then its manifest.
    pub async fn push(&self, dir: &Path, name: &str) -> Result<Manifest> {
        let m = crate::manifest(dir, name)?;
        for f in &m.files {
            let key = self.key(&f.name);
            self.upload_file(&dir.join(&f.name), &key, name, f).await?;
            let meta = self
                .store
                .head(&key)
                .await
                .map_err(|e| self.remote_err(&key, e))?;
            if meta.size != f.size {
                return Err(BackupError::Remote {
                    target: self.target(&key),
                    detail: format!(
                        "the stored object has {} bytes, the file {}",
                        meta.size, f.size
                    ),
                });
            }
        }
        let path = manifest_path(dir, name);
        let json = std::fs::read(&path).map_err(|e| BackupError::io(&path, e))?;
        let key = self.key(&format!("{name}{MANIFEST_SUFFIX}"));
        self.store
            .put(&key, PutPayload::from(json))
            .await
            .map_err(|e| self.remote_err(&key, e))?;
        Ok(m)
    }

    /// Uploads file `f` of backup `name` as a multipart upload, hashing it
    /// as it is read. A read or upload failure, or a hash that does not
    /// match the manifest, aborts the upload before it completes, so no
    /// object (partial or wrong) remains.
    async fn upload_file(
        &self,
        path: &Path,
        key: &ObjectPath,
        name: &str,
        f: &crate::FileEntry,
    ) -> Result<()> {
        let mut file = File::open(path).map_err(|e| BackupError::io(path, e))?;
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(|e| self.remote_err(key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; crate::CHUNK];
        let read_all: Result<()> = loop {
            let n = match file.read(&mut buf) {
                Ok(0) if hex::encode(hash.clone().finalize()) == f.sha256 => break Ok(()),
                Ok(0) => {
                    break Err(BackupError::Damaged {
                        name: name.to_string(),
                        problem: format!("file {} does not match its manifest", f.name),
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(BackupError::io(path, e)),
            };
            hash.update(&buf[..n]);
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break Err(self.remote_err(key, e));
            }
            writer.write(&buf[..n]);
        };
        if let Err(e) = read_all {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await.map_err(|e| self.remote_err(key, e))?;
        Ok(())
    }

    /// Every complete copy (one whose manifest is uploaded), newest first.
    /// A manifest that cannot be read or parsed is skipped with a warning.
    pub async fn list(&self) -> Result<Vec<RemoteBackup>> {
        Ok(self.objects().await?.0)
    }

    /// The complete copies (newest first) and every object under the
    /// prefix.
    async fn objects(&self) -> Result<(Vec<RemoteBackup>, Vec<ObjectMeta>)> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let listing = self
            .store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(|e| BackupError::Remote {
                target: self.label(),
                detail: e.to_string(),
            })?;
        let mut out = Vec::new();
        for o in &listing.objects {
            let Some(name) = o
                .location
                .filename()
                .and_then(|f| f.strip_suffix(MANIFEST_SUFFIX))
            else {
                continue;
            };
            if validate_name(name).is_err() {
                continue;
            }
            match self.read_manifest(name).await {
                Ok(manifest) => out.push(RemoteBackup {
                    manifest,
                    uploaded_at: o.last_modified,
                }),
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable backup manifest"),
            }
        }
        out.sort_by(|a, b| crate::newest_first(&a.manifest, &b.manifest));
        Ok((out, listing.objects))
    }

    async fn read_manifest(&self, name: &str) -> Result<Manifest> {
        validate_name(name)?;
        let key = self.key(&format!("{name}{MANIFEST_SUFFIX}"));
        let bytes = match self.store.get(&key).await {
            // A manifest is a few hundred bytes; a bucket that serves a
            // huge one is not read into memory.
            Ok(r) if r.meta.size > MAX_MANIFEST_BYTES => {
                return Err(BackupError::BadManifest {
                    path: PathBuf::from(self.target(&key)),
                    detail: format!(
                        "it has {} bytes; a manifest has at most {MAX_MANIFEST_BYTES}",
                        r.meta.size
                    ),
                });
            }
            Ok(r) => r.bytes().await.map_err(|e| self.remote_err(&key, e))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BackupError::NotFound {
                    name: name.to_string(),
                    dir: PathBuf::from(self.label()),
                });
            }
            Err(e) => return Err(self.remote_err(&key, e)),
        };
        parse_manifest(&bytes, PathBuf::from(self.target(&key)), name)
    }

    /// Downloads copy `name` into `dir` (created if missing), checking
    /// every file against the manifest before it is renamed into place;
    /// the manifest goes last, as when a backup is made. Refuses to
    /// replace a backup `dir` already has.
    pub async fn fetch(&self, name: &str, dir: &Path) -> Result<Manifest> {
        let m = self.read_manifest(name).await?;
        if manifest_path(dir, name).exists() {
            return Err(BackupError::Exists(name.to_string()));
        }
        std::fs::create_dir_all(dir).map_err(|e| BackupError::io(dir, e))?;
        for f in &m.files {
            let tmp = dir.join(format!("{TMP_PREFIX}{}", f.name));
            let fetched = self.download(&self.key(&f.name), &tmp, f.size).await;
            let problem = match fetched {
                Ok(sha) if sha == f.sha256 => None,
                Ok(_) => Some(format!(
                    "the copy of {} does not match its manifest",
                    f.name
                )),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            if let Some(problem) = problem {
                let _ = std::fs::remove_file(&tmp);
                return Err(BackupError::Damaged {
                    name: name.to_string(),
                    problem,
                });
            }
            let dest = dir.join(&f.name);
            std::fs::rename(&tmp, &dest).map_err(|e| BackupError::io(&dest, e))?;
        }
        fsync_dir(dir)?;
        let json = serde_json::to_vec_pretty(&m).map_err(|e| BackupError::BadManifest {
            path: manifest_path(dir, name),
            detail: e.to_string(),
        })?;
        write_atomic(dir, &format!("{name}{MANIFEST_SUFFIX}"), &json)?;
        Ok(m)
    }

    /// Downloads `size` bytes of `key` into `path` (fsynced); returns
    /// their SHA-256.
    async fn download(&self, key: &ObjectPath, path: &Path, size: u64) -> Result<String> {
        let mut out = File::create(path).map_err(|e| BackupError::io(path, e))?;
        let mut hash = Sha256::new();
        let mut at = 0u64;
        while at < size {
            let end = (at + FETCH_BYTES).min(size);
            let bytes = match self.store.get_range(key, at..end).await {
                Ok(b) => b,
                Err(e) => return Err(self.remote_err(key, e)),
            };
            if bytes.is_empty() {
                return Err(BackupError::Remote {
                    target: self.target(key),
                    detail: format!("the object ends at byte {at}; its manifest says {size}"),
                });
            }
            hash.update(&bytes);
            out.write_all(&bytes)
                .map_err(|e| BackupError::io(path, e))?;
            at += bytes.len() as u64;
        }
        out.sync_all().map_err(|e| BackupError::io(path, e))?;
        Ok(hex::encode(hash.finalize()))
    }

    /// Deletes the copies `policy` does not keep (never a pinned one),
    /// manifest first so a half-deleted copy is never listed, and data
    /// objects no manifest names once they are an hour old (left by an
    /// interrupted upload or deletion). With `dry_run`, only reports.
    /// Returns the names of the copies deleted.
    pub async fn prune(&self, policy: &Policy, dry_run: bool) -> Result<Vec<String>> {
        let (copies, objects) = self.objects().await?;
        let candidates: Vec<(String, DateTime<Utc>)> = copies
            .iter()
            .filter(|c| !c.manifest.pinned)
            .map(|c| (c.manifest.name.clone(), c.manifest.created_at))
            .collect();
        let keep = crate::policy::keep(&candidates, policy);
        let mut removed = Vec::new();
        let mut named: BTreeSet<String> = BTreeSet::new();
        for c in &copies {
            let m = &c.manifest;
            let doomed = !m.pinned && !keep.contains(&m.name);
            if !doomed {
                named.extend(m.files.iter().map(|f| f.name.clone()));
                continue;
            }
            if !dry_run {
                let key = self.key(&format!("{}{MANIFEST_SUFFIX}", m.name));
                self.store
                    .delete(&key)
                    .await
                    .map_err(|e| self.remote_err(&key, e))?;
                for f in &m.files {
                    let key = self.key(&f.name);
                    self.store
                        .delete(&key)
                        .await
                        .map_err(|e| self.remote_err(&key, e))?;
                }
            }
            removed.push(m.name.clone());
        }
        if !dry_run {
            for key in orphans(&objects, &named, Utc::now()) {
                match self.store.delete(&key).await {
                    Ok(()) => {
                        tracing::info!(object = %self.target(&key), "deleted a backup object no manifest names")
                    }
                    Err(e) => {
                        tracing::warn!(error = %self.remote_err(&key, e), "deleting an orphaned backup object failed")
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// Where copies of `bucket` and `prefix` (as configured: surrounding
/// blanks and slashes do not count) go, as `s3://bucket/prefix`.
pub fn label(bucket: &str, prefix: &str) -> String {
    match prefix.trim().trim_matches('/') {
        "" => format!("s3://{}", bucket.trim()),
        p => format!("s3://{}/{p}", bucket.trim()),
    }
}

/// The data objects in `objects` that no kept manifest names (`named`,
/// file names) and that are older than [`ORPHAN_AGE`] at `now`.
fn orphans(
    objects: &[ObjectMeta],
    named: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Vec<ObjectPath> {
    objects
        .iter()
        .filter(|o| {
            o.location.filename().is_some_and(|f| {
                (f.ends_with(DATA_SUFFIX) || f.ends_with(AGE_SUFFIX)) && !named.contains(f)
            }) && now - o.last_modified > ORPHAN_AGE
        })
        .map(|o| o.location.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str, age_minutes: i64, now: DateTime<Utc>) -> ObjectMeta {
        ObjectMeta {
            location: ObjectPath::from(key),
            last_modified: now - chrono::Duration::minutes(age_minutes),
            size: 1,
            e_tag: None,
            version: None,
        }
    }

    #[test]
    fn orphans_are_old_unnamed_data_objects_only() {
        let now = Utc::now();
        let objects = [
            meta("p/kept.db.zst", 600, now),
            meta("p/gone.db.zst", 61, now),
            meta("p/gone2.db.zst.age", 600, now),
            meta("p/uploading.db.zst", 5, now),
            meta("p/gone.manifest.json", 600, now),
            meta("p/notes.txt", 600, now),
        ];
        let named: BTreeSet<String> = ["kept.db.zst".to_string()].into();
        let got: Vec<String> = orphans(&objects, &named, now)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(got, vec!["p/gone.db.zst", "p/gone2.db.zst.age"]);
    }

    #[test]
    fn keys_sit_under_the_trimmed_prefix_and_the_label_names_it() {
        let mk = |prefix: &str| {
            S3Copies::new(&S3Settings {
                bucket: "b".into(),
                endpoint: "http://127.0.0.1:9".into(),
                region: "us-east-1".into(),
                prefix: prefix.into(),
                access_key_id: "k".into(),
                secret_access_key: "s".into(),
                allow_http: true,
                virtual_hosted_style: false,
            })
            .unwrap()
        };
        let c = mk("/lookout/prod/");
        assert_eq!(c.key("x.db.zst").to_string(), "lookout/prod/x.db.zst");
        assert_eq!(c.label(), "s3://b/lookout/prod");
        let c = mk("");
        assert_eq!(c.key("x.db.zst").to_string(), "x.db.zst");
        assert_eq!(c.label(), "s3://b");
    }

    #[test]
    fn no_bucket_is_refused_by_name() {
        let err = S3Copies::new(&S3Settings::default()).unwrap_err();
        assert!(err.to_string().contains("no bucket"), "{err}");
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let s = S3Settings {
            bucket: "b".into(),
            secret_access_key: "very-secret-value".into(),
            ..Default::default()
        };
        let d = format!("{s:?}");
        assert!(!d.contains("very-secret-value") && d.contains("***"), "{d}");
    }
}
