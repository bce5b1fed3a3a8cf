"""Self-tests of the PyTorch reference (run: python3 -m unittest discover -s python/tests)."""

import os
import struct
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dualrerank_ref import (ArTeacher, ListEvaluator, ModelConfig, NarStudent, NarStudentEnsemble, Request,  # noqa: E402
                            decode, load_model, save_model)
from dualrerank_ref.safetensors import SafetensorsError, load_file, save_file  # noqa: E402
from dualrerank_ref.weights import apply_portable, default_spec, portable_values  # noqa: E402

CFG = ModelConfig(features=5, context=3, d=12, heads=3, enc_layers=1, dec_layers=2, ffn=20, max_slate=4,
                  max_candidates=16, rank_embedding=True, outputs=2)


def requests(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [Request(torch.randn(n, CFG.features, generator=g, dtype=torch.float64),
                    torch.randn(CFG.context, generator=g, dtype=torch.float64), torch.randperm(n, generator=g))
            for n in sizes]


def model(cls, seed=1):
    m = cls(CFG).double()
    apply_portable(m, seed, default_spec(m))
    return m


class SafetensorsTest(unittest.TestCase):
    def test_round_trip_and_layout(self):
        t = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1.5, -2.0]),
             "c": np.array([[1, 2]], dtype=np.int32), "d": np.array([7], dtype=np.int64),
             "e": np.zeros((0, 3), dtype=np.float32)}
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.safetensors")
            save_file(t, p, {"k": "v"})
            with open(p, "rb") as f:
                raw = f.read()
            (n,) = struct.unpack("<Q", raw[:8])
            self.assertEqual(n % 8, 0)
            back, meta = load_file(p)
            self.assertEqual(meta["k"], "v")
            for k, v in t.items():
                self.assertEqual(back[k].dtype, v.dtype)
                np.testing.assert_array_equal(back[k], v)
            # corrupt one data byte: the checksum catches it
            bad = bytearray(raw)
            bad[-1] ^= 1
            with open(p, "wb") as f:
                f.write(bytes(bad))
            with self.assertRaises(SafetensorsError):
                load_file(p)
            # truncated file: offsets outside the data region
            with open(p, "wb") as f:
                f.write(raw[:-4])
            with self.assertRaises(SafetensorsError):
                load_file(p, verify_checksum=False)


class WeightsTest(unittest.TestCase):
    def test_values_are_float32_exact_and_stable(self):
        v = portable_values(1, "a", 4, 0.0, -2)
        self.assertEqual(v.dtype, np.float32)
        # regression bits: tests/test_parity.cpp reproduces this stream bit for bit
        self.assertEqual([int(x) for x in v.view(np.uint32)], [0x3e01f933, 0xbd03bccc, 0x3e2e35db, 0xbd82f772])
        w = portable_values(1, "a", 4, 1.0, -3)
        self.assertEqual([int(x) for x in w.view(np.uint32)], [0x3f881f93, 0x3f7be21a, 0x3f8ae35e, 0x3f77d089])
        self.assertTrue(np.all(np.abs(portable_values(3, "b", 1000, 1.0, -3) - 1.0) <= 0.125))


class ModelTest(unittest.TestCase):
    def test_padded_batch_equals_single_requests(self):
        s = model(NarStudent)
        reqs = requests([5, 9, 7])
        Z = s.logits(reqs, 4)
        for b, r in enumerate(reqs):
            z1 = s.logits([r], 4)[0]
            torch.testing.assert_close(Z[b, :, :r.n], z1, rtol=1e-12, atol=1e-12)
            self.assertTrue(torch.isinf(Z[b, :, r.n:]).all())

    def test_teacher_forcing_equals_incremental_steps(self):
        t = model(ArTeacher)
        r = requests([9])[0]
        y = torch.tensor([[3, 0, 8, 5]])
        Z = t.teacher_forced([r], y)[0]
        H = t.encode(r)
        for p in range(4):
            z = t.step_logits(H, y[:, :p]).detach()[0]
            z[y[0, :p]] = float("-inf")
            torch.testing.assert_close(Z[p], z, rtol=1e-12, atol=1e-12)

    def test_decoders(self):
        t = model(ArTeacher)
        r = requests([8])[0]
        g = decode.teacher_greedy(t, r, 4)
        y, lp = decode.teacher_beam(t, r, 4, 1)
        self.assertEqual(g, y)
        y3, lp3 = decode.teacher_beam(t, r, 4, 3)
        self.assertGreaterEqual(lp3, lp - 1e-12)
        Z = t.teacher_forced([r], torch.tensor([y3]))[0]
        self.assertAlmostEqual(decode.slate_log_prob(Z, y3), lp3, places=10)
        # ties: lowest index / lowest slot first
        Z = np.zeros((3, 4))
        self.assertEqual(decode.greedy_slate(Z), [0, 1, 2])
        self.assertEqual(decode.confident_slate(Z), [0, 1, 2])
        Z = np.array([[0.0, 1.0, 0.0], [5.0, 0.0, 0.0]])
        self.assertEqual(decode.confident_slate(Z), [1, 0])
        self.assertEqual(decode.greedy_slate(Z), [1, 0])

    def test_save_load_with_self_test(self):
        for cls in (NarStudent, ArTeacher, ListEvaluator):
            m = model(cls)
            with tempfile.TemporaryDirectory() as d:
                for dt in (torch.float32, torch.float64):
                    p = os.path.join(d, "m.safetensors")
                    save_model(m, p, dtype=dt)
                    back = load_model(p)
                    self.assertEqual(next(back.parameters()).dtype, dt)
                    self.assertEqual(list(back.state_dict()), list(m.state_dict()))
                    for k, v in m.state_dict().items():
                        torch.testing.assert_close(back.state_dict()[k].double(), v.to(dt).double(), rtol=0, atol=0)
                # a wrong weight fails the embedded self-test
                tensors, meta = load_file(p)
                # (not a constant shift of a LayerNorm input, which the model cannot see)
                tensors["pointer.q.weight" if cls is not ListEvaluator else "head.weight"] *= 1.5
                save_file(tensors, p, meta)
                with self.assertRaises(ValueError):
                    load_model(p)
                load_model(p, verify=False)

    def test_ensemble_file(self):
        """format_version 3 (a student ensemble): the logits are the members' mean, the file round-trips
        with its self-test, and malformed ensemble metadata is refused by name."""
        e = NarStudentEnsemble([model(NarStudent, seed) for seed in (1, 2, 3)])
        reqs = requests([7, 5])
        Z = e.logits(reqs, 4)
        mean = sum(m.logits(reqs, 4) for m in e.members) / 3
        torch.testing.assert_close(Z, mean, rtol=0, atol=0)
        self.assertTrue(bool(torch.isinf(Z[1, :, 5:]).all()))  # padding stays -inf
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "e.safetensors")
            save_model(e, p, dtype=torch.float64)
            tensors, meta = load_file(p)
            self.assertEqual((meta["format_version"], meta["members"]), ("3", "3"))
            self.assertIn("member.2.pointer.k.weight", tensors)
            self.assertNotIn("pointer.k.weight", tensors)
            back = load_model(p)
            self.assertIsInstance(back, NarStudentEnsemble)
            torch.testing.assert_close(back.logits(reqs, 4), Z, rtol=0, atol=0)
            cases = [
                ({"members": "1"}, "from 2 to 64"), ({"members": "65"}, "from 2 to 64"), ({"members": "03"}, "'03'"),
                ({"members": "x"}, "'x'"), ({"format_version": "2"}, "needs format_version 3"),
                ({"members": None}, 'requires __metadata__["members"]'), ({"members": "4"}, "missing"),
                ({"kind": "ar_teacher"}, "only a nar_student"),
            ]
            bad = os.path.join(d, "bad.safetensors")
            for edit, message in cases:
                m2 = dict(meta)
                for k, v in edit.items():
                    if v is None:
                        m2.pop(k)
                    else:
                        m2[k] = v
                save_file(tensors, bad, m2)
                with self.assertRaises(ValueError) as ctx:
                    load_model(bad)
                self.assertIn(message, str(ctx.exception), edit)
            # a changed member weight fails the ensemble's self-test
            t2 = dict(tensors)
            t2["member.1.pointer.q.weight"] = t2["member.1.pointer.q.weight"] * 1.5
            save_file(t2, bad, meta)
            with self.assertRaisesRegex(ValueError, "self-test failed"):
                load_model(bad)
        with self.assertRaisesRegex(ValueError, "another config"):
            NarStudentEnsemble([model(NarStudent), NarStudent(ModelConfig(features=5, context=3, d=8, heads=2))])


if __name__ == "__main__":
    unittest.main()
