//! The command line, as clap derive types. Names and `--json` outputs are a
//! stable interface: scripts and checks rely on them.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Lookout: self-hosted observability in one binary.
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Configuration file (default: ./lookout.toml when present).
    #[arg(long, global = true, env = "LOOKOUT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` from the file and environment).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Inspect or change the database schema version.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Validate the configuration and print the effective settings.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Manage projects.
    Project {
        #[command(subcommand)]
        action: ProjectAction,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Make, list, verify, restore and prune backups.
    Backup {
        #[command(subcommand)]
        action: BackupAction,
    },
    /// Run SQLite's full integrity check on the database (safe while the
    /// server runs); exits 1 when it finds damage.
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Take a consistent snapshot now (safe while the server runs).
    Create {
        /// Name (letters, digits, `.`, `_`, `-`); named backups are never
        /// pruned. Default: lookout-<UTC time>.
        #[arg(long)]
        name: Option<String>,
        /// Directory to write to (default: the configured backup dir).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        encrypt: EncryptArgs,
    },
    /// List backups: name, time, size, schema version, verification state.
    List {
        /// Directory to list (default: the configured backup dir).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check hashes, open the snapshot, run the integrity check and count
    /// rows; exits 1 when the backup is damaged.
    Verify {
        name: String,
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        keys: DecryptArgs,
    },
    /// Restore a backup into a data dir that no server is using; the
    /// replaced files are kept aside.
    Restore {
        name: String,
        /// Directory holding the backup (default: the configured backup dir).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// The data dir to restore into.
        #[arg(long, value_name = "DIR", required = true)]
        into: PathBuf,
        #[command(flatten)]
        keys: DecryptArgs,
    },
    /// Delete backups the retention policy (backup.keep_hourly/daily/weekly)
    /// does not keep. Named backups are never deleted.
    Prune {
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Only print what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copies in S3-compatible object storage (`[backup.s3]`): list,
    /// upload, download, prune.
    S3 {
        #[command(subcommand)]
        action: S3Action,
    },
}

#[derive(Debug, Subcommand)]
pub enum S3Action {
    /// List the copies in the bucket, newest first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Upload a backup from the backup dir (data file, then manifest).
    Push {
        name: String,
        /// Directory holding the backup (default: the configured backup dir).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
    /// Download a copy into a directory, checking its hashes; then
    /// `lookout backup restore NAME --from DIR` restores it.
    Fetch {
        name: String,
        /// Directory to download into (default: the configured backup dir).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
    /// Delete copies the retention policy does not keep.
    Prune {
        /// Only print what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Encryption of a new backup (age format). Without these flags,
/// `[backup] encrypt` applies. Secrets are read from a file or standard
/// input, never taken on the command line.
#[derive(Debug, Args, Clone, Default)]
pub struct EncryptArgs {
    /// Encrypt with the passphrase in FILE (its trailing line break is
    /// dropped).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["passphrase_stdin", "recipient"])]
    pub passphrase_file: Option<PathBuf>,
    /// Encrypt with a passphrase read from standard input.
    #[arg(long, conflicts_with = "recipient")]
    pub passphrase_stdin: bool,
    /// Encrypt to this age public key (age1…; repeat for several).
    #[arg(long, value_name = "AGE1…")]
    pub recipient: Vec<String>,
}

/// Keys to open an encrypted backup. Without these flags, the
/// `[backup] passphrase_file` and `identity_file` settings apply.
#[derive(Debug, Args, Clone, Default)]
pub struct DecryptArgs {
    /// The passphrase is in FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_stdin")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the passphrase from standard input.
    #[arg(long)]
    pub passphrase_stdin: bool,
    /// An age key file (as `age-keygen` writes it) for backups encrypted
    /// to a public key.
    #[arg(long, value_name = "FILE")]
    pub identity_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8686 or 0.0.0.0:0.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// When the database is found damaged at start, restore the newest
    /// backup that passes verification (the damaged files are kept aside).
    #[arg(long)]
    pub auto_recover: bool,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Show the applied and the latest schema version.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply pending migrations (up to --to).
    Up {
        #[arg(long, value_name = "N")]
        to: Option<u32>,
    },
    /// Revert migrations: one step, or down to version --to.
    Down {
        #[arg(long, value_name = "N")]
        to: Option<u32>,
    },
    /// List applied migrations with their times.
    History {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate and print the effective configuration, secrets redacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum ProjectAction {
    /// Create a project and print its DSN.
    Create {
        #[arg(long)]
        name: String,
        /// Print {"id", "slug", "name", "dsn"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List projects.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required: passwords are
        /// never taken as arguments, which leak into shell history).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create an API token and print it (it is shown only once).
    Create {
        #[arg(long)]
        name: String,
        /// `read` or `read-write`.
        #[arg(long, default_value = "read-write")]
        scope: String,
        /// Owner's e-mail; without it the token is install-wide.
        #[arg(long)]
        user: Option<String>,
        /// Print {"id", "name", "scope", "token"} as JSON.
        #[arg(long)]
        json: bool,
    },
}
