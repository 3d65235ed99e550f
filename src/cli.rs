//! The command line: `serve`, `check-config` and `ctl`, as DESIGN §4 has them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "headless-dns",
    version,
    about = "Authoritative DNS for Kubernetes headless Services"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve DNS (and the admin HTTP endpoint) from the configured source.
    Serve {
        /// The config file (YAML).
        #[arg(long, short)]
        config: PathBuf,
        /// Listen address for DNS over UDP and TCP; repeatable. Replaces
        /// `dns.listen`.
        #[arg(long)]
        listen: Vec<SocketAddr>,
        /// Admin HTTP address. Replaces `admin.listen`.
        #[arg(long)]
        admin: Option<SocketAddr>,
    },
    /// Check a config file and the manifests it names, then exit.
    CheckConfig {
        /// The config file (YAML).
        file: PathBuf,
    },
    /// Talk to a running embedded cluster like kubectl (get, apply, scale, ...).
    Ctl(crate::ctl::CtlArgs),
}

/// Runs the parsed command; errors are printed with their causes.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            admin,
        } => {
            init_tracing();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(crate::app::serve(
                &config,
                crate::app::Overrides { listen, admin },
            ))
        }
        Command::CheckConfig { file } => crate::app::check_config(&file).map(|summary| {
            println!("{summary}");
        }),
        Command::Ctl(args) => return crate::ctl::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
