#!/usr/bin/env python3
"""A 200-step training curve of the PyTorch reference, in float64, for tests/test_training_parity.cpp.

The C++ trainer (include/dualrerank/train/{losses,adamw,trainer}.hpp) must reproduce this curve
from the same initial weights: the loss within 1e-3 relative at every 20th step (in double it
agrees to ~1e-13), and the final weights.

What is fixed here, and written into the fixture, so that nothing depends on matching RNGs:
  * the config (small, with context features and a rank embedding), teacher and student;
  * the initial weights: the portable generator (dualrerank_ref/weights.py), recipe in
    __metadata__["teacher.init"] / ["student.init"];
  * the dataset: 64 requests with N in [5, 20], float32-exact features, context and upstream
    ranks, and one target slate (length L) per request, generated with numpy (not torch);
  * the batch schedule: the request indices of every step, I32 [steps, batch];
  * the optimiser: torch.optim.AdamW with two parameter groups (weight decay on every
    nn.Linear weight, none on biases, LayerNorm, slot_queries, bos, slot_emb and rank_emb, the
    C++ tables' `decay` flags), global-norm clipping before the update, and the learning rate of
    train::learning_rate (linear warmup, then cosine to min_lr_ratio) set by hand every step.

Loss (train::teacher_ce_step / train::student_ce_step): the mean over the batch of the per-request
sum over slots of -log softmax(Z_t)[y_t]. The teacher's Z is teacher-forced (the prefix y_<t is
-inf); the student's Z gets the prefix masked for the loss (slot_cross_entropy, mask_prefix).

Clipping: train::adamw scales the gradients by clip_norm / ||g|| when ||g|| > clip_norm.
torch.nn.utils.clip_grad_norm_ uses clip_norm / (||g|| + 1e-6), which moves the curve by about
1e-6 relative; the reference therefore clips by hand with the C++ formula. The curve that
clip_grad_norm_ gives is computed too, and its distance is recorded in the metadata
(`<model>.clip_grad_norm_max_rel`), so that choice is visible.

Fixture contents (`train_curve.fixture.safetensors`):
  data.n I32 [R]; data.features F32 [sum n, F]; data.context F32 [R, Fc]; data.upstream_rank I32
  [sum n]; data.targets I32 [R, L]; schedule I32 [steps, B];
  <model>.loss / .grad_norm (before clipping) / .lr F64 [steps], <model>.final.<param> F64 (the
  weights after the last step), for <model> in {teacher, student}.

Usage: train_curve.py [--out DIR]   (default: tests/data/golden of this repository)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Dict, List, Tuple

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dualrerank_ref.models import ArTeacher, ModelConfig, NarStudent, Request, pack  # noqa: E402
from dualrerank_ref.safetensors import save_file  # noqa: E402
from dualrerank_ref.weights import apply_portable, default_spec  # noqa: E402

FIXTURE_FORMAT = "dualrerank-training-curve"
FIXTURE_VERSION = "1"
FILE_NAME = "train_curve.fixture.safetensors"

CONFIG = ModelConfig(features=8, context=4, d=16, heads=2, enc_layers=1, dec_layers=2, ffn=32, max_slate=5,
                     max_candidates=24, rank_embedding=True, outputs=1)
L = 4  # slate length (< max_slate: the last slot_emb / slot_queries row gets no gradient)
REQUESTS = 64
N_RANGE = (5, 20)  # inclusive
BATCH = 8
STEPS = 200
DATA_SEED = 20240611
INIT_SEEDS = {"teacher": 7001, "student": 7002}

# train::adamw_config (same names)
OPTIMIZER = {
    "lr": 3e-3,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.05,
    "clip_norm": 2.0,
    "warmup_steps": 20,
    "total_steps": STEPS,
    "min_lr_ratio": 0.1,
}


def learning_rate(c: dict, step: int) -> float:
    """train::learning_rate: linear warmup from 0, then cosine decay to min_lr_ratio * lr."""
    if c["warmup_steps"] > 0 and step < c["warmup_steps"]:
        return c["lr"] * float(step + 1) / float(c["warmup_steps"])
    if c["total_steps"] <= c["warmup_steps"]:
        return c["lr"]
    p = min(1.0, float(step - c["warmup_steps"]) / float(c["total_steps"] - c["warmup_steps"]))
    cosine = 0.5 * (1.0 + math.cos(3.14159265358979323846 * p))
    return c["lr"] * (c["min_lr_ratio"] + (1.0 - c["min_lr_ratio"]) * cosine)


def make_dataset():
    """Requests with float32-exact inputs and targets = the top-L items of a hidden scorer."""
    rng = np.random.default_rng(DATA_SEED)
    F, Fc = CONFIG.features, CONFIG.context
    u = rng.standard_normal(F)
    u2 = rng.standard_normal(F)
    vc = rng.standard_normal(Fc)
    sizes, feats, ctxs, ranks, targets = [], [], [], [], []
    for _ in range(REQUESTS):
        n = int(rng.integers(N_RANGE[0], N_RANGE[1] + 1))
        x = rng.standard_normal((n, F)).astype(np.float32)
        c = rng.standard_normal(Fc).astype(np.float32)
        rank = rng.permutation(n).astype(np.int32)
        score = x.astype(np.float64) @ u + 0.5 * float(c @ vc) * (x.astype(np.float64) @ u2) - 0.05 * rank
        score += 0.1 * rng.standard_normal(n)
        order = np.argsort(-score, kind="stable")[:L].astype(np.int32)
        sizes.append(n)
        feats.append(x)
        ctxs.append(c)
        ranks.append(rank)
        targets.append(order)
    schedule = np.stack([rng.choice(REQUESTS, size=BATCH, replace=False) for _ in range(STEPS)]).astype(np.int32)
    return (np.array(sizes, dtype=np.int32), feats, np.stack(ctxs), ranks, np.stack(targets), schedule)


def decay_names(model: torch.nn.Module) -> List[str]:
    """The tensors the C++ tables flag `decay`: the weight of every nn.Linear."""
    out = []
    for mname, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            out.append((mname + "." if mname else "") + "weight")
    return out


def build(kind: str) -> Tuple[torch.nn.Module, dict]:
    cls = ArTeacher if kind == "teacher" else NarStudent
    torch.manual_seed(0)  # the module constructors draw; apply_portable overwrites everything
    model = cls(CONFIG).double()
    spec = default_spec(model)
    apply_portable(model, INIT_SEEDS[kind], spec)
    init = {"generator": "splitmix64-v1", "seed": INIT_SEEDS[kind],
            "tensors": {k: [v[0], v[1], list(model.state_dict()[k].shape)] for k, v in spec.items()}}
    return model, init


def batch_loss(model: torch.nn.Module, kind: str, reqs: List[Request], tgt: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the per-request sum over slots of the masked cross-entropy."""
    x, ctx, rank, valid = pack(reqs, torch.float64)
    B = x.shape[0]
    if kind == "teacher":
        Z = model(x, ctx, rank, valid, tgt)  # teacher forcing: the prefix is already -inf
    else:
        Z = model(x, ctx, rank, valid, L)
        chosen = torch.zeros(B, L, x.shape[1], dtype=torch.bool)
        for p in range(1, L):
            chosen[torch.arange(B), p:, tgt[:, p - 1]] = True
        Z = Z.masked_fill(chosen, float("-inf"))
    logp = torch.log_softmax(Z, dim=-1)
    nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)  # [B, L]
    return nll.sum(dim=1).mean()


def train(kind: str, data, torch_clip: bool = False):
    sizes, feats, ctxs, ranks, targets, schedule = data
    model, init = build(kind)
    reqs = [Request(torch.from_numpy(feats[r]).double(), torch.from_numpy(ctxs[r]).double(),
                    torch.from_numpy(ranks[r]).long()) for r in range(len(sizes))]
    decay = set(decay_names(model))
    params = dict(model.named_parameters())
    missing = decay - set(params)
    assert not missing, missing
    opt_cfg = OPTIMIZER
    groups = [
        {"params": [p for n, p in params.items() if n in decay], "weight_decay": opt_cfg["weight_decay"]},
        {"params": [p for n, p in params.items() if n not in decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=opt_cfg["lr"], betas=(opt_cfg["beta1"], opt_cfg["beta2"]), eps=opt_cfg["eps"],
                            foreach=False)
    plist = list(params.values())
    losses, norms, lrs = [], [], []
    clipped = 0
    for step in range(STEPS):
        idx = schedule[step]
        opt.zero_grad(set_to_none=False)
        loss = batch_loss(model, kind, [reqs[i] for i in idx], torch.from_numpy(targets[idx]).long())
        loss.backward()
        norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in plist))
        clip = opt_cfg["clip_norm"]
        if torch_clip:
            torch.nn.utils.clip_grad_norm_(plist, clip)
        elif clip > 0 and norm > clip:
            coef = clip / norm
            for p in plist:
                p.grad.mul_(coef)
        clipped += int(clip > 0 and norm > clip)
        lr = learning_rate(opt_cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        losses.append(float(loss))
        norms.append(norm)
        lrs.append(lr)
    final = {n: p.detach().clone() for n, p in model.state_dict().items()}
    return np.array(losses), np.array(norms), np.array(lrs), final, init, sorted(decay), clipped


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="output directory (default: tests/data/golden)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    out = a.out or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data",
                                "golden")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)  # deterministic reductions

    data = make_dataset()
    sizes, feats, ctxs, ranks, targets, schedule = data
    t: Dict[str, np.ndarray] = {
        "data.n": sizes,
        "data.features": np.concatenate(feats),
        "data.context": ctxs.astype(np.float32),
        "data.upstream_rank": np.concatenate(ranks),
        "data.targets": targets,
        "schedule": schedule,
    }
    meta = {
        "format": FIXTURE_FORMAT,
        "fixture_version": FIXTURE_VERSION,
        "config": CONFIG.to_json(),
        "L": str(L),
        "requests": str(REQUESTS),
        "batch": str(BATCH),
        "steps": str(STEPS),
        "optimizer": json.dumps(OPTIMIZER, separators=(",", ":")),
        "loss": "mean over the batch of sum over slots of -log softmax(Z_t)[y_t] (teacher forced / prefix-masked)",
        "torch": torch.__version__,
    }
    for kind in ("teacher", "student"):
        losses, norms, lrs, final, init, decay, clipped = train(kind, data)
        alt = train(kind, data, torch_clip=True)[0]
        alt_rel = float(np.max(np.abs(alt - losses) / np.abs(losses)))
        t[f"{kind}.loss"] = losses
        t[f"{kind}.grad_norm"] = norms
        t[f"{kind}.lr"] = lrs
        for n, v in final.items():
            t[f"{kind}.final.{n}"] = v.numpy()
        meta[f"{kind}.init"] = json.dumps(init, separators=(",", ":"))
        meta[f"{kind}.decay"] = ",".join(decay)
        meta[f"{kind}.clipped_steps"] = str(clipped)
        meta[f"{kind}.clip_grad_norm_max_rel"] = repr(alt_rel)
        if not a.quiet:
            every = [0] + list(range(19, STEPS, 20))
            print(f"  {kind:8s} loss " + " ".join(f"{losses[i]:.4f}" for i in every))
            print(f"  {kind:8s} clipped {clipped}/{STEPS} steps, grad norm {norms[0]:.3f} -> {norms[-1]:.3f}; "
                  f"clip_grad_norm_ curve differs by {alt_rel:.2e} relative (max over steps)")
    path = os.path.join(out, FILE_NAME)
    save_file(t, path, meta)
    if not a.quiet:
        print(f"wrote {path} ({os.path.getsize(path) / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
