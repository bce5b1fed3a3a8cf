#!/usr/bin/env python3
"""Load a model trained by the C++ library into the PyTorch reference and rerank with it.

    load_cpp_model.py MODEL.safetensors (--requests FILE.safetensors | --letor FILE [--width W])
                      [--L L] [--out OUTPUTS.safetensors] [--compare CPP_OUTPUTS.safetensors] [--tol 1e-4]

load_model checks the file (format, kind, tensor names and shapes, CRC-32) and recomputes the
self-test the C++ writer embedded: the C++ model's probe output must come out of the PyTorch
model within 1e-4 relative. The model then decodes every request greedily (a student: `greedy`;
a teacher: `teacher_greedy`), in float64 on the file's float32 weights. With a LETOR file, queries
with fewer than L documents are skipped (examples/train_letor writes its outputs for the same
queries). --compare checks the result against the C++ model's own outputs
(python/compare_outputs.py's rule: identical slates, logits within tol relative).
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--requests", help="a request set (examples/export_world)")
    ap.add_argument("--letor", help="a LETOR file with qid:")
    ap.add_argument("--width", type=int, default=0, help="LETOR feature width (default: the model's features)")
    ap.add_argument("--L", type=int, default=0, help="slate length (default: the model's max_slate)")
    ap.add_argument("--out", help="write the slates and logits here")
    ap.add_argument("--compare", help="the C++ outputs to compare with")
    ap.add_argument("--tol", type=float, default=DEFAULT_TOL)
    a = ap.parse_args(argv)
    if (a.requests is None) == (a.letor is None):
        ap.error("give exactly one of --requests and --letor")
    torch.set_num_threads(1)

    t0 = time.time()
    model = load_model(a.model, dtype=torch.float64)  # raises ValueError if the self-test fails
    c = model.config
    L = a.L or c.max_slate
    print(f"loaded {a.model}: {model.kind}, {sum(p.numel() for p in model.parameters())} parameters, d {c.d}, "
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
    for i in range(min(3, len(rs))):
        print(f"  request {i} (N {int(out.n[i])}): slate {' '.join(map(str, out.slates[i].tolist()))}")
    if a.out:
        write_outputs(a.out, out, "pytorch", {"model": os.path.basename(a.model)})
    if a.compare:
        return report(f"{os.path.basename(a.model)}: C++ outputs vs PyTorch",
                      compare_outputs(out, read_outputs(a.compare), a.tol))
    return 0


if __name__ == "__main__":
    sys.exit(main())
