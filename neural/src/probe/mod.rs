//! `rooflaw hardware probe`: describe this machine from measurements — peak
//! matmul rate per datatype, sustained memory bandwidth (all cores, and
//! candle's element-wise kernels), per-op dispatch cost, memory capacity —
//! as a [`HardwarePreset`] whose every value says
//! how, when and with what spread it was measured.
//!
//! The probe measures what candle *achieves* here (the library `train` and
//! `measure` run on), under the process's own thread settings (the CLI sets
//! `CANDLE_NUM_THREADS=1`: element-wise ops on one thread, matmuls on every
//! core through gemm), so the roofline built from it predicts those runs.
use std::collections::BTreeMap;
use std::time::Instant;

use candle_core::{DType, Device};
use rooflaw_dsl::Dim;
use rooflaw_dsl::units::Quantity;

use rooflaw_stdlib::hardware::{Hardware, HardwarePreset, HardwareSources, Source};
use rooflaw_stdlib::machine::Machine;
use rooflaw_stdlib::precision::Dtype;

mod matmul;
mod stream;

/// How thoroughly to measure.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// About a second instead of about ten: smaller matmuls (which may not
    /// reach the roof) and fewer passes. For tests and smoke runs.
    pub quick: bool,
    /// The description's id; defaults to `probed-<cpu>`.
    pub id: Option<String>,
}

/// What a probe reports while it runs, for a progress bar (the stage and
/// the CLI pass the engine's; `&()` shows nothing).
pub trait Steps: Sync {
    /// How many steps there are in all.
    fn total(&self, steps: u64);
    /// What is being measured now.
    fn doing(&self, what: &str);
    /// One more step done.
    fn step(&self);
}

impl Steps for () {
    fn total(&self, _: u64) {}
    fn doing(&self, _: &str) {}
    fn step(&self) {}
}

/// Sizes, repeats and time budgets of one probe.
struct Plan {
    /// Matmul sizes `n` (n×n·n×n) tried per datatype; the fastest wins.
    sizes: &'static [usize],
    /// Rounds over every (datatype, size): interleaving them spreads a burst
    /// of load from other processes over all figures instead of ruining one.
    rounds: usize,
    /// Timed matmuls per (datatype, size) and round: at least one, and more
    /// until this many seconds have passed.
    budget_s: f64,
    /// Timed passes of each STREAM kernel.
    passes: usize,
    /// Samples of the tiny-op timing, each the mean of `launch_batch` ops.
    launch_samples: usize,
    launch_batch: usize,
}

const FULL: Plan = Plan {
    sizes: &[256, 512, 1024, 1536],
    rounds: 6,
    budget_s: 0.04,
    passes: 16,
    launch_samples: 51,
    launch_batch: 200,
};

const QUICK: Plan = Plan {
    sizes: &[256, 512],
    rounds: 2,
    budget_s: 0.02,
    passes: 3,
    launch_samples: 11,
    launch_batch: 100,
};

/// The datatypes the roofline knows that candle's CPU matmul accepts.
const DTYPES: [(Dtype, DType); 3] = [
    (Dtype::Fp32, DType::F32),
    (Dtype::Fp16, DType::F16),
    (Dtype::Bf16, DType::BF16),
];

/// Minimum, median and maximum of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub samples: usize,
}

impl Spread {
    pub fn of(xs: &[f64]) -> Self {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => v[n / 2],
            _ => f64::midpoint(v[n / 2 - 1], v[n / 2]),
        };
        Self {
            min: v.first().copied().unwrap_or(f64::NAN),
            median,
            max: v.last().copied().unwrap_or(f64::NAN),
            samples: n,
        }
    }

    fn describe(&self, dim: Dim) -> String {
        format!(
            "min/median/max {} / {} / {} over {} runs",
            q(self.min, dim),
            q(self.median, dim),
            q(self.max, dim),
            self.samples
        )
    }
}

/// One measured figure, for the human summary.
#[derive(Clone, Debug)]
pub struct Figure {
    /// `peak.fp32`, `bandwidth`, `launch`...
    pub field: String,
    pub value: f64,
    pub dim: Dim,
    pub spread: Spread,
    /// What it was measured at (`n = 1024`, `triad, 3 × 128 MiB`).
    pub at: String,
}

/// What a probe found.
#[derive(Clone, Debug)]
pub struct Probe {
    pub preset: HardwarePreset,
    pub figures: Vec<Figure>,
    /// Datatypes the backend could not multiply, with candle's reason.
    pub unsupported: Vec<(Dtype, String)>,
    pub machine: Machine,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("no datatype could be multiplied on this backend: {0}")]
    NoMatmul(String),
    #[error("cannot tell this machine's memory size (no /proc/meminfo)")]
    NoMemory,
}

/// Measure this machine, telling `progress` each step.
pub fn probe(opts: &Options, progress: &dyn Steps) -> Result<Probe, ProbeError> {
    let started = Instant::now();
    let plan = if opts.quick { &QUICK } else { &FULL };
    let machine = Machine::this();
    if machine.memory <= 0.0 {
        return Err(ProbeError::NoMemory);
    }
    progress.total((plan.passes + plan.rounds + 2) as u64);
    let mut r = Recorder {
        plan,
        progress,
        stamp: format!(
            "rooflaw hardware probe {}, {}{}",
            env!("CARGO_PKG_VERSION"),
            rooflaw_stdlib::clock::utc_now(),
            if opts.quick { " (--quick)" } else { "" }
        ),
        threads: format!(
            "{} threads for gemm, CANDLE_NUM_THREADS={}",
            candle_core::utils::get_num_threads(),
            machine.candle_threads.as_deref().unwrap_or("unset")
        ),
        sources: HardwareSources::default(),
        figures: Vec::new(),
        unsupported: Vec::new(),
    };
    // Bandwidth first: it allocates the most and frees it all before candle runs.
    let bandwidth = r.bandwidth(machine.cores);
    let dev = Device::Cpu;
    let peak = r.peaks(&dev)?;
    let vector = r.vector_bandwidth(&dev, bandwidth)?;
    let launch = r.launch(&dev)?;
    r.sources.memory = Some(Source {
        source: format!("{}: MemTotal of /proc/meminfo", r.stamp),
        derived: false,
        note: Some("physical memory, shared with the OS and other processes".into()),
    });
    let efficiency = Source {
        source: format!(
            "{}: the peaks and bandwidth above are achieved rates, not datasheet figures",
            r.stamp
        ),
        derived: false,
        note: Some(
            "1.0: nothing more is lost to inefficiency than the probe saw; `calibrate` fits this factor to measured inference latency".into(),
        ),
    };
    r.sources.efficiency_compute = Some(efficiency.clone());
    r.sources.efficiency_memory = Some(efficiency);

    let hardware = Hardware {
        id: opts.id.clone().unwrap_or_else(|| default_id(&machine)),
        name: machine.label(),
        peak,
        bandwidth,
        memory: machine.memory,
        efficiency_compute: 1.0,
        efficiency_memory: 1.0,
        efficiency_vector: Some(vector),
        launch,
        memory_technology: None,
    };
    Ok(Probe {
        preset: HardwarePreset {
            hardware,
            sources: r.sources,
        },
        figures: r.figures,
        unsupported: r.unsupported,
        machine,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One probe's measurements as they are taken, with their provenance.
struct Recorder<'a> {
    plan: &'a Plan,
    progress: &'a dyn Steps,
    /// `rooflaw hardware probe 0.1.0, 2025-01-31 12:00 UTC`
    stamp: String,
    /// The thread settings every candle figure was measured under.
    threads: String,
    sources: HardwareSources,
    figures: Vec<Figure>,
    unsupported: Vec<(Dtype, String)>,
}

impl Recorder<'_> {
    fn source(&self, method: &str, note: String) -> Source {
        Source {
            source: format!("{}: {method}", self.stamp),
            derived: false,
            note: Some(note),
        }
    }

    /// STREAM triad bandwidth, the best pass (copy goes in the note).
    fn bandwidth(&mut self, threads: usize) -> f64 {
        self.progress.doing("memory bandwidth (STREAM copy, triad)");
        let bytes = stream::array_bytes(stream::last_level_cache());
        let rates = stream::measure(bytes, threads, self.plan.passes, &|| {
            self.progress.step();
        });
        let (copy, triad) = (Spread::of(&rates.copy), Spread::of(&rates.triad));
        let layout = format!("3 arrays of {} MiB f64 on {threads} threads", bytes >> 20);
        self.sources.bandwidth = Some(self.source(
            &format!(
                "STREAM triad a = b + s·c, {layout}, best of {} passes",
                self.plan.passes
            ),
            format!(
                "STREAM byte counting (triad 3 words/element, write-allocate not counted); triad {}; copy (memcpy, 2 words/element) best {}, {}",
                triad.describe(Dim::BANDWIDTH),
                q(copy.max, Dim::BANDWIDTH),
                copy.describe(Dim::BANDWIDTH)
            ),
        ));
        self.figures.push(Figure {
            field: "bandwidth".into(),
            value: triad.max,
            dim: Dim::BANDWIDTH,
            spread: triad,
            at: format!("triad, {layout}; copy {}", q(copy.max, Dim::BANDWIDTH)),
        });
        triad.max
    }

    /// The best matmul rate per datatype candle accepts, over the plan's
    /// sizes; datatypes it refuses are listed in `unsupported`.
    fn peaks(&mut self, dev: &Device) -> Result<BTreeMap<Dtype, f64>, ProbeError> {
        let plan = self.plan;
        self.progress.doing("matmul");
        // Operands of every (datatype, size) candle accepts, warmed up.
        let mut cases = Vec::new();
        for (dtype, candle_dtype) in DTYPES {
            for &n in plan.sizes {
                match matmul::Square::new(dev, candle_dtype, n) {
                    Ok(sq) => cases.push((dtype, n, sq, Vec::new())),
                    // Refused at the first size: the backend has no kernel for it.
                    Err(e) if n == plan.sizes[0] => {
                        self.unsupported.push((dtype, e.to_string()));
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for round in 0..plan.rounds {
            self.progress
                .doing(&format!("matmul, round {}/{}", round + 1, plan.rounds));
            for (_, n, sq, rates) in &mut cases {
                let flops = 2.0 * (*n as f64).powi(3);
                rates.extend(sq.time(1, plan.budget_s)?.iter().map(|t| flops / t));
            }
            self.progress.step();
        }
        let mut peak = BTreeMap::new();
        for (dtype, candle_dtype) in DTYPES {
            let per_size: Vec<(usize, Spread)> = cases
                .iter()
                .filter(|c| c.0 == dtype)
                .map(|c| (c.1, Spread::of(&c.3)))
                .collect();
            let Some(&(n, best)) = per_size.iter().max_by(|a, b| a.1.max.total_cmp(&b.1.max))
            else {
                continue;
            };
            let sizes: Vec<String> = per_size
                .iter()
                .map(|(n, s)| format!("{n}: {}", q(s.max, Dim::COMPUTE)))
                .collect();
            let widened = if candle_dtype == DType::BF16 {
                "; candle's CPU backend has no bf16 gemm, it widens to f32, multiplies and narrows, and this is that path's rate"
            } else {
                ""
            };
            let method = format!(
                "candle {CANDLE} CPU matmul, {} square n×n·n×n, flops = 2n³, best rate over n in {:?}",
                dtype.name(),
                plan.sizes
            );
            let note = format!(
                "best at n = {n}: {}, after 1 warm-up, in {} rounds interleaved with the other sizes and datatypes; best rate per n: {}; {}{widened}",
                best.describe(Dim::COMPUTE),
                plan.rounds,
                sizes.join(", "),
                self.threads
            );
            self.sources.peak.insert(dtype, self.source(&method, note));
            peak.insert(dtype, best.max);
            self.figures.push(Figure {
                field: format!("peak.{}", dtype.name()),
                value: best.max,
                dim: Dim::COMPUTE,
                spread: best,
                at: format!("n = {n}"),
            });
        }
        if peak.is_empty() {
            let why: Vec<String> = self
                .unsupported
                .iter()
                .map(|(d, e)| format!("{}: {e}", d.name()))
                .collect();
            return Err(ProbeError::NoMatmul(why.join("; ")));
        }
        Ok(peak)
    }

    /// candle's element-wise bandwidth as a fraction of `triad`: the
    /// `efficiency.vector` the roofline gives norms, `RoPE` and softmax.
    fn vector_bandwidth(&mut self, dev: &Device, triad: f64) -> Result<f64, ProbeError> {
        self.progress.doing("element-wise bandwidth (candle add)");
        // Same footprint as one STREAM array: far past the last-level cache.
        let bytes = stream::array_bytes(stream::last_level_cache());
        let elems = bytes / 4;
        let raw = matmul::elementwise_rates(dev, elems, self.plan.passes)?;
        let rates = Spread::of(&raw);
        let ratios: Vec<f64> = raw.iter().map(|r| (r / triad).min(1.0)).collect();
        let spread = Spread::of(&ratios);
        self.progress.step();
        let ratio = spread.max;
        self.sources.efficiency_vector = Some(Source {
            source: format!(
                "{}: candle f32 add of two {} MiB tensors (3 words moved per element, as STREAM counts), best of {} passes, over the triad bandwidth",
                self.stamp,
                bytes >> 20,
                self.plan.passes
            ),
            derived: true,
            note: Some(format!(
                "best {} against triad {}: {}; {}; `calibrate` fits this factor to measured inference latency, where it also absorbs the layout copies (transposes, masks, residual adds) the roofline does not list",
                q(rates.max, Dim::BANDWIDTH),
                q(triad, Dim::BANDWIDTH),
                rates.describe(Dim::BANDWIDTH),
                self.threads
            )),
        });
        self.figures.push(Figure {
            field: "efficiency.vector".into(),
            value: ratio,
            dim: Dim::NONE,
            spread,
            at: format!("candle add, {}", q(rates.max, Dim::BANDWIDTH)),
        });
        Ok(ratio)
    }

    /// Median per-op dispatch cost of a tiny candle op.
    fn launch(&mut self, dev: &Device) -> Result<f64, ProbeError> {
        self.progress.doing("per-op dispatch cost");
        let plan = self.plan;
        let launch = Spread::of(&matmul::time_tiny_op(
            dev,
            plan.launch_samples,
            plan.launch_batch,
        )?);
        self.progress.step();
        self.sources.launch = Some(self.source(
            "median time per op of adding two 1-element f32 tensors with candle on the CPU (shape checks, output allocation, dispatch; no data to speak of)",
            format!(
                "each run is the mean of {} ops; {}; {}",
                plan.launch_batch,
                launch.describe(Dim::TIME),
                self.threads
            ),
        ));
        self.figures.push(Figure {
            field: "launch".into(),
            value: launch.median,
            dim: Dim::TIME,
            spread: launch,
            at: "1-element add".into(),
        });
        Ok(launch.median)
    }
}

/// `probed-amd-epyc-7b13`: the CPU's name as an id.
fn default_id(m: &Machine) -> String {
    let mut id = String::from("probed");
    for word in m
        .cpu
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        id.push('-');
        id.push_str(&word.to_ascii_lowercase());
    }
    id
}

/// candle does not export its version; this is the one Cargo.toml pins.
const CANDLE: &str = "0.11";

/// A measured value for a note: four significant digits, which is more
/// than any of these figures repeats to.
pub fn q(v: f64, dim: Dim) -> String {
    if v == 0.0 || !v.is_finite() {
        return Quantity::new(v, dim).to_string();
    }
    let f = 10f64.powi(3 - v.abs().log10().floor() as i32);
    Quantity::new((v * f).round() / f, dim).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::float_cmp)] // exact order statistics of exact inputs
    fn spread_of_samples() {
        let s = Spread::of(&[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!((s.min, s.median, s.max, s.samples), (1.0, 2.0, 3.0, 3));
        assert_eq!(Spread::of(&[1.0, 2.0, 4.0, 3.0]).median, 2.5);
    }

    #[test]
    fn a_quick_probe_describes_a_loadable_machine() {
        let p = probe(
            &Options {
                quick: true,
                id: Some("here".into()),
            },
            &(),
        )
        .unwrap();
        let hw = &p.preset.hardware;
        assert_eq!(hw.id, "here");
        assert!(hw.peak.contains_key(&Dtype::Fp32));
        assert!(hw.bandwidth > 0.0 && hw.launch > 0.0 && hw.memory > 0.0);
        assert!(
            p.preset.sources.missing(hw).is_empty(),
            "every value has a source"
        );
        let text = rooflaw_stdlib::hardware::to_yaml(&p.preset);
        assert!(text.contains("rooflaw hardware probe"), "{text}");
        let back = rooflaw_stdlib::hardware::from_yaml(&text).unwrap();
        assert_eq!(back.sources, p.preset.sources);
        assert!(p.seconds < 30.0);
    }
}
