//! What machine this is: the facts that change a measurement (probe,
//! measure), used in their cache keys and written next to their results,
//! so a cache copied to another machine measures again instead of reusing.
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The CPU's model name (`/proc/cpuinfo`), or the OS/architecture pair
    /// where that is unavailable.
    pub cpu: String,
    /// Logical CPUs this process may use.
    pub cores: usize,
    /// Physical memory in bytes (`/proc/meminfo`), 0 when unknown.
    pub memory: f64,
    pub os: &'static str,
    pub arch: &'static str,
    /// Threads candle's element-wise kernels use (`CANDLE_NUM_THREADS`, set
    /// to 1 by the CLI); matmuls use every core regardless.
    pub candle_threads: Option<String>,
}

impl Machine {
    pub fn this() -> Self {
        Self {
            cpu: cpu_model()
                .unwrap_or_else(|| format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)),
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            memory: mem_total().unwrap_or(0.0),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            candle_threads: std::env::var("CANDLE_NUM_THREADS").ok(),
        }
    }

    /// A short human label: `AMD EPYC 7B13 (2 cores)`.
    pub fn label(&self) -> String {
        format!("{} ({} cores)", self.cpu, self.cores)
    }
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Model"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
}

fn mem_total() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_machine_has_cores_and_a_name() {
        let m = super::Machine::this();
        assert!(m.cores >= 1);
        assert!(!m.cpu.is_empty());
        assert!(m.label().contains("cores"));
    }
}
