// Shared by the benchmarks: the reference architecture of the performance issues and FLOP counts.
#pragma once

#include <dualrerank/dualrerank.hpp>
#include <vector>

namespace bench_common {

using namespace dualrerank;

/// d = 64, h = 4, 2 encoder layers, 2 decoder layers, FFN 256, F = 32, context 8, L = 10.
inline model_config reference_config(int max_candidates = 256) {
    model_config c;
    c.features = 32;
    c.context = 8;
    c.d = 64;
    c.heads = 4;
    c.enc_layers = 2;
    c.dec_layers = 2;
    c.ffn = 256;
    c.max_slate = 10;
    c.max_candidates = max_candidates;
    return c;
}

inline std::vector<request<float>> make_requests(const model_config& c, int count, int n, std::uint64_t seed) {
    rng g(seed);
    std::vector<request<float>> out;
    for (int i = 0; i < count; ++i) {
        request<float> r;
        r.n = n;
        r.f = c.features;
        for (int j = 0; j < n * c.features; ++j) r.features.push_back(float(g.normal()));
        for (int j = 0; j < c.context; ++j) r.context.push_back(float(g.normal()));
        out.push_back(std::move(r));
    }
    return out;
}

/// FLOPs (2 per multiply-add) of the candidate encoder on N candidates.
inline double encoder_flops(const model_config& c, double N) {
    const double d = c.d, F = c.features, ff = c.ffn;
    double f = 2 * N * F * d;                          // input
    if (c.context > 0) f += 2 * N * F * d + 2 * c.context * d;  // item_ctx, ctx
    const double block = 2 * N * d * 3 * d + 4 * N * N * d + 2 * N * d * d + 4 * N * d * ff;
    return f + c.enc_layers * block;
}

/// NAR student forward (logits) FLOPs.
inline double student_flops(const model_config& c, double N, double L) {
    const double d = c.d, ff = c.ffn;
    const double block = 2 * L * d * 3 * d + 4 * L * L * d + 2 * L * d * d  // self-attention
                         + 2 * L * d * d + 2 * N * d * 2 * d + 4 * L * N * d + 2 * L * d * d  // cross-attention
                         + 4 * L * d * ff;
    return encoder_flops(c, N) + c.dec_layers * block + 2 * L * d * d + 2 * N * d * d + 2 * L * N * d;
}

/// AR teacher greedy decoding FLOPs (incremental with a KV cache).
inline double teacher_flops(const model_config& c, double N, double L) {
    const double d = c.d, ff = c.ffn;
    double f = encoder_flops(c, N) + c.dec_layers * (2 * N * d * 2 * d) + 2 * N * d * d;  // memory kv, pointer keys
    for (int t = 0; t < L; ++t) {
        const double block = 2 * d * 3 * d + 4 * (t + 1) * d + 2 * d * d + 2 * d * d + 4 * N * d + 2 * d * d + 4 * d * ff;
        f += c.dec_layers * block + 2 * d * d + 2 * N * d;
    }
    return f;
}

}  // namespace bench_common
