#!/usr/bin/env python3
"""How much of calibration's accuracy comes from the element-wise bandwidth
figure (`efficiency.vector`)? Fits the roofline with three figures
(compute and memory efficiency, launch; element-wise operators share the
memory efficiency, as before that figure existed) and with four, on many
seeded dense/MoE-stratified halves of a `measure` table, and prints the
held-out median errors.

The operators' FLOPs, bytes, engines and kernel counts come from rooflaw
itself (`rooflaw roofline --ops --format json`); this script only redoes
the per-operator max(compute, memory) + launch sum with the figures free,
which rooflaw's own `calibrate` cannot be told to do.

    pip install numpy scipy
    python3 bench/calibrate-cpu/ablation.py bench/calibrate-cpu/data/runs-2026-11-24.csv \
        bench/calibrate-cpu/data/probed-2026-11-24.yaml
"""
import csv
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
from scipy.optimize import minimize

ROOFLAW = os.environ.get("ROOFLAW", "target/release/rooflaw")


def hf_config(r):
    """The row's architecture as a Hugging Face config rooflaw reads."""
    moe = int(r["experts"]) > 1
    c = {
        "model_type": ("qwen3_moe" if moe else "qwen3") if r["qk_norm"] == "1" else "llama",
        "hidden_size": int(r["width"]),
        "num_attention_heads": int(r["heads"]),
        "num_key_value_heads": int(r["kv_heads"]),
        "head_dim": int(r["head_dim"]),
        "num_hidden_layers": int(r["layers"]),
        "vocab_size": int(r["vocab"]),
        "tie_word_embeddings": r["tied"] == "1",
        "intermediate_size": int(r["ffn"]),
    }
    if moe:
        c.update(
            num_experts=int(r["experts"]),
            num_experts_per_tok=int(r["top_k"]),
            moe_intermediate_size=int(r["ffn"]),
        )
    return c


def operators(rows, hardware):
    """Per row and phase: arrays of instances, kernels, FLOPs and bytes per
    instance, and whether the operator is element-wise."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, r in enumerate(rows):
            path = os.path.join(tmp, f"{i}.json")
            with open(path, "w") as f:
                json.dump(hf_config(r), f)
            j = json.loads(subprocess.check_output([
                ROOFLAW, "roofline", "--model", path, "--hardware", hardware,
                "--prompt", r["prompt"], "--generate", r["generate"], "--batch", r["batch"],
                "--precision", r["precision"], "--attention", "unfused", "--experts", "looped",
                "--ops", "--format", "json",
            ]))
            phases = {}
            for phase in ("prefill", "decode"):
                ops = j["ops"][phase]
                count = np.array([o["count"] for o in ops])
                moved = [o["weight_bytes"] + o["activation_bytes"] + o["kv_read_bytes"]
                         + o["kv_write_bytes"] for o in ops]
                phases[phase] = dict(
                    count=count,
                    kernels=np.array([o["kernels"] for o in ops]),
                    flops=np.array([o["flops"] for o in ops]) / count,
                    bytes=np.array(moved) / count,
                    vector=np.array([o["engine"] == "vector" for o in ops]),
                )
            out.append(dict(
                ops=phases,
                steps=j["ops"]["decode_steps"],
                moe=int(r["experts"]) > 1,
                prefill=float(r["prefill_ms"]) / 1e3,
                decode=float(r["decode_ms"]) / 1e3,
            ))
    return out


def predict(s, f, phase, peak, bandwidth):
    a = s["ops"][phase]
    vector = f.get("ev", f["em"])
    t_compute = a["flops"] / (peak * f["ec"])
    t_memory = a["bytes"] / (bandwidth * np.where(a["vector"], vector, f["em"]))
    per_instance = np.maximum(t_compute, t_memory)
    t = (a["count"] * per_instance).sum() + a["kernels"].sum() * f["launch"]
    return t * s["steps"] if phase == "decode" else t


def unpack(theta, names):
    sig = lambda u: 1.0 / (1.0 + np.exp(-np.clip(u, -40, 40)))
    return {n: 1e-6 * np.exp(np.clip(v, -20, 20)) if n == "launch" else sig(v)
            for n, v in zip(names, theta)}


def fit(samples, idx, names, peak, bandwidth):
    def cost(theta):
        f = unpack(theta, names)
        return sum(np.log(predict(samples[i], f, p, peak, bandwidth) / samples[i][p]) ** 2
                   for i in idx for p in ("prefill", "decode"))
    rng = np.random.default_rng(0)
    best = min((minimize(cost, rng.uniform(-3, 3, len(names)), method="L-BFGS-B")
                for _ in range(24)), key=lambda r: r.fun)
    return unpack(best.x, names)


def main():
    runs, hardware = sys.argv[1], sys.argv[2]
    splits = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    rows = list(csv.DictReader(open(runs)))
    hw = json.loads(subprocess.check_output(
        [ROOFLAW, "presets", "hardware", hardware, "--format", "json"]))
    peak, bandwidth = hw["peak"]["fp32"], hw["bandwidth"]
    samples = operators(rows, hardware)
    for names in (["ec", "em", "launch"], ["ec", "em", "ev", "launch"]):
        medians = []
        for seed in range(splits):
            rnd = random.Random(seed)
            dense = [i for i, s in enumerate(samples) if not s["moe"]]
            moe = [i for i, s in enumerate(samples) if s["moe"]]
            rnd.shuffle(dense)
            rnd.shuffle(moe)
            train = dense[: len(dense) // 2] + moe[: len(moe) // 2]
            held = [i for i in range(len(samples)) if i not in train]
            f = fit(samples, train, names, peak, bandwidth)
            err = lambda p: np.median([abs(predict(samples[i], f, p, peak, bandwidth)
                                           / samples[i][p] - 1) * 100 for i in held])
            medians.append((err("prefill"), err("decode")))
        m = np.array(medians)
        print(f"{len(names)} figures ({', '.join(names)}): held-out median error over {splits} splits: "
              f"prefill {np.median(m[:, 0]):.1f}% ({m[:, 0].min():.1f}–{m[:, 0].max():.1f}), "
              f"decode {np.median(m[:, 1]):.1f}% ({m[:, 1].min():.1f}–{m[:, 1].max():.1f})")


if __name__ == "__main__":
    main()
