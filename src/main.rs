//! `headless-dns`: parse the command line, run it, map the result to an exit
//! code. Everything else lives in the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    few_arenas();
    headless_dns::driver::set_release_hook(release_freed_memory);
    headless_dns::cli::run(headless_dns::cli::Cli::parse())
}

/// Two malloc arenas, not glibc's eight per core. Loading a large cluster
/// makes and frees many short-lived objects on whichever threads run it;
/// spread over many arenas, their freed memory stays resident between the
/// long-lived ones (measured with 100,000 endpoints in the embedded
/// cluster: 239 MiB resident with the default, 170 MiB with two). The
/// fast answer path allocates nothing, so it takes no arena lock.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn few_arenas() {
    // SAFETY: mallopt takes no pointer; called first thing in main, before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn few_arenas() {}

/// Gives the heap's free pages back to the OS, in every arena. glibc keeps
/// what a large change freed (the decoded lists of a sync or a relist)
/// mapped, scattered between live blocks; without this the resident set
/// after a sync stays about twice the zone. With `few_arenas`, the only
/// `unsafe` of the program, kept here so the library stays `forbid(unsafe_code)`: a
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
