//! The `rooflaw` command line.
mod cmd;
mod loader;

use clap::Parser;

// candle's CPU training allocates and frees large buffers every step; glibc
// returns them to the kernel each time (a quarter of CPU time in page
// faults), mimalloc keeps them: +35% tokens/s (shared/reference/dependencies.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// candle's element-wise thread pool spin-waits; on a small shared machine
/// that costs about half the CPU time of training (profiled with perf).
/// Matmuls still use every core through gemm. Users can override it.
#[allow(unsafe_code)]
fn single_thread_elementwise() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// A closed stdout or stderr must not turn into a panic or, worse, into a
/// file: with fd 1 or 2 closed, the next file rooflaw opens (the cache lock,
/// a report) would get that number and receive everything printed. Closed
/// standard descriptors are pointed at /dev/null first, and a reader that
/// goes away (`rooflaw check --format json x | head -1`) ends the process
/// quietly through SIGPIPE, as for any Unix filter, instead of a panic in
/// `println!`.
#[cfg(unix)]
#[allow(unsafe_code)]
fn survive_closed_stdio() {
    use std::os::fd::AsRawFd as _;
    // Opening takes the lowest free descriptor: each open fills a closed one
    // of 0, 1, 2 until one lands above them.
    while let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        if null.as_raw_fd() > 2 {
            break;
        }
        // Keep it open for the life of the process: it is now stdin/out/err.
        std::mem::forget(null);
    }
    // SAFETY: first thing in `main`, before any other thread exists;
    // restoring the default action of a signal has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn survive_closed_stdio() {}

/// An error and its causes, each said once: many causes already quote their
/// own source, which `{:#}` would print again (`…: X: X`).
fn error_text(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    rooflaw_dsl::diagnostic::escape_controls(&text)
}

fn main() -> std::process::ExitCode {
    survive_closed_stdio();
    single_thread_elementwise();
    let cli = cmd::Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_text(&err));
            std::process::ExitCode::from(2)
        }
    }
}
