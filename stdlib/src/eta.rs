//! Time left of a loop, from its pace so far, for progress messages of work
//! that runs for minutes (training steps, timed runs).
use std::time::Instant;

pub struct Eta {
    start: Instant,
}

impl Eta {
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    /// `", ETA 2m05s"` after `done` of `total` units; empty before the first
    /// unit (no pace yet) and after the last.
    pub fn suffix(&self, done: u64, total: u64) -> String {
        if done == 0 || done >= total {
            return String::new();
        }
        let left = self.start.elapsed().as_secs_f64() * (total - done) as f64 / done as f64;
        format!(", ETA {}", duration(left))
    }
}

/// `45s`, `2m05s`, `1h07m`.
fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(44.6), "45s");
        assert_eq!(duration(125.0), "2m05s");
        assert_eq!(duration(4020.0), "1h07m");
        let eta = Eta::start();
        assert_eq!(eta.suffix(0, 10), "");
        assert_eq!(eta.suffix(10, 10), "");
        assert!(eta.suffix(5, 10).starts_with(", ETA "));
    }
}
