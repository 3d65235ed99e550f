//! `headless-dns`: parse the command line, run it, map the result to an exit
//! code. Everything else lives in the library.

use clap::Parser;

/// mimalloc, not the system allocator: loading a large cluster makes and
/// frees many short-lived objects among the long-lived ones, and glibc's
/// malloc keeps most of that freed memory resident (measured: 267 MiB
/// resident for 122 MiB of live heap at 100,000 endpoints). mimalloc
/// gives free pages back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    headless_dns::driver::set_release_hook(release_freed_memory);
    headless_dns::cli::run(headless_dns::cli::Cli::parse())
}

/// Gives the allocator's free pages back to the OS at once. A large change
/// (the decoded lists of a sync or a relist, a manifest load) frees far more
/// than it keeps; mimalloc would hand those pages back over time, and this
/// does it when the driver knows a large publish is done. The one `unsafe`
/// of the program, kept here so the library stays `forbid(unsafe_code)`:
/// a measured exception (`cargo bench --bench memory`), called by the
/// driver after large publishes only.
fn release_freed_memory() {
    // SAFETY: mi_collect takes no pointer and only walks mimalloc's own
    // heaps; it is safe to call from any thread.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}
