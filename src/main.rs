//! `headless-dns`: parse the command line, run it, map the result to an exit
//! code. Everything else lives in the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    headless_dns::cli::run(headless_dns::cli::Cli::parse())
}
