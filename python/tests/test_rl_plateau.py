"""Self-tests of python/rl_plateau.py (run: python3 -m unittest discover -s python/tests)."""

import io
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import rl_plateau as rp  # noqa: E402

HEADER = ("method,requests,normalized_utility,click_weight,long_weight,engagement,long_view_shift,reward,entropy,kl,"
          "clip_frac,eval_policy,eval_anchor\n")


def write_curve(path, rows):
    with open(path, "w") as f:
        f.write(HEADER)
        for method, requests, u, curve in rows:
            weights = "1,1,1,0" if curve else ",,,"
            f.write(f"{method},{requests},{u},{weights},,,,,,\n")


class PlateauTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        # Stream 1: ldro leads by 0.01 at both window points; stream 2 by 0.03 then 0.01. Checkpoints
        # land off the round counts (1003, 2007), the drift has two rows at 2000 (the first is kept),
        # and the final line (no weights) must be ignored.
        write_curve(os.path.join(self.dir.name, "swap_stream1.csv"), [
            ("ldro", 0, 0.5, True), ("ldro", 1003, 0.62, True), ("ldro", 2000, 0.70, True), ("ldro", 2000, 0.10, True),
            ("ldro", 2007, 0.10, True), ("ldro", 3000, 0.9, False),
            ("grpo", 0, 0.5, True), ("grpo", 998, 0.61, True), ("grpo", 2000, 0.69, True), ("grpo", 3000, 0.1, False)])
        write_curve(os.path.join(self.dir.name, "swap_stream2.csv"), [
            ("ldro", 0, 0.5, True), ("ldro", 1000, 0.63, True), ("ldro", 2001, 0.71, True),
            ("grpo", 0, 0.5, True), ("grpo", 1001, 0.60, True), ("grpo", 1999, 0.70, True)])

    def tearDown(self):
        self.dir.cleanup()

    def test_checkpoints_round_and_first_row_wins(self):
        c = rp.read_curves([self.dir.name], 1000)
        self.assertEqual(sorted(c[("swap", 1, "ldro")]), [0, 1000, 2000])
        self.assertAlmostEqual(c[("swap", 1, "ldro")][2000], 0.70)
        streams, points = rp.paired(c, "swap", "ldro", "grpo")
        self.assertEqual(streams, [1, 2])
        self.assertEqual(points, [0, 1000, 2000])

    def test_window_means_per_stream(self):
        c = rp.read_curves([self.dir.name], 1000)
        d = rp.window_diffs(c, "swap", "ldro", "grpo", 1000, 2000)
        self.assertEqual(len(d), 2)
        self.assertAlmostEqual(d[0], 0.01)
        self.assertAlmostEqual(d[1], 0.02)
        self.assertEqual(rp.window_diffs(c, "swap", "ldro", "grpo", 5000, 6000), [])
        self.assertEqual(rp.window_diffs(c, "none", "ldro", "grpo", 0, 2000), [])

    def test_main_prints_the_window_line(self):
        out = io.StringIO()
        with redirect_stdout(out):
            rp.main([self.dir.name, "--window", "1000", "2000", "--quiet"])
        line = out.getvalue().strip()
        self.assertIn("swap", line)
        self.assertIn("n= 2", line)
        self.assertIn("+0.0150", line)


if __name__ == "__main__":
    unittest.main()
