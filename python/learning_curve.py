#!/usr/bin/env python3
"""Learning curve of the oracle-free pipeline over the number of logged pages (issue 13).

Reads the JSON rows of `dualrerank_demo --oracle-free-only --logs N --seed S --json DIR/logsN_seedS.json`
runs, prints mean and half range over the seeds of every oracle-free row per N, writes a CSV and
plots the SKD student's normalized utility (and the evaluator-search teacher, Best-of-16 with the
page evaluator, the upstream sort) against N on a log axis. When a run's stderr is kept beside its
JSON as DIR/logsN_seedS.log, the page evaluator's gate record (its within-request rank correlation
with the true utility on the SKD student's proposals) is read from it, written to the CSV as the
policy "page evaluator correlation (gate record)" and plotted in a second panel.

    python3 python/learning_curve.py DIR [--out PREFIX]
"""
import argparse
import collections
import glob
import json
import os
import re
import sys

CORR = "page evaluator correlation (gate record)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="directory holding logs<N>_seed<S>.json files")
    ap.add_argument("--out", default=None, help="output prefix for .csv and .png (default DIR/learning_curve)")
    a = ap.parse_args()
    out = a.out or os.path.join(a.dir, "learning_curve")
    # data[policy][N][seed] = utility
    data = collections.defaultdict(lambda: collections.defaultdict(dict))
    for path in sorted(glob.glob(os.path.join(a.dir, "logs*_seed*.json"))):
        m = re.search(r"logs(\d+)_seed(\d+)\.json$", path)
        if not m:
            continue
        n, seed = int(m.group(1)), int(m.group(2))
        with open(path) as f:
            rows = json.load(f)
        for r in rows:
            if r.get("oracle", True):
                continue
            data[r["policy"]][n][seed] = r["normalized_utility"]
        log_path = path[: -len(".json")] + ".log"
        if os.path.exists(log_path):
            with open(log_path, errors="replace") as f:
                rec = re.search(r"page evaluator scorer \(oracle-free\): within-request rank correlation ([0-9.eE+-]+|nan)", f.read())
            if rec:
                data[CORR][n][seed] = float(rec.group(1))
    if not data:
        sys.exit("no logs<N>_seed<S>.json rows in " + a.dir)
    with open(out + ".csv", "w") as f:
        f.write("policy,logged_pages,seeds,mean,half_range,per_seed\n")
        for policy, by_n in data.items():
            for n in sorted(by_n):
                v = [by_n[n][s] for s in sorted(by_n[n])]
                mean, half = sum(v) / len(v), (max(v) - min(v)) / 2
                f.write('%s,%d,%d,%.4f,%.4f,"%s"\n' % (policy, n, len(v), mean, half, " ".join("%.4f" % x for x in v)))
                print("%-40s %8d pages  %d seeds  %.3f +-%.3f" % (policy, n, len(v), mean, half))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not available: wrote " + out + ".csv only")
        return
    has_corr = CORR in data
    fig, axes = plt.subplots(1, 2 if has_corr else 1, figsize=(11.5 if has_corr else 6.4, 4.2))
    ax = axes[0] if has_corr else axes
    for policy in ["student SKD", "teacher (evaluator search)", "Best-of-16 (SKD + evaluator scorer)", "upstream sort"]:
        if policy not in data:
            continue
        ns = sorted(data[policy])
        means = [sum(data[policy][n].values()) / len(data[policy][n]) for n in ns]
        lo = [min(data[policy][n].values()) for n in ns]
        hi = [max(data[policy][n].values()) for n in ns]
        ax.plot(ns, means, marker="o", label=policy)
        ax.fill_between(ns, lo, hi, alpha=0.2)
    ax.axhline(0.80, color="k", linestyle="--", linewidth=1, label="issue 13 bar for the SKD student (0.80)")
    ax.axhline(0.85, color="grey", linestyle=":", linewidth=1, label="stretch goal (0.85)")
    ax.set_xscale("log")
    ax.set_xlabel("logged pages")
    ax.set_ylabel("normalized utility (random 0, oracle 1)")
    ax.set_title("Oracle-free pipeline vs logged pages (small world)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if has_corr:
        ax2 = axes[1]
        ns = sorted(data[CORR])
        vals = [list(data[CORR][n].values()) for n in ns]
        ax2.plot(ns, [sum(v) / len(v) for v in vals], marker="o", color="C2", label="page evaluator (mean of seeds)")
        ax2.fill_between(ns, [min(v) for v in vals], [max(v) for v in vals], color="C2", alpha=0.2)
        ax2.axhline(0.6, color="k", linestyle="--", linewidth=1, label="issue 13 bar (0.6)")
        ax2.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="Best-of-N gate (0.5)")
        ax2.set_xscale("log")
        ax2.set_xlabel("logged pages")
        ax2.set_ylabel("within-request rank correlation")
        ax2.set_title("Evaluator on the SKD student's 16 proposals")
        ax2.grid(True, which="both", alpha=0.3)
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out + ".png", dpi=120)
    print("wrote " + out + ".csv and " + out + ".png")


if __name__ == "__main__":
    main()
