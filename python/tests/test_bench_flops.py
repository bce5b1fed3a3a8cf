"""The analytic FLOP counts of python/bench_flops.py (the performance table's FLOP column) equal the
matrix-product FLOPs the PyTorch reference actually executes, counted with a TorchFunctionMode
(2 FLOPs per multiply-add of every F.linear and matmul), for the NAR forward and the KV-cache AR
greedy decode."""

import os
import sys
import unittest

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import bench_flops as bf  # noqa: E402
import compare_prepare as cp  # noqa: E402
from bench_infer import ar_greedy_kv  # noqa: E402
from torch_bench_common import make_requests  # noqa: E402

MATMULS = (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm)


class CountFlops(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is F.linear:
            x, w = args[0], args[1]
            self.flops += 2 * (x.numel() // x.shape[-1]) * w.shape[0] * w.shape[1]
        elif func in MATMULS:
            self.flops += 2 * out.numel() * args[0].shape[-1]
        return out


class TestBenchFlops(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.models = cp.build_models()

    def test_student_forward(self):
        m = self.models["nar_student"]
        for N in (7, 20, 50):
            r = make_requests(m.config, 1, N, 2)[0]
            with torch.no_grad(), CountFlops() as c:
                m(r.features[None], r.context[None], None, None, 10)
            self.assertEqual(c.flops, bf.student_flops(bf.Arch(), N, 10), f"N={N}")
            self.assertEqual(bf.case_flops("nar_greedy", N), bf.student_flops(bf.Arch(), N, 10))

    def test_teacher_greedy_kv(self):
        for name, arch in (("ar_teacher", bf.Arch()), ("ar_teacher_1dec", bf.Arch(dec_layers=1))):
            m = self.models[name]
            for N in (12, 50):
                r = make_requests(m.config, 1, N, 3)[0]
                with torch.no_grad(), CountFlops() as c:
                    ar_greedy_kv(m, r.features[None], r.context[None])
                self.assertEqual(c.flops, bf.teacher_greedy_flops(arch, N, 10), f"{name} N={N}")

    def test_counter_sees_products(self):  # the counter itself is not vacuous
        with CountFlops() as c:
            torch.ones(3, 4) @ torch.ones(4, 5)
            F.linear(torch.ones(2, 6), torch.ones(7, 6))
        self.assertEqual(c.flops, 2 * 3 * 4 * 5 + 2 * 2 * 6 * 7)


if __name__ == "__main__":
    unittest.main()
