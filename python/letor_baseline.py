"""A model's rankings against a linear baseline on the same LETOR test queries, paired per query.

On a test file of a hundred or so queries, the NDCG of one ranker and of another differ by query
far more than on the mean, so two means 0.01 apart say little by themselves. This script fits the
usual linear reference, ridge regression (alpha 1 by default, unpenalized intercept, on the raw
feature columns, graded labels as targets) on the training file, scores the test file, and pairs
it query by query with the rankings of `dualrerank rerank --full-ranking` (one JSON line per query,
"id" the qid, "slate" the full order). With several ranking files (e.g. seeds 1, 2, 3) a query's
figure is their mean. NDCG@k is the library's (eval/metrics.hpp): gain 2^label - 1, log2 discount,
1 for a query with no relevant document.

Usage:
  dualrerank rerank --model s.safetensors --input test.txt --full-ranking > s1.jsonl
  python3 python/letor_baseline.py --train train.txt --test test.txt --at 10 s1.jsonl [s2.jsonl ...]

Prints the model's NDCG@k per ranking file, ridge's, and the per-query paired difference (model -
ridge): mean, standard error, 95% t confidence interval, and how many queries each side wins.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dualrerank_ref.letor import read_letor_file  # noqa: E402
from summarize_rl import t95  # noqa: E402


def ndcg_at_k(order, labels, k):
    """NDCG@k of the documents in `order` (indices into labels), the library's convention."""
    labels = np.asarray(labels, dtype=np.float64)
    gains = 2.0 ** labels - 1.0
    top = np.asarray(order[:k], dtype=np.int64)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float((gains[top] * disc[:len(top)]).sum())
    ideal = np.sort(gains)[::-1][:k]
    idcg = float((ideal * disc[:len(ideal)]).sum())
    return dcg / idcg if idcg > 0 else 1.0


def fit_ridge(queries, alpha):
    """Weights [width + 1] (the last one the intercept, not penalized) of ridge on every document."""
    x = np.vstack([q.features for q in queries]).astype(np.float64)
    y = np.concatenate([q.labels for q in queries]).astype(np.float64)
    xa = np.hstack([x, np.ones((len(x), 1))])
    penalty = np.full(xa.shape[1], float(alpha))
    penalty[-1] = 0.0
    return np.linalg.solve(xa.T @ xa + np.diag(penalty), xa.T @ y)


def ridge_order(w, features):
    width = len(w) - 1
    x = np.zeros((len(features), width))
    cols = min(width, features.shape[1])
    x[:, :cols] = features[:, :cols]
    scores = x @ w[:-1] + w[-1]
    return np.argsort(-scores, kind="stable")


def read_rankings(path):
    """qid -> full order, from rerank's JSON lines; every line must name an id and a slate."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            if "error" in rec or "slate" not in rec or "id" not in rec:
                raise ValueError(f"{path}:{n}: not a ranking line (needs \"id\" and \"slate\")")
            out[int(rec["id"])] = [int(i) for i in rec["slate"]]
    return out


def paired_summary(diffs):
    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    m = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    h = t95(n - 1) * se if n > 1 else float("nan")
    return m, se, m - h, m + h


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--at", type=int, default=10)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("rankings", nargs="+")
    o = p.parse_args(argv)
    if o.at < 1:
        p.error("--at must be >= 1")
    train = read_letor_file(o.train)
    test = read_letor_file(o.test, feature_width=max(train.width, 0))
    w = fit_ridge(train.queries, o.alpha)
    runs = [read_rankings(r) for r in o.rankings]
    ridge, model = [], []
    for q in test.queries:
        ridge.append(ndcg_at_k(ridge_order(w, q.features), q.labels, o.at))
        per_run = []
        for path, run in zip(o.rankings, runs):
            if q.qid not in run:
                raise ValueError(f"{path}: no ranking for query {q.qid}")
            order = run[q.qid]
            if sorted(order) != list(range(len(q.labels))):
                raise ValueError(f"{path}: query {q.qid}: the slate is not a full order of its {len(q.labels)} documents "
                                 "(use rerank --full-ranking)")
            per_run.append(ndcg_at_k(order, q.labels, o.at))
        model.append(per_run)
    model = np.asarray(model)
    for path, col in zip(o.rankings, model.T):
        print(f"model   {path}: NDCG@{o.at} {col.mean():.4f}")
    print(f"ridge   alpha {o.alpha:g}: NDCG@{o.at} {np.mean(ridge):.4f}")
    diffs = model.mean(axis=1) - np.asarray(ridge)
    m, se, lo, hi = paired_summary(diffs)
    print(f"model - ridge, paired over {len(diffs)} queries (model: mean of {len(runs)} file(s)): "
          f"{m:+.4f} (se {se:.4f}), 95% CI [{lo:+.4f}, {hi:+.4f}]; "
          f"model better on {int((diffs > 1e-12).sum())}, ridge on {int((diffs < -1e-12).sum())}")


if __name__ == "__main__":
    main()
