#!/usr/bin/env python3
"""Compare model outputs (dualrerank-outputs files: PyTorch's and the C++ library's), and optionally
two trainings (model files and loss curves), in one process.

    compare_outputs.py REF OTHER [REF OTHER ...] [--labels A B ...] [--tol 1e-4]
                       [--models A.safetensors B.safetensors --curves A.json B.json]

For each pair: the slates must be identical and every request's finite logits must agree within
tol * max |reference logit| (the -inf entries must coincide). --models / --curves compare two
trainings that should be the same computation (train_ddp.py with 2 processes against one process
with --emulate-ranks 2): the per-step losses within 1e-5 relative and every weight tensor within
1e-4 of its largest |value|. Prints one line per check; exit 0 when all agree, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dualrerank_ref.dataset import compare_outputs, read_outputs  # noqa: E402
from dualrerank_ref.safetensors import load_file  # noqa: E402

DEFAULT_TOL = 1e-4
CURVE_TOL = 1e-5
WEIGHT_TOL = 1e-4


def report(label: str, r: dict) -> int:
    if r["ok"]:
        print(f"{label}: OK - {r['requests']} requests, slates identical, logits within "
              f"{r['max_rel_logit_error']:.2e} relative (tolerance {r['tolerance']:g})")
        return 0
    print(f"{label}: MISMATCH - " + "; ".join(r["problems"]))
    return 1


def compare_trainings(models, curves) -> int:
    a = json.load(open(curves[0]))["loss"]
    b = json.load(open(curves[1]))["loss"]
    curve = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a, b)) if a and len(a) == len(b) else float("inf")
    wa, _ = load_file(models[0])
    wb, _ = load_file(models[1])
    names = [k for k in wa if not k.startswith("verify.")]
    if sorted(names) != sorted(k for k in wb if not k.startswith("verify.")):
        w = float("inf")
    else:
        w = max(float(np.abs(wa[k] - wb[k]).max()) / max(float(np.abs(wa[k]).max()), 1e-12) for k in names)
    ok = curve <= CURVE_TOL and w <= WEIGHT_TOL
    print(f"{os.path.basename(models[0])} vs {os.path.basename(models[1])}: {len(a)} steps, loss within {curve:.2e} "
          f"relative (tolerance {CURVE_TOL:g}), final weights within {w:.2e} relative per tensor (tolerance "
          f"{WEIGHT_TOL:g}): {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="*", help="REF OTHER output files, any number of pairs")
    ap.add_argument("--labels", nargs="+", help="one label per pair")
    ap.add_argument("--tol", type=float, default=DEFAULT_TOL, help="relative logit tolerance (default 1e-4)")
    ap.add_argument("--models", nargs=2, help="two model files that should hold the same weights")
    ap.add_argument("--curves", nargs=2, help="their loss curves (train_ddp.py --log-json)")
    a = ap.parse_args(argv)
    if len(a.pairs) % 2:
        ap.error("output files come in pairs (REF OTHER)")
    if (a.models is None) != (a.curves is None):
        ap.error("--models and --curves go together")
    labels = a.labels or [f"{os.path.basename(a.pairs[i])} vs {os.path.basename(a.pairs[i + 1])}"
                          for i in range(0, len(a.pairs), 2)]
    if len(labels) != len(a.pairs) // 2:
        ap.error("one label per pair")
    bad = 0
    for k in range(0, len(a.pairs), 2):
        bad += report(labels[k // 2], compare_outputs(read_outputs(a.pairs[k]), read_outputs(a.pairs[k + 1]), a.tol))
    if a.models:
        bad += compare_trainings(a.models, a.curves)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
