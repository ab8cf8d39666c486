//! Training end to end on the shipped corpus: gradients reach every
//! parameter, the loss falls, an interrupted run resumes bit-identically,
//! and a diverging run stops with an error naming the architecture.
use candle_core::{Device, Tensor};
use rooflaw_neural::train::{
    ByteTokenizer, Corpus, CorpusRef, Executor, LocalExecutor, Model, Recipe, TrainError, TrainJob,
    trainer,
};
use rooflaw_stdlib::arch::{Architecture, Norm};
use std::ops::ControlFlow;
use std::path::PathBuf;

fn tiny_dense() -> Architecture {
    let mut a = Architecture::dense(2, 64, 4, 2, 96);
    a.vocab = 256;
    a
}

fn tiny_moe() -> Architecture {
    let mut a = tiny_dense();
    a.experts = 4;
    a.top_k = 2;
    a.shared_experts = 1;
    a.shared_ffn = 32;
    a
}

/// Names of the parameters whose gradient is missing or all zeros after one
/// backward pass of the full training loss.
fn params_without_gradient(arch: &Architecture) -> Vec<String> {
    let dev = Device::Cpu;
    let model = Model::new(arch, 256, 32, 7, &dev).unwrap();
    let corpus = Corpus::load("sotu", &ByteTokenizer).unwrap();
    let ids = Tensor::from_vec(corpus.train.window(0, 8 * 33).unwrap(), (8, 33), &dev).unwrap();
    let inputs = ids.narrow(1, 0, 32).unwrap();
    let targets = ids.narrow(1, 1, 32).unwrap().flatten_all().unwrap();
    let out = model.forward(&inputs.contiguous().unwrap()).unwrap();
    let ce = rooflaw_neural::train::ops::cross_entropy(&out.logits, &targets).unwrap();
    let loss = (ce + (out.aux_loss * 0.01).unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    model
        .named_vars()
        .into_iter()
        .filter(|(_, v)| match grads.get(v.as_tensor()) {
            None => true,
            Some(g) => {
                g.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    == 0.0
            }
        })
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn every_parameter_receives_a_gradient_dense() {
    let mut a = tiny_dense();
    a.qk_norm = true;
    a.qkv_bias = true;
    assert_eq!(params_without_gradient(&a), Vec::<String>::new());
}

#[test]
fn every_parameter_receives_a_gradient_dense_tied_layernorm_ungated_four_norms() {
    let mut a = tiny_dense();
    a.tied_embeddings = true;
    a.norm = Norm::Layer;
    a.gated = false;
    a.norms_per_layer = 4;
    assert_eq!(params_without_gradient(&a), Vec::<String>::new());
}

#[test]
fn every_parameter_receives_a_gradient_moe() {
    let mut a = tiny_moe();
    a.qk_norm = true;
    assert_eq!(params_without_gradient(&a), Vec::<String>::new());
    // The router is a trained parameter: it learns through the renormalised
    // top-k weights and the load-balancing loss.
    let model = Model::new(&a, 256, 32, 7, &Device::Cpu).unwrap();
    assert!(
        model
            .named_vars()
            .iter()
            .any(|(n, _)| n.ends_with("moe.router"))
    );
}

fn job(arch: Architecture, tokens: u64, corpus: &Corpus) -> TrainJob {
    let mut recipe = Recipe::small(tokens, 11);
    recipe.seq_len = 64;
    recipe.batch = 8;
    recipe.eval_every = 10;
    recipe.eval_batches = 2;
    recipe.lr = 3e-3;
    TrainJob {
        arch,
        recipe,
        corpus: CorpusRef::of(corpus),
        trainer: None,
    }
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rooflaw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn loss_decreases_on_the_corpus_in_a_short_run() {
    let exec = LocalExecutor::new();
    let corpus = exec.corpus("sotu").unwrap();
    let job = job(tiny_dense(), 60 * 512, &corpus);
    let dir = workdir("loss-decreases");
    let mut losses = Vec::new();
    let r = exec
        .run(&job, &dir, &mut |p| {
            losses.push(p.loss);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(r.steps, 60);
    assert_eq!(losses.len(), 60);
    // ln 256 = 5.55 at init; 60 steps on bytes must get well below that.
    assert!(losses[0] > 5.0, "initial loss {}", losses[0]);
    assert!(
        r.final_train_loss < 3.5,
        "final train loss {}",
        r.final_train_loss
    );
    assert!(r.val_loss < 3.6, "val loss {}", r.val_loss);
    assert!((r.val_ppl - r.val_loss.exp()).abs() < 1e-9);
    assert_eq!(r.evals.len(), 6);
    assert!(r.model_path.exists());
    // The same job in the same workdir is served from its result file.
    let again = exec
        .run(&job, &dir, &mut |_| panic!("must not train again"))
        .unwrap();
    assert_eq!(again.model_hash, r.model_hash);
    assert!((again.val_loss - r.val_loss).abs() < 1e-12);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn interrupted_run_resumes_to_bit_identical_weights() {
    let exec = LocalExecutor::new();
    let corpus = exec.corpus("sotu").unwrap();
    let mut j = job(tiny_moe(), 25 * 512, &corpus);
    j.recipe.checkpoint_every = 7;
    let whole = workdir("resume-whole");
    let full = exec
        .run(&j, &whole, &mut |_| ControlFlow::Continue(()))
        .unwrap();

    let split = workdir("resume-split");
    let err = exec
        .run(&j, &split, &mut |p| {
            if p.step == 13 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
    assert!(
        matches!(err, TrainError::Interrupted { step: 13, .. }),
        "{err}"
    );
    let mut resumed_steps = Vec::new();
    let resumed = exec
        .run(&j, &split, &mut |p| {
            resumed_steps.push(p.step);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(resumed_steps.first(), Some(&14));
    assert_eq!(resumed.resumed_at, [13], "the result says where it resumed");
    assert!(full.resumed_at.is_empty());
    assert_eq!(
        resumed.model_hash, full.model_hash,
        "final weights differ after resume"
    );
    assert_eq!(resumed.evals, full.evals);
    assert_eq!(resumed.val_loss.to_bits(), full.val_loss.to_bits());
    let _ = std::fs::remove_dir_all(whole);
    let _ = std::fs::remove_dir_all(split);
}

#[test]
fn diverging_run_stops_with_an_error_naming_the_architecture() {
    let corpus = Corpus::load("sotu", &ByteTokenizer).unwrap();
    let mut j = job(tiny_dense(), 40 * 512, &corpus);
    j.recipe.lr = 50.0;
    j.recipe.lr_min = 50.0;
    j.recipe.warmup_frac = 0.0;
    j.recipe.grad_clip = 1e6;
    let dir = workdir("diverge");
    let err = trainer::train(&j, &corpus, &dir, &Device::Cpu, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TrainError::Diverged { .. }), "{msg}");
    assert!(msg.contains("L2 d64 h4/2x16 ffn96"), "{msg}");
    let _ = std::fs::remove_dir_all(dir);
}
