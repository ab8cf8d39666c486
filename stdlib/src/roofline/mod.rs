//! Per-operator roofline of prefill and decode, with decode summed over all
//! output tokens in closed form, and the memory footprint.
//!
//! Time of one operator: max(FLOPs / (`peak·eff_c`), bytes / (`bw·eff_m`)) +
//! launch, where element-wise operators use their own bandwidth efficiency
//! when the hardware gives one. During decode every operator's FLOPs and bytes are affine in the
//! context length L, so the sum over steps is an arithmetic series on each
//! side of at most one compute/memory crossover ([`affine::sum_max`]):
//! evaluation is O(operators), independent of the token count, and does not
//! allocate.
mod affine;
mod breakdown;
mod memory;
mod ops;
mod summary;
mod validate;

pub use breakdown::{Breakdown, OpRow};
pub use summary::{Bound, Summary};
pub use validate::RooflineError;

use crate::arch::Architecture;
use crate::format::TensorBytes;
use crate::hardware::Hardware;
use crate::runtime::Runtime;
use crate::workload::Workload;

use affine::{Affine, sum_max};
use ops::{Engine, Op, Phase};

/// Achievable rates of one chip for one precision.
#[derive(Clone, Copy, Debug)]
struct Rates {
    matmul: f64,
    head: f64,
    vector: f64,
    bandwidth: f64,
    /// Bandwidth of the element-wise operators ([`Engine::Vector`]).
    vector_bandwidth: f64,
    launch: f64,
    /// The runtime's fixed cost per forward pass.
    per_pass: f64,
    /// See [`crate::runtime::Efficiency::gemm_half_tokens`].
    gemm_half_tokens: Option<f64>,
    /// Query heads per KV head where unfused attention reads the cache
    /// once per query head ([`Runtime::kv_per_query_head`]), else 1.
    kv_reads: f64,
}

impl Rates {
    fn new(
        arch: &Architecture,
        hw: &Hardware,
        wl: &Workload,
        rt: &Runtime,
    ) -> Result<Rates, RooflineError> {
        validate::hardware(hw)?;
        let p = &wl.precision;
        let f = rt.figures(hw);
        let peak = |d| {
            hw.peak_for(d)
                .map(|(_, v)| v * f.compute)
                .ok_or(RooflineError::NoPeak(d))
        };
        Ok(Rates {
            matmul: peak(p.compute())?,
            head: peak(p.embedding())?,
            vector: peak(p.vector())?,
            bandwidth: hw.bandwidth * f.memory,
            vector_bandwidth: hw.bandwidth * f.vector,
            launch: f.launch,
            per_pass: f.per_token,
            gemm_half_tokens: f.gemm_half_tokens,
            kv_reads: if f.kv_per_query_head {
                f64::from(arch.heads) / f64::from(arch.kv_heads)
            } else {
                1.0
            },
        })
    }

    /// `op` as this runtime runs it: unfused attention's cache reads
    /// repeated per query head where K and V are broadcast.
    // 1.0 is the value a fused runtime's profile states, never a computed one.
    #[allow(clippy::float_cmp)]
    fn adjust(&self, mut op: Op) -> Op {
        if self.kv_reads != 1.0 && matches!(op.name, "qk" | "score_v") {
            op.kv_read = op.kv_read.times(self.kv_reads);
        }
        op
    }

    /// These rates for a pass of `tokens` tokens: GEMMs that small reach
    /// less of their peak where the runtime says so.
    fn for_tokens(mut self, tokens: f64) -> Rates {
        if let Some(h) = self.gemm_half_tokens {
            let f = tokens / (tokens + h);
            self.matmul *= f;
            self.head *= f;
        }
        self
    }

    fn peak(&self, e: Engine) -> f64 {
        match e {
            Engine::Matmul => self.matmul,
            Engine::Head => self.head,
            Engine::Vector => self.vector,
        }
    }

    fn bandwidth(&self, e: Engine) -> f64 {
        match e {
            Engine::Matmul | Engine::Head => self.bandwidth,
            Engine::Vector => self.vector_bandwidth,
        }
    }
}

/// One operator's share of a phase: totals over its instances (and over all
/// steps for decode).
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    time: f64,
    /// Time of the instances (steps) where compute is the limit.
    compute_time: f64,
    flops: f64,
    weight: f64,
    act: f64,
    kv_read: f64,
    kv_write: f64,
    /// Launch overhead inside `time`.
    launch: f64,
}

impl Cost {
    fn bound(&self) -> Bound {
        if self.compute_time * 2.0 >= self.time - self.launch {
            Bound::Compute
        } else {
            Bound::Memory
        }
    }

    /// A fixed cost outside any operator (the runtime's per-pass cost);
    /// counted with the launches, so it never decides the bound.
    fn add_fixed(&mut self, t: f64) {
        if t > 0.0 {
            self.time += t;
            self.launch += t;
        }
    }

    fn add(&mut self, o: &Cost) {
        self.time += o.time;
        self.compute_time += o.compute_time;
        self.flops += o.flops;
        self.weight += o.weight;
        self.act += o.act;
        self.kv_read += o.kv_read;
        self.kv_write += o.kv_write;
        self.launch += o.launch;
    }
}

fn prefill_cost(op: &Op, r: &Rates, s: f64) -> Cost {
    let tc = op.flops.at(s) / r.peak(op.engine);
    let tm = op.bytes().at(s) / r.bandwidth(op.engine);
    let launch = op.launches * r.launch;
    Cost {
        time: op.count * (tc.max(tm) + launch),
        compute_time: if tc >= tm { op.count * tc } else { 0.0 },
        flops: op.count * op.flops.at(s),
        weight: op.count * op.weight.at(s),
        act: op.count * op.act.at(s),
        kv_read: op.count * op.kv_read.at(s),
        kv_write: op.count * op.kv_write.at(s),
        launch: op.count * launch,
    }
}

/// Decode steps 1..=n attend over L = cached + 1 ..= cached + n keys, where
/// `cached` is the context and the prompt.
#[derive(Clone, Copy, Debug)]
struct Steps {
    first: u64,
    last: u64,
    n: f64,
    /// Σ L over the steps.
    sum_l: f64,
}

impl Steps {
    fn new(cached: u64, n: u32) -> Steps {
        let (first, last) = (cached + 1, cached + u64::from(n));
        let n = f64::from(n);
        Steps {
            first,
            last,
            n,
            sum_l: (first + last) as f64 * n / 2.0,
        }
    }

    fn total(&self, x: Affine) -> f64 {
        x.c0 * self.n + x.c1 * self.sum_l
    }
}

/// With `BYTES` false only what the summary needs is summed (the hot path).
fn decode_cost<const BYTES: bool>(op: &Op, r: &Rates, s: &Steps) -> Cost {
    let compute = op.flops.times(1.0 / r.peak(op.engine));
    let memory = op.bytes().times(1.0 / r.bandwidth(op.engine));
    let (t, on_compute) = sum_max(compute, memory, s.first, s.last);
    let sum = |x: Affine| if BYTES { op.count * s.total(x) } else { 0.0 };
    let launch = op.launches * r.launch;
    Cost {
        time: op.count * (t + s.n * launch),
        compute_time: op.count * on_compute,
        flops: op.count * s.total(op.flops),
        weight: sum(op.weight),
        act: sum(op.act),
        kv_read: sum(op.kv_read),
        kv_write: sum(op.kv_write),
        launch: op.count * s.n * launch,
    }
}

fn check(
    arch: &Architecture,
    hw: &Hardware,
    wl: &Workload,
    rt: &Runtime,
) -> Result<(Rates, TensorBytes), RooflineError> {
    arch.validate()?;
    validate::workload(arch, wl)?;
    Ok((
        Rates::new(arch, hw, wl, rt)?,
        wl.precision.tensor_bytes(arch),
    ))
}

/// Prefill and decode latency and the memory footprint of `arch` on `hw`,
/// run by the workload's runtime.
pub fn evaluate(
    arch: &Architecture,
    hw: &Hardware,
    wl: &Workload,
) -> Result<Summary, RooflineError> {
    evaluate_on(arch, hw, wl, wl.runtime.get())
}

/// [`evaluate`] with the figures of `rt` in place of the workload's
/// runtime (its kernels are the workload's): what a fit tries candidates
/// with, without interning each.
pub fn evaluate_on(
    arch: &Architecture,
    hw: &Hardware,
    wl: &Workload,
    rt: &Runtime,
) -> Result<Summary, RooflineError> {
    let (r, bytes) = check(arch, hw, wl, rt)?;
    let s = f64::from(wl.prompt);
    let n = u64::from(wl.decode_steps());
    let steps = Steps::new(wl.cached(), wl.decode_steps());
    let b = f64::from(wl.batch);
    let (r_pre, r_dec) = (r.for_tokens(b * s), r.for_tokens(b));
    let mut pre = Cost::default();
    let mut largest_act = 0.0_f64;
    if wl.prompt > 0 {
        ops::build(arch, wl, &bytes, Phase::Prefill, |op| {
            let op = r.adjust(op);
            pre.add(&prefill_cost(&op, &r_pre, s));
            largest_act = largest_act.max(op.act.at(s));
        });
        pre.add_fixed(r.per_pass);
    }
    let mut dec = Cost::default();
    // Without a prompt the first token comes out of the first decode step.
    let mut first_step = 0.0;
    if n > 0 {
        let first = Steps::new(wl.cached(), 1);
        ops::build(arch, wl, &bytes, Phase::Decode, |op| {
            let op = r.adjust(op);
            dec.add(&decode_cost::<false>(&op, &r_dec, &steps));
            if wl.prompt == 0 {
                first_step += decode_cost::<false>(&op, &r_dec, &first).time;
            }
        });
        dec.add_fixed(r.per_pass * steps.n);
        if wl.prompt == 0 {
            first_step += r.per_pass;
        }
    }

    let weights_bytes = memory::weights(arch, &bytes);
    let kv_cache_bytes = memory::kv_cache(arch, wl);
    let activation_bytes = memory::activations(arch, wl, largest_act);
    let memory_bytes = weights_bytes + kv_cache_bytes + activation_bytes;
    let total = pre.time + dec.time;
    Ok(Summary {
        prefill: pre.time,
        ttft: pre.time + first_step,
        decode: dec.time,
        decode_per_token: if n == 0 { 0.0 } else { dec.time / n as f64 },
        tokens_per_s: f64::from(wl.batch) * f64::from(wl.generate) / total,
        total,
        weights_bytes,
        kv_cache_bytes,
        activation_bytes,
        memory_bytes,
        fits_memory: memory_bytes <= hw.memory,
        params_total: arch.params_total(),
        params_active: arch.params_active(),
        prefill_flops: pre.flops,
        decode_flops: dec.flops,
        prefill_bound: if wl.prompt == 0 {
            Bound::Memory
        } else {
            pre.bound()
        },
        decode_bound: if n == 0 { Bound::Memory } else { dec.bound() },
    })
}

/// Per-operator rows of both phases: prefill as a whole, decode as the mean
/// of one step over all decode steps.
pub fn breakdown(
    arch: &Architecture,
    hw: &Hardware,
    wl: &Workload,
) -> Result<Breakdown, RooflineError> {
    let (r, bytes) = check(arch, hw, wl, wl.runtime.get())?;
    let s = f64::from(wl.prompt);
    let n = u64::from(wl.decode_steps());
    let steps = Steps::new(wl.cached(), wl.decode_steps());
    let b = f64::from(wl.batch);
    let (r_pre, r_dec) = (r.for_tokens(b * s), r.for_tokens(b));
    let mut prefill = Vec::new();
    if wl.prompt > 0 {
        ops::build(arch, wl, &bytes, Phase::Prefill, |op| {
            let op = r.adjust(op);
            prefill.push(OpRow::new(&op, prefill_cost(&op, &r_pre, s), 1.0));
        });
    }
    let mut decode = Vec::new();
    if n > 0 {
        ops::build(arch, wl, &bytes, Phase::Decode, |op| {
            let op = r.adjust(op);
            let cost = decode_cost::<true>(&op, &r_dec, &steps);
            decode.push(OpRow::new(&op, cost, n as f64));
        });
    }
    Ok(Breakdown {
        prefill,
        decode,
        decode_steps: wl.decode_steps(),
    })
}

#[cfg(test)]
mod tests;
