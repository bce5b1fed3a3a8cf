#!/usr/bin/env python3
"""Markdown table for bench/compare_torch.sh: C++ (Google Benchmark JSON) vs PyTorch eager vs
TorchScript (python/bench_infer.py and python/bench_train.py JSON). Standard library only.

  compare_torch_table.py CPP_INFER.json CPP_TRAIN.json TORCH_INFER.json TORCH_TRAIN.json [--label TEXT]
"""

from __future__ import annotations

import argparse
import json
import sys

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def cpp_medians(path):
    """{benchmark name: {"real": s, "cpu": s}} from the median aggregates (or the plain runs)."""
    with open(path) as f:
        doc = json.load(f)
    out, plain = {}, {}
    for b in doc.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        scale = UNIT[b.get("time_unit", "ns")]
        entry = {"real": b["real_time"] * scale, "cpu": b["cpu_time"] * scale}
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                out[name] = entry
        else:
            plain.setdefault(name, []).append(entry)
    for name, runs in plain.items():  # no aggregates (repetitions = 1): the median of the runs
        if name not in out:
            runs = sorted(runs, key=lambda e: e["cpu"])
            out[name] = runs[len(runs) // 2]
    return out, doc.get("context", {})


def fmt_time(s):
    if s is None:
        return "n/a"
    if s >= 1e-1:
        return f"{s * 1e3:.0f} ms"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} us"


def ratio(a, b):
    return "n/a" if a is None or b is None or a <= 0 else f"{b / a:.1f}x"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cpp_infer")
    ap.add_argument("cpp_train")
    ap.add_argument("torch_infer")
    ap.add_argument("torch_train")
    ap.add_argument("--label", default="")
    ap.add_argument("--reps", default="5", help="Google Benchmark repetitions (for the note)")
    a = ap.parse_args(argv)
    ci, ctx = cpp_medians(a.cpp_infer)
    ct, _ = cpp_medians(a.cpp_train)
    with open(a.torch_infer) as f:
        ti = json.load(f)
    with open(a.torch_train) as f:
        tt = json.load(f)
    blas = ti.get("blas", {})
    cases = ti.get("cases", {})

    def torch_case(key, basis):
        c = cases.get(key)
        if c is None:
            return None
        return c["cpu_median_s" if basis == "cpu" else "median_s"]

    for basis, title in (("cpu", "process CPU time"), ("real", "wall-clock time")):
        print(f"\n### Medians, {title}{(' - ' + a.label) if a.label else ''}\n")
        print("| benchmark | C++ (dualrerank) | torch eager | TorchScript (trace) | torch eager, KV cache | "
              "eager / C++ | TorchScript / C++ | eager KV / C++ |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for kind, label in (("nar_greedy", "NAR greedy (student logits + masked greedy)"),
                            ("ar_greedy", "AR greedy (teacher)")):
            for n in (20, 50, 100, 200):
                c = ci.get(f"BM_{kind}/{n}", {}).get(basis)
                e = torch_case(f"{kind}/eager/{n}", basis)
                s = torch_case(f"{kind}/torchscript/{n}", basis)
                kv = torch_case(f"{kind}/eager-kv/{n}", basis) if kind == "ar_greedy" else None
                if c is None and e is None:
                    continue
                print(f"| {label}, N = {n}, 1 request | {fmt_time(c)} | {fmt_time(e)} | {fmt_time(s)} | "
                      f"{fmt_time(kv) if kind == 'ar_greedy' else '-'} | {ratio(c, e)} | {ratio(c, s)} | "
                      f"{ratio(c, kv) if kind == 'ar_greedy' else '-'} |")
        for kind in ("teacher", "student"):
            c = ct.get(f"BM_train_step_{kind}", {}).get(basis)
            r = tt.get(kind)
            e = None if r is None else r["cpu_median_s" if basis == "cpu" else "median_s"]
            rps = lambda s: "" if s is None else f" ({32 / s:.0f} req/s)"  # noqa: E731
            print(f"| train step {kind} (B 32, N 50, L 10) | {fmt_time(c)}{rps(c)} | {fmt_time(e)}{rps(e)} | n/a | - | "
                  f"{ratio(c, e)} | - | - |")
    print()
    print(f"torch {blas.get('torch', '?')}, BLAS in use: {blas.get('blas', '?')} "
          f"({', '.join(blas.get('mapped_libraries', [])) or 'no BLAS library mapped'}); "
          f"build: {', '.join(f'{k}={v}' for k, v in blas.get('build', {}).items())}")
    if blas.get("env"):
        print("torch environment: " + " ".join(f"{k}={v}" for k, v in sorted(blas["env"].items())))
    if ctx:
        print(f"C++: Google Benchmark on {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs at "
              f"{ctx.get('mhz_per_cpu', '?')} MHz, load average {ctx.get('load_avg', '?')}, "
              f"(the Google Benchmark library itself was built as {ctx.get('library_build_type', '?')})")
    print(f"C++: median of {a.reps} repetition(s), each the mean over its iterations; torch: median of the single "
          "runs. Ratios > 1 mean C++ is faster.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
