#!/usr/bin/env python3
"""Cross-check and performance table for bench/compare.sh: C++ (bench_compare, bench_training;
Google Benchmark JSON), PyTorch eager and TorchScript (python/bench_infer.py --data,
python/bench_train.py) and ONNX Runtime (bench/onnx_bench.mjs).

The check: on every request of every case, each implementation's slate must equal the PyTorch
eager reference's exactly, and its logits (NAR: Z [L, N]; AR: the raw step logits along the greedy
path) must agree within TOL relative to the largest reference logit of that case:
max |z - z_ref| <= TOL * max |z_ref| (TOL = 1e-4 by default; float32 everywhere). Any mismatch
makes the exit status 1 (the table is still written, with the failures listed).

The table: medians of process CPU time per request (and again in wall-clock time), the case's FLOP
count (python/bench_flops.py, documented there) and the achieved GFLOP/s of every implementation,
the ratios of the other implementations' times to the C++ time (> 1: C++ faster), then the issue's
targets, two threads vs one, memory and workspace figures.

  compare_table.py --cpp CPP.json... --cpp-dump DUMP.json --torch TORCH.json... --torch-dump TDUMP.json
                   --ort ORT.json... [--cpp-threads THREADS.json...] [--cpp-train TRAIN.json...]
                   [--torch-train TTRAIN.json...] [--out table.md] [--label TEXT] [--tol 1e-4]

Timing options take one file per round (bench/compare.sh ROUNDS=n): every figure is then the best
round's (lowest time, highest rate). The cross-check reads the outputs of one round (--cpp-dump,
--torch-dump and the outputs in the first --ort file).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Dict, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from bench_flops import case_flops  # noqa: E402

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
SIZES = (20, 50, 100, 200)
L, B, BN = 10, 32, 50


def gb_medians(path: Optional[str]) -> Dict[str, dict]:
    """{run name: {"cpu": s, "real": s, counters...}} from Google Benchmark JSON (median aggregates,
    or the median of the plain runs when there are none)."""
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        doc = json.load(f)
    out, plain = {}, {}
    for b in doc.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        scale = UNIT[b.get("time_unit", "ns")]
        e = dict(b)
        e["cpu"], e["real"] = b["cpu_time"] * scale, b["real_time"] * scale
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                out[name] = e
        else:
            plain.setdefault(name, []).append(e)
    for name, runs in plain.items():
        if name not in out:
            out[name] = sorted(runs, key=lambda e: e["cpu"])[len(runs) // 2]
    out["__context__"] = doc.get("context", {})
    return out


def load(path: Optional[str]) -> dict:
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


LOWER = ("cpu", "real", "median_cpu_us", "median_wall_us", "median_s", "cpu_median_s", "ms_per_step",
         "cpu_ms_per_step")
HIGHER = ("items_per_second", "requests_per_s", "cpu_requests_per_s")


def best_of(entries: List[dict]) -> dict:
    """One entry from several rounds of the same case: each time statistic the lowest, each rate the
    highest (the round least disturbed by other load on the machine)."""
    out = dict(entries[0])
    for k in LOWER:
        vals = [e[k] for e in entries if isinstance(e.get(k), (int, float))]
        if vals:
            out[k] = min(vals)
    for k in HIGHER:
        vals = [e[k] for e in entries if isinstance(e.get(k), (int, float))]
        if vals:
            out[k] = max(vals)
    return out


def merge_gb(paths: List[str]) -> Dict[str, dict]:
    docs = [gb_medians(p) for p in paths or []]
    docs = [d for d in docs if d]
    if not docs:
        return {}
    out = {"__context__": docs[0].get("__context__", {})}
    for name in docs[0]:
        if name != "__context__":
            out[name] = best_of([d[name] for d in docs if name in d])
    return out


def merge_cases(paths: List[str], section: Optional[str]) -> dict:
    """Rounds of a torch / ORT results file: the first file, with every case (under `section`, or
    the top-level entries that are dicts) replaced by the best of the rounds."""
    docs = [d for d in (load(p) for p in paths or []) if d]
    if not docs:
        return {}
    out = dict(docs[0])
    if section is not None:
        merged = {}
        for k in docs[0].get(section, {}):
            merged[k] = best_of([d[section][k] for d in docs if k in d.get(section, {})])
        out[section] = merged
    else:
        for k, v in docs[0].items():
            if isinstance(v, dict) and "median_s" in v:
                out[k] = best_of([d[k] for d in docs if k in d])
    out["rounds"] = len(docs)
    return out


def fmt_t(s: Optional[float]) -> str:
    if s is None:
        return "n/a"
    if s >= 0.1:
        return f"{s * 1e3:.0f} ms"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} us"


def cell(s: Optional[float], flops: float) -> str:
    return "n/a" if s is None else f"{fmt_t(s)} ({flops / s / 1e9:.1f})"


def ratio(c: Optional[float], o: Optional[float]) -> str:
    return "n/a" if c is None or o is None or c <= 0 else f"{o / c:.2f}x"


# ------------------------------------------------------------------------------ check


def check_case(ref: dict, got: dict, tol: float) -> (bool, str, float):
    """(ok, message, worst relative logit error) of one implementation's outputs against the reference."""
    if ref is None or got is None:
        return False, "outputs missing", float("nan")
    if got["slates"] != ref["slates"]:
        bad = next((i for i in range(min(len(ref["slates"]), len(got["slates"])))
                    if got["slates"][i] != ref["slates"][i]), None)
        return False, f"slates differ (input {bad}: {got['slates'][bad] if bad is not None else '?'} vs " \
                      f"{ref['slates'][bad] if bad is not None else '?'})", float("nan")
    zr_all = [v for z in ref["logits"] for v in z if v is not None and math.isfinite(v)]
    if not zr_all or not got.get("logits") or not any(got["logits"]):
        return True, "slates equal (no logits)", float("nan")
    scale = max(abs(v) for v in zr_all)
    err = 0.0
    if len(got["logits"]) != len(ref["logits"]):
        return False, "logits: wrong number of inputs", float("nan")
    for zr, zg in zip(ref["logits"], got["logits"]):
        if len(zr) != len(zg):
            return False, f"logits: {len(zg)} values, expected {len(zr)}", float("nan")
        for a, b in zip(zr, zg):
            fa = a is not None and math.isfinite(a)
            fb = b is not None and math.isfinite(b)
            if fa != fb:
                return False, "logits: masked entries differ", float("nan")
            if fa:
                err = max(err, abs(a - b))
    rel = err / scale
    return rel <= tol, f"max |dz| / max |z| = {rel:.1e}", rel


def run_checks(cpp_dump: dict, torch_dump: dict, ort: dict, tol: float):
    """Rows (case, implementation, ok, message, rel) for every case."""
    co, to, oo = cpp_dump.get("outputs", {}), torch_dump.get("outputs", {}), ort.get("outputs", {})
    rows = []
    cases = []
    for N in SIZES:
        cases.append((f"nar_greedy/{N}", f"nar_greedy/eager/{N}",
                      [("C++", co.get(f"nar_greedy/{N}")), ("TorchScript", to.get(f"nar_greedy/torchscript/{N}")),
                       ("ONNX Runtime", oo.get(f"nar_greedy/{N}"))]))
        for tag in ("ar", "ar1"):
            cases.append((f"{tag}_greedy/{N}", f"{tag}_greedy/eager-kv/{N}",
                          [("C++", co.get(f"{tag}_greedy/{N}")),
                           ("TorchScript", to.get(f"{tag}_greedy/torchscript-kv/{N}")),
                           ("torch eager, prefix re-run", to.get(f"{tag}_greedy/eager/{N}")),
                           ("ONNX Runtime, step graph", oo.get(f"{tag}_greedy/{N}")),
                           ("ONNX Runtime, one graph", oo.get(f"{tag}_greedy_graph/{N}"))]))
    cases.append((f"nar_batch{B}/{BN}", f"nar_batch{B}/eager/{BN}",
                  [("C++", co.get(f"nar_batch{B}/{BN}")), ("TorchScript", to.get(f"nar_batch{B}/torchscript/{BN}")),
                   ("ONNX Runtime", oo.get(f"nar_batch{B}/{BN}"))]))
    for case, refkey, impls in cases:
        ref = to.get(refkey)
        for name, got in impls:
            if ref is None:
                rows.append((case, name, False, "reference outputs missing", float("nan")))
                continue
            ok, msg, rel = check_case(ref, got, tol)
            rows.append((case, name, ok, msg, rel))
    return rows


# ------------------------------------------------------------------------------ table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpp", nargs="+", required=True)
    ap.add_argument("--cpp-dump", required=True)
    ap.add_argument("--cpp-threads", nargs="+")
    ap.add_argument("--cpp-train", nargs="+")
    ap.add_argument("--torch", nargs="+", required=True)
    ap.add_argument("--torch-dump", required=True)
    ap.add_argument("--torch-train", nargs="+")
    ap.add_argument("--ort", nargs="+", required=True)
    ap.add_argument("--out")
    ap.add_argument("--label", default="")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--reps", default="5")
    a = ap.parse_args(argv)

    cpp = merge_gb(a.cpp)
    thr = merge_gb(a.cpp_threads)
    ctr = merge_gb(a.cpp_train)
    ti, tt, ort = merge_cases(a.torch, "cases"), merge_cases(a.torch_train, None), merge_cases(a.ort, "cases")
    rounds = max(1, len(a.cpp))
    cdump, tdump = load(a.cpp_dump), load(a.torch_dump)
    tc, oc = ti.get("cases", {}), ort.get("cases", {})
    lines: List[str] = []
    p = lines.append

    checks = run_checks(cdump, tdump, ort, a.tol)
    failed = [r for r in checks if not r[2]]

    def tget(key, basis):
        c = tc.get(key)
        return None if c is None else c["cpu_median_s" if basis == "cpu" else "median_s"]

    def oget(key, basis):
        c = oc.get(key)
        return None if c is None else c["cpu_median_s" if basis == "cpu" else "median_s"]

    def cget(key, basis, src=cpp):
        """C++ seconds per call: the median of single calls (bench_compare's median_cpu_us /
        median_wall_us counters, median over the repetitions) when present, else Google
        Benchmark's time (the mean over a repetition's iterations; bench_training)."""
        c = src.get(key)
        if c is None:
            return None
        counter = "median_cpu_us" if basis == "cpu" else "median_wall_us"
        return c[counter] * 1e-6 if counter in c else c[basis]

    sg = cpp.get("sgemm_eigen/512")
    peak = (2.0 * 512 ** 3 / sg["cpu"] / 1e9) if sg else None

    def rows(basis):
        """[(label, flops, cpp, eager, ts, ort_step, ort_graph)] in seconds per request (batch: per request)."""
        out = []
        for N in SIZES:
            out.append((f"NAR greedy, N = {N}", case_flops("nar_greedy", N), cget(f"nar_greedy/{N}", basis),
                        tget(f"nar_greedy/eager/{N}", basis), tget(f"nar_greedy/torchscript/{N}", basis), None,
                        oget(f"nar_greedy/{N}", basis)))
        per = lambda s: None if s is None else s / B  # noqa: E731
        out.append((f"NAR batch of {B}, N = {BN}, per request", case_flops("nar_greedy", BN),
                    per(cget(f"nar_batch{B}/{BN}", basis)), per(tget(f"nar_batch{B}/eager/{BN}", basis)),
                    per(tget(f"nar_batch{B}/torchscript/{BN}", basis)), None, per(oget(f"nar_batch{B}/{BN}", basis))))
        for tag, label in (("ar", "AR greedy, KV cache, 2-layer decoder"), ("ar1", "AR greedy, KV cache, 1-layer decoder")):
            for N in SIZES:
                out.append((f"{label}, N = {N}", case_flops(f"{tag}_greedy", N), cget(f"{tag}_greedy/{N}", basis),
                            tget(f"{tag}_greedy/eager-kv/{N}", basis), tget(f"{tag}_greedy/torchscript-kv/{N}", basis),
                            oget(f"{tag}_greedy/{N}", basis), oget(f"{tag}_greedy_graph/{N}", basis)))
        for kind in ("teacher", "student"):
            r = tt.get(kind)
            e = None if r is None else r["cpu_median_s" if basis == "cpu" else "median_s"]
            c = cget(f"train_{kind}/{BN}", basis)
            if c is None:  # bench_training's figures (--cpp-train)
                c = cget(f"BM_train_step_{kind}", basis, ctr)
            out.append((f"training step, {kind}, batch {B}, N = {BN}", case_flops(f"train_{kind}", BN), c, e, None,
                        None, None))
        return out

    title = "# Comparison: dualrerank (C++) vs PyTorch vs ONNX Runtime" + (f" ({a.label})" if a.label else "")
    p(title)
    p("")
    for basis, name in (("cpu", "process CPU time"), ("real", "wall-clock time")):
        p(f"## Medians, {name}, one pinned thread")
        p("")
        p("Each cell: median time per request over single runs (achieved GFLOP/s). Ratios: the other implementation's time / C++ "
          "(> 1: C++ faster); vs ORT uses the faster of the two ONNX Runtime variants.")
        p("")
        p("| case | MFLOP | C++ (dualrerank) | torch eager | TorchScript | ORT, KV step graph | ORT, one graph | "
          "eager / C++ | TorchScript / C++ | ORT / C++ |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, fl, c, e, s, os_, og in rows(basis):
            ob = min([v for v in (os_, og) if v is not None], default=None)
            step = "-" if label.startswith(("NAR", "training")) else cell(os_, fl)
            graph = "-" if label.startswith("training") else cell(og, fl)
            ts = "-" if label.startswith("training") else cell(s, fl)
            p(f"| {label} | {fl / 1e6:.2f} | {cell(c, fl)} | {cell(e, fl)} | {ts} | {step} | {graph} | "
              f"{ratio(c, e)} | {'-' if label.startswith('training') else ratio(c, s)} | "
              f"{'-' if label.startswith('training') else ratio(c, ob)} |")
        p("")

    # ------------------------------------------------------------------ targets (CPU time)
    p("## Targets of issue 8 (process CPU time)")
    p("")
    if peak:
        p(f"FLOP floor: the case's FLOPs at the measured single-thread sgemm rate, {peak:.1f} GFLOP/s "
          f"(Eigen, 512 x 512 x 512, same run).")
        p("")
    p("| target | measured | met |")
    p("|---|---|---|")

    def tgt(name, value, ok):
        verdict = ok if isinstance(ok, str) else ("yes" if ok else ("n/a" if ok is None else "no"))
        p(f"| {name} | {value} | {verdict} |")

    def nar(N, basis="cpu"):
        return cget(f"nar_greedy/{N}", basis)

    if peak and nar(50):
        floor = case_flops("nar_greedy", 50) / (peak * 1e9)
        tgt("NAR greedy N = 50 within 1.3x of its FLOP floor", f"{nar(50) / floor:.2f}x of {fmt_t(floor)}",
            nar(50) / floor <= 1.3)
    for N in SIZES:
        o = oget(f"nar_greedy/{N}", "cpu")
        if nar(N) and o:
            tgt(f"NAR greedy N = {N} at least 1.5x faster than ONNX Runtime", f"{o / nar(N):.2f}x", o / nar(N) >= 1.5)
    cb = cget(f"nar_batch{B}/{BN}", "cpu")
    if peak and cb:
        floor = case_flops("nar_greedy", BN) / (peak * 1e9)
        tgt(f"NAR batch {B}, N = {BN}: per request within 1.25x of the floor", f"{cb / B / floor:.2f}x",
            cb / B / floor <= 1.25)
    for tag, label in (("ar", "2-layer"), ("ar1", "1-layer")):
        for N in SIZES:
            c = cget(f"{tag}_greedy/{N}", "cpu")
            o = [v for v in (oget(f"{tag}_greedy/{N}", "cpu"), oget(f"{tag}_greedy_graph/{N}", "cpu")) if v]
            if c and o:
                tgt(f"AR greedy ({label} decoder) N = {N} at least 2x faster than ONNX Runtime (faster variant)",
                    f"{min(o) / c:.2f}x", min(o) / c >= 2)
    for tag, label in (("ar", "2-layer"), ("ar1", "1-layer")):
        rs = [(N, nar(N) / cget(f"{tag}_greedy/{N}", "cpu")) for N in SIZES if nar(N) and cget(f"{tag}_greedy/{N}", "cpu")]
        if rs:
            tgt(f"NAR / AR ({label} decoder) latency <= 0.35", ", ".join(f"N {N}: {r:.2f}" for N, r in rs),
                all(r <= 0.35 for _, r in rs))
    for kind in ("teacher", "student"):
        c = cget(f"train_{kind}/{BN}", "cpu")
        if c is None:
            c = cget(f"BM_train_step_{kind}", "cpu", ctr)
        r = tt.get(kind)
        if c and r:
            tgt(f"training step ({kind}) at least 3x the PyTorch step rate", f"{r['cpu_median_s'] / c:.2f}x",
                r["cpu_median_s"] / c >= 3)
    for what in ("nar", "ar"):
        one = thr.get(f"serve_{what}/50/real_time/threads:1")
        two = thr.get(f"serve_{what}/50/real_time/threads:2")
        if one and two and "items_per_second" in one:
            r = two["items_per_second"] / one["items_per_second"]
            # per-thread CPU time per request: 2 x (1-thread cost / 2-thread cost) is the throughput
            # ratio two threads reach when each has a core of its own (the wall-clock ratio needs two
            # idle CPUs, which a shared machine does not have)
            rc = 2 * one["median_cpu_us"] / two["median_cpu_us"] if "median_cpu_us" in one else None
            tgt(f"two threads serving one {'NAR' if what == 'nar' else 'AR'} model (N = 50): throughput >= 1.8x one thread",
                f"wall clock {r:.2f}x ({one['items_per_second']:.0f} -> {two['items_per_second']:.0f} requests/s)"
                + ("" if rc is None else f"; from per-thread CPU time per request {rc:.2f}x "
                   f"({one['median_cpu_us']:.0f} -> {two['median_cpu_us']:.0f} us)"),
                True if r >= 1.8 else (False if rc is None or rc < 1.8 else
                                       "no (wall clock; the CPU-time scaling reaches it: rerun on two idle CPUs)"))
    mem = cdump.get("memory", [])
    for m in mem:
        kept = (m["rss_anon_after_trim_kb"] - m["rss_anon_before_kb"]) * 1024
        tgt(f"{m['model']}: resident size within 10% of its parameter bytes", f"{kept / m['param_bytes']:.3f}x",
            abs(kept / m["param_bytes"] - 1) <= 0.10)
    p("")

    # ------------------------------------------------------------------ memory, workspace
    if mem:
        p("## Memory of a loaded model")
        p("")
        p("Anonymous resident memory (RssAnon) of the bench_compare process before and after io::load_model "
          "(model kept alive), and after malloc_trim(0) returned the loader's freed temporaries (file image, "
          "self-test scratch) to the system.")
        p("")
        p("| model | parameter bytes | RSS delta at load | after malloc_trim | ratio (after trim) |")
        p("|---|---:|---:|---:|---:|")
        for m in mem:
            raw = (m["rss_anon_after_kb"] - m["rss_anon_before_kb"]) * 1024
            kept = (m["rss_anon_after_trim_kb"] - m["rss_anon_before_kb"]) * 1024
            p(f"| {m['model']} | {m['param_bytes'] / 1024:.0f} KiB | {raw / 1024:.0f} KiB | {kept / 1024:.0f} KiB | "
              f"{kept / m['param_bytes']:.3f} |")
        p("")
    ws = cdump.get("workspace", {})
    if ws:
        p("## Workspace per thread")
        p("")
        p("workspace::capacity_bytes() after one call (peak_bytes() in parentheses); one workspace per serving "
          "thread, allocation-free after this warm-up.")
        p("")
        p("| N | NAR greedy | AR greedy, 2-layer decoder | AR greedy, 1-layer decoder |")
        p("|---:|---:|---:|---:|")
        kib = lambda k: "n/a" if k not in ws else \
            f"{ws[k]['capacity_bytes'] / 1024:.0f} KiB ({ws[k]['peak_bytes'] / 1024:.0f})"  # noqa: E731
        for N in SIZES:
            p(f"| {N} | {kib(f'nar_greedy/{N}')} | {kib(f'ar_greedy/{N}')} | {kib(f'ar1_greedy/{N}')} |")
        p(f"| batch {B} x {BN} | {kib(f'nar_batch{B}/{BN}')} | - | - |")
        p("")

    # ------------------------------------------------------------------ checks
    p(f"## Cross-check (slates equal, logits within {a.tol:g} of the largest reference logit)")
    p("")
    p("Reference: PyTorch eager (python/dualrerank_ref; AR: its KV-cache decoder). All implementations run the "
      "same safetensors weights on the same inputs (16 requests per N, one batch of 32).")
    p("")
    impls = []
    for r in checks:
        if r[1] not in impls:
            impls.append(r[1])
    p("| implementation | cases | slates and logits agree | worst max abs logit error / max abs logit |")
    p("|---|---:|---:|---:|")
    for name in impls:
        rs = [r for r in checks if r[1] == name]
        worst = max((r[4] for r in rs if not math.isnan(r[4])), default=float("nan"))
        p(f"| {name} | {len(rs)} | {sum(1 for r in rs if r[2])} | "
          f"{'slates only' if math.isnan(worst) else f'{worst:.1e}'} |")
    if failed:
        p("")
        p("FAILED:")
        for case, name, _, msg, _ in failed:
            p(f"- {case}, {name}: {msg}")
    p("")

    # ------------------------------------------------------------------ environment
    p("## Setup")
    p("")
    blas = ti.get("blas", {})
    ctx = cpp.get("__context__", {})
    if rounds > 1:
        p(f"- {rounds} rounds of every run, one after the other; each figure is the best round's (lowest time, "
          "highest rate), so that bursts of other load on the shared machine are filtered the same way for every "
          "implementation.")
    p(f"- C++: Google Benchmark, {a.reps} repetitions; inference: the median over the repetitions of the median "
      "of single calls or training steps (as for torch and ORT); "
      f"{ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz; GB load average {ctx.get('load_avg', '?')}.")
    p(f"- PyTorch {blas.get('torch', '?')}, one thread, BLAS in use: {blas.get('blas', '?')} "
      f"({', '.join(os.path.basename(x) for x in blas.get('mapped_libraries', [])) or 'none mapped'}); "
      f"medians of single runs. AR eager = the reference's modules with a KV cache (python/bench_infer.py "
      f"ar_greedy_kv); TorchScript = torch.jit.trace of the same graphs that are exported to ONNX.")
    if ort:
        s = ort.get("session", {})
        p(f"- ONNX Runtime {ort.get('onnxruntime', '?')} (onnxruntime-node, {ort.get('node', '?')}): "
          f"intra_op {s.get('intra_op_num_threads')}, inter_op {s.get('inter_op_num_threads')}, "
          f"{s.get('execution_mode')}, graph optimization {s.get('graph_optimization_level')}; ONNX opset 17 exports "
          "(torch.onnx.export) of the reference. NAR: one graph (forward + masked greedy). AR: a step graph with "
          "KV-cache inputs/outputs run L times after an encoder graph, and the whole greedy decode as one graph."
          + (f" The Node binding runs each session.run() in a setImmediate callback; that event-loop turn alone "
             f"takes {1e6 * ort['run_hop']['median_s']:.1f} us (median, wall clock) per call."
             if isinstance(ort.get("run_hop"), dict) else ""))
    prefix = [(N, tget(f"ar_greedy/eager/{N}", "cpu")) for N in SIZES]
    if any(v for _, v in prefix):
        p("- For orientation, the reference's own AR decoding without a KV cache (prefix re-run, torch eager), "
          "CPU time: " + ", ".join(f"N {N}: {fmt_t(v)}" for N, v in prefix if v) + ".")
    if a.label:
        p(f"- {a.label}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if failed:
        print(f"compare_table: {len(failed)} cross-check failure(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
