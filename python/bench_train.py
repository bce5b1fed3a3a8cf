#!/usr/bin/env python3
"""Training step rate of the PyTorch reference: the counterpart of bench/bench_training.cpp.

One step = draw a batch of 32 request indices, pad them (pack), forward, loss (teacher: teacher
forcing cross-entropy; student: slot-wise masked cross-entropy; mean over the batch of the sum
over slots, as train::teacher_ce_step / train::student_ce_step), backward, global-norm clipping
(clip_grad_norm_, max norm 1.0) and torch.optim.AdamW (lr 1e-3, weight decay 0.01 on the
nn.Linear weights only, the train::adamw_config defaults; warmup lr set per step). Same setup as
the C++ benchmark: 256 requests of N = 50, L = 10, target slot t of request i = (7 i + t) mod N,
the reference architecture (d 64, h 4, 2+2 layers, FFN 256, F 32, context 8), float32, one thread.

Prints which BLAS torch uses and the median step time (wall clock and process CPU time) over
--steps steps after --warmup steps, as ms/step and requests/s.

  /usr/bin/python3 python/bench_train.py [--steps 20] [--warmup 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from torch_bench_common import blas_info, make_requests, median_time, print_blas, reference_config, setup_torch, \
    write_json  # noqa: E402
from dualrerank_ref.models import ArTeacher, NarStudent, pack  # noqa: E402

B, N, L, COUNT = 32, 50, 10, 256


def make_targets(count: int, n: int, L: int) -> torch.Tensor:
    return torch.tensor([[(i * 7 + t) % n for t in range(L)] for i in range(count)], dtype=torch.long)


def loss_fn(model, kind: str, x, ctx, valid, tgt):
    if kind == "teacher":
        Z = model(x, ctx, None, valid, tgt)
    else:
        Z = model(x, ctx, None, valid, L)
        Bn = x.shape[0]
        chosen = torch.zeros(Bn, L, x.shape[1], dtype=torch.bool)
        for p in range(1, L):
            chosen[torch.arange(Bn), p:, tgt[:, p - 1]] = True
        Z = Z.masked_fill(chosen, float("-inf"))
    nll = -torch.log_softmax(Z, dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
    return nll.sum(dim=1).mean()


def bench(kind: str, steps: int, warmup: int, foreach: bool):
    cfg = reference_config()
    model = (ArTeacher if kind == "teacher" else NarStudent)(cfg)
    reqs = make_requests(cfg, COUNT, N, 5)
    targets = make_targets(COUNT, N, L)
    decay = {(m + "." if m else "") + "weight" for m, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    params = dict(model.named_parameters())
    opt = torch.optim.AdamW([{"params": [p for n, p in params.items() if n in decay], "weight_decay": 0.01},
                             {"params": [p for n, p in params.items() if n not in decay], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=foreach)
    plist = list(params.values())
    gen = np.random.default_rng(1)
    state = {"step": 0, "loss": 0.0}

    def step():
        idx = gen.integers(0, COUNT, size=B)
        x, ctx, _, valid = pack([reqs[i] for i in idx])
        tgt = targets[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model, kind, x, ctx, valid, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plist, 1.0)
        lr = 1e-3 * min(1.0, (state["step"] + 1) / 100.0)  # train::learning_rate, warmup 100
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        state["step"] += 1
        state["loss"] = float(loss)

    t = median_time(step, steps, warmup)
    if not math.isfinite(state["loss"]):
        raise RuntimeError(f"{kind}: non-finite loss")
    t["requests_per_s"] = B / t["median_s"]
    t["cpu_requests_per_s"] = B / t["cpu_median_s"]
    t["ms_per_step"] = 1e3 * t["median_s"]
    t["cpu_ms_per_step"] = 1e3 * t["cpu_median_s"]
    t["last_loss"] = state["loss"]
    return t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="measured steps (median)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--foreach", action="store_true", help="AdamW(foreach=True) (default: torch 1.13's default, False)")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args(argv)
    setup_torch(a.threads)
    results = {"config": "B 32, N 50, L 10, d 64, h 4, 2+2 layers, FFN 256, F 32, context 8, float32",
               "foreach": a.foreach}
    for kind in ("teacher", "student"):
        r = bench(kind, a.steps, a.warmup, a.foreach)
        results[kind] = r
        print(f"train step {kind:8s}: median {r['ms_per_step']:8.2f} ms/step wall "
              f"({r['requests_per_s']:7.1f} requests/s), "
              f"{r['cpu_ms_per_step']:8.2f} ms CPU ({r['cpu_requests_per_s']:7.1f} requests/s); "
              f"wall min {1e3 * r['min_s']:.2f}, max {1e3 * r['max_s']:.2f} ms over {r['runs']} steps")
    info = blas_info()  # after the work, so the BLAS library is mapped
    results["blas"] = info
    print_blas(info)
    if a.json:
        write_json(a.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
