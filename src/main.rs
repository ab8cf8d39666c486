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

fn main() -> std::process::ExitCode {
    single_thread_elementwise();
    let cli = cmd::Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
