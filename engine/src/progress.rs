//! Progress bars: one line per running stage, hidden when stderr is not a
//! terminal or the user asked for quiet.
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Bars {
    multi: MultiProgress,
}

impl Bars {
    pub fn new(visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
        }
    }

    pub fn stage(&self, name: &str) -> Progress {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.cyan} {prefix:>14.bold} {wide_msg} {elapsed:>4}",
            )
            .expect("static template"),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }

    /// Print a line above the bars without tearing them.
    pub fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

/// A stage's handle on its bar.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// Switch to a counted bar of `total` items (`unit` e.g. "models").
    pub fn set_total(&self, total: u64, unit: &str) {
        self.bar.set_length(total);
        self.bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner:.cyan}} {{prefix:>14.bold}} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} {unit} {{wide_msg}} {{eta:>4}}"
            ))
            .expect("template")
            .progress_chars("=> "),
        );
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// A line the user should read after the run (a doubtful fit): above
    /// the bars while they draw, on stderr otherwise.
    pub fn warn(&self, stage: &str, msg: &str) {
        let line = format!("warning: {stage}: {msg}");
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    pub fn message(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
