"""Plot the RL experiment curves written by tools/rl_experiments.sh (mean over seeds, shaded range)."""
import csv
import glob
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(directory):
    curves = defaultdict(list)  # name -> list of (xs, ys) per seed
    for path in sorted(glob.glob(os.path.join(directory, "*_seed*.csv"))):
        name = os.path.basename(path).rsplit("_seed", 1)[0]
        xs, ys = [], []
        with open(path) as f:
            for row in csv.DictReader(f):
                xs.append(int(row["requests"]))
                ys.append(float(row["normalized_utility"]))
        curves[name].append((xs, ys))
    return curves


def main():
    directory, out = sys.argv[1], sys.argv[2]
    curves = load(directory)
    panels = [("exp1", "(1) expected feedback, no drift"), ("exp2", "(2) weight swap, sampled clicks"),
              ("exp3_eng", "(3a) engagement x0.3"), ("exp3_sparse", "(3b) sparse x0.05, G=4")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for ax, (prefix, title) in zip(axes, panels):
        for name, runs in sorted(curves.items()):
            if not name.startswith(prefix):
                continue
            n = min(len(r[0]) for r in runs)
            xs = runs[0][0][:n]
            ys = [[r[1][i] for r in runs] for i in range(n)]
            mean = [sum(v) / len(v) for v in ys]
            ax.plot(xs, mean, label=f"{name[len(prefix) + 1:] or name} ({len(runs)} seeds)")
            ax.fill_between(xs, [min(v) for v in ys], [max(v) for v in ys], alpha=0.15)
        ax.set_title(title)
        ax.set_xlabel("requests")
        ax.set_ylabel("normalized utility (current weights)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
