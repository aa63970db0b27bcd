//! Lookout's configuration: the typed [`Config`], and how it is layered.
//!
//! Sources, lowest precedence first:
//! 1. built-in defaults ([`Config::default`]);
//! 2. a TOML file (`--config FILE`, or `lookout.toml` in the working
//!    directory when present);
//! 3. `LOOKOUT_*` environment variables: `LOOKOUT_LISTEN` sets `listen`,
//!    `LOOKOUT_LOG__FORMAT` sets `[log] format` (a double underscore separates
//!    the section from the key);
//! 4. command-line flags, applied by the binary through [`Overrides`].
//!
//! Every layer is merged as a TOML tree before one strict deserialisation,
//! so an unknown key is an error wherever it came from, and the error names
//! its source (file, line and key, or the environment variable).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The default TCP port Lookout listens on.
pub const DEFAULT_PORT: u16 = 8686;

/// Everything Lookout can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database, backups and logs live.
    pub data_dir: PathBuf,
    /// The address `serve` binds to.
    pub listen: SocketAddr,
    /// The externally visible base URL, used in links and DSNs. Derived from
    /// `listen` when empty.
    pub public_url: String,
    /// Peers whose `X-Forwarded-For` header is trusted for the client IP.
    pub trusted_proxies: Vec<String>,
    /// How long graceful shutdown may take before in-flight work is
    /// abandoned, in seconds.
    pub shutdown_timeout_secs: u64,
    /// Logging.
    pub log: LogConfig,
    /// Storage backend.
    pub storage: StorageConfig,
    /// Event ingest limits and queueing.
    pub ingest: IngestConfig,
    /// Outgoing e-mail (invitations; alerts later). Off while `host` is empty.
    pub smtp: SmtpConfig,
    /// Scheduled backups and their retention.
    pub backup: BackupConfig,
    /// Periodic full integrity checks.
    pub integrity: IntegrityConfig,
    /// The free-space watermark that guards ingest.
    pub disk: DiskConfig,
    /// Server-wide retention per signal.
    pub retention: RetentionConfig,
    /// Uptime and heartbeat monitoring (issue #5).
    pub monitoring: MonitoringConfig,
    /// Monitors as code: created or updated on start, marked as from config.
    pub monitors: Vec<MonitorDecl>,
    /// Alerting: rules, routes, inhibition and channels as code.
    pub alerts: AlertsConfig,
}

/// Alerting as code (`[alerts]`). Rules and channels declared here are
/// written into storage at every start (replacing those declared before);
/// the ones made in the UI or API are left alone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Whether `serve` evaluates rules and sends notifications.
    pub enabled: bool,
    /// `[[alerts.rules]]`: see docs/alerts.md.
    pub rules: Vec<lookout_alert::Rule>,
    /// `[alerts.routes]`: the routing tree, replacing the default one
    /// (critical → telegram and email, high → telegram, the rest → the
    /// log) as a whole when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<lookout_alert::Route>,
    /// `[[alerts.inhibit]]`: inhibition rules.
    pub inhibit: Vec<lookout_alert::InhibitRule>,
    /// `[alerts.channels.<name>]`: channels by name.
    pub channels: std::collections::BTreeMap<String, lookout_alert::channel::ChannelConfig>,
    /// How long one Telegram `getUpdates` long poll waits for button
    /// presses and `/link` messages (`25s`; 1 s to 50 s).
    pub telegram_poll_timeout: String,
    /// At the first start of a data dir, store the install-health rules
    /// (backup failed, storage damaged, disk space low) as ordinary,
    /// editable rules. See docs/alerts.md "Rules Lookout starts with".
    pub default_rules: bool,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            rules: Vec::new(),
            routes: None,
            inhibit: Vec::new(),
            channels: Default::default(),
            telegram_poll_timeout: "25s".into(),
            default_rules: true,
        }
    }
}

impl AlertsConfig {
    /// The routing tree in force. A root that names no receivers and no
    /// child routes only sets timings (`group_wait`, …): it keeps the
    /// default tree's receivers and routes.
    pub fn routes(&self) -> lookout_alert::Route {
        let default = lookout_alert::Route::default_tree();
        match &self.routes {
            None => default,
            Some(r) if r.receivers.is_empty() && r.routes.is_empty() => lookout_alert::Route {
                name: if r.name.is_empty() {
                    default.name
                } else {
                    r.name.clone()
                },
                receivers: default.receivers,
                routes: default.routes,
                ..r.clone()
            },
            Some(r) => r.clone(),
        }
    }

    /// The Telegram long-poll timeout (25 s when unreadable: `validate`
    /// refuses that at start-up).
    pub fn telegram_poll_timeout(&self) -> std::time::Duration {
        lookout_alert::parse_duration(&self.telegram_poll_timeout)
            .ok()
            .and_then(|d| d.to_std().ok())
            .filter(|d| (1..=50).contains(&d.as_secs()))
            .unwrap_or(std::time::Duration::from_secs(25))
    }

    /// Checks what serde cannot: rule windows, channel settings, unique
    /// rule names.
    pub fn validate(&self) -> Result<(), String> {
        match lookout_alert::parse_duration(&self.telegram_poll_timeout) {
            Ok(d) if (1..=50).contains(&d.num_seconds()) && d.subsec_nanos() == 0 => {}
            Ok(_) => {
                return Err(format!(
                    "alerts.telegram_poll_timeout `{}`: must be whole seconds from 1s to 50s",
                    self.telegram_poll_timeout
                ));
            }
            Err(e) => return Err(format!("alerts.telegram_poll_timeout: {e}")),
        }
        let mut names = std::collections::BTreeSet::new();
        for r in &self.rules {
            r.validate()
                .map_err(|e| format!("alerts.rules `{}`: {e}", r.name))?;
            if !names.insert(r.name.trim()) {
                return Err(format!("alerts.rules: two rules are named `{}`", r.name));
            }
        }
        for (name, c) in &self.channels {
            c.validate()
                .map_err(|e| format!("alerts.channels.{name}: {e}"))?;
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./lookout-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            public_url: String::new(),
            trusted_proxies: Vec::new(),
            shutdown_timeout_secs: 10,
            log: LogConfig::default(),
            storage: StorageConfig::default(),
            ingest: IngestConfig::default(),
            smtp: SmtpConfig::default(),
            backup: BackupConfig::default(),
            integrity: IntegrityConfig::default(),
            disk: DiskConfig::default(),
            retention: RetentionConfig::default(),
            monitoring: MonitoringConfig::default(),
            monitors: Vec::new(),
            alerts: AlertsConfig::default(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human text on a terminal, JSON lines otherwise.
    Auto,
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `auto`, `text` or `json`.
    pub format: LogFormat,
    /// Level filter with per-module directives, e.g.
    /// `info,lookout_storage=debug,tower_http=warn`.
    pub level: String,
    /// Optional log file, written in addition to standard error.
    pub file: Option<PathBuf>,
    /// Rotate the log file when it exceeds this size.
    pub file_max_bytes: u64,
    /// How many rotated files to keep (`app.log.1` .. `app.log.N`).
    pub file_backups: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Auto,
            level: "info".into(),
            file: None,
            file_max_bytes: 10 * 1024 * 1024,
            file_backups: 5,
        }
    }
}

/// How durable a commit is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fsync on every commit: survives power loss (default).
    Full,
    /// fsync at WAL checkpoints only: survives a process crash (`kill -9`),
    /// may lose the last commits on power loss.
    Normal,
}

/// Storage settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Backend URL. Empty means the embedded SQLite database in `data_dir`.
    /// `postgres://…` is reserved for the multi-node backend.
    pub url: String,
    /// Commit durability.
    pub durability: Durability,
    /// How long a writer waits for a lock held by another process (e.g. an
    /// admin command), in milliseconds.
    pub busy_timeout_ms: u64,
    /// Maximum number of writes grouped into one commit.
    pub max_batch: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: String::new(),
            durability: Durability::Full,
            busy_timeout_ms: 5000,
            max_batch: 512,
        }
    }
}

/// Limits applied to Sentry ingest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest request body accepted before decompression.
    pub max_body_bytes: usize,
    /// Largest envelope after decompression.
    pub max_envelope_bytes: usize,
    /// Largest single event item.
    pub max_event_bytes: usize,
    /// Largest single attachment item.
    pub max_attachment_bytes: usize,
    /// Events waiting to be written before ingest answers 503.
    pub queue_capacity: usize,
    /// Default per-project quota in events per minute (0 = unlimited).
    pub events_per_minute: u32,
    /// Keys whose values are scrubbed from events. Empty = built-in list.
    pub scrub_keys: Vec<String>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 20 * 1024 * 1024,
            max_envelope_bytes: 200 * 1024 * 1024,
            max_event_bytes: 1024 * 1024,
            max_attachment_bytes: 20 * 1024 * 1024,
            queue_capacity: 20_000,
            events_per_minute: 0,
            scrub_keys: Vec::new(),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    Starttls,
    /// TLS from the first byte ("SMTPS"), usually port 465.
    Tls,
    /// No encryption: only for a relay on the same machine or in tests.
    None,
}

/// Outgoing e-mail.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Server host name; empty turns e-mail off.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub tls: SmtpTls,
    /// Login user; empty = no authentication.
    pub username: String,
    /// Login password (never logged; `config check` shows `***`).
    pub password: String,
    /// The sender, e.g. `Lookout <lookout@example.com>`.
    pub from: String,
    /// Connect and send timeout in seconds.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: String::new(),
            from: "Lookout <lookout@localhost>".into(),
            timeout_secs: 10,
        }
    }
}

/// Scheduled backups (made by `serve`) and the retention policy that
/// `serve` and `lookout backup prune` apply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Whether `serve` makes backups on a schedule.
    pub enabled: bool,
    /// Seconds between scheduled backups.
    pub interval_secs: u64,
    /// Where backups are written. Empty: `<data_dir>/backups`.
    pub dir: PathBuf,
    /// A second directory each scheduled backup is copied to (another
    /// disk, a network mount). Empty: none.
    pub copy_to: PathBuf,
    /// Keep the newest backup of each of this many recent hours.
    pub keep_hourly: u32,
    /// Keep the newest backup of each of this many recent days.
    pub keep_daily: u32,
    /// Keep the newest backup of each of this many recent ISO weeks.
    pub keep_weekly: u32,
    /// Encrypt backups (age format): `none`, `passphrase`
    /// (`passphrase_file`) or `key` (`recipients`).
    pub encrypt: BackupEncrypt,
    /// A file holding the passphrase (its first line ends it). Used to
    /// encrypt with `encrypt = "passphrase"`, and to decrypt (verify,
    /// automatic recovery) whatever `encrypt` says. Empty: none.
    pub passphrase_file: PathBuf,
    /// age X25519 recipients (`age1…`, public keys) for `encrypt = "key"`.
    pub recipients: Vec<String>,
    /// An age key file (`age-keygen` output) to decrypt backups made for
    /// `recipients` (verify, automatic recovery). Keep it off the data
    /// disk. Empty: none.
    pub identity_file: PathBuf,
    /// The most the backup file is written at, in MiB per second (0, the
    /// default: no limit). For a slow disk shared with other work; a
    /// limited backup takes longer, and one that outlives the kernel's
    /// dirty-page expiry (30 s) makes its scratch copy reach the disk too.
    pub max_write_mib_per_sec: u32,
    /// A copy of each backup `serve` makes in S3-compatible object
    /// storage (`[backup.s3]`); off while `bucket` is empty.
    pub s3: BackupS3Config,
}

/// Where backup copies go in S3-compatible object storage. Credentials
/// not set here come from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BackupS3Config {
    /// The bucket. Empty (the default): no copies.
    pub bucket: String,
    /// The service's URL, e.g. `https://s3.eu-central-003.backblazeb2.com`
    /// or `http://127.0.0.1:9000` (MinIO). Empty: AWS, from `region`.
    pub endpoint: String,
    /// The region. Empty: `AWS_REGION`, else `us-east-1`.
    pub region: String,
    /// Key prefix the copies go under.
    pub prefix: String,
    /// Access key id. Empty: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// A file holding the secret access key (its first line). Empty:
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key_file: PathBuf,
    /// Allow an `http://` endpoint (a service on this host or the LAN).
    pub allow_http: bool,
    /// Address the bucket as `bucket.endpoint` rather than
    /// `endpoint/bucket` (some services need it).
    pub virtual_hosted_style: bool,
    /// Apply the retention policy (`keep_hourly/daily/weekly`) to the
    /// copies too. Turn off to leave deletion to the bucket's own
    /// lifecycle rules or object lock.
    pub prune: bool,
}

impl Default for BackupS3Config {
    fn default() -> Self {
        BackupS3Config {
            bucket: String::new(),
            endpoint: String::new(),
            region: String::new(),
            prefix: "lookout".into(),
            access_key_id: String::new(),
            secret_access_key_file: PathBuf::new(),
            allow_http: false,
            virtual_hosted_style: false,
            prune: true,
        }
    }
}

impl BackupConfig {
    /// Checks what serde cannot: a retention policy that keeps something.
    pub fn validate(&self) -> Result<(), String> {
        if self.keep_hourly == 0 && self.keep_daily == 0 && self.keep_weekly == 0 {
            return Err(
                "backup.keep_hourly, keep_daily and keep_weekly are all 0: every backup would be deleted as soon as it is made; keep at least one (or set backup.enabled = false)"
                    .into(),
            );
        }
        Ok(())
    }
}

impl BackupS3Config {
    /// Whether copies to object storage are configured.
    pub fn enabled(&self) -> bool {
        !self.bucket.trim().is_empty()
    }
}

/// How backups are encrypted.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackupEncrypt {
    /// Not encrypted.
    #[default]
    None,
    /// With the passphrase in `backup.passphrase_file` (age scrypt).
    Passphrase,
    /// To `backup.recipients` (age X25519 public keys).
    Key,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            enabled: true,
            interval_secs: 3600,
            dir: PathBuf::new(),
            copy_to: PathBuf::new(),
            keep_hourly: 24,
            keep_daily: 30,
            keep_weekly: 12,
            encrypt: BackupEncrypt::None,
            passphrase_file: PathBuf::new(),
            recipients: Vec::new(),
            identity_file: PathBuf::new(),
            max_write_mib_per_sec: 0,
            s3: BackupS3Config::default(),
        }
    }
}

impl SmtpConfig {
    /// Whether e-mail is configured.
    pub fn enabled(&self) -> bool {
        !self.host.trim().is_empty()
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("from", &self.from)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

impl Config {
    /// The directory backups live in.
    pub fn backup_dir(&self) -> PathBuf {
        if self.backup.dir.as_os_str().is_empty() {
            self.data_dir.join("backups")
        } else {
            self.backup.dir.clone()
        }
    }
}

/// Periodic full integrity checks of the store, while serving.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrityConfig {
    /// Seconds between full checks (`PRAGMA integrity_check`); 0 = never.
    pub check_interval_secs: u64,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        IntegrityConfig {
            check_interval_secs: 86_400,
        }
    }
}

/// The disk guard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// Below this many free bytes on the data dir's file system, ingest
    /// answers 507 and scheduled backups are skipped; `/health` reports
    /// `degraded`.
    pub min_free_bytes: u64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            min_free_bytes: 100 * 1024 * 1024,
        }
    }
}

/// How long each signal is kept, server-wide. Error events are kept per
/// project (`retention_days` in its settings, default 90); the other
/// signals are deleted past the shorter of these and the project's
/// `retention_days`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days performance transactions (and spans) are kept.
    pub transactions_days: u32,
    /// Days cron check-ins (check results) are kept.
    pub check_ins_days: u32,
    /// Days log records are kept.
    pub logs_days: u32,
    /// Days system events (backup results, integrity, recovery) are kept.
    pub system_events_days: u32,
    /// Days the notification log (sent or failed outbox rows and their
    /// delivery attempts) is kept. Rows still to be sent are never pruned.
    pub notifications_days: u32,
    /// Days resolved alerts, and silences that have ended, are kept
    /// (firing and pending alerts always are).
    pub alerts_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            transactions_days: 30,
            check_ins_days: 30,
            logs_days: 14,
            system_events_days: 365,
            notifications_days: 90,
            alerts_days: 180,
        }
    }
}

/// Uptime, health-check and heartbeat monitoring (issue #5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Run checks at all (heartbeat pings are still accepted when off).
    pub enabled: bool,
    /// Checks running at once; a slow target holds one slot at most for
    /// its timeout.
    pub max_concurrent_checks: usize,
    /// Hours raw check results are kept before being rolled into hourly
    /// aggregates.
    pub raw_retention_hours: u32,
    /// Days hourly aggregates, closed incidents and state-change events are
    /// kept (at least 90 for the 90-day uptime).
    pub history_days: u32,
    /// Most response-body bytes read per HTTP check.
    pub max_body_bytes: usize,
    /// Most bytes of a heartbeat ping body kept as its output.
    pub max_output_bytes: usize,
    /// Let project members (not only administrators) create monitors whose
    /// target is a loopback, private or link-local address.
    pub allow_private_targets: bool,
    /// Seconds a rendered public status page is served from memory.
    pub status_page_cache_secs: u32,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            enabled: true,
            max_concurrent_checks: 64,
            raw_retention_hours: 48,
            history_days: 100,
            max_body_bytes: 64 * 1024,
            max_output_bytes: 10 * 1024,
            allow_private_targets: false,
            status_page_cache_secs: 5,
        }
    }
}

/// A monitor declared in `lookout.toml` (`[[monitors]]`). `project` and
/// `slug` identify it; the other keys are the monitor's definition (`kind`,
/// `url`, `interval_secs`, `conditions`, …, see docs/monitors.md), checked
/// when the server starts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MonitorDecl {
    /// The project's slug.
    pub project: String,
    /// Unique within the project.
    pub slug: String,
    /// Display name (default: the slug).
    #[serde(default)]
    pub name: Option<String>,
    /// The definition.
    #[serde(flatten)]
    pub spec: std::collections::BTreeMap<String, toml::Value>,
}

/// Values given on the command line; they win over every other source.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or holds an unknown key or a bad value.
    #[error("invalid config file {path}: {detail}")]
    Invalid {
        /// The file (or `environment` for variables).
        path: String,
        /// Line, key and reason.
        detail: String,
    },
    /// An environment variable is malformed or names no setting.
    #[error("invalid environment variable {var}: {reason}")]
    Env {
        /// The variable's name.
        var: String,
        /// Why it was rejected.
        reason: String,
    },
}

/// Environment variables with the `LOOKOUT_` prefix that are not settings.
const NON_SETTING_VARS: &[&str] = &["LOOKOUT_CONFIG", "LOOKOUT_LOG"];

impl Config {
    /// Loads the layered configuration. `file` is the `--config` flag;
    /// `cwd_default` is consulted only when it is `None`.
    pub fn load(
        file: Option<&Path>,
        cwd_default: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut tree = toml::Table::try_from(Config::default()).expect("defaults serialise");
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None if cwd_default.is_file() => Some(cwd_default.to_path_buf()),
            None => None,
        };
        if let Some(path) = &path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let file_table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Invalid {
                        path: path.display().to_string(),
                        detail: describe_toml_error(&text, &e),
                    })?;
            // Validate the file on its own first, so errors point at its lines.
            if let Err(e) = toml::from_str::<Config>(&text) {
                return Err(ConfigError::Invalid {
                    path: path.display().to_string(),
                    detail: describe_toml_error(&text, &e),
                });
            }
            merge(&mut tree, file_table);
        }
        let mut env_vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("LOOKOUT_") && !NON_SETTING_VARS.contains(&k.as_str()))
            .collect();
        env_vars.sort();
        for (var, value) in env_vars {
            apply_env(&mut tree, &var, &value)?;
        }
        let mut cfg: Config =
            Config::deserialize(toml::Value::Table(tree)).map_err(|e| ConfigError::Invalid {
                path: "environment".into(),
                detail: e.to_string(),
            })?;
        cfg.alerts
            .validate()
            .and_then(|()| cfg.backup.validate())
            .map_err(|detail| ConfigError::Invalid {
                path: path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "environment".into()),
                detail,
            })?;
        if let Some(d) = &overrides.data_dir {
            cfg.data_dir = d.clone();
        }
        if let Some(l) = overrides.listen {
            cfg.listen = l;
        }
        Ok(cfg)
    }

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// The effective configuration as TOML, with secrets replaced by `***`.
    pub fn to_redacted_toml(&self) -> String {
        let mut tree = toml::Table::try_from(self.clone()).expect("config serialises");
        redact(&mut tree);
        toml::to_string_pretty(&tree).expect("table serialises")
    }
}

fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line = text[..start].matches('\n').count() + 1;
            match key_at_line(text, line) {
                Some(key) => format!("line {line}, key `{key}`: {msg}"),
                None => format!("line {line}: {msg}"),
            }
        }
        None => msg,
    }
}

/// The dotted key defined on 1-based `line`, with its `[section]` prefix.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let mut section = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
        if i + 1 == line {
            let key = t.split_once('=')?.0.trim().trim_matches('"');
            return Some(if section.is_empty() || t.starts_with('[') {
                key.to_string()
            } else {
                format!("{section}.{key}")
            });
        }
    }
    None
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn apply_env(tree: &mut toml::Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let key = var["LOOKOUT_".len()..].to_ascii_lowercase();
    let parts: Vec<&str> = key.split("__").collect();
    let err = |reason: String| ConfigError::Env {
        var: var.to_string(),
        reason,
    };
    let (last, sections) = parts.split_last().expect("split yields one part");
    // The schema knows every key, including optional ones absent from `tree`.
    let schema = schema();
    let mut schema_table = &schema;
    let mut table = &mut *tree;
    for s in sections {
        schema_table = match schema_table.get(*s) {
            Some(toml::Value::Table(t)) => t,
            _ => return Err(err(format!("no setting section `{s}`"))),
        };
        table = match table
            .entry(s.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(t) => t,
            _ => return Err(err(format!("no setting section `{s}`"))),
        };
    }
    let Some(existing) = schema_table.get(*last) else {
        return Err(err(format!("no setting `{}`", parts.join("."))));
    };
    let parsed = match existing {
        toml::Value::String(_) => toml::Value::String(value.to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(
            value
                .parse()
                .map_err(|_| err(format!("`{value}` is not an integer")))?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(
            value
                .parse()
                .map_err(|_| err(format!("`{value}` is not true or false")))?,
        ),
        toml::Value::Array(_) => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        other => {
            return Err(err(format!(
                "cannot set a {} from the environment",
                other.type_str()
            )));
        }
    };
    table.insert(last.to_string(), parsed);
    Ok(())
}

/// Every key with a value of the right type: the defaults, with optional
/// settings filled in so that they appear.
fn schema() -> toml::Table {
    let mut c = Config::default();
    c.log.file = Some(PathBuf::from("lookout.log"));
    toml::Table::try_from(c).expect("schema serialises")
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    // `backup.passphrase_file` and the like name where a secret is, which
    // `config check` must show; the secret itself is never in the config.
    if k.ends_with("_file") {
        return false;
    }
    [
        "password",
        "secret",
        "token",
        "passphrase",
        "private_key",
        "authorization",
        "api_key",
        "apikey",
        "api-key",
        "webhook_url",
    ]
    .iter()
    .any(|s| k.contains(s))
}

fn redact(t: &mut toml::Table) {
    for (k, v) in t.iter_mut() {
        match v {
            toml::Value::Table(inner) => redact(inner),
            // `[[monitors]]`: each declaration's headers and URL.
            toml::Value::Array(items) => {
                for item in items.iter_mut() {
                    if let toml::Value::Table(inner) = item {
                        redact(inner);
                    }
                }
            }
            toml::Value::String(s) if is_secret_key(k) && !s.is_empty() => *s = "***".into(),
            toml::Value::String(s) if k == "url" => *s = redact_url_password(s),
            _ => {}
        }
    }
}

/// Replaces the password of a `scheme://user:password@host/…` URL with `***`.
pub fn redact_url_password(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            return format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &rest[..colon],
                &rest[at..]
            );
        }
    }
    url.to_string()
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Auto => "auto",
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let env = env.iter().map(|(a, b)| (a.to_string(), b.to_string()));
        Config::load(
            Some(f.path()),
            Path::new("/nonexistent"),
            env,
            &Overrides::default(),
        )
    }

    #[test]
    fn monitoring_defaults_and_monitors_as_code() {
        let c = Config::default();
        assert!(c.monitoring.enabled);
        assert_eq!(c.monitoring.raw_retention_hours, 48);
        assert!(!c.monitoring.allow_private_targets);
        assert!(c.monitors.is_empty());
        let c = load_text(
            "[monitoring]\nmax_concurrent_checks = 8\n\n[[monitors]]\nproject = \"shop\"\nslug = \"api\"\nname = \"API\"\nkind = \"http\"\nurl = \"https://example.com/health\"\ninterval_secs = 30\nconditions = [\"[STATUS] == 200\"]\n\n[[monitors]]\nproject = \"shop\"\nslug = \"nightly\"\nkind = \"heartbeat\"\ncron = \"0 3 * * *\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.monitoring.max_concurrent_checks, 8);
        assert_eq!(c.monitors.len(), 2);
        assert_eq!(c.monitors[0].name.as_deref(), Some("API"));
        assert_eq!(
            c.monitors[0].spec["url"].as_str(),
            Some("https://example.com/health")
        );
        assert_eq!(c.monitors[1].spec["cron"].as_str(), Some("0 3 * * *"));
        let c = load_text(
            "[[monitors]]\nproject = \"p\"\nslug = \"s\"\nkind = \"http\"\nurl = \"https://u:hunter2@example.com/\"\nheaders = { Authorization = \"Bearer abc123\", X-Api-Key = \"k-999\" }\n",
            &[],
        )
        .unwrap();
        let out = c.to_redacted_toml();
        assert!(
            !out.contains("hunter2") && !out.contains("abc123") && !out.contains("k-999"),
            "{out}"
        );
        let e = load_text("[monitoring]\nnope = 1\n", &[]).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        let e = load_text("[[monitors]]\nslug = \"x\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("project"), "{e}");
    }

    #[test]
    fn defaults_apply_without_a_file() {
        let c = Config::load(
            None,
            Path::new("/nonexistent/lookout.toml"),
            vec![],
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.public_url(), "http://127.0.0.1:8686");
    }

    #[test]
    fn layers_apply_in_order() {
        let c = load_text(
            "listen = \"127.0.0.1:9000\"\n[log]\nformat = \"json\"\nlevel = \"debug\"\n",
            &[("LOOKOUT_LOG__LEVEL", "warn"), ("PATH", "/bin")],
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.log.level, "warn", "env wins over file");
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"data_dir = \"/from/file\"\n").unwrap();
        let c = Config::load(
            Some(f.path()),
            Path::new("/x"),
            vec![("LOOKOUT_DATA_DIR".into(), "/from/env".into())],
            &Overrides {
                data_dir: Some("/from/flag".into()),
                listen: None,
            },
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/flag"), "flag wins");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = load_text(
            "listen = \"127.0.0.1:1\"\n\n[log]\nfromat = \"json\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("fromat"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("invalid config file"), "{err}");
    }

    #[test]
    fn syntax_error_names_line() {
        let err = load_text("listen = \n", &[]).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn bad_value_type_is_reported() {
        let err = load_text("shutdown_timeout_secs = \"soon\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("shutdown_timeout_secs"), "{err}");
    }

    #[test]
    fn unknown_env_var_is_rejected_by_name() {
        let err = load_text("", &[("LOOKOUT_LISTN", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("LOOKOUT_LISTN"), "{err}");
        let err = load_text("", &[("LOOKOUT_INGEST__QUEUE_CAPACITY", "lots")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an integer"), "{err}");
    }

    #[test]
    fn optional_settings_can_come_from_the_environment() {
        let c = load_text("", &[("LOOKOUT_LOG__FILE", "/var/log/lookout.log")]).unwrap();
        assert_eq!(c.log.file, Some(PathBuf::from("/var/log/lookout.log")));
    }

    #[test]
    fn operations_sections_have_defaults_and_are_strict() {
        let c = load_text("", &[]).unwrap();
        assert!(c.backup.enabled);
        assert_eq!(c.backup.interval_secs, 3600);
        assert_eq!(
            (
                c.backup.keep_hourly,
                c.backup.keep_daily,
                c.backup.keep_weekly
            ),
            (24, 30, 12)
        );
        assert_eq!(c.backup_dir(), PathBuf::from("./lookout-data/backups"));
        assert_eq!(c.integrity.check_interval_secs, 86_400);
        assert_eq!(c.disk.min_free_bytes, 100 * 1024 * 1024);
        assert_eq!(c.retention.logs_days, 14);
        let c = load_text(
            "[backup]\ndir = \"/b\"\ncopy_to = \"/c\"\nkeep_daily = 7\n[disk]\nmin_free_bytes = 5\n",
            &[("LOOKOUT_BACKUP__ENABLED", "false"), ("LOOKOUT_RETENTION__LOGS_DAYS", "3")],
        )
        .unwrap();
        assert_eq!(c.backup_dir(), PathBuf::from("/b"));
        assert_eq!(c.backup.copy_to, PathBuf::from("/c"));
        assert_eq!(c.backup.keep_daily, 7);
        assert!(!c.backup.enabled);
        assert_eq!(c.disk.min_free_bytes, 5);
        assert_eq!(c.retention.logs_days, 3);
        assert!(!c.backup.s3.enabled());
        let c = load_text(
            "[backup.s3]\nbucket = \"bk\"\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\nsecret_access_key_file = \"/keys/s3\"\n",
            &[("LOOKOUT_BACKUP__S3__PREFIX", "prod/lookout")],
        )
        .unwrap();
        assert!(c.backup.s3.enabled() && c.backup.s3.allow_http && c.backup.s3.prune);
        assert_eq!(c.backup.s3.prefix, "prod/lookout");
        assert_eq!(
            c.backup.s3.secret_access_key_file,
            PathBuf::from("/keys/s3")
        );
        let err = load_text(
            "[backup]\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("keep at least one"), "{err}");
        assert!(load_text("[backup]\nkeep_hourly = 0\nkeep_daily = 0\n", &[]).is_ok());
        let err = load_text("[backup.s3]\nbuckett = \"x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("buckett"), "{err}");
        let err = load_text("[backup]\nkeep_montly = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("keep_montly") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn redaction_hides_secrets() {
        let mut c = Config::default();
        c.storage.url = "postgres://lookout:hunter2@db:5432/lookout".into();
        let out = c.to_redacted_toml();
        assert!(!out.contains("hunter2"), "{out}");
        assert!(
            out.contains("postgres://lookout:***@db:5432/lookout"),
            "{out}"
        );
    }

    #[test]
    fn backup_encryption_settings_parse_and_their_paths_are_shown() {
        let c = load_text(
            "[backup]\nencrypt = \"key\"\nrecipients = [\"age1abc\"]\nidentity_file = \"/keys/backup.txt\"\npassphrase_file = \"/keys/pass\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.backup.encrypt, BackupEncrypt::Key);
        assert_eq!(c.backup.recipients, ["age1abc"]);
        let out = c.to_redacted_toml();
        assert!(out.contains("/keys/backup.txt"), "{out}");
        assert!(out.contains("/keys/pass"), "{out}");
        assert_eq!(
            load_text("", &[]).unwrap().backup.encrypt,
            BackupEncrypt::None
        );
        let err = load_text("[backup]\nencrypt = \"yes\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("encrypt"), "{err}");
        assert!(is_secret_key("passphrase") && !is_secret_key("passphrase_file"));
    }
    #[test]
    fn alerts_as_code_parse_strictly_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        std::fs::write(
            &path,
            r#"
[alerts]
[[alerts.rules]]
name = "Errors burst"
severity = "high"
for = "1m"
condition = { kind = "issue_frequency", threshold = 10, window = "5m" }

[[alerts.rules]]
name = "Backups"
severity = "critical"
condition = { kind = "backup_failed" }

[alerts.routes]
receivers = ["ops"]
[[alerts.routes.routes]]
matchers = ["severity=critical"]
receivers = ["ops", "pager"]
continue = true

[alerts.channels.ops]
kind = "telegram"
bot_token = "123:ABC"
chat_id = "-100200"
message_thread_id = 7

[alerts.channels.pager]
kind = "webhook"
url = "https://pager.example.com/hook"
secret = "s3cret"
format = "alertmanager"
"#,
        )
        .unwrap();
        let cfg = Config::load(Some(&path), &path, Vec::new(), &Overrides::default()).unwrap();
        assert!(cfg.alerts.enabled);
        assert_eq!(cfg.alerts.rules.len(), 2);
        assert_eq!(cfg.alerts.rules[0].for_duration, chrono_free_minutes(1));
        let routes = cfg.alerts.routes();
        assert_eq!(routes.receivers, vec!["ops"]);
        assert_eq!(
            routes.routes.len(),
            1,
            "the given tree replaces the default one"
        );
        assert_eq!(cfg.alerts.channels["ops"].kind(), "telegram");
        let shown = cfg.to_redacted_toml();
        assert!(
            !shown.contains("123:ABC") && !shown.contains("s3cret"),
            "{shown}"
        );

        // Without [alerts]: on, no rules, the default tree.
        let d = Config::default();
        assert!(d.alerts.enabled && d.alerts.rules.is_empty());
        assert_eq!(d.alerts.routes(), lookout_alert::Route::default_tree());

        // A root that only sets timings keeps the default receivers/routes.
        let timings: AlertsConfig =
            toml::from_str("[routes]\ngroup_wait = \"1s\"\nrepeat_interval = \"1h\"\n").unwrap();
        let r = timings.routes();
        let default = lookout_alert::Route::default_tree();
        assert_eq!(
            (&r.receivers, &r.routes),
            (&default.receivers, &default.routes)
        );
        assert_eq!(r.group_wait, Some(chrono::Duration::seconds(1)));
        assert_eq!(r.repeat_interval, Some(chrono::Duration::hours(1)));
        assert_eq!(
            d.alerts.telegram_poll_timeout(),
            std::time::Duration::from_secs(25)
        );
    }

    fn chrono_free_minutes(m: i64) -> chrono::Duration {
        chrono::Duration::minutes(m)
    }

    #[test]
    fn alerts_refuse_unknown_keys_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        for (text, needle) in [
            (
                "[[alerts.rules]]\nname = \"x\"\nseverity = \"high\"\ncondition = { kind = \"new_issue\" }\nsevrity = \"low\"\n",
                "sevrity",
            ),
            (
                "[[alerts.rules]]\nname = \"x\"\nseverity = \"urgent\"\ncondition = { kind = \"new_issue\" }\n",
                "urgent",
            ),
            (
                "[alerts.channels.t]\nkind = \"telegram\"\nbot_token = \"1:x\"\nchat_id = \"\"\n",
                "chat_id",
            ),
            (
                "[[alerts.rules]]\nname = \"x\"\nseverity = \"high\"\ncondition = { kind = \"new_issue\" }\n[[alerts.rules]]\nname = \"x\"\nseverity = \"low\"\ncondition = { kind = \"regression\" }\n",
                "two rules",
            ),
            (
                "[alerts]\ntelegram_poll_timeout = \"2m\"\n",
                "telegram_poll_timeout",
            ),
            (
                "[alerts]\ntelegram_poll_timeout = \"soon\"\n",
                "telegram_poll_timeout",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = Config::load(Some(&path), &path, Vec::new(), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}
