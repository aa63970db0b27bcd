//! The `lookout` binary: command-line parsing and wiring, nothing else.

mod cli;
mod commands;
mod exit;
mod logging;

use clap::Parser;
use cli::{Cli, Command};
use exit::Exit;
use lookout_config::{Config, Overrides};
use std::path::Path;

/// mimalloc: ingest allocates many small JSON nodes per event, and the
/// system allocator spent over 10 % of ingest CPU in malloc and free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        restore_sigpipe();
    }
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.code()
        }
    };
    std::process::exit(code);
}

/// Command-line tools end quietly when their reader goes away
/// (`lookout backup list | head`), as Unix tools do, instead of panicking in
/// `println!` on EPIPE. Not for `serve`: a peer closing its socket must not
/// end the server (Rust ignores SIGPIPE for that reason).
#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: sets the default disposition of one signal before any other
    // thread exists; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> Result<(), Exit> {
    let listen = match &cli.command {
        Command::Serve(a) => a.listen,
        _ => None,
    };
    let cfg = Config::load(
        cli.global.config.as_deref(),
        Path::new("lookout.toml"),
        std::env::vars(),
        &Overrides {
            data_dir: cli.global.data_dir.clone(),
            listen,
        },
    )?;
    if let Command::Config { action } = cli.command {
        return commands::admin::config(&cfg, action);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lookout-worker")
        .build()
        .map_err(|e| Exit::Failure(format!("cannot start the async runtime: {e}")))?;
    match cli.command {
        Command::Serve(args) => {
            logging::init(&cfg.log)?;
            runtime.block_on(commands::serve::run(cfg, args.auto_recover))
        }
        Command::Migrate { action } => runtime.block_on(commands::admin::migrate(&cfg, action)),
        Command::Project { action } => runtime.block_on(commands::admin::project(&cfg, action)),
        Command::User { action } => runtime.block_on(commands::admin::user(&cfg, action)),
        Command::Token { action } => runtime.block_on(commands::admin::token(&cfg, action)),
        Command::Backup { action } => commands::backup::run(&cfg, action, runtime.handle()),
        Command::Check { json } => commands::backup::check(&cfg, json),
        Command::Config { .. } => unreachable!("handled above"),
    }
}
