//! Optional encryption of a backup's data file in the age format
//! (<https://age-encryption.org/v1>), with the `age` crate: a passphrase
//! (scrypt) or X25519 recipients (`age1…`, key files as `age-keygen`
//! writes them). The file is compressed first, then encrypted, so it is
//! `NAME.db.zst.age` and the `age` tool can decrypt it too.
//!
//! Secrets come from files or standard input, never from the command line;
//! nothing here logs or prints them, and errors name the file, never its
//! content.

use crate::BackupError;
use age::secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

/// scrypt work factor (N = 2^18, 256 MiB, about a second on one core):
/// fixed rather than calibrated on the machine that makes the backup, so a
/// smaller machine restoring it needs no more memory than this. The `age`
/// tool uses the same.
const SCRYPT_LOG_N: u8 = 18;
/// The most work a backup's passphrase stanza may ask for when decrypting
/// (N = 2^20, 1 GiB): room for files made by other age tools, and a bound
/// on what a planted file can cost.
const SCRYPT_MAX_LOG_N: u8 = 20;
/// Passphrase and identity files are small; refuse to read a huge one.
const KEY_FILE_LIMIT: u64 = 64 * 1024;

/// How a backup's data file is encrypted, as the manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encryption {
    /// age with a passphrase (scrypt recipient).
    #[serde(rename = "age-scrypt")]
    AgeScrypt,
    /// age with X25519 recipients (`age1…`).
    #[serde(rename = "age-x25519")]
    AgeX25519,
}

impl Encryption {
    /// The manifest's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::AgeScrypt => "age-scrypt",
            Encryption::AgeX25519 => "age-x25519",
        }
    }

    /// What opens it, for messages.
    pub fn needs(self) -> &'static str {
        match self {
            Encryption::AgeScrypt => {
                "its passphrase (--passphrase-file or --passphrase-stdin; backup.passphrase_file for the server)"
            }
            Encryption::AgeX25519 => {
                "an age identity matching one of its recipients (--identity-file; backup.identity_file for the server)"
            }
        }
    }
}

impl std::fmt::Display for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to encrypt a new backup with.
pub enum Encrypt {
    /// A passphrase (age scrypt).
    Passphrase(SecretString),
    /// One or more X25519 recipients; any matching identity decrypts.
    Recipients(Vec<age::x25519::Recipient>),
}

impl std::fmt::Debug for Encrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encrypt::Passphrase(_) => f.write_str("Encrypt::Passphrase(***)"),
            Encrypt::Recipients(r) => f
                .debug_tuple("Encrypt::Recipients")
                .field(&r.iter().map(|r| r.to_string()).collect::<Vec<_>>())
                .finish(),
        }
    }
}

impl Encrypt {
    /// The manifest's record of it.
    pub fn kind(&self) -> Encryption {
        match self {
            Encrypt::Passphrase(_) => Encryption::AgeScrypt,
            Encrypt::Recipients(_) => Encryption::AgeX25519,
        }
    }

    /// Recipients parsed from `age1…` strings.
    pub fn recipients<S: AsRef<str>>(list: &[S]) -> Result<Encrypt, BackupError> {
        if list.is_empty() {
            return Err(BackupError::Key("no age recipient given".into()));
        }
        list.iter()
            .map(|s| parse_recipient(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Encrypt::Recipients)
    }

    /// Wraps `out` in an age stream: everything written to the result is
    /// encrypted in 64 KiB chunks; `finish` writes the last one.
    pub(crate) fn wrap<W: Write>(&self, out: W) -> std::io::Result<age::stream::StreamWriter<W>> {
        let other = |e: age::EncryptError| std::io::Error::other(e.to_string());
        let encryptor = match self {
            Encrypt::Passphrase(p) => {
                let mut r =
                    age::scrypt::Recipient::new(SecretString::from(p.expose_secret().to_owned()));
                r.set_work_factor(SCRYPT_LOG_N);
                age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
                    .map_err(other)?
            }
            Encrypt::Recipients(rs) => {
                age::Encryptor::with_recipients(rs.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(other)?
            }
        };
        encryptor.wrap_output(out)
    }
}

/// Keys that may open encrypted backups: a passphrase, identities, both
/// or none. Without a matching one, `verify` checks hashes only.
#[derive(Default)]
pub struct Keys {
    passphrase: Option<SecretString>,
    identities: Vec<age::x25519::Identity>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .field("identities", &self.identities.len())
            .finish()
    }
}

impl Keys {
    /// No keys: plain backups restore, encrypted ones verify by hash only.
    pub fn none() -> Keys {
        Keys::default()
    }

    /// Adds a passphrase.
    pub fn with_passphrase(mut self, p: SecretString) -> Keys {
        self.passphrase = Some(p);
        self
    }

    /// Adds identities.
    pub fn with_identities(mut self, ids: Vec<age::x25519::Identity>) -> Keys {
        self.identities.extend(ids);
        self
    }

    /// Whether these keys can try to open a backup encrypted so.
    pub fn can_open(&self, e: Encryption) -> bool {
        match e {
            Encryption::AgeScrypt => self.passphrase.is_some(),
            Encryption::AgeX25519 => !self.identities.is_empty(),
        }
    }

    /// What was given, for messages.
    pub(crate) fn describe(&self, e: Encryption) -> &'static str {
        match e {
            Encryption::AgeScrypt => "passphrase",
            Encryption::AgeX25519 => "identity",
        }
    }

    /// Opens an age stream with these keys.
    pub(crate) fn decrypt<R: Read>(
        &self,
        e: Encryption,
        input: R,
    ) -> Result<age::stream::StreamReader<R>, age::DecryptError> {
        let decryptor = age::Decryptor::new(input)?;
        match e {
            Encryption::AgeScrypt => {
                let Some(p) = &self.passphrase else {
                    return Err(age::DecryptError::NoMatchingKeys);
                };
                let mut id =
                    age::scrypt::Identity::new(SecretString::from(p.expose_secret().to_owned()));
                id.set_max_work_factor(SCRYPT_MAX_LOG_N);
                decryptor.decrypt(std::iter::once(&id as &dyn age::Identity))
            }
            Encryption::AgeX25519 => {
                decryptor.decrypt(self.identities.iter().map(|i| i as &dyn age::Identity))
            }
        }
    }
}

/// Parses an `age1…` recipient.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, BackupError> {
    age::x25519::Recipient::from_str(s.trim()).map_err(|e| {
        BackupError::Key(format!(
            "`{}` is not an age X25519 recipient (age1…): {e}",
            s.trim()
        ))
    })
}

fn read_small(path: &Path) -> Result<String, BackupError> {
    let f = std::fs::File::open(path).map_err(|e| BackupError::io(path, e))?;
    let mut s = String::new();
    f.take(KEY_FILE_LIMIT + 1)
        .read_to_string(&mut s)
        .map_err(|e| BackupError::io(path, e))?;
    if s.len() as u64 > KEY_FILE_LIMIT {
        return Err(BackupError::Key(format!(
            "{} is larger than {KEY_FILE_LIMIT} bytes: not a passphrase or key file",
            path.display()
        )));
    }
    Ok(s)
}

/// A passphrase from a reader (a file, standard input): its content
/// without the trailing line break. Empty is refused.
pub fn read_passphrase(mut r: impl Read, from: &str) -> Result<SecretString, BackupError> {
    let mut s = String::new();
    (&mut r)
        .take(KEY_FILE_LIMIT + 1)
        .read_to_string(&mut s)
        .map_err(|e| BackupError::Key(format!("cannot read the passphrase from {from}: {e}")))?;
    passphrase_from(s, from)
}

fn passphrase_from(mut s: String, from: &str) -> Result<SecretString, BackupError> {
    while s.ends_with('\n') || s.ends_with('\r') {
        s.pop();
    }
    if s.is_empty() {
        return Err(BackupError::Key(format!(
            "the passphrase from {from} is empty"
        )));
    }
    if s.len() as u64 > KEY_FILE_LIMIT {
        return Err(BackupError::Key(format!(
            "the passphrase from {from} is longer than {KEY_FILE_LIMIT} bytes"
        )));
    }
    Ok(SecretString::from(s))
}

/// The passphrase in `path`.
pub fn passphrase_file(path: &Path) -> Result<SecretString, BackupError> {
    passphrase_from(read_small(path)?, &path.display().to_string())
}

/// The X25519 identities in an age key file (as `age-keygen` writes it:
/// `#` comments and `AGE-SECRET-KEY-1…` lines).
pub fn identity_file(path: &Path) -> Result<Vec<age::x25519::Identity>, BackupError> {
    let text = read_small(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Never echo the line: it is a secret key, or a typo of one.
        let id = age::x25519::Identity::from_str(line).map_err(|_| {
            BackupError::Key(format!(
                "{} line {}: not an age X25519 identity (AGE-SECRET-KEY-1…)",
                path.display(),
                i + 1
            ))
        })?;
        out.push(id);
    }
    if out.is_empty() {
        return Err(BackupError::Key(format!(
            "{} holds no age identity",
            path.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrases_lose_their_line_break_and_may_not_be_empty() {
        let p = read_passphrase(&b"correct horse\r\n"[..], "test").unwrap();
        assert_eq!(p.expose_secret(), "correct horse");
        let p = read_passphrase(&b" spaces stay \n"[..], "test").unwrap();
        assert_eq!(p.expose_secret(), " spaces stay ");
        assert!(read_passphrase(&b"\n"[..], "test").is_err());
        let long = vec![b'x'; KEY_FILE_LIMIT as usize + 10];
        assert!(read_passphrase(&long[..], "test").is_err());
    }

    #[test]
    fn identity_files_parse_and_errors_never_echo_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        let path = tmp.path().join("key.txt");
        std::fs::write(
            &path,
            format!(
                "# created: now\n# public key: {}\n{}\n",
                id.to_public(),
                id.to_string().expose_secret()
            ),
        )
        .unwrap();
        let ids = identity_file(&path).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].to_public().to_string(), id.to_public().to_string());

        let secret = id.to_string().expose_secret().to_string();
        // Change the last character (always to a different one), which
        // breaks the bech32 checksum.
        let last = if secret.ends_with('Q') { 'P' } else { 'Q' };
        let typo = format!("{}{last}", &secret[..secret.len() - 1]);
        std::fs::write(&path, format!("{typo}\n")).unwrap();
        let err = identity_file(&path).err().unwrap().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains(&typo[16..]), "the key is not echoed: {err}");
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(identity_file(&path).is_err());
    }

    #[test]
    fn recipients_are_checked() {
        let id = age::x25519::Identity::generate();
        let ok = Encrypt::recipients(&[id.to_public().to_string()]).unwrap();
        assert_eq!(ok.kind(), Encryption::AgeX25519);
        assert!(Encrypt::recipients(&["age1nope"]).is_err());
        assert!(Encrypt::recipients::<&str>(&[]).is_err());
        let dbg = format!(
            "{:?}",
            Encrypt::Passphrase(SecretString::from("hunter2".to_string()))
        );
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }
}
