//! Real inference latency of one architecture: the candle model of
//! [`crate::train::infer`] with random seeded weights, timed in exactly the
//! roofline's phases so predictions and measurements compare one to one:
//!
//! - **prefill**: the whole prompt of every sequence, the LM head on the
//!   last position only (it emits the first output token);
//! - **decode**: the steps for output tokens `2..=generate`, one token per
//!   sequence each, attending over the KV cache at the step's own length.
//!
//! Each run after the warm-up runs is timed phase by phase; the figures are
//! the median, minimum and maximum over runs. Several architectures are
//! measured with their runs interleaved ([`measure_all`]). Token ids are deterministic
//! random ids from the vocab (decoding feeds them instead of the argmax, so
//! sampling, which the roofline does not model, is not timed).
use std::ops::ControlFlow;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::train::TrainError;
use crate::train::infer::{InferModel, KvCache, random_ids};
use rooflaw_stdlib::arch::Architecture;
use rooflaw_stdlib::precision::{Dtype, Precision};

/// What to run and how often.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub batch: usize,
    pub prompt: usize,
    /// Output tokens per sequence; the first comes out of prefill, so decode
    /// runs `generate - 1` steps.
    pub generate: usize,
    /// Timed runs.
    pub repeats: usize,
    /// Untimed runs first (page faults, allocator and cache warm-up).
    pub warmup: usize,
    /// Seed of the weights and of the token ids.
    pub seed: u64,
}

impl Plan {
    pub fn decode_steps(&self) -> usize {
        self.generate.saturating_sub(1)
    }

    fn validate(&self) -> Result<(), TrainError> {
        if self.batch == 0 || self.prompt == 0 || self.generate == 0 || self.repeats == 0 {
            return Err(TrainError::Recipe(format!(
                "batch ({}), prompt ({}), generate ({}) and repeats ({}) must be at least 1",
                self.batch, self.prompt, self.generate, self.repeats
            )));
        }
        Ok(())
    }
}

/// Median, fastest and slowest of one phase over the timed runs, seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// Of a non-empty sample; the median of an even count is the mean of
    /// the middle two.
    pub fn of(xs: &[f64]) -> Stats {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            f64::midpoint(v[n / 2 - 1], v[n / 2])
        };
        Stats {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    /// (max − min) / median: the spread across repeats.
    pub fn spread(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

/// The timings of one architecture, seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub prefill: Stats,
    /// All decode steps of one run; zeros when `generate` is 1.
    pub decode: Stats,
    /// Median decode time over the steps per run; 0 when there are none.
    pub decode_per_token: f64,
    pub decode_steps: usize,
    pub repeats: usize,
    /// Every timed run's (prefill, decode), in order.
    pub runs: Vec<(f64, f64)>,
    /// What ran it, e.g. `cpu: AMD EPYC 7B13 (2 cores)`.
    pub device: String,
    pub dtype: String,
}

/// The candle dtype a roofline precision is measured in. Only plain float
/// precisions (weights, activations and KV cache in one float type) can be
/// run; the error names those that can.
pub fn dtype_for(p: &Precision) -> Result<DType, String> {
    let plain = p.weights == p.activations && p.activations == p.kv;
    let dt = match p.weights {
        Dtype::Fp32 if plain => Some(DType::F32),
        Dtype::Fp16 if plain => Some(DType::F16),
        Dtype::Bf16 if plain => Some(DType::BF16),
        _ => None,
    };
    dt.ok_or_else(|| {
        format!(
            "precision `{}` cannot be measured: candle runs fp32, fp16 and bf16 \
             (weights, activations and KV cache in one float type), not quantised formats",
            p.label()
        )
    })
}

/// The device measurements run on: the first CUDA GPU when built with the
/// `cuda` feature and one is present, otherwise the CPU.
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = Device::new_cuda(0) {
        return d;
    }
    Device::Cpu
}

/// A label naming the device: the CPU's model and cores, or the GPU's
/// ordinal and the host's CPU (candle does not report a GPU's name).
pub fn device_label(device: &Device) -> String {
    let host = rooflaw_stdlib::machine::Machine::this().label();
    match device.location() {
        candle_core::DeviceLocation::Cpu => format!("cpu: {host}"),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id} on {host}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id} on {host}"),
    }
}

/// Where a measurement is: `run` of `runs` (warm-up runs included) done,
/// counted over every architecture measured together.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub run: usize,
    pub runs: usize,
    pub warmup: bool,
    /// Which of the architectures measured together just ran.
    pub item: usize,
}

/// One architecture ready to run: model, inputs and KV cache.
struct Bench<'a> {
    model: InferModel,
    cache: KvCache,
    prompt: Tensor,
    /// One tensor per decode step, sliced before any timing.
    next: Vec<Tensor>,
    device: &'a Device,
    timed: Vec<(f64, f64)>,
}

impl<'a> Bench<'a> {
    /// The model with random weights from `plan.seed` (vocab `arch.vocab`,
    /// as the roofline counts it), its inputs and cache.
    fn new(
        arch: &Architecture,
        plan: &Plan,
        dtype: DType,
        device: &'a Device,
    ) -> Result<Self, TrainError> {
        plan.validate()?;
        let vocab = arch.vocab as usize;
        let max_seq = plan.prompt + plan.generate;
        let model = InferModel::random(arch, vocab, max_seq, plan.seed, dtype, device)?;
        let prompt = random_ids(plan.batch, plan.prompt, vocab, plan.seed ^ 0x5eed, device)?;
        let steps = plan.decode_steps();
        let next = random_ids(
            plan.batch,
            steps.max(1),
            vocab,
            plan.seed ^ 0x00de_c0de,
            device,
        )?;
        let next = (0..steps)
            .map(|s| next.narrow(1, s, 1)?.contiguous())
            .collect::<candle_core::Result<_>>()?;
        let cache = model.cache(plan.batch)?;
        Ok(Bench {
            model,
            cache,
            prompt,
            next,
            device,
            timed: Vec::with_capacity(plan.repeats),
        })
    }

    /// One run of prefill then decode: (prefill, decode) seconds.
    fn run(&mut self) -> Result<(f64, f64), TrainError> {
        // candle on the GPU is asynchronous: each phase ends with a
        // synchronisation so its time is the work's, not the launches'.
        self.device.synchronize()?;
        let t0 = Instant::now();
        let logits = self.model.prefill(&mut self.cache, &self.prompt)?;
        self.device.synchronize()?;
        let prefill = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut last = logits;
        for ids in &self.next {
            last = self.model.decode_step(&mut self.cache, ids)?;
        }
        self.device.synchronize()?;
        let decode = t1.elapsed().as_secs_f64();
        drop(last);
        Ok((prefill, decode))
    }

    fn result(self, plan: &Plan, dtype: DType) -> Measurement {
        let steps = plan.decode_steps();
        let prefill = Stats::of(&self.timed.iter().map(|r| r.0).collect::<Vec<_>>());
        let decode = Stats::of(&self.timed.iter().map(|r| r.1).collect::<Vec<_>>());
        Measurement {
            prefill,
            decode,
            decode_per_token: if steps == 0 {
                0.0
            } else {
                decode.median / steps as f64
            },
            decode_steps: steps,
            repeats: plan.repeats,
            runs: self.timed,
            device: device_label(self.device),
            dtype: format!("{dtype:?}").to_lowercase(),
        }
    }
}

/// One architecture to measure, in a dtype, to a plan.
pub struct Job<'a> {
    pub arch: &'a Architecture,
    pub plan: &'a Plan,
    pub dtype: DType,
}

impl Job<'_> {
    /// Weights and KV cache, bytes: what holding it ready costs.
    fn bytes(&self) -> f64 {
        let width = match self.dtype {
            DType::F32 => 4.0,
            _ => 2.0,
        };
        let kv = 2.0
            * f64::from(self.arch.layers)
            * self.arch.kv_dim() as f64
            * (self.plan.batch * (self.plan.prompt + self.plan.generate)) as f64;
        width * (self.arch.params_total() as f64 + kv)
    }
}

/// Builds the model (random weights from `plan.seed`, vocab `arch.vocab` as
/// the roofline counts it) and times `plan.warmup` + `plan.repeats` runs of
/// prefill then decode.
pub fn measure(
    arch: &Architecture,
    plan: &Plan,
    dtype: DType,
    device: &Device,
    progress: &mut dyn FnMut(Progress),
) -> Result<Measurement, TrainError> {
    let mut all = measure_all(
        &[Job { arch, plan, dtype }],
        device,
        f64::INFINITY,
        &mut |p| {
            progress(p);
            ControlFlow::Continue(())
        },
    )
    .map_err(|s| s.error)?;
    Ok(all.remove(0))
}

/// Measures every job, in results of the same order, with their timed runs
/// interleaved: round r runs each job once, so a burst of load from other
/// processes (a shared machine's usual noise, seconds long) costs every
/// job one slow run, which the median drops, instead of every run of the
/// one job it lands on. Jobs are held ready in groups whose weights and
/// caches fit in `memory` bytes (at least one job per group); a job's
/// warm-up runs come just before its group's rounds.
///
/// On an error or a `Break` from `progress` (a cancelled run, checked
/// between two runs) the groups already finished are kept in
/// [`Stopped::done`].
pub fn measure_all(
    jobs: &[Job],
    device: &Device,
    memory: f64,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Vec<Measurement>, Stopped> {
    let mut out = Vec::with_capacity(jobs.len());
    match measure_groups(jobs, device, memory, progress, &mut out) {
        Ok(()) => Ok(out),
        Err(error) => Err(Stopped { done: out, error }),
    }
}

/// Why [`measure_all`] stopped early, and the measurements of the jobs
/// before it, in order.
#[derive(Debug)]
pub struct Stopped {
    pub done: Vec<Measurement>,
    pub error: TrainError,
}

fn measure_groups(
    jobs: &[Job],
    device: &Device,
    memory: f64,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    out: &mut Vec<Measurement>,
) -> Result<(), TrainError> {
    // Checked before anything is allocated: a model that cannot fit would
    // otherwise grow until the kernel kills the process.
    let machine = rooflaw_stdlib::machine::Machine::this().memory;
    if device.is_cpu()
        && machine > 0.0
        && let Some(j) = jobs.iter().find(|j| j.bytes() > machine)
    {
        return Err(TrainError::TooLarge(format!(
            "measuring a model of {} parameters needs {:.1} GB for weights and KV cache, more than this machine's {:.1} GB of memory",
            j.arch.params_total(),
            j.bytes() / 1e9,
            machine / 1e9
        )));
    }
    let runs: usize = jobs.iter().map(|j| j.plan.warmup + j.plan.repeats).sum();
    let mut done = 0;
    let mut first = 0;
    while first < jobs.len() {
        let mut end = first + 1;
        let mut bytes = jobs[first].bytes();
        while end < jobs.len() && bytes + jobs[end].bytes() <= memory {
            bytes += jobs[end].bytes();
            end += 1;
        }
        let group = &jobs[first..end];
        let mut benches = group
            .iter()
            .map(|j| Bench::new(j.arch, j.plan, j.dtype, device))
            .collect::<Result<Vec<_>, _>>()?;
        // `Break` from the caller (a cancelled run) stops between two runs.
        let mut tick = |item: usize, warmup: bool| {
            done += 1;
            match progress(Progress {
                run: done,
                runs,
                warmup,
                item: first + item,
            }) {
                ControlFlow::Continue(()) => Ok(()),
                ControlFlow::Break(()) => Err(TrainError::Cancelled),
            }
        };
        for (i, (b, j)) in benches.iter_mut().zip(group).enumerate() {
            for _ in 0..j.plan.warmup {
                b.run()?;
                tick(i, true)?;
            }
        }
        let rounds = group.iter().map(|j| j.plan.repeats).max().unwrap_or(0);
        for round in 0..rounds {
            for (i, (b, j)) in benches.iter_mut().zip(group).enumerate() {
                if round < j.plan.repeats {
                    let t = b.run()?;
                    b.timed.push(t);
                    tick(i, false)?;
                }
            }
        }
        out.extend(
            benches
                .into_iter()
                .zip(group)
                .map(|(b, j)| b.result(j.plan, j.dtype)),
        );
        first = end;
    }
    Ok(())
}

/// One measured (architecture, precision): a row of the `measure` stage's
/// table ([`crate::stages::measurements_table`]).
pub struct Row {
    pub arch: Architecture,
    pub precision: String,
    pub plan: Plan,
    pub m: Measurement,
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values by construction
mod tests {
    use super::*;

    #[test]
    fn stats_are_median_min_max() {
        let s = Stats::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Stats::of(&[1.0, 4.0, 2.0, 3.0]).median, 2.5);
        assert!((Stats::of(&[2.0, 4.0]).spread() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn only_plain_float_precisions_are_measurable() {
        let p = |s| Precision::parse(s).unwrap();
        assert_eq!(dtype_for(&p("fp32")), Ok(DType::F32));
        assert_eq!(dtype_for(&p("fp16")), Ok(DType::F16));
        assert_eq!(dtype_for(&p("bf16")), Ok(DType::BF16));
        for q in ["w4a16", "int8", "fp16kv8", "fp8"] {
            let e = dtype_for(&p(q)).unwrap_err();
            let label = p(q).label();
            assert!(
                e.contains(&label) && e.contains("fp32, fp16 and bf16"),
                "{e}"
            );
        }
    }

    #[test]
    fn measures_both_phases_of_a_tiny_model() {
        let mut arch = Architecture::dense(2, 64, 4, 2, 128);
        arch.vocab = 256;
        let plan = Plan {
            batch: 2,
            prompt: 16,
            generate: 5,
            repeats: 3,
            warmup: 1,
            seed: 0,
        };
        let mut seen = Vec::new();
        let m = measure(&arch, &plan, DType::F32, &Device::Cpu, &mut |p| {
            seen.push((p.run, p.warmup));
        })
        .unwrap();
        assert_eq!(seen, vec![(1, true), (2, false), (3, false), (4, false)]);
        assert_eq!(m.runs.len(), 3);
        assert_eq!(m.decode_steps, 4);
        for s in [m.prefill, m.decode] {
            assert!(s.min > 0.0 && s.min <= s.median && s.median <= s.max);
        }
        assert!((m.decode_per_token - m.decode.median / 4.0).abs() < 1e-15);
        assert!(m.device.starts_with("cpu: "), "{}", m.device);
        // One output token: prefill only.
        let one = Plan {
            generate: 1,
            ..plan
        };
        let m = measure(&arch, &one, DType::F32, &Device::Cpu, &mut |_| {}).unwrap();
        assert_eq!((m.decode_steps, m.decode_per_token), (0, 0.0));
    }

    #[test]
    fn measures_several_with_interleaved_runs_in_memory_groups() {
        let mut a = Architecture::dense(1, 32, 2, 1, 64);
        a.vocab = 64;
        let mut b = Architecture::dense(2, 64, 4, 2, 128);
        b.vocab = 64;
        let plan = |repeats| Plan {
            batch: 1,
            prompt: 8,
            generate: 3,
            repeats,
            warmup: 1,
            seed: 0,
        };
        let (p2, p3) = (plan(2), plan(3));
        let jobs = [
            Job {
                arch: &a,
                plan: &p2,
                dtype: DType::F32,
            },
            Job {
                arch: &b,
                plan: &p3,
                dtype: DType::F32,
            },
        ];
        let mut order = Vec::new();
        let ms = measure_all(&jobs, &Device::Cpu, f64::INFINITY, &mut |p| {
            order.push((p.item, p.warmup));
            ControlFlow::Continue(())
        })
        .unwrap();
        // Warm-ups first, then rounds alternating between the two.
        assert_eq!(
            order,
            vec![
                (0, true),
                (1, true),
                (0, false),
                (1, false),
                (0, false),
                (1, false),
                (1, false)
            ]
        );
        assert_eq!((ms[0].runs.len(), ms[1].runs.len()), (2, 3));
        // No room for two: each is measured on its own, in order.
        let mut order = Vec::new();
        measure_all(&jobs, &Device::Cpu, 1.0, &mut |p| {
            order.push(p.item);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(order, vec![0, 0, 0, 1, 1, 1, 1]);
        // Cancelled during the second group: the first one's result is kept.
        let stopped = measure_all(&jobs, &Device::Cpu, 1.0, &mut |p| {
            if p.item == 1 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
        assert!(
            matches!(stopped.error, TrainError::Cancelled),
            "{:?}",
            stopped.error
        );
        assert_eq!(stopped.done.len(), 1);
        assert_eq!(stopped.done[0].runs.len(), 2);
    }
}
