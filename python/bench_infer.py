#!/usr/bin/env python3
"""Single-request decoding latency of the PyTorch reference: the counterpart of
bench/bench_inference.cpp (BM_nar_greedy, BM_ar_greedy) at N in {20, 50, 100, 200}, L = 10, on
the reference architecture (d 64, h 4, 2+2 layers, FFN 256, F 32, context 8), float32, one thread,
torch.inference_mode().

NAR greedy = student logits Z [L, N] + masked greedy (slot by slot argmax over unused items).
  eager:       the reference module, greedy as torch ops in Python;
  torchscript: the student forward traced (torch.jit.trace, one graph per N), greedy scripted.
AR greedy = teacher encoder once, then L decoding steps. The reference has no KV cache: its
  `step_logits` re-runs the whole prefix through the causal decoder (and recomputes the memory's
  cross-attention keys/values) at every step, which is what the reference decoders do.
  eager:       the reference's prefix re-run (ArTeacher.step_logits);
  torchscript: the same, traced (the encoder per N, one step graph per prefix length);
  eager-kv:    an incremental decoder written here on the reference's modules (self-attention KV
               cache, cross-attention K/V and pointer keys computed once), like the C++ `step`;
               eager only. This is the fair algorithmic counterpart of C++ teacher_greedy.
Every variant's slates are checked against dualrerank_ref.decode on the benchmark requests.

Reports medians (wall clock and process CPU time) of many runs, rotating over 16 requests per N.

With --data DIR (the output of python/compare_prepare.py; bench/compare.sh) the models and the
requests are the files there (the very weights and inputs the C++ and ONNX Runtime sides use), and
the cases are those of the comparison:
  nar_greedy/{eager,torchscript}/N     eager: as above; torchscript: compare_prepare.NarGreedy (student
                                       forward and the unrolled masked greedy) traced as one graph
  ar_greedy/{eager-kv,torchscript-kv}/N, ar1_greedy/... (2- and 1-layer decoder teacher)
                                       eager-kv: as above; torchscript-kv: compare_prepare.
                                       TeacherGreedyOneGraph (encoder + L KV-cache steps) traced
  ar_greedy/eager/N, ar1_greedy/eager/N  the reference's prefix re-run (no KV cache), for orientation
  nar_batch32/{eager,torchscript}/50   32 requests in one padded batch (one run = 32 requests)
and --dump FILE writes every variant's slates and logits (NAR: Z [L, N]; AR: the raw step logits
along the greedy path) for the cross-check of bench/compare_table.py.

  /usr/bin/python3 python/bench_infer.py [--sizes 20 50 100 200] [--runs 100] [--json out.json]
  /usr/bin/python3 python/bench_infer.py --data DIR [--dump outputs.json] [--json out.json]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from typing import Dict, List, Optional

import torch
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from torch_bench_common import blas_info, make_requests, median_time, print_blas, reference_config, setup_torch, \
    write_json  # noqa: E402
from dualrerank_ref import decode  # noqa: E402
from dualrerank_ref.models import ArTeacher, NarStudent, attend, pack  # noqa: E402
from dualrerank_ref.weights import apply_portable, default_spec  # noqa: E402

L = 10
REQS_PER_N = 16


def masked_greedy(Z: Tensor) -> Tensor:
    """Z [L, N] -> slate [L]: slot by slot, argmax over the unused items (ties -> lowest index)."""
    used = torch.zeros(Z.shape[1], dtype=torch.bool)
    out = torch.empty(Z.shape[0], dtype=torch.long)
    for t in range(Z.shape[0]):
        i = torch.argmax(Z[t].masked_fill(used, float("-inf")))
        out[t] = i
        used[i] = True
    return out


masked_greedy_script = torch.jit.script(masked_greedy)


class StudentLogits(torch.nn.Module):
    def __init__(self, m: NarStudent):
        super().__init__()
        self.m = m

    def forward(self, x: Tensor, ctx: Tensor) -> Tensor:
        return self.m(x, ctx, None, None, L)[0]


class TeacherEncode(torch.nn.Module):
    def __init__(self, m: ArTeacher):
        super().__init__()
        self.m = m

    def forward(self, x: Tensor, ctx: Tensor) -> Tensor:
        return self.m.encoder(x, ctx, None, None)


class TeacherStep(torch.nn.Module):
    def __init__(self, m: ArTeacher):
        super().__init__()
        self.m = m

    def forward(self, H: Tensor, prefix: Tensor) -> Tensor:
        return self.m.step_logits(H, prefix)[0]


def ar_greedy_prefix(encode, step, x, ctx) -> List[int]:
    """Reference AR greedy: the prefix is re-run at every step. step(t) gives the step function."""
    H = encode(x, ctx)
    N = H.shape[1]
    used = torch.zeros(N, dtype=torch.bool)
    prefix: List[int] = []
    for t in range(L):
        z = step(t)(H, torch.tensor([prefix], dtype=torch.long).reshape(1, t))
        i = int(torch.argmax(z.masked_fill(used, float("-inf"))))
        used[i] = True
        prefix.append(i)
    return prefix


def ar_greedy_kv(m: ArTeacher, x: Tensor, ctx: Tensor, logits: Optional[List[Tensor]] = None) -> List[int]:
    """Incremental AR greedy with a KV cache, on the reference's modules (same math as step_logits).
    logits: when given, receives each step's raw logits [N]."""
    d = m.config.d
    heads = m.config.heads
    H = m.encoder(x, ctx, None, None)  # [1, N, d]
    N = H.shape[1]
    blocks = m.decoder.blocks
    mem = [blk.cross_attn.kv(H).split(d, dim=-1) for blk in blocks]
    keys = m.pointer.k(H)[0]  # [N, d]
    scale = 1.0 / math.sqrt(d)
    K: List[Tensor] = [H.new_empty(1, 0, d) for _ in blocks]
    V: List[Tensor] = [H.new_empty(1, 0, d) for _ in blocks]
    used = torch.zeros(N, dtype=torch.bool)
    out: List[int] = []
    h = (m.bos + m.slot_emb[0]).reshape(1, 1, d)
    for t in range(L):
        for j, blk in enumerate(blocks):
            q, k, v = blk.self_attn.qkv(blk.ln1(h)).split(d, dim=-1)
            K[j] = torch.cat([K[j], k], dim=1)
            V[j] = torch.cat([V[j], v], dim=1)
            h = h + blk.self_attn.out(attend(q, K[j], V[j], heads))  # the newest row sees every cached row
            h = h + blk.cross_attn.out(attend(blk.cross_attn.q(blk.ln2(h)), mem[j][0], mem[j][1], heads))
            h = h + blk.ffn(blk.ln3(h))
        s = m.decoder.ln_f(h)[0, 0]
        z = (keys @ m.pointer.q(s)) * scale
        if logits is not None:
            logits.append(z)
        i = int(torch.argmax(z.masked_fill(used, float("-inf"))))
        used[i] = True
        out.append(i)
        if t + 1 < L:
            h = (H[0, i] + m.slot_emb[t + 1]).reshape(1, 1, d)
    return out


def build_models():
    cfg = reference_config()
    torch.manual_seed(0)
    student, teacher = NarStudent(cfg).eval(), ArTeacher(cfg).eval()
    # O(1) portable weights (logits of a few units, like a trained model), not torch's default init
    apply_portable(student, 11, default_spec(student))
    apply_portable(teacher, 12, default_spec(teacher))
    return cfg, student, teacher


def run(sizes: List[int], runs: int, warmup: int, min_seconds: float, variants: List[str]) -> Dict[str, dict]:
    cfg, student, teacher = build_models()
    results: Dict[str, dict] = {}
    for N in sizes:
        reqs = make_requests(cfg, REQS_PER_N, N, 2)
        packed = [pack([r])[:2] for r in reqs]  # (x [1, N, F], ctx [1, Fc])
        x0, c0 = packed[0]
        with torch.inference_mode():
            # reference slates (dualrerank_ref.decode)
            ref_nar = [decode.greedy(student, r, L) for r in reqs]
            ref_ar = [decode.teacher_greedy(teacher, r, L) for r in reqs]
            # TorchScript graphs (traced once per N and per prefix length; not timed)
            s_trace = torch.jit.trace(StudentLogits(student), (x0, c0), check_trace=False)
            e_trace = torch.jit.trace(TeacherEncode(teacher), (x0, c0), check_trace=False)
            H0 = e_trace(x0, c0)
            step_traces = [torch.jit.trace(TeacherStep(teacher), (H0, torch.zeros(1, t, dtype=torch.long)),
                                           check_trace=False) for t in range(L)]
            eager_step = TeacherStep(teacher)
            eager_enc = TeacherEncode(teacher)
            eager_s = StudentLogits(student)
            fns = {
                "nar_greedy/eager": lambda x, c: masked_greedy(eager_s(x, c)).tolist(),
                "nar_greedy/torchscript": lambda x, c: masked_greedy_script(s_trace(x, c)).tolist(),
                "ar_greedy/eager": lambda x, c: ar_greedy_prefix(eager_enc, lambda t: eager_step, x, c),
                "ar_greedy/torchscript": lambda x, c: ar_greedy_prefix(e_trace, lambda t: step_traces[t], x, c),
                "ar_greedy/eager-kv": lambda x, c: ar_greedy_kv(teacher, x, c),
            }
            for name, fn in fns.items():
                if variants and not any(v in name for v in variants):
                    continue
                ref = ref_nar if name.startswith("nar") else ref_ar
                for k in range(3):  # a few runs also warm up the profiling executor before the check
                    got = [fn(*p) for p in packed]
                if got != ref:
                    bad = next(i for i in range(len(ref)) if got[i] != ref[i])
                    raise RuntimeError(f"{name} N={N}: slate {got[bad]} != reference {ref[bad]} (request {bad})")
                state = {"i": 0}

                def once():
                    p = packed[state["i"] % len(packed)]
                    state["i"] += 1
                    fn(*p)

                t = median_time(once, runs, warmup, min_seconds)
                key = f"{name}/{N}"
                results[key] = t
                print(f"{key:28s} median {1e6 * t['median_s']:9.1f} us wall, {1e6 * t['cpu_median_s']:9.1f} us CPU "
                      f"({t['runs']} runs)", flush=True)
    return results

def run_compare(data: str, sizes: List[int], runs: int, warmup: int, min_seconds: float, variants: List[str],
                dump: Optional[dict]) -> Dict[str, dict]:
    """The cases of bench/compare.sh on the models and inputs of compare_prepare.py (see the docstring)."""
    import compare_prepare as cp
    from dualrerank_ref.models import Request
    models = cp.load_models(data)
    inputs = cp.load_inputs(data)
    student = models["nar_student"]
    results: Dict[str, dict] = {}

    def bench(name, packed, fn, ref):
        """Check fn's slates against ref on every input, keep its outputs, then time it."""
        if variants and not any(v in name for v in variants):
            return
        for _ in range(3):  # a few runs also warm up the profiling executor before the check
            got = [fn(*p) for p in packed]
        slates = [g[0] for g in got]
        if slates != ref:
            bad = next(i for i in range(len(ref)) if slates[i] != ref[i])
            raise RuntimeError(f"{name}: slate {slates[bad]} != reference {ref[bad]} (input {bad})")
        if dump is not None:
            dump[name] = {"slates": slates, "logits": [g[1].reshape(-1).tolist() for g in got]}
        state = {"i": 0}

        def once():
            p = packed[state["i"] % len(packed)]
            state["i"] += 1
            fn(*p)

        t = median_time(once, runs, warmup, min_seconds)
        results[name] = t
        print(f"{name:32s} median {1e6 * t['median_s']:9.1f} us wall, {1e6 * t['cpu_median_s']:9.1f} us CPU "
              f"({t['runs']} runs)", flush=True)

    with torch.inference_mode():
        for N in sizes:
            X, C = inputs[f"x.{N}"], inputs[f"ctx.{N}"]
            packed = [(X[r:r + 1], C[r:r + 1]) for r in range(X.shape[0])]
            reqs = [Request(X[r], C[r], None) for r in range(X.shape[0])]
            x0, c0 = packed[0]
            ref = [decode.greedy(student, r, L) for r in reqs]
            eager_s = StudentLogits(student)
            nar_trace = torch.jit.trace(cp.NarGreedy(student), (x0, c0), check_trace=False)

            def nar_eager(x, c):
                Z = eager_s(x, c)
                return masked_greedy(Z).tolist(), Z

            def nar_ts(x, c):
                Z, y = nar_trace(x, c)
                return y.tolist(), Z

            bench(f"nar_greedy/eager/{N}", packed, nar_eager, ref)
            bench(f"nar_greedy/torchscript/{N}", packed, nar_ts, ref)
            for tag, name in (("ar", "ar_teacher"), ("ar1", "ar_teacher_1dec")):
                m = models[name]
                ref = [decode.teacher_greedy(m, r, L) for r in reqs]
                enc, step = TeacherEncode(m), TeacherStep(m)
                kv_trace = torch.jit.trace(cp.TeacherGreedyOneGraph(m), (x0, c0), check_trace=False)

                def ar_prefix(x, c, enc=enc, step=step):
                    return ar_greedy_prefix(enc, lambda t: step, x, c), torch.zeros(0)

                def ar_kv(x, c, m=m):
                    zs: List[Tensor] = []
                    y = ar_greedy_kv(m, x, c, zs)
                    return y, torch.stack(zs)

                def ar_ts(x, c, kv_trace=kv_trace):
                    Z, y = kv_trace(x, c)
                    return y.tolist(), Z

                bench(f"{tag}_greedy/eager-kv/{N}", packed, ar_kv, ref)
                bench(f"{tag}_greedy/torchscript-kv/{N}", packed, ar_ts, ref)
                bench(f"{tag}_greedy/eager/{N}", packed, ar_prefix, ref)
        xb, cb = inputs["batch.x"], inputs["batch.ctx"]
        B, NB = xb.shape[0], xb.shape[1]
        ref = [sum((decode.greedy(student, Request(xb[b], cb[b], None), L) for b in range(B)), [])]
        batch_trace = torch.jit.trace(cp.NarGreedy(student), (xb, cb), check_trace=False)

        def batch_eager(x, c):
            Z = student(x, c, None, None, L)
            return cp.masked_argmax_steps(Z).reshape(-1).tolist(), Z

        def batch_ts(x, c):
            Z, y = batch_trace(x, c)
            return y.reshape(-1).tolist(), Z

        bench(f"nar_batch{B}/eager/{NB}", [(xb, cb)], batch_eager, ref)
        bench(f"nar_batch{B}/torchscript/{NB}", [(xb, cb)], batch_ts, ref)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 50, 100, 200])
    ap.add_argument("--runs", type=int, default=100, help="at least this many timed runs per case")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--min-seconds", type=float, default=0.5, help="and at least this much timed wall time")
    ap.add_argument("--only", nargs="*", default=[], help="variants whose name contains one of these strings")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--data", help="models and inputs of python/compare_prepare.py (the comparison cases)")
    ap.add_argument("--dump", help="with --data: write every variant's slates and logits here (JSON)")
    a = ap.parse_args(argv)
    setup_torch(a.threads)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # shapes are fixed per trace on purpose
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.jit")
    results = {"config": f"single request, L {L}, d 64, h 4, 2+2 layers, FFN 256, F 32, context 8, float32"}
    if a.data:
        dump: Optional[dict] = {} if a.dump else None
        results["cases"] = run_compare(a.data, a.sizes, a.runs, a.warmup, a.min_seconds, a.only, dump)
        if a.dump:
            write_json(a.dump, {"outputs": dump})
    else:
        results["cases"] = run(a.sizes, a.runs, a.warmup, a.min_seconds, a.only)
    info = blas_info()
    results["blas"] = info
    print_blas(info)
    if a.json:
        write_json(a.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
