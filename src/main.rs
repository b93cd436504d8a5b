//! The `switchyard` command: parse arguments, load the configuration (or the embedded default), start the
//! shards, and run until SIGINT/SIGTERM (a second signal exits at once).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod secret;

use clap::{Parser, Subcommand};
use switchyard::{Config, RouterHandle};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A thread-per-core WAMP v2 router.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// TOML configuration file (realms, endpoints, cores, limits). Without it: realm `realm1`, anonymous,
    /// WebSocket and RawSocket on 127.0.0.1:8080.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Number of shards (pinned cores); overrides the config. Default: every core the process may use.
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a principal's credential for the configuration, from a password read on stdin.
    #[command(subcommand)]
    Secret(secret::Secret),
}

/// File descriptors kept for listeners, the shards' io_uring rings and cross-shard channels, and logs.
const RESERVED_FDS: usize = 256;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if let Some(Command::Secret(secret)) = &args.command {
        return match secret::run(secret) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                error!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut config = match &args.config {
        Some(path) => match Config::from_file(path) {
            Ok(config) => config,
            Err(e) => {
                error!("{e}");
                return ExitCode::FAILURE;
            }
        },
        None => Config::default(),
    };
    if let Some(cores) = args.cores {
        if cores == 0 {
            error!("--cores must be at least 1");
            return ExitCode::FAILURE;
        }
        config.cores = Some(cores);
    }

    let terminate = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once; the first one asks for a graceful stop.
        let registered = signal_hook::flag::register_conditional_shutdown(signal, 1, terminate.clone())
            .and_then(|_| signal_hook::flag::register(signal, terminate.clone()));
        if let Err(e) = registered {
            error!("cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    }

    // One file descriptor per connection: take every descriptor the hard limit allows, and refuse
    // connections (RawSocket error 4, HTTP 503) before accept(2) would run out of descriptors.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            let usable = usize::try_from(limit).unwrap_or(usize::MAX).saturating_sub(RESERVED_FDS).max(1);
            if usable < config.limits.max_connections {
                info!(
                    open_file_limit = limit,
                    max_connections = usable,
                    "max_connections capped by the open-file limit"
                );
                config.limits.max_connections = usable;
            }
        }
        Err(e) => warn!("cannot raise the open-file limit: {e}"),
    }

    // Each shard's io_uring rings take locked memory (glommio wants at least 512 KiB): take what the hard
    // limit allows, as for descriptors.
    if let Err(e) = raise_memlock_limit() {
        warn!("cannot raise the locked-memory limit: {e}");
    }

    let router = match RouterHandle::start(config) {
        Ok(router) => router,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    while !terminate.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    info!("stopping: saying GOODBYE to every session");
    router.stop();
    info!("stopped");
    ExitCode::SUCCESS
}

/// Raises the soft RLIMIT_MEMLOCK to the hard limit.
fn raise_memlock_limit() -> std::io::Result<()> {
    let (soft, hard) = rlimit::Resource::MEMLOCK.get()?;
    if soft < hard {
        rlimit::Resource::MEMLOCK.set(hard, hard)?;
    }
    Ok(())
}
