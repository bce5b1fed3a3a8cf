// Gumbel-Max slate sampling, K = 64 slates of L = 10 slots over N = 100 candidates:
//   naive   std::mt19937 + uniform_real_distribution<float> + two std::log per draw, masked argmax
//   scalar  decode::sample_slates_scalar (counter-based reference, one candidate at a time)
//   simd    decode::sample_slates (xsimd lanes), without and with log-probabilities
// The argument is the logits' standard deviation x 10 (Z ~ N(0, sigma^2), a different row per slot):
// 0 = flat rows (worst case of the SIMD filter), 15 = moderate, 30 = peaked (student-like).
// "per_slate" is the CPU time per slate (the inverse of items_per_second).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <dualrerank/core/rng.hpp>
#include <dualrerank/core/simd.hpp>
#include <dualrerank/core/workspace.hpp>
#include <dualrerank/decode/gumbel.hpp>

namespace {

using namespace dualrerank;

constexpr int K = 64, L = 10, N = 100;
constexpr double tau = 1.0;

std::vector<float> logits(double sigma) {
    rng r(12345);
    std::vector<float> z(static_cast<std::size_t>(L) * N);
    for (auto& v : z) v = static_cast<float>(r.normal(0.0, sigma));
    return z;
}

void report(benchmark::State& state) {
    state.SetItemsProcessed(state.iterations() * K);
    state.counters["per_slate"] =
        benchmark::Counter(static_cast<double>(K), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_gumbel_naive(benchmark::State& state) {
    const std::vector<float> Z = logits(state.range(0) / 10.0);
    std::vector<int> slates(static_cast<std::size_t>(K) * L);
    std::vector<char> used(N);
    std::mt19937 gen(42);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    const float inv_tau = static_cast<float>(1.0 / tau);
    for (auto _ : state) {
        for (int k = 0; k < K; ++k) {
            std::fill(used.begin(), used.end(), 0);
            for (int t = 0; t < L; ++t) {
                const float* z = Z.data() + static_cast<std::size_t>(t) * N;
                float best = -std::numeric_limits<float>::infinity();
                int bi = 0;
                for (int i = 0; i < N; ++i) {
                    if (used[i]) continue;
                    const float g = -std::log(-std::log(uniform(gen)));
                    const float v = z[i] * inv_tau + g;
                    if (v > best) {
                        best = v;
                        bi = i;
                    }
                }
                used[bi] = 1;
                slates[static_cast<std::size_t>(k) * L + t] = bi;
            }
        }
        benchmark::DoNotOptimize(slates.data());
        benchmark::ClobberMemory();
    }
    report(state);
}

template <bool Simd, bool LogProbs>
void BM_gumbel(benchmark::State& state) {
    const std::vector<float> Z = logits(state.range(0) / 10.0);
    std::vector<int> slates(static_cast<std::size_t>(K) * L);
    std::vector<float> log_probs(K);
    workspace ws;
    const counter_key key = counter_key::from_seed(42);
    std::uint32_t base = 0;
    for (auto _ : state) {
        float* lp = LogProbs ? log_probs.data() : nullptr;
        if (Simd)
            decode::sample_slates(Z.data(), L, N, N, tau, key, base, K, slates.data(), lp, ws);
        else
            decode::sample_slates_scalar(Z.data(), L, N, N, tau, key, base, K, slates.data(), lp, ws);
        ws.reset();
        base += static_cast<std::uint32_t>(K * L * N);
        benchmark::DoNotOptimize(slates.data());
        benchmark::ClobberMemory();
    }
    report(state);
}

/// The AR teacher's step: one masked row of N = 100, one draw.
void BM_gumbel_argmax_row(benchmark::State& state) {
    const std::vector<float> Z = logits(1.5);
    std::vector<std::uint8_t> used(N, 0);
    for (int i = 0; i < N; i += 10) used[i] = 1;
    const counter_key key = counter_key::from_seed(7);
    std::uint32_t base = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(decode::gumbel_argmax(Z.data(), N, used.data(), 1.0f, key, base));
        base += N;
    }
    state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_gumbel_naive)->Arg(15)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_gumbel, false, false)->Name("BM_gumbel_scalar")->Arg(15)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_gumbel, true, false)->Name("BM_gumbel_simd")->Arg(0)->Arg(15)->Arg(30)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_gumbel, true, true)->Name("BM_gumbel_simd_log_probs")->Arg(15)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_gumbel_argmax_row)->Unit(benchmark::kNanosecond);

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    benchmark::AddCustomContext("simd_arch", dualrerank::simd::arch_name());
    benchmark::AddCustomContext("lanes", std::to_string(dualrerank::simd::width<float>));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
