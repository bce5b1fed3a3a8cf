#!/usr/bin/env python3
"""A Rerank-DPO training curve of the PyTorch reference, in float64, for tests/test_dpo.cpp.

The C++ Rerank-DPO (include/dualrerank/train/dpo.hpp: rerank_dpo_step through train::trainer and
train::adamw) must reproduce this curve from the same initial weights: the loss and the gradient
norm at every step within 1e-9 relative, the reference log-likelihoods within 1e-9 relative, and the
final weights (per tensor, max |C++ - ref| <= 1e-9 * max |ref|; the attention key biases, whose
gradient is exactly zero in exact arithmetic, <= 1e-6). The gradients here come from autograd.

Fixed here and written into the fixture (nothing depends on matching RNGs):
  * the config, the requests and the optimiser of python/train_curve.py (same module);
  * the shown slates (a random L-subset in random order per request) and per-slot clicks (0, 1 or
    2), generated with numpy; the pairs (GReF): winner = the shown slate sorted by
    S_i = alpha / P_i + gamma * U_i descending, ties in shown order; loser = the shown order;
    requests whose winner equals the shown order give no pair;
  * the reference teacher (portable weights, seed 7101) and the trained teacher (seed 7102, so the
    loss does not start at log 2 and sigmoid(-m) varies across pairs);
  * the batch schedule over the pairs, I32 [steps, batch].

Loss per step: mean over the batch of -log sigmoid(beta * (lw - rw - ll + rl)) - sft * lw, lw / ll the trained
teacher's teacher-forced log-likelihoods of winner / loser (sum over slots of log softmax(Z_t)[y_t],
the prefix masked), rw / rl the reference's (constants).

Fixture contents (`dpo_curve.fixture.safetensors`): data.* as in train_curve (data.targets absent),
pairs.request I32 [P], pairs.winner / pairs.loser I32 [P, L], pairs.ref_winner / pairs.ref_loser F64
[P], schedule I32 [steps, B], dpo.loss / dpo.grad_norm / dpo.lr F64 [steps], dpo.final.<param> F64;
metadata: the configs, the init recipes of "reference" and "dpo", alpha, gamma, beta, sft.

Usage: dpo_curve.py [--out DIR]   (default: tests/data/golden of this repository)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_curve as tc  # noqa: E402
from dualrerank_ref.models import ArTeacher, Request, pack  # noqa: E402
from dualrerank_ref.safetensors import save_file  # noqa: E402
from dualrerank_ref.weights import apply_portable, default_spec  # noqa: E402

FIXTURE_FORMAT = "dualrerank-dpo-curve"
FIXTURE_VERSION = "1"
FILE_NAME = "dpo_curve.fixture.safetensors"
SEEDS = {"reference": 7101, "dpo": 7102}
PAIR_SEED = 20261206
ALPHA, GAMMA, BETA = 1.0, 1.0, 0.1
SFT = 0.5  # dpo_config::sft: the supervised anchor -sft * log pi(Y_w) (0 in GReF; exercised here)
STEPS = 60
BATCH = 8
OPTIMIZER = dict(tc.OPTIMIZER, total_steps=STEPS, warmup_steps=5)


def teacher(seed: int):
    torch.manual_seed(0)
    model = ArTeacher(tc.CONFIG).double()
    spec = default_spec(model)
    apply_portable(model, seed, spec)
    init = {"generator": "splitmix64-v1", "seed": seed,
            "tensors": {k: [v[0], v[1], list(model.state_dict()[k].shape)] for k, v in spec.items()}}
    return model, init


def winner_of(shown: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    s = [ALPHA / (t + 1) + GAMMA * float(clicks[t]) for t in range(len(shown))]
    order = sorted(range(len(shown)), key=lambda t: -s[t])  # sorted() is stable: ties keep the shown order
    return shown[order]


def log_likelihood(model, reqs, slates: torch.Tensor) -> torch.Tensor:
    x, ctx, rank, valid = pack(reqs, torch.float64)
    Z = model(x, ctx, rank, valid, slates)  # teacher forcing: the prefix is -inf
    logp = torch.log_softmax(Z, dim=-1)
    return logp.gather(-1, slates.unsqueeze(-1)).squeeze(-1).sum(dim=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="output directory (default: tests/data/golden)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    out = a.out or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "golden")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)

    sizes, feats, ctxs, ranks, _targets, _schedule = tc.make_dataset()
    L = tc.L
    rng = np.random.default_rng(PAIR_SEED)
    p_req, p_win, p_los = [], [], []
    for r, n in enumerate(sizes):
        shown = rng.permutation(int(n))[:L].astype(np.int32)
        clicks = rng.choice([0, 0, 0, 1, 1, 2], size=L)
        w = winner_of(shown, clicks)
        if np.array_equal(w, shown):
            continue
        p_req.append(r)
        p_win.append(w)
        p_los.append(shown)
    P = len(p_req)
    schedule = np.stack([rng.choice(P, size=BATCH, replace=False) for _ in range(STEPS)]).astype(np.int32)
    reqs = [Request(torch.from_numpy(feats[r]).double(), torch.from_numpy(ctxs[r]).double(),
                    torch.from_numpy(ranks[r]).long()) for r in range(len(sizes))]
    pair_reqs = [reqs[r] for r in p_req]
    win = torch.from_numpy(np.stack(p_win)).long()
    los = torch.from_numpy(np.stack(p_los)).long()

    ref, ref_init = teacher(SEEDS["reference"])
    with torch.no_grad():
        ref_w = log_likelihood(ref, pair_reqs, win)
        ref_l = log_likelihood(ref, pair_reqs, los)

    model, init = teacher(SEEDS["dpo"])
    decay = set(tc.decay_names(model))
    params = dict(model.named_parameters())
    groups = [
        {"params": [p for n, p in params.items() if n in decay], "weight_decay": OPTIMIZER["weight_decay"]},
        {"params": [p for n, p in params.items() if n not in decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=OPTIMIZER["lr"], betas=(OPTIMIZER["beta1"], OPTIMIZER["beta2"]),
                            eps=OPTIMIZER["eps"], foreach=False)
    plist = list(params.values())
    losses, norms, lrs = [], [], []
    for step in range(STEPS):
        idx = schedule[step]
        opt.zero_grad(set_to_none=False)
        br = [pair_reqs[i] for i in idx]
        ti = torch.from_numpy(idx).long()
        lw = log_likelihood(model, br, win[ti])
        ll = log_likelihood(model, br, los[ti])
        m = BETA * ((lw - ref_w[ti]) - (ll - ref_l[ti]))
        loss = (torch.nn.functional.softplus(-m) - SFT * lw).mean()
        loss.backward()
        norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in plist))
        clip = OPTIMIZER["clip_norm"]
        if clip > 0 and norm > clip:
            for p in plist:
                p.grad.mul_(clip / norm)
        lr = tc.learning_rate(OPTIMIZER, step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        losses.append(float(loss))
        norms.append(norm)
        lrs.append(lr)

    t = {
        "data.n": sizes,
        "data.features": np.concatenate(feats),
        "data.context": ctxs.astype(np.float32),
        "data.upstream_rank": np.concatenate(ranks),
        "pairs.request": np.array(p_req, dtype=np.int32),
        "pairs.winner": np.stack(p_win).astype(np.int32),
        "pairs.loser": np.stack(p_los).astype(np.int32),
        "pairs.ref_winner": ref_w.numpy(),
        "pairs.ref_loser": ref_l.numpy(),
        "schedule": schedule,
        "dpo.loss": np.array(losses),
        "dpo.grad_norm": np.array(norms),
        "dpo.lr": np.array(lrs),
    }
    for n, v in model.state_dict().items():
        t[f"dpo.final.{n}"] = v.detach().numpy()
    meta = {
        "format": FIXTURE_FORMAT,
        "fixture_version": FIXTURE_VERSION,
        "config": tc.CONFIG.to_json(),
        "L": str(L),
        "requests": str(len(sizes)),
        "pairs": str(P),
        "batch": str(BATCH),
        "steps": str(STEPS),
        "alpha": repr(ALPHA),
        "gamma": repr(GAMMA),
        "beta": repr(BETA),
        "sft": repr(SFT),
        "optimizer": json.dumps(OPTIMIZER, separators=(",", ":")),
        "reference.init": json.dumps(ref_init, separators=(",", ":")),
        "dpo.init": json.dumps(init, separators=(",", ":")),
        "dpo.decay": ",".join(sorted(decay)),
        "loss": "mean over the batch of -log sigmoid(beta * (lw - rw - ll + rl)) - sft * lw (teacher-forced log-likelihoods)",
        "torch": torch.__version__,
    }
    path = os.path.join(out, FILE_NAME)
    save_file(t, path, meta)
    if not a.quiet:
        print(f"  dpo      {P} pairs of {len(sizes)} requests; loss " +
              " ".join(f"{losses[i]:.5f}" for i in [0] + list(range(9, STEPS, 10))))
        print(f"wrote {path} ({os.path.getsize(path) / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
