//! Log setup: `tracing` to standard error (human text on a terminal, JSON
//! lines otherwise or on request), plus an optional JSON log file rotated by
//! size (`app.log` → `app.log.1` … `app.log.N`).
//!
//! The rotating writer is ours because `tracing-appender` rotates by time
//! only; size-based rotation is ~60 lines.

use crate::exit::Exit;
use lookout_config::{LogConfig, LogFormat};
use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber. `LOOKOUT_LOG`, when set, replaces the
/// configured level directives (like `RUST_LOG`).
pub fn init(cfg: &LogConfig) -> Result<(), Exit> {
    let directives = std::env::var("LOOKOUT_LOG").unwrap_or_else(|_| cfg.level.clone());
    let filter = EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| Exit::Usage(format!("invalid log level `{directives}`: {e}")))?;
    let json = match cfg.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !io::stderr().is_terminal(),
    };
    let stderr_layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::stderr().is_terminal())
            .boxed()
    };
    let file_layer = match &cfg.file {
        Some(path) => {
            let writer =
                RotatingFile::open(path, cfg.file_max_bytes, cfg.file_backups).map_err(|e| {
                    Exit::Failure(format!("cannot open log file {}: {e}", path.display()))
                })?;
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(writer)
                    .boxed(),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stderr_layer)
        .with(file_layer)
        .try_init()
        .map_err(|e| Exit::Failure(format!("cannot install logger: {e}")))
}

use tracing_subscriber::Layer as _;

/// A log file that rotates once it exceeds `max_bytes`, keeping `backups`
/// older files.
#[derive(Debug, Clone)]
pub struct RotatingFile {
    inner: Arc<Mutex<RotatingInner>>,
}

#[derive(Debug)]
struct RotatingInner {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    backups: u32,
}

impl RotatingFile {
    /// Opens (appending to) `path`, creating its directory.
    pub fn open(path: &Path, max_bytes: u64, backups: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            inner: Arc::new(Mutex::new(RotatingInner {
                path: path.to_path_buf(),
                file,
                size,
                max_bytes: max_bytes.max(1024),
                backups,
            })),
        })
    }
}

impl RotatingInner {
    fn rotate(&mut self) -> io::Result<()> {
        let name = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.backups == 0 {
            self.file = File::create(&self.path)?;
        } else {
            let _ = std::fs::remove_file(name(self.backups));
            for n in (1..self.backups).rev() {
                let _ = std::fs::rename(name(n), name(n + 1));
            }
            std::fs::rename(&self.path, name(1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }

    fn write_line(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }
}

/// One write handle, used for one log line.
#[derive(Debug)]
pub struct RotatingWriter<'a>(&'a RotatingFile);

impl Write for RotatingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.inner.lock().write_line(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.inner.lock().file.flush()
    }
}

impl<'a> MakeWriter<'a> for RotatingFile {
    type Writer = RotatingWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        RotatingWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_n_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let f = RotatingFile::open(&path, 1024, 2).unwrap();
        let line = [b'x'; 300];
        for _ in 0..20 {
            f.make_writer().write_all(&line).unwrap();
        }
        let main = std::fs::metadata(&path).unwrap().len();
        assert!(main <= 1024, "current file stays under the limit: {main}");
        assert!(dir.path().join("app.log.1").exists());
        assert!(dir.path().join("app.log.2").exists());
        assert!(
            !dir.path().join("app.log.3").exists(),
            "only 2 backups kept"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("app.log.1"))
                .unwrap()
                .len(),
            900
        );
    }
}
