"""Shared by python/bench_train.py and python/bench_infer.py (the PyTorch side of bench/compare_torch.sh).

The reference architecture of the C++ benchmarks (bench/bench_common.hpp): d = 64, h = 4, 2
encoder + 2 decoder layers, FFN 256, F = 32, context 8, L = 10, float32, one thread.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from typing import Callable, Dict, List

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dualrerank_ref.models import ModelConfig, Request  # noqa: E402

__all__ = ["reference_config", "make_requests", "blas_info", "median_time", "setup_torch", "write_json"]


def reference_config(max_candidates: int = 256) -> ModelConfig:
    """bench_common::reference_config."""
    return ModelConfig(features=32, context=8, d=64, heads=4, enc_layers=2, dec_layers=2, ffn=256, max_slate=10,
                       max_candidates=max_candidates, rank_embedding=False, outputs=1)


def make_requests(cfg: ModelConfig, count: int, n: int, seed: int) -> List[Request]:
    """count requests of n candidates, standard normal features and context (float32)."""
    g = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        x = torch.from_numpy(g.standard_normal((n, cfg.features)).astype(np.float32))
        c = torch.from_numpy(g.standard_normal(cfg.context).astype(np.float32)) if cfg.context else None
        out.append(Request(x, c, None))
    return out


def setup_torch(threads: int = 1) -> None:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already set (only possible before any parallel work)
        pass
    torch.manual_seed(0)


def blas_info() -> Dict[str, object]:
    """Which BLAS torch uses: the build's BLAS_INFO / MKL lines and the BLAS library actually mapped
    into this process (on Debian, python3-torch links libblas.so.3, which the alternatives system
    points at netlib, OpenBLAS, BLIS or MKL)."""
    cfg = torch.__config__.show()
    lines = [ln.strip() for ln in cfg.splitlines() if re.search(r"blas|mkl|lapack", ln, re.I)]
    build = {}
    for key in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_MKL"):
        m = re.search(key + r"=([^,\s]+)", cfg)
        if m:
            build[key] = m.group(1)
    mapped = set()
    try:
        with open("/proc/self/maps") as f:
            for ln in f:
                path = ln.split()[-1] if ln.split() else ""
                if re.search(r"blas|mkl_|libmkl|lapack|blis", os.path.basename(path), re.I):
                    mapped.add(os.path.realpath(path))
    except OSError:
        pass
    mapped_l = sorted(mapped)
    kind = "unknown"
    joined = " ".join(mapped_l).lower()
    if "openblas" in joined:
        kind = "OpenBLAS"
    elif "mkl" in joined:
        kind = "MKL"
    elif "blis" in joined:
        kind = "BLIS"
    elif "atlas" in joined:
        kind = "ATLAS"
    elif re.search(r"/blas/libblas\.so", joined):
        kind = "netlib reference BLAS"
    env = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k.endswith("_NUM_THREADS")}
    return {"torch": torch.__version__, "config_lines": lines, "build": build, "mapped_libraries": mapped_l,
            "blas": kind, "threads": torch.get_num_threads(), "env": env}


def print_blas(info: Dict[str, object], out=sys.stdout) -> None:
    print(f"torch {info['torch']}, {info['threads']} thread(s); BLAS in use: {info['blas']}", file=out)
    if info.get("env"):
        print("  env: " + " ".join(f"{k}={v}" for k, v in sorted(info["env"].items())), file=out)
    for ln in info["mapped_libraries"]:
        print(f"  mapped: {ln}", file=out)
    for ln in info["config_lines"]:
        print(f"  config: {ln[:160]}", file=out)


def median_time(fn: Callable[[], object], runs: int, warmup: int, min_seconds: float = 0.0) -> Dict[str, float]:
    """Wall-clock and process-CPU time of fn() in seconds: medians (and wall min / max) over `runs`
    runs after `warmup` runs; keeps running past `runs` until min_seconds of wall time have passed.

    On a shared, busy machine the CPU time is the steadier number (Google Benchmark's default
    counters are CPU-time based too); with one thread the two agree on an idle machine."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    total = 0.0
    while len(wall) < runs or total < min_seconds:
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        cpu.append(time.process_time() - c0)
        wall.append(dt)
        total += dt
    return {"median_s": statistics.median(wall), "cpu_median_s": statistics.median(cpu), "min_s": min(wall),
            "max_s": max(wall), "runs": len(wall)}


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
