//! Training throughput of rooflaw's candle trainer on the benchmark model,
//! for `bench/train-vs-torch/run.sh`. Prints one JSON line.
//!
//! Usage: `train_bench [steps] [warmup_steps]` (defaults 40 and 3). The
//! shapes match `bench/train-vs-torch/torch_train.py`.
use rooflaw_neural::train::{CorpusRef, LocalExecutor, Recipe, TrainJob, trainer};
use rooflaw_stdlib::arch::Architecture;
use std::ops::ControlFlow;
use std::time::Instant;

// mimalloc: candle allocates a fresh buffer per op; glibc returns large
// ones to the kernel and page-faults them back (+35 % tok/s measured).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Width 128, 4 layers, 4 heads of 32, a `SwiGLU` FFN of 384, untied byte vocab.
fn bench_arch() -> Architecture {
    let mut a = Architecture::dense(4, 128, 4, 4, 384);
    a.vocab = 256;
    a
}

/// candle's element-wise ops run on its own spin-waiting barrier pool; on a
/// 2-core machine shared with other work the spinning costs more than the
/// second thread gains (measured 950 → 3,400 tok/s under load 5). Matmuls
/// keep `RAYON_NUM_THREADS` threads (gemm). An explicit setting wins.
#[allow(unsafe_code)]
fn single_thread_elementwise() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    single_thread_elementwise();
    let args: Vec<String> = std::env::args().collect();
    let steps: u64 = args.get(1).map_or(Ok(40), |s| s.parse())?;
    let warmup: u64 = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let exec = LocalExecutor::new();
    let corpus = exec.corpus("sotu")?;
    // One extra step at the end carries the final evaluation, outside the clock.
    let total = warmup + steps + 1;
    let mut recipe = Recipe::small(total * 128 * 16, 0);
    recipe.eval_every = total;
    recipe.eval_batches = 1;
    let job = TrainJob {
        arch: bench_arch(),
        recipe,
        corpus: CorpusRef::of(&corpus),
        trainer: None,
    };
    let dir = std::env::temp_dir().join(format!("rooflaw-train-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut t0 = None;
    let mut t_end = None;
    let mut last_loss = 0.0;
    let r = trainer::train(&job, &corpus, &dir, &candle_core::Device::Cpu, &mut |p| {
        if p.step == warmup {
            t0 = Some(Instant::now());
        }
        if p.step == warmup + steps {
            t_end = Some(Instant::now());
        }
        last_loss = p.loss;
        ControlFlow::Continue(())
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    let secs = t_end
        .zip(t0)
        .map_or(f64::NAN, |(e, s)| (e - s).as_secs_f64());
    let tokens = steps * 128 * 16;
    println!(
        "{{\"impl\":\"rooflaw\",\"params\":{},\"steps\":{steps},\"tokens\":{tokens},\"seconds\":{secs:.3},\"tokens_per_s\":{:.1},\"final_loss\":{last_loss:.4}}}",
        r.params,
        tokens as f64 / secs
    );
    Ok(())
}
