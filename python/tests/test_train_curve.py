"""Self-tests of python/train_curve.py (run: python3 -m unittest discover -s python/tests)."""

import math
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import train_curve as tc  # noqa: E402
from dualrerank_ref.models import ArTeacher, NarStudent  # noqa: E402
from dualrerank_ref.safetensors import load_file  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "golden",
                      tc.FILE_NAME)


class TrainCurveTest(unittest.TestCase):
    def test_decay_set_is_every_linear_weight(self):
        # C++: nn::linear flags its weight `decay`; LayerNorm, biases, slot tensors and rank_emb are not.
        for cls in (ArTeacher, NarStudent):
            m = cls(tc.CONFIG)
            expected = {n for n, p in m.named_parameters()
                        if n.endswith(".weight") and p.dim() == 2 and not n.endswith("rank_emb.weight")}
            self.assertEqual(set(tc.decay_names(m)), expected)

    def test_learning_rate_schedule(self):
        c = tc.OPTIMIZER
        self.assertAlmostEqual(tc.learning_rate(c, 0), c["lr"] / c["warmup_steps"])
        self.assertAlmostEqual(tc.learning_rate(c, c["warmup_steps"] - 1), c["lr"])
        self.assertAlmostEqual(tc.learning_rate(c, c["warmup_steps"]), c["lr"])
        self.assertAlmostEqual(tc.learning_rate(c, c["total_steps"]), c["lr"] * c["min_lr_ratio"])
        mid = (c["warmup_steps"] + c["total_steps"]) // 2
        self.assertAlmostEqual(tc.learning_rate(c, mid), c["lr"] * (c["min_lr_ratio"] + (1 - c["min_lr_ratio"]) * 0.5))
        self.assertTrue(all(tc.learning_rate(c, s) > 0 for s in range(c["total_steps"])))

    def test_dataset_is_valid(self):
        sizes, feats, ctxs, ranks, targets, schedule = tc.make_dataset()
        self.assertEqual(len(sizes), tc.REQUESTS)
        for n, x, r, y in zip(sizes, feats, ranks, targets):
            self.assertTrue(tc.N_RANGE[0] <= n <= tc.N_RANGE[1])
            self.assertEqual(x.shape, (n, tc.CONFIG.features))
            self.assertEqual(sorted(r.tolist()), list(range(n)))
            self.assertEqual(len(set(y.tolist())), tc.L)
            self.assertTrue(all(0 <= i < n for i in y))
        self.assertEqual(schedule.shape, (tc.STEPS, tc.BATCH))
        self.assertTrue(all(len(set(row.tolist())) == tc.BATCH for row in schedule))

    @unittest.skipUnless(os.path.exists(GOLDEN), "committed fixture not present")
    def test_committed_fixture_matches_the_script(self):
        t, meta = load_file(GOLDEN)
        sizes, feats, ctxs, ranks, targets, schedule = tc.make_dataset()
        np.testing.assert_array_equal(t["data.n"], sizes)
        np.testing.assert_array_equal(t["data.features"], np.concatenate(feats))
        np.testing.assert_array_equal(t["data.targets"], targets)
        np.testing.assert_array_equal(t["schedule"], schedule)
        self.assertEqual(meta["config"], tc.CONFIG.to_json())
        self.assertEqual(int(meta["steps"]), tc.STEPS)
        for kind in ("teacher", "student"):
            loss = t[f"{kind}.loss"]
            self.assertEqual(loss.shape, (tc.STEPS,))
            self.assertTrue(np.all(np.isfinite(loss)))
            self.assertLess(loss[-20:].mean(), 0.25 * loss[:20].mean())  # it learns
            lr = [tc.learning_rate(tc.OPTIMIZER, s) for s in range(tc.STEPS)]
            self.assertTrue(all(math.isclose(a, b, rel_tol=0, abs_tol=0) for a, b in zip(t[f"{kind}.lr"], lr)))


if __name__ == "__main__":
    unittest.main()
