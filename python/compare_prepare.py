#!/usr/bin/env python3
"""Models, inputs and ONNX graphs for bench/compare.sh (C++ vs PyTorch vs ONNX Runtime).

Writes into OUT:
  models/nar_student.safetensors   the NAR student (d 64, h 4, 2+2 layers, FFN 256, F 32, context 8,
  models/ar_teacher.safetensors    L 10), the AR teacher (same, 2 decoder layers) and the AR teacher
  models/ar_teacher_1dec.safetensors   with a 1-layer decoder; portable deterministic weights
                                   (dualrerank_ref.weights, O(1) activations, logits of a few units),
                                   written with dualrerank_ref.model_io.save_model (self-test embedded)
  inputs.safetensors               x.<N> [16, N, 32], ctx.<N> [16, 8] for N in --sizes (standard
                                   normal, float32), batch.x [32, 50, 32], batch.ctx [32, 8]
  onnx/nar_greedy_<N>.onnx         x [1,N,F], ctx [1,Fc] -> Z [L,N], slate [L] (student forward and
                                   the masked greedy, unrolled over the L slots: one graph)
  onnx/nar_batch32_<N>.onnx        x [32,N,F], ctx [32,Fc] -> Z [32,L,N], slates [32,L]
  onnx/<teacher>_encode_<N>.onnx   x, ctx -> H [N,d], keys [N,d] (pointer keys), mem_k<j>, mem_v<j>
                                   [N,d] (cross-attention keys/values of decoder block j), used [N]
                                   (zeros), h [1,d] (the first decoder input bos + slot_emb[0])
  onnx/<teacher>_step_<N>.onnx     one greedy step with a KV cache: h [1,d], t [1] (int64), used [N]
                                   (0 or -inf), past_k<j>/past_v<j> [t,d], mem_k<j>, mem_v<j>, keys, H
                                   -> z [N] (raw logits), item [1], new_used, new_h (H[item] +
                                   slot_emb[t+1]), present_k<j>/present_v<j> [t+1,d]; the past axis is
                                   dynamic, so one step graph serves all L steps
  onnx/<teacher>_greedy_<N>.onnx   the whole greedy decode (encoder, L KV-cache steps unrolled) as one
                                   graph: x, ctx -> Z [L,N] (raw step logits), slate [L]
with <teacher> = ar_teacher and ar_teacher_1dec, all exported with torch.onnx.export (opset 17,
traced per N) from the PyTorch reference (python/dualrerank_ref) on the same weights.

  /usr/bin/python3 python/compare_prepare.py OUT [--sizes 20 50 100 200] [--no-onnx]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
import warnings
from typing import List

import numpy as np
import torch
from torch import Tensor, nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from torch_bench_common import make_requests, reference_config  # noqa: E402
from dualrerank_ref.model_io import load_model, save_model  # noqa: E402
from dualrerank_ref.models import ArTeacher, NarStudent, attend  # noqa: E402
from dualrerank_ref.safetensors import load_file, save_file  # noqa: E402
from dualrerank_ref.weights import apply_portable, default_spec  # noqa: E402

L = 10
REQS_PER_N = 16  # requests per N (the benchmarks rotate over them)
BATCH, BATCH_N = 32, 50
OPSET = 17
MODEL_SEEDS = {"nar_student": 11, "ar_teacher": 12, "ar_teacher_1dec": 13}
TEACHERS = ("ar_teacher", "ar_teacher_1dec")


def build_models():
    """{name: module} on the reference architecture with portable weights (float32, eval mode)."""
    cfg = reference_config()
    cfg1 = dataclasses.replace(cfg, dec_layers=1)
    torch.manual_seed(0)
    models = {"nar_student": NarStudent(cfg).eval(), "ar_teacher": ArTeacher(cfg).eval(),
              "ar_teacher_1dec": ArTeacher(cfg1).eval()}
    for name, m in models.items():
        apply_portable(m, MODEL_SEEDS[name], default_spec(m))
    return models


def load_models(out: str):
    """The models as written by this script (dualrerank_ref.model_io, self-test checked)."""
    return {name: load_model(os.path.join(out, "models", name + ".safetensors")).eval() for name in MODEL_SEEDS}


def load_inputs(out: str):
    """{"x.<N>": tensor, ...} from inputs.safetensors."""
    tensors, _ = load_file(os.path.join(out, "inputs.safetensors"))
    return {k: torch.from_numpy(v) for k, v in tensors.items()}


# ------------------------------------------------------------------------------------ graphs


def masked_argmax_steps(Z: Tensor):
    """Z [..., L, N] -> slates [..., L] (int64): slot by slot, argmax over unused items, ties to the
    lowest index. Traceable (unrolled over L; no Python ints taken from tensors)."""
    N = Z.shape[-1]
    iota = torch.arange(N)
    used = torch.zeros(Z.shape[:-2] + (N,), dtype=Z.dtype)
    out = []
    for t in range(Z.shape[-2]):
        i = torch.argmax(Z[..., t, :] + used, dim=-1, keepdim=True)  # [..., 1]
        out.append(i)
        used = torch.where(iota == i, torch.full_like(used, float("-inf")), used)
    return torch.cat(out, dim=-1)


class NarGreedy(nn.Module):
    def __init__(self, m: NarStudent):
        super().__init__()
        self.m = m

    def forward(self, x: Tensor, ctx: Tensor):
        Z = self.m(x, ctx, None, None, L)  # [B, L, N]
        if x.shape[0] == 1:
            Z = Z[0]
        return Z, masked_argmax_steps(Z)


def _block_step(blk, h: Tensor, past_k: Tensor, past_v: Tensor, mem_k: Tensor, mem_v: Tensor, heads: int):
    """One decoder block for one new row h [1, d] with the self-attention cache past_k/v [t, d] and
    the cross-attention memory mem_k/v [N, d]: (h', k_all [t+1, d], v_all [t+1, d])."""
    d = h.shape[-1]
    q, k, v = blk.self_attn.qkv(blk.ln1(h)).split(d, dim=-1)
    k_all = torch.cat([past_k, k], dim=0)
    v_all = torch.cat([past_v, v], dim=0)
    h = h + blk.self_attn.out(attend(q, k_all, v_all, heads))
    h = h + blk.cross_attn.out(attend(blk.cross_attn.q(blk.ln2(h)), mem_k, mem_v, heads))
    return h + blk.ffn(blk.ln3(h)), k_all, v_all


class TeacherEncodeKV(nn.Module):
    def __init__(self, m: ArTeacher):
        super().__init__()
        self.m = m

    def forward(self, x: Tensor, ctx: Tensor):
        m = self.m
        d = m.config.d
        H = m.encoder(x, ctx, None, None)[0]  # [N, d]
        out = [H, m.pointer.k(H)]
        for blk in m.decoder.blocks:
            k, v = blk.cross_attn.kv(H).split(d, dim=-1)
            out += [k, v]
        out.append(torch.zeros(H.shape[0], dtype=H.dtype))
        out.append((m.bos + m.slot_emb[0]).reshape(1, d))
        return tuple(out)


class TeacherStepKV(nn.Module):
    """One greedy step: inputs h, t, used, past_k/v per block, mem_k/v per block, keys, H."""

    def __init__(self, m: ArTeacher):
        super().__init__()
        self.m = m

    def forward(self, h: Tensor, t: Tensor, used: Tensor, *rest: Tensor):
        m = self.m
        nb = len(m.decoder.blocks)
        past = rest[:2 * nb]
        mem = rest[2 * nb:4 * nb]
        keys, H = rest[4 * nb], rest[4 * nb + 1]
        d = m.config.d
        present = []
        for j, blk in enumerate(m.decoder.blocks):
            h, k_all, v_all = _block_step(blk, h, past[2 * j], past[2 * j + 1], mem[2 * j], mem[2 * j + 1],
                                          m.config.heads)
            present += [k_all, v_all]
        s = m.decoder.ln_f(h)  # [1, d]
        z = torch.matmul(keys, m.pointer.q(s)[0]) * (1.0 / math.sqrt(d))  # [N]
        item = torch.argmax(z + used, dim=0, keepdim=True)  # [1]
        iota = torch.arange(H.shape[0])
        new_used = torch.where(iota == item, torch.full_like(used, float("-inf")), used)
        nxt = torch.clamp(t + 1, max=m.config.max_slate - 1)
        new_h = torch.index_select(H, 0, item) + torch.index_select(m.slot_emb, 0, nxt)
        return (z, item, new_used, new_h) + tuple(present)


class TeacherGreedyOneGraph(nn.Module):
    """Encoder + L KV-cache steps unrolled: x, ctx -> (Z [L, N] raw step logits, slate [L])."""

    def __init__(self, m: ArTeacher):
        super().__init__()
        self.enc = TeacherEncodeKV(m)
        self.step = TeacherStepKV(m)
        self.nb = len(m.decoder.blocks)

    def forward(self, x: Tensor, ctx: Tensor):
        enc = self.enc(x, ctx)
        H, keys = enc[0], enc[1]
        mem = list(enc[2:2 + 2 * self.nb])
        used, h = enc[-2], enc[-1]
        d = H.shape[1]
        past = [H.new_zeros(0, d) for _ in range(2 * self.nb)]
        zs, items = [], []
        for t in range(L):
            r = self.step(h, torch.tensor([t]), used, *past, *mem, keys, H)
            z, item, used, h = r[0], r[1], r[2], r[3]
            past = list(r[4:])
            zs.append(z)
            items.append(item)
        return torch.stack(zs), torch.cat(items)


def step_names(nb: int):
    past = [f"past_{kv}{j}" for j in range(nb) for kv in ("k", "v")]
    mem = [f"mem_{kv}{j}" for j in range(nb) for kv in ("k", "v")]
    inputs = ["h", "t", "used"] + past + mem + ["keys", "H"]
    outputs = ["z", "item", "new_used", "new_h"] + [f"present_{kv}{j}" for j in range(nb) for kv in ("k", "v")]
    return inputs, outputs, past


def export(module: nn.Module, args, path: str, inputs: List[str], outputs: List[str], dynamic=None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, opset_version=OPSET,
                          dynamic_axes=dynamic, do_constant_folding=True)


def export_all(models, inputs, out: str, sizes: List[int]) -> None:
    od = os.path.join(out, "onnx")
    os.makedirs(od, exist_ok=True)
    with torch.no_grad():
        for N in sizes:
            x, c = inputs[f"x.{N}"][:1], inputs[f"ctx.{N}"][:1]
            export(NarGreedy(models["nar_student"]), (x, c), os.path.join(od, f"nar_greedy_{N}.onnx"),
                   ["x", "ctx"], ["Z", "slate"])
            for name in TEACHERS:
                m = models[name]
                nb = m.config.dec_layers
                enc_out = ["H", "keys"] + [f"mem_{kv}{j}" for j in range(nb) for kv in ("k", "v")] + ["used", "h"]
                export(TeacherEncodeKV(m), (x, c), os.path.join(od, f"{name}_encode_{N}.onnx"), ["x", "ctx"],
                       enc_out)
                # trace the step at a past length of 3 (the past axis is dynamic)
                enc = TeacherEncodeKV(m)(x, c)
                H, keys, mem, used, h = enc[0], enc[1], list(enc[2:2 + 2 * nb]), enc[-2], enc[-1]
                past = [torch.randn(3, m.config.d) for _ in range(2 * nb)]
                ins, outs, past_names = step_names(nb)
                dyn = {p: {0: "past"} for p in past_names}
                dyn.update({o: {0: "past1"} for o in outs[4:]})
                export(TeacherStepKV(m), (h, torch.tensor([3]), used, *past, *mem, keys, H),
                       os.path.join(od, f"{name}_step_{N}.onnx"), ins, outs, dyn)
                export(TeacherGreedyOneGraph(m), (x, c), os.path.join(od, f"{name}_greedy_{N}.onnx"), ["x", "ctx"],
                       ["Z", "slate"])
        x, c = inputs["batch.x"], inputs["batch.ctx"]
        export(NarGreedy(models["nar_student"]), (x, c), os.path.join(od, f"nar_batch{BATCH}_{BATCH_N}.onnx"),
               ["x", "ctx"], ["Z", "slates"])


def check_graph_modules(models, inputs, sizes: List[int]) -> None:
    """The exported modules, run in torch, agree with the reference decoders (before export)."""
    from dualrerank_ref import decode
    from dualrerank_ref.models import Request
    with torch.no_grad():
        for N in sizes:
            x, c = inputs[f"x.{N}"][:1], inputs[f"ctx.{N}"][:1]
            req = Request(x[0], c[0], None)
            Z, y = NarGreedy(models["nar_student"])(x, c)
            if y.tolist() != decode.greedy(models["nar_student"], req, L):
                raise RuntimeError(f"NarGreedy N={N}: slate differs from dualrerank_ref.decode.greedy")
            for name in TEACHERS:
                Z, y = TeacherGreedyOneGraph(models[name])(x, c)
                if y.tolist() != decode.teacher_greedy(models[name], req, L):
                    raise RuntimeError(f"TeacherGreedyOneGraph {name} N={N}: slate differs from the reference")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 50, 100, 200])
    ap.add_argument("--no-onnx", action="store_true", help="models and inputs only")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    os.makedirs(os.path.join(a.out, "models"), exist_ok=True)
    models = build_models()
    for name, m in models.items():
        save_model(m, os.path.join(a.out, "models", name + ".safetensors"))
    cfg = models["nar_student"].config
    tensors = {}
    for N in a.sizes:
        reqs = make_requests(cfg, REQS_PER_N, N, 2)
        tensors[f"x.{N}"] = torch.stack([r.features for r in reqs])
        tensors[f"ctx.{N}"] = torch.stack([r.context for r in reqs])
    reqs = make_requests(cfg, BATCH, BATCH_N, 3)
    tensors["batch.x"] = torch.stack([r.features for r in reqs])
    tensors["batch.ctx"] = torch.stack([r.context for r in reqs])
    save_file(tensors, os.path.join(a.out, "inputs.safetensors"),
              {"format": "dualrerank-compare-inputs", "L": str(L), "sizes": " ".join(map(str, a.sizes))})
    models = load_models(a.out)  # what every side uses: the files
    inputs = load_inputs(a.out)
    check_graph_modules(models, inputs, a.sizes)
    if not a.no_onnx:
        export_all(models, inputs, a.out, a.sizes)
    print(f"compare_prepare: models, inputs{'' if a.no_onnx else ' and ONNX graphs'} in {a.out} "
          f"({time.time() - t0:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
