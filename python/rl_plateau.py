"""Paired LDRO - GRPO differences along the learning curves of tools/rl_experiments.sh.

The summary (python/summarize_rl.py) compares the methods at one point, the end of the stream. A
policy trained online jitters from one evaluation to the next, so that one point carries the
iterate's noise on top of the streams'. This script reads the per-stream curve CSVs
(DRIFT_streamS.csv, written by examples/rl_experiments --csv) and prints, per drift:

- the paired difference A - B (default ldro - grpo) at every evaluation (checkpoints are rounded to
  the nearest multiple of --every requests, since the trainer's steps do not land on round counts);
- its mean over a window of evaluations (--window FROM TO, in requests, both ends included), per
  stream first, then the mean and 95% t confidence interval over the streams: the plateau.

When two directories hold curves of the same (drift, stream, method), the first directory given
wins (pass a rerun's directory before the table's).

Usage: python3 python/rl_plateau.py DIR [DIR ...] [--a ldro] [--b grpo] [--every 1000]
                                    [--window 18000 24000] [--quiet]
"""
import argparse
import csv
import glob
import os
import re
from collections import defaultdict

from summarize_rl import ci


def read_curves(dirs, every):
    """(drift, stream, method) -> {checkpoint: normalized utility}; the first row per checkpoint wins
    (at the drift the curve has the last evaluation under the old conditions first)."""
    curves = defaultdict(dict)
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*_stream*.csv"))):
            m = re.fullmatch(r"(.+)_stream(\d+)\.csv", os.path.basename(path))
            if not m:
                continue
            drift, stream = m.group(1), int(m.group(2))
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    if row["click_weight"] == "":  # the final evaluation line, not a curve point
                        continue
                    k = int(round(int(row["requests"]) / every)) * every
                    curves[(drift, stream, row["method"])].setdefault(k, float(row["normalized_utility"]))
    return curves


def paired(curves, drift, a, b):
    """Streams with both methods, and the checkpoints every one of them has."""
    streams = sorted(s for (d, s, m) in curves if d == drift and m == a and (d, s, b) in curves)
    if not streams:
        return [], []
    common = set.intersection(*(set(curves[(drift, s, a)]) & set(curves[(drift, s, b)]) for s in streams))
    return streams, sorted(common)


def window_diffs(curves, drift, a, b, lo, hi):
    """Per stream, the mean over the checkpoints in [lo, hi] of a's utility minus b's."""
    streams, points = paired(curves, drift, a, b)
    inside = [k for k in points if lo <= k <= hi]
    if not inside:
        return []
    return [sum(curves[(drift, s, a)][k] - curves[(drift, s, b)][k] for k in inside) / len(inside) for s in streams]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+")
    p.add_argument("--a", default="ldro")
    p.add_argument("--b", default="grpo")
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--window", type=int, nargs=2, default=(18000, 24000), metavar=("FROM", "TO"))
    p.add_argument("--quiet", action="store_true", help="only the window's line per drift")
    o = p.parse_args(argv)
    curves = read_curves(o.dirs, o.every)
    for drift in sorted({d for d, _, _ in curves}):
        streams, points = paired(curves, drift, o.a, o.b)
        if not streams:
            continue
        if not o.quiet:
            print(f"{drift}: {o.a} - {o.b}, {len(streams)} streams")
            for k in points:
                m, lo, hi = ci([curves[(drift, s, o.a)][k] - curves[(drift, s, o.b)][k] for s in streams])
                print(f"  {k:6d}  {m:+.4f} [{lo:+.4f}, {hi:+.4f}]")
        d = window_diffs(curves, drift, o.a, o.b, *o.window)
        if d:
            m, lo, hi = ci(d)
            print(f"{drift:12s} {o.a} - {o.b}  mean over {o.window[0]}-{o.window[1]} requests, n={len(d):2d}  "
                  f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]")


if __name__ == "__main__":
    main()
