"""Analytic FLOP counts of the benchmark cases (bench/compare.sh; the same formulas as
bench/bench_common.hpp, which the Google Benchmark counters use).

Conventions: 2 FLOPs per multiply-add; only matrix products are counted (the linear layers and
the attention products Q K^T and P V); LayerNorm, softmax, GELU, biases, residual additions and the
greedy argmax are not (they are O(rows * d), a few percent at these sizes). With d the width, F the
features, Fc the context features, ff the FFN width, n_enc / n_dec the layer counts, N candidates
and L slots:

  encoder(N)  = 2 N F d                               input projection
              + 2 N F d + 2 Fc d                      item-context projection and context (Fc > 0)
              + n_enc * ( 6 N d^2                     q, k, v projections
                        + 4 N^2 d                     scores Q K^T and weighted sum P V
                        + 2 N d^2                     attention output projection
                        + 4 N d ff )                  FFN fc1 and fc2
  student(N, L) = encoder(N)
              + n_dec * ( 6 L d^2 + 4 L^2 d + 2 L d^2      self-attention among the L slots
                        + 2 L d^2 + 4 N d^2              cross-attention q (L rows), k and v (N rows)
                        + 4 L N d + 2 L d^2              cross-attention products and output
                        + 4 L d ff )                     FFN
              + 2 L d^2 + 2 N d^2 + 2 L N d              pointer: q, k projections and Z = q k^T
  teacher_greedy(N, L) (incremental decoding with a KV cache; step t = 0 .. L-1 adds one row)
              = encoder(N) + n_dec * 4 N d^2 + 2 N d^2   memory k, v per block; pointer keys (once)
              + sum_t [ n_dec * ( 6 d^2 + 4 (t + 1) d + 2 d^2      self-attention over t + 1 rows
                                + 2 d^2 + 4 N d + 2 d^2          cross-attention
                                + 4 d ff )                       FFN
                        + 2 d^2 + 2 N d ]                         pointer q and the N logits
  train_step(B, N, L) = 3 * B * student(N, L)         forward + backward (the backward of a matrix
                                                      product is two products of the same size), the
                                                      usual 3x approximation; the teacher's teacher-
                                                      forced forward has the same count (its causal
                                                      self-attention computed densely over L rows)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Arch", "encoder_flops", "student_flops", "teacher_greedy_flops", "train_step_flops", "case_flops"]


@dataclass
class Arch:
    d: int = 64
    features: int = 32
    context: int = 8
    ffn: int = 256
    enc_layers: int = 2
    dec_layers: int = 2


def encoder_flops(a: Arch, N: int) -> float:
    d, F, ff = a.d, a.features, a.ffn
    f = 2.0 * N * F * d
    if a.context > 0:
        f += 2.0 * N * F * d + 2.0 * a.context * d
    block = 6.0 * N * d * d + 4.0 * N * N * d + 2.0 * N * d * d + 4.0 * N * d * ff
    return f + a.enc_layers * block


def student_flops(a: Arch, N: int, L: int) -> float:
    d, ff = a.d, a.ffn
    block = (6.0 * L * d * d + 4.0 * L * L * d + 2.0 * L * d * d
             + 2.0 * L * d * d + 4.0 * N * d * d + 4.0 * L * N * d + 2.0 * L * d * d
             + 4.0 * L * d * ff)
    return encoder_flops(a, N) + a.dec_layers * block + 2.0 * L * d * d + 2.0 * N * d * d + 2.0 * L * N * d


def teacher_greedy_flops(a: Arch, N: int, L: int) -> float:
    d, ff = a.d, a.ffn
    f = encoder_flops(a, N) + a.dec_layers * 4.0 * N * d * d + 2.0 * N * d * d
    for t in range(L):
        block = 6.0 * d * d + 4.0 * (t + 1) * d + 2.0 * d * d + 2.0 * d * d + 4.0 * N * d + 2.0 * d * d + 4.0 * d * ff
        f += a.dec_layers * block + 2.0 * d * d + 2.0 * N * d
    return f


def train_step_flops(a: Arch, B: int, N: int, L: int) -> float:
    return 3.0 * B * student_flops(a, N, L)


def case_flops(case: str, N: int, L: int = 10, B: int = 32) -> float:
    """FLOPs of one benchmark case (per request for single-request cases; the whole batch for
    nar_batch* and train_*)."""
    if case == "nar_greedy":
        return student_flops(Arch(), N, L)
    if case.startswith("nar_batch"):
        return B * student_flops(Arch(), N, L)
    if case == "ar_greedy":
        return teacher_greedy_flops(Arch(), N, L)
    if case == "ar1_greedy":
        return teacher_greedy_flops(Arch(dec_layers=1), N, L)
    if case in ("train_teacher", "train_student"):
        return train_step_flops(Arch(), B, N, L)
    raise ValueError(f"unknown case {case!r}")


if __name__ == "__main__":
    for n in (20, 50, 100, 200):
        print(f"N {n:3d}: NAR {student_flops(Arch(), n, 10) / 1e6:7.2f} MFLOP, AR {teacher_greedy_flops(Arch(), n, 10) / 1e6:7.2f}"
              f" MFLOP, AR 1-layer decoder {teacher_greedy_flops(Arch(dec_layers=1), n, 10) / 1e6:7.2f} MFLOP")
    print(f"train step B 32, N 50: {train_step_flops(Arch(), 32, 50, 10) / 1e9:.2f} GFLOP")
