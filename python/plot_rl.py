"""Plot the curves written by tools/rl_experiments.sh: one panel per drift, the mean over streams
of each method's normalized utility (closed form, current conditions), shaded min-max range.
Also plots a `dualrerank ldro --eval-every` curve CSV (columns requests, utility_*)."""
import csv
import glob
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(directory):
    curves = defaultdict(lambda: defaultdict(list))  # drift -> method -> [(xs, ys) per stream]
    for path in sorted(glob.glob(os.path.join(directory, "*_stream*.csv"))):
        drift = os.path.basename(path).rsplit("_stream", 1)[0]
        per = defaultdict(lambda: ([], []))
        with open(path) as f:
            for row in csv.DictReader(f):
                xs, ys = per[row["method"]]
                x = int(row["requests"])
                if xs and xs[-1] == x:
                    ys[-1] = float(row["normalized_utility"])
                else:
                    xs.append(x)
                    ys.append(float(row["normalized_utility"]))
        for m, c in per.items():
            curves[drift][m].append(c)
    return curves


def plot_cli(path, out):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    xs = [int(r["requests"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for col in rows[0]:
        if col.startswith("utility") or col.startswith("eval"):
            ax.plot(xs, [float(r[col]) for r in rows], label=col)
    ax.set_xlabel("requests")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main():
    src, out = sys.argv[1], sys.argv[2]
    if src.endswith(".csv"):
        plot_cli(src, out)
        print(f"wrote {out}")
        return
    curves = load(src)
    drifts = sorted(curves)
    fig, axes = plt.subplots(1, len(drifts), figsize=(5 * len(drifts), 4), squeeze=False)
    for ax, d in zip(axes[0], drifts):
        for m in ("none", "ldro", "grpo", "goalrank"):
            runs = curves[d].get(m)
            if not runs:
                continue
            n = min(len(r[0]) for r in runs)
            xs = runs[0][0][:n]
            ys = [[r[1][i] for r in runs] for i in range(n)]
            ax.plot(xs, [sum(v) / len(v) for v in ys], label=f"{m} ({len(runs)} streams)")
            ax.fill_between(xs, [min(v) for v in ys], [max(v) for v in ys], alpha=0.12)
        ax.set_title(d)
        ax.set_xlabel("requests")
        ax.set_ylabel("normalized utility (current conditions)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
