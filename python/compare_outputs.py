#!/usr/bin/env python3
"""Compare two model-output files (dualrerank-outputs: PyTorch's and the C++ library's).

    compare_outputs.py REFERENCE.safetensors OTHER.safetensors [--tol 1e-4] [--label TEXT]

The slates must be identical and every request's finite logits must agree within
tol * max |reference logit| (the -inf entries must coincide). Prints one line; exit 0 when the
outputs agree, 1 when they do not.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dualrerank_ref.dataset import compare_outputs, read_outputs  # noqa: E402

DEFAULT_TOL = 1e-4


def report(label: str, r: dict) -> int:
    if r["ok"]:
        print(f"{label}: OK - {r['requests']} requests, slates identical, logits within "
              f"{r['max_rel_logit_error']:.2e} relative (tolerance {r['tolerance']:g})")
        return 0
    print(f"{label}: MISMATCH - " + "; ".join(r["problems"]))
    return 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference")
    ap.add_argument("other")
    ap.add_argument("--tol", type=float, default=DEFAULT_TOL, help="relative logit tolerance (default 1e-4)")
    ap.add_argument("--label", default="compare")
    a = ap.parse_args(argv)
    return report(a.label, compare_outputs(read_outputs(a.reference), read_outputs(a.other), a.tol))


if __name__ == "__main__":
    sys.exit(main())
