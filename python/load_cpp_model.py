#!/usr/bin/env python3
"""Load a model trained by the C++ library into the PyTorch reference and rerank with it.

    load_cpp_model.py MODEL.safetensors [MODEL ...] (--requests FILE.safetensors | --letor FILE [--width W])
                      [--L L] [--out OUTPUTS ...] [--compare CPP_OUTPUTS ...] [--tol 1e-4]

load_model checks the file (format, kind, tensor names and shapes, CRC-32) and recomputes the
self-test the C++ writer embedded: the C++ model's probe output must come out of the PyTorch
model within 1e-4 relative. The model then decodes every request greedily (a student: `greedy`;
a teacher: `teacher_greedy`), in float64 on the file's float32 weights. With a LETOR file, queries
with fewer than L documents are skipped (examples/train_letor writes its outputs for the same
queries). --compare checks the result against the C++ model's own outputs
(python/compare_outputs.py's rule: identical slates, logits within tol relative). With several
models, --out and --compare take one file per model, in order.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare_outputs import DEFAULT_TOL, report  # noqa: E402
from dualrerank_ref.dataset import (compare_outputs, letor_requests, min_margin, read_outputs,  # noqa: E402
                                    read_requests, run_model, write_outputs)
from dualrerank_ref.model_io import load_model  # noqa: E402


def run_one(a, path: str, out_path, compare_path) -> int:
    t0 = time.time()
    model = load_model(path, dtype=torch.float64)  # raises ValueError if the self-test fails
    c = model.config
    L = a.L or c.max_slate
    print(f"loaded {path}: {model.kind}, {sum(p.numel() for p in model.parameters())} parameters, d {c.d}, "
          f"{c.enc_layers}+{c.dec_layers} layers, features {c.features}; self-test passed")
    if a.requests:
        rs = read_requests(a.requests)
    else:
        rs = letor_requests(a.letor, width=a.width or c.features)
    rs = rs.subset([i for i in range(len(rs)) if rs.features[i].shape[0] >= L])
    margins = []
    out = run_model(model, rs, L, margins)
    print(f"reranked {len(rs)} requests (L {L}) in {time.time() - t0:.1f}s; smallest greedy decision margin "
          f"{min_margin(margins):.3g}")
    for i in range(min(a.print, len(rs))):
        print(f"  request {i} (N {int(out.n[i])}): slate {' '.join(map(str, out.slates[i].tolist()))}")
    if out_path:
        write_outputs(out_path, out, "pytorch", {"model": os.path.basename(path)})
    if compare_path:
        return report(f"{os.path.basename(path)}: C++ outputs vs PyTorch",
                      compare_outputs(out, read_outputs(compare_path), a.tol))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--requests", help="a request set (examples/export_world)")
    ap.add_argument("--letor", help="a LETOR file with qid:")
    ap.add_argument("--width", type=int, default=0, help="LETOR feature width (default: the model's features)")
    ap.add_argument("--L", type=int, default=0, help="slate length (default: the model's max_slate)")
    ap.add_argument("--out", nargs="+", help="write the slates and logits here (one file per model)")
    ap.add_argument("--compare", nargs="+", help="the C++ outputs to compare with (one file per model)")
    ap.add_argument("--tol", type=float, default=DEFAULT_TOL)
    ap.add_argument("--print", type=int, default=3, help="print the first K slates (default 3)")
    a = ap.parse_args(argv)
    if (a.requests is None) == (a.letor is None):
        ap.error("give exactly one of --requests and --letor")
    for opt in ("out", "compare"):
        if getattr(a, opt) is not None and len(getattr(a, opt)) != len(a.models):
            ap.error(f"--{opt} needs one file per model")
    torch.set_num_threads(1)
    bad = 0
    for k, path in enumerate(a.models):
        bad += run_one(a, path, a.out[k] if a.out else None, a.compare[k] if a.compare else None)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
