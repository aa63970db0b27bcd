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
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.code()
        }
    };
    std::process::exit(code);
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
        Command::Backup { action } => commands::backup::run(&cfg, action),
        Command::Check { json } => commands::backup::check(&cfg, json),
        Command::Config { .. } => unreachable!("handled above"),
    }
}
