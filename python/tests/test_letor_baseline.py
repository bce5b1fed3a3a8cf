"""Self-tests of python/letor_baseline.py (run: python3 -m unittest discover -s python/tests)."""

import io
import json
import math
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import letor_baseline as lb  # noqa: E402

# Feature 1 is the label itself, feature 2 noise: ridge ranks every query perfectly.
TRAIN = """2 qid:1 1:2 2:0.3
0 qid:1 1:0 2:0.9
1 qid:1 1:1 2:0.1
1 qid:2 1:1 2:0.5
0 qid:2 1:0 2:0.2
2 qid:2 1:2 2:0.7
"""
TEST = """0 qid:7 1:0 2:0.4
2 qid:7 1:2 2:0.6
1 qid:7 1:1 2:0.8
0 qid:8 1:0 2:0.1
0 qid:8 1:0 2:0.2
"""


class LetorBaselineTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.train = self.path("train.txt", TRAIN)
        self.test = self.path("test.txt", TEST)

    def tearDown(self):
        self.dir.cleanup()

    def path(self, name, text):
        p = os.path.join(self.dir.name, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def rankings(self, name, orders):
        return self.path(name, "".join(json.dumps({"id": q, "slate": o, "scores": [0.0] * len(o), "score": 0.0}) + "\n"
                                       for q, o in orders.items()))

    def test_ndcg_convention(self):
        self.assertAlmostEqual(lb.ndcg_at_k([1, 2, 0], [0, 2, 1], 10), 1.0)
        # order (0, 1, 2) of labels (0, 2, 1): dcg = 3 / log2(3) + 1 / log2(4); idcg = 3 + 1 / log2(3)
        want = (3 / math.log2(3) + 1 / 2) / (3 + 1 / math.log2(3))
        self.assertAlmostEqual(lb.ndcg_at_k([0, 1, 2], [0, 2, 1], 10), want)
        self.assertAlmostEqual(lb.ndcg_at_k([0, 1], [0, 0], 10), 1.0)  # no relevant document
        self.assertAlmostEqual(lb.ndcg_at_k([0, 1, 2], [0, 2, 1], 1), 0.0)

    def test_ridge_ranks_the_label_feature_first(self):
        from dualrerank_ref.letor import read_letor_file
        train = read_letor_file(self.train)
        test = read_letor_file(self.test, feature_width=train.width)
        w = lb.fit_ridge(train.queries, 1.0)
        self.assertEqual(list(lb.ridge_order(w, test.queries[0].features)), [1, 2, 0])

    def test_paired_difference_against_ridge(self):
        worst = self.rankings("worst.jsonl", {7: [0, 2, 1], 8: [1, 0]})
        best = self.rankings("best.jsonl", {7: [1, 2, 0], 8: [0, 1]})
        out = io.StringIO()
        with redirect_stdout(out):
            lb.main(["--train", self.train, "--test", self.test, "--at", "10", worst, best])
        text = out.getvalue()
        q7_worst = lb.ndcg_at_k([0, 2, 1], [0, 2, 1], 10)
        # query 7: mean of the two files minus ridge's 1.0; query 8 ties at 1.0
        mean = ((q7_worst + 1.0) / 2 - 1.0) / 2
        self.assertIn(f"{mean:+.4f}", text)
        self.assertIn("model better on 0, ridge on 1", text)
        self.assertIn("ridge   alpha 1: NDCG@10 1.0000", text)

    def test_bad_rankings_are_rejected(self):
        partial = self.rankings("partial.jsonl", {7: [1, 2], 8: [0, 1]})
        with self.assertRaisesRegex(ValueError, "not a full order"):
            lb.main(["--train", self.train, "--test", self.test, partial])
        missing = self.rankings("missing.jsonl", {7: [1, 2, 0]})
        with self.assertRaisesRegex(ValueError, "no ranking for query 8"):
            lb.main(["--train", self.train, "--test", self.test, missing])
        error = self.path("error.jsonl", json.dumps({"id": 7, "error": "bad"}) + "\n")
        with self.assertRaisesRegex(ValueError, "error.jsonl:1"):
            lb.main(["--train", self.train, "--test", self.test, error])

    def test_paired_summary(self):
        m, se, lo, hi = lb.paired_summary([0.1, 0.3])
        self.assertAlmostEqual(m, 0.2)
        self.assertAlmostEqual(se, np.std([0.1, 0.3], ddof=1) / math.sqrt(2))
        self.assertAlmostEqual(hi - m, 12.706 * se, places=6)


if __name__ == "__main__":
    unittest.main()
