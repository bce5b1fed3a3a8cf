#!/usr/bin/env python3
"""Generate the PyTorch parity fixtures that tests/test_parity.cpp checks the C++ models against.

For every case (a model config plus a few requests) and every model kind this writes
    <case>.<kind>.fixture.safetensors      inputs, expected outputs, decoded slates, gradients
    <case>.<kind>.model.f32.safetensors     the model (when models are written)
    <case>.<kind>.model.f64.safetensors
    <case>.nar_student.ensemble.{f32,f64}.safetensors   a 3-member student ensemble (format_version 3;
                                            not in --golden mode)
Weights come from the portable generator (dualrerank_ref/weights.py: splitmix64, float32-exact
values), recorded in the fixture's __metadata__["init"], so the C++ test can rebuild a model even
when its file is not committed. Expected outputs are computed in float64 from those weights; the
same float32-exact inputs and weights serve the float and the double checks.

Fixture contents (all F64 / I32; B requests padded to the largest N):
  req{r}.features [n, F], req{r}.context [Fc] (with context), req{r}.upstream_rank [n]
  student:   Z, Z.mask [B, L, N] (mask 1 = finite; masked Z stored as 0), R [B, L, N] (cotangent,
             0 where masked), greedy, confident [B, L], greedy_logprob [B]
  teacher:   targets [B, L], Z, Z.mask, R, greedy, beam [B, L], beam_logprob [B]
  evaluator: req{r}.slates [K, L], req{r}.E [K, L, outputs], req{r}.R
  grad.<param> for f = sum(R * output over finite entries) (summed over requests), when present.

Decoding decisions must have a margin of at least --min-margin (log-prob units) in float64, so that
float32 decodes the same slates; inputs are redrawn until they do.

Usage: make_fixtures.py --out DIR            every case, every model file and every gradient
       make_fixtures.py --golden [--out DIR] the committed set (size-limited; default
                                              tests/data/golden next to this script's repo)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dualrerank_ref import decode  # noqa: E402
from dualrerank_ref.model_io import load_model, save_model  # noqa: E402
from dualrerank_ref.models import (ArTeacher, ListEvaluator, ModelConfig, NarStudent, NarStudentEnsemble,  # noqa: E402
                                   Request, make_model, pack)
from dualrerank_ref.safetensors import save_file  # noqa: E402
from dualrerank_ref.weights import apply_portable, default_spec  # noqa: E402

FIXTURE_FORMAT = "dualrerank-fixture"
FIXTURE_VERSION = "1"
KINDS = ("nar_student", "ar_teacher", "list_evaluator")
BEAM = 3
EVAL_SLATES = 3


@dataclass
class Case:
    name: str
    config: ModelConfig
    sizes: List[int]  # N per request
    L: int
    seed: int
    golden_models: bool  # commit the model files in --golden mode
    golden_grads: bool  # commit gradients in --golden mode
    note: str = ""


CASES = [
    Case("default", ModelConfig(features=32, context=8, d=64, heads=4, enc_layers=2, dec_layers=2, ffn=256,
                                max_slate=10, max_candidates=512, rank_embedding=False, outputs=1),
         [50, 50], 10, 101, False, False, "docs/design.md defaults: d 64, h 4, 2+2 layers, F 32, context 8, N 50, L 10"),
    Case("odd", ModelConfig(features=13, context=5, d=40, heads=5, enc_layers=1, dec_layers=2, ffn=72,
                            max_slate=5, max_candidates=40, rank_embedding=True, outputs=2),
         [7, 33], 5, 202, False, True, "odd sizes (SIMD tails), rank embedding, N 7 and 33 in one padded batch"),
    Case("noctx", ModelConfig(features=6, context=0, d=12, heads=2, enc_layers=1, dec_layers=1, ffn=24,
                              max_slate=4, max_candidates=16, rank_embedding=False, outputs=3),
         [9, 12], 4, 303, True, True, "no context features (no item_ctx/ctx tensors), 3 evaluator outputs"),
    Case("bare", ModelConfig(features=5, context=3, d=8, heads=1, enc_layers=0, dec_layers=0, ffn=8,
                             max_slate=3, max_candidates=8, rank_embedding=True, outputs=1),
         [3, 6], 3, 404, True, True, "no encoder or decoder blocks, one head, L = N for one request"),
]


def make_requests(c: Case, gen: torch.Generator) -> List[Request]:
    cfg = c.config
    reqs = []
    for n in c.sizes:
        x = torch.randn(n, cfg.features, generator=gen, dtype=torch.float64).float().double()
        ctx = torch.randn(cfg.context, generator=gen, dtype=torch.float64).float().double() if cfg.context else None
        rank = torch.randperm(n, generator=gen).to(torch.int32)
        reqs.append(Request(x, ctx, rank))
    return reqs


def random_slate(n: int, L: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randperm(n, generator=gen)[:L].to(torch.int32)


def finite_loss(out: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    fin = torch.isfinite(out)
    return (R * torch.where(fin, out, torch.zeros_like(out))).sum()


def grads_of(model: torch.nn.Module) -> Dict[str, np.ndarray]:
    g = {}
    for name, p in model.named_parameters():
        gp = p.grad if p.grad is not None else torch.zeros_like(p)
        g["grad." + name] = gp.detach().double().numpy().copy()
    return g


def masked(Z: torch.Tensor):
    fin = torch.isfinite(Z)
    return torch.where(fin, Z, torch.zeros_like(Z)).detach().double().numpy(), fin.to(torch.int32).numpy()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    fin = torch.isfinite(b)
    if not bool(fin.any()):
        return 0.0
    a = a.double()[fin]
    b = b.double()[fin]
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


class MarginError(RuntimeError):
    pass


def build_kind(case: Case, kind: str, kind_index: int, reqs: List[Request], gen: torch.Generator,
               with_grads: bool, min_margin: float):
    cfg = case.config
    L = case.L
    model = make_model(kind, cfg).double()
    seed = case.seed * 10 + kind_index
    spec = default_spec(model)
    apply_portable(model, seed, spec)
    model32 = make_model(kind, cfg)
    model32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    x, ctx, rank, valid = pack(reqs, torch.float64)
    B, N = x.shape[0], x.shape[1]
    t: Dict[str, np.ndarray] = {}
    for r, q in enumerate(reqs):
        t[f"req{r}.features"] = q.features.numpy()
        if q.context is not None:
            t[f"req{r}.context"] = q.context.numpy()
        t[f"req{r}.upstream_rank"] = q.upstream_rank.numpy().astype(np.int32)
    margins: List[float] = []
    info = {}
    model.zero_grad()
    if kind == "nar_student":
        Z = model(x, ctx, rank, valid, L)
        Z32 = model32(x.float(), None if ctx is None else ctx.float(), rank, valid, L)
        info["torch_f32_rel_err"] = rel_err(Z32, Z)
        R = torch.randn(B, L, N, generator=gen, dtype=torch.float64) * torch.isfinite(Z)
        t["Z"], t["Z.mask"] = masked(Z)
        t["R"] = R.numpy()
        g, cf, lp = [], [], []
        for b, q in enumerate(reqs):
            Zb = Z[b, :, :q.n].detach()
            g.append(decode.greedy_slate(Zb, margins))
            cf.append(decode.confident_slate(Zb, margins))
            lp.append(decode.slate_log_prob(Zb, g[-1]))
        t["greedy"] = np.array(g, dtype=np.int32)
        t["confident"] = np.array(cf, dtype=np.int32)
        t["greedy_logprob"] = np.array(lp, dtype=np.float64)
        loss = finite_loss(Z, R)
        info["max_abs_logit"] = float(Z[torch.isfinite(Z)].abs().max())
    elif kind == "ar_teacher":
        targets = torch.stack([random_slate(q.n, L, gen) for q in reqs])
        Z = model(x, ctx, rank, valid, targets)
        Z32 = model32(x.float(), None if ctx is None else ctx.float(), rank, valid, targets)
        info["torch_f32_rel_err"] = rel_err(Z32, Z)
        R = torch.randn(B, L, N, generator=gen, dtype=torch.float64) * torch.isfinite(Z)
        t["targets"] = targets.numpy()
        t["Z"], t["Z.mask"] = masked(Z)
        t["R"] = R.numpy()
        gs, bs, blp = [], [], []
        for q in reqs:
            gs.append(decode.teacher_greedy(model, q, L, margins))
            y, s = decode.teacher_beam(model, q, L, BEAM, margins)
            bs.append(y)
            blp.append(s)
        t["greedy"] = np.array(gs, dtype=np.int32)
        t["beam"] = np.array(bs, dtype=np.int32)
        t["beam_logprob"] = np.array(blp, dtype=np.float64)
        loss = finite_loss(Z, R)
        info["max_abs_logit"] = float(Z[torch.isfinite(Z)].abs().max())
    else:
        loss = 0.0
        errs, mx = [], 0.0
        for r, q in enumerate(reqs):
            slates = torch.stack([random_slate(q.n, L, gen) for _ in range(EVAL_SLATES)])
            E = model.engagement(q, slates)
            model32.zero_grad()
            E32 = model32.engagement(Request(q.features.float(), None if q.context is None else q.context.float(),
                                             q.upstream_rank), slates)
            errs.append(rel_err(E32, E))
            R = torch.randn(E.shape, generator=gen, dtype=torch.float64)
            t[f"req{r}.slates"] = slates.numpy()
            t[f"req{r}.E"] = E.detach().numpy()
            t[f"req{r}.R"] = R.numpy()
            loss = loss + finite_loss(E, R)
            mx = max(mx, float(E.abs().max()))
        info["torch_f32_rel_err"] = max(errs)
        info["max_abs_logit"] = mx
    if margins and min(margins) < min_margin:
        raise MarginError(f"{case.name}/{kind}: a decoding decision has margin {min(margins):.3g} < {min_margin}")
    info["min_margin"] = min(margins) if margins else float("inf")
    if with_grads:
        loss.backward()
        t.update(grads_of(model))
    meta = {
        "format": FIXTURE_FORMAT,
        "fixture_version": FIXTURE_VERSION,
        "case": case.name,
        "kind": kind,
        "config": cfg.to_json(),
        "L": str(L),
        "requests": str(len(reqs)),
        "beam": str(BEAM),
        "grads": "1" if with_grads else "0",
        "init": json.dumps({"generator": "splitmix64-v1", "seed": seed,
                            "tensors": {k: [v[0], v[1], list(model.state_dict()[k].shape)] for k, v in spec.items()}},
                           separators=(",", ":")),
        "note": case.note,
        "torch": torch.__version__,
    }
    for k, v in info.items():
        meta[k] = repr(v)
    return model, t, meta, info


def write_case(case: Case, out: str, models: bool, grads: bool, min_margin: float, verbose: bool,
               ensembles: bool = False) -> List[str]:
    written = []
    for tries in range(50):
        gen = torch.Generator().manual_seed(case.seed * 1000 + tries)
        reqs = make_requests(case, gen)
        try:
            built = [build_kind(case, k, i, reqs, gen, grads, min_margin) for i, k in enumerate(KINDS)]
            break
        except MarginError as e:
            if verbose:
                print(f"  redraw ({e})")
    else:
        raise RuntimeError(f"case {case.name}: no inputs with decoding margins >= {min_margin} in 50 draws")
    for kind, (model, t, meta, info) in zip(KINDS, built):
        stem = os.path.join(out, f"{case.name}.{kind}")
        if models:
            for tag, dt in (("f32", torch.float32), ("f64", torch.float64)):
                path = f"{stem}.model.{tag}.safetensors"
                save_model(model, path, dtype=dt)
                back = load_model(path)  # round trip: names, shapes and values
                for k, v in model.state_dict().items():
                    assert torch.equal(back.state_dict()[k].double(), v), k
                meta[f"model_{tag}"] = os.path.basename(path)
                written.append(path)
            if ensembles and kind == "nar_student":
                # a 3-member ensemble (format_version 3): this model and two more of its config;
                # the C++ loader re-runs its self-test (the members' mean logits computed here)
                others = []
                for j in (1, 2):
                    o = make_model(kind, model.config).double()
                    apply_portable(o, case.seed * 1000 + 100 + j, default_spec(o))
                    others.append(o)
                ens = NarStudentEnsemble([model] + others)
                for tag, dt in (("f32", torch.float32), ("f64", torch.float64)):
                    path = f"{stem}.ensemble.{tag}.safetensors"
                    save_model(ens, path, dtype=dt)
                    meta[f"ensemble_{tag}"] = os.path.basename(path)
                    written.append(path)
        path = f"{stem}.fixture.safetensors"
        save_file(t, path, meta)
        written.append(path)
        if verbose:
            print(f"  {case.name:8s} {kind:15s} max|out| {info['max_abs_logit']:7.3f}  min margin "
                  f"{info['min_margin']:.3g}  torch f32 vs f64 rel {info['torch_f32_rel_err']:.2e}")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="output directory (created if missing)")
    ap.add_argument("--golden", action="store_true",
                    help="write the committed, size-limited set (models/grads only where the case allows)")
    ap.add_argument("--cases", nargs="*", help="only these cases")
    ap.add_argument("--min-margin", type=float, default=1e-3)
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    out = a.out
    if out is None:
        if not a.golden:
            ap.error("--out is required without --golden")
        out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "golden")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)  # deterministic reductions
    total = 0
    for case in CASES:
        if a.cases and case.name not in a.cases:
            continue
        models = case.golden_models if a.golden else True
        grads = case.golden_grads if a.golden else True
        for p in write_case(case, out, models, grads, a.min_margin, not a.quiet, ensembles=not a.golden):
            total += os.path.getsize(p)
    if not a.quiet:
        print(f"wrote {total / 1024:.1f} KiB to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
