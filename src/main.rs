//! `headless-dns`: parse the command line, run it, map the result to an exit
//! code. Everything else lives in the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    headless_dns::driver::set_release_hook(release_freed_memory);
    headless_dns::cli::run(headless_dns::cli::Cli::parse())
}

/// Gives the heap's free pages back to the OS, in every arena. glibc keeps
/// what a large change freed (the decoded lists of a sync or a relist)
/// mapped, scattered between live blocks; without this the resident set
/// after a sync stays about twice the zone. The one `unsafe` of the
/// program, kept here so the library stays `forbid(unsafe_code)`: a
/// measured exception (`cargo bench --bench memory`), called by the driver
/// after large publishes only.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    // SAFETY: malloc_trim takes no pointer and only walks malloc's own
    // arenas, under their locks; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}
