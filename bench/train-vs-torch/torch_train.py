"""PyTorch twin of rooflaw's train_bench: the same decoder-only model
(d128, 4 layers, 4 heads x 32, RMSNorm, RoPE, SwiGLU 384, untied byte vocab),
the same batch (16 x 128), AdamW(0.9, 0.95, wd 0.01 on matrices), clipping
at 1.0, warm-up + cosine learning rate, on the same corpus. Prints one JSON line.

Usage: torch_train.py CORPUS.txt [steps] [warmup_steps] [--sdpa]
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

D, L, H, HD, FFN, V = 128, 4, 4, 32, 384, 256
SEQ, BATCH = 128, 16


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.w


def rope_tables(seq, hd, theta=10000.0):
    half = hd // 2
    i = torch.arange(hd) % half
    freq = theta ** (-2.0 * i / hd)
    a = torch.arange(seq)[:, None] * freq[None, :]
    return a.cos(), a.sin()


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Block(nn.Module):
    def __init__(self, sdpa):
        super().__init__()
        self.n0, self.n1 = RMSNorm(D), RMSNorm(D)
        self.wqkv = nn.Linear(D, 3 * H * HD, bias=False)
        self.wo = nn.Linear(H * HD, D, bias=False)
        self.w_in = nn.Linear(D, 2 * FFN, bias=False)
        self.w_out = nn.Linear(FFN, D, bias=False)
        self.sdpa = sdpa

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q, k, v = self.wqkv(self.n0(x)).view(b, t, 3, H, HD).unbind(2)
        q, k, v = rope(q.transpose(1, 2), cos, sin), rope(k.transpose(1, 2), cos, sin), v.transpose(1, 2)
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-1, -2)) / math.sqrt(HD) + mask
            y = att.softmax(-1) @ v
        x = x + self.wo(y.transpose(1, 2).reshape(b, t, H * HD))
        g, u = self.w_in(self.n1(x)).chunk(2, dim=-1)
        return x + self.w_out(F.silu(g) * u)


class Model(nn.Module):
    def __init__(self, sdpa):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.blocks = nn.ModuleList(Block(sdpa) for _ in range(L))
        self.norm = RMSNorm(D)
        self.head = nn.Linear(D, V, bias=False)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)
        cos, sin = rope_tables(SEQ, HD)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        self.register_buffer("mask", torch.full((SEQ, SEQ), float("-inf")).triu(1))

    def forward(self, ids):
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin, self.mask)
        return self.head(self.norm(x))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sdpa = "--sdpa" in sys.argv
    path = args[0]
    steps = int(args[1]) if len(args) > 1 else 40
    warmup = int(args[2]) if len(args) > 2 else 3
    torch.manual_seed(0)
    data = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.uint8).long()
    model = Model(sdpa)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95), eps=1e-8,
    )
    # rooflaw's schedule for the bench: total = warmup + steps + 1 steps,
    # 5 % linear warm-up, cosine decay from 1e-3 to 1e-4.
    total = warmup + steps + 1
    wu = min(round(0.05 * total), total)

    def lr_at(step):
        if step < wu:
            return 1e-3 * (step + 1) / wu
        p = min((step - wu) / max(total - wu, 1), 1.0)
        return 1e-4 + 0.5 * (1e-3 - 1e-4) * (1 + math.cos(math.pi * p))

    g = torch.Generator().manual_seed(0)
    t0 = None
    for step in range(warmup + steps):
        if step == warmup:
            t0 = time.perf_counter()
        starts = torch.randint(0, len(data) - SEQ - 1, (BATCH,), generator=g)
        win = torch.stack([data[s : s + SEQ + 1] for s in starts.tolist()])
        x, y = win[:, :-1], win[:, 1:]
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    secs = time.perf_counter() - t0
    tokens = steps * SEQ * BATCH
    print(json.dumps({
        "impl": "torch-sdpa" if sdpa else "torch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in model.parameters()),
        "steps": steps, "tokens": tokens, "seconds": round(secs, 3),
        "tokens_per_s": round(tokens / secs, 1), "final_loss": round(loss.item(), 4),
    }))


if __name__ == "__main__":
    main()
