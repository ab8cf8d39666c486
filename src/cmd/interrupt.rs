//! Ctrl-C (and SIGTERM) as a cancel flag: the first asks the work to stop
//! at its next check, the second ends the process at once.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit status of an interrupted command: 128 + SIGINT, as a shell reports it.
pub const EXIT: u8 = 130;

/// A flag the handler sets; `what` says on stderr what stopping keeps.
pub fn cancel_flag(what: &'static str) -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT));
        }
        eprintln!("\nstopping: {what} (Ctrl-C again to quit now)");
    });
    cancel
}
