"""Summarize tools/rl_experiments.sh's summary.txt (one line per method and stream).

Per drift and method: number of streams, mean final normalized utility, mean gain over the start
policy under the final conditions (and the worst stream), the median requests to recover 90% of
the final gain after the shift; then the paired differences LDRO - GRPO, LDRO - GoalRank and
LDRO - no RL per drift, and each LDRO variant (ldro-*) - GRPO (mean and 95% t confidence interval
over streams).
"""
import math
import re
import sys
from collections import defaultdict

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 19: 2.093, 29: 2.045, 39: 2.023,
       59: 2.001, 119: 1.980}


def t95(df):
    if df in T95:
        return T95[df]
    return min((v for k, v in T95.items() if k <= df), default=1.96) if df > 0 else float("nan")


def ci(xs):
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, float("nan"), float("nan")
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = t95(n - 1) * sd / math.sqrt(n)
    return m, m - h, m + h


def main():
    runs = defaultdict(dict)  # (drift, method) -> stream -> dict
    for line in open(sys.argv[1]):
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        if "method" not in kv:
            continue
        runs[(kv["drift"], kv["method"])][kv["stream"]] = kv
    drifts = sorted({d for d, _ in runs})
    print(f"{'drift':12s} {'method':28s} {'streams':>7s} {'start':>7s} {'final':>7s} {'gain':>8s} {'worst':>8s} {'recover90':>9s}")
    for d in drifts:
        for (dd, m), v in sorted(runs.items()):
            if dd != d:
                continue
            xs = list(v.values())
            fin = [float(x["final"]) for x in xs]
            gain = [float(x["gain"]) for x in xs]
            rec = sorted(int(x["recover90"]) for x in xs)
            print(f"{d:12s} {m:28s} {len(xs):7d} {float(xs[0]['anchor_final']):7.4f} {sum(fin) / len(fin):7.4f} "
                  f"{sum(gain) / len(gain):+8.4f} {min(gain):+8.4f} {rec[len(rec) // 2]:9d}")
    print()
    print("paired differences of the final normalized utility (same streams), mean [95% CI]:")
    for d in drifts:
        variants = sorted(m for dd, m in runs if dd == d and m.startswith("ldro") and m != "ldro")
        pairs = [("ldro", o) for o in ("grpo", "goalrank", "none")] + [(v, "grpo") for v in variants]
        for name, other in pairs:
            a, b = runs.get((d, name), {}), runs.get((d, other), {})
            common = sorted(set(a) & set(b))
            if not common:
                continue
            diff = [float(a[s]["final"]) - float(b[s]["final"]) for s in common]
            m, lo, hi = ci(diff)
            flag = "above 0" if lo > 0 else ("below 0" if hi < 0 else "contains 0")
            label = "LDRO" if name == "ldro" else name
            print(f"  {d:12s} {label} - {other:9s} n={len(common):2d}  {m:+.4f} [{lo:+.4f}, {hi:+.4f}]  {flag}")


if __name__ == "__main__":
    main()
