//! The command line: `serve`, `check-config` and `ctl`, as DESIGN §4 has them,
//! and `export-zone`.

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
    /// Print the zone `serve` would serve, in master-file format (one record
    /// per line, absolute names, SOA first). Embedded source: the cluster is
    /// simulated until every pod is Ready.
    ExportZone {
        /// The config file (YAML).
        #[arg(long, short)]
        config: PathBuf,
        /// The forward zone, or every reverse zone.
        #[arg(long, value_enum, default_value = "forward")]
        zone: crate::transfer::export::ZoneChoice,
    },
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
        Command::ExportZone { config, zone } => {
            crate::app::export_zone(&config, zone).map(|text| print!("{text}"))
        }
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
        // kube's client logs every failed retry at ERROR; the Kubernetes
        // source logs each state change once itself. hickory logs a line
        // per query at INFO, and hickory-proto warns about malformed input
        // (bad EDNS options) per packet: a remote sender must not be able
        // to write our log (tests/malformed/binary.rs).
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "info,kube_client=off,kube_runtime=off,hickory_server=warn,hickory_proto=error",
            )
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
