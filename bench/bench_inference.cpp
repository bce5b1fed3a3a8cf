// Inference latency of the reference architecture (d = 64, h = 4, 2+2 layers, FFN 256, F = 32,
// L = 10) on one thread: NAR student greedy and AR teacher greedy for N in {20, 50, 100, 200},
// a batch of 32 requests at N = 50, with FLOP counts and achieved GFLOP/s.
//
//   build/bench/bench_inference --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "bench_common.hpp"

using namespace dualrerank;
using bench_common::reference_config;

static void set_flops(benchmark::State& state, double flops_per_iter) {
    state.counters["MFLOP"] = flops_per_iter / 1e6;
    state.counters["GFLOPS"] = benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate,
                                                  benchmark::Counter::OneK::kIs1000);
    state.counters["GFLOPS"].value /= 1e9;
}

static void BM_nar_greedy(benchmark::State& state) {
    const int N = int(state.range(0)), L = 10;
    auto c = reference_config();
    nar_student<float> s(c);
    s.init(1);
    auto reqs = bench_common::make_requests(c, 16, N, 2);
    workspace ws;
    std::vector<int> out(L);
    std::size_t i = 0;
    for (auto _ : state) {
        decode::greedy(s, reqs[i++ % reqs.size()].view(), L, out.data(), ws);
        benchmark::DoNotOptimize(out.data());
    }
    set_flops(state, bench_common::student_flops(c, N, L));
}
BENCHMARK(BM_nar_greedy)->Arg(20)->Arg(50)->Arg(100)->Arg(200)->Unit(benchmark::kMicrosecond);

static void BM_ar_greedy(benchmark::State& state) {
    const int N = int(state.range(0)), L = 10;
    auto c = reference_config();
    ar_teacher<float> t(c);
    t.init(1);
    auto reqs = bench_common::make_requests(c, 16, N, 2);
    workspace ws;
    std::vector<int> out(L);
    std::size_t i = 0;
    for (auto _ : state) {
        decode::teacher_greedy(t, reqs[i++ % reqs.size()].view(), L, out.data(), ws);
        benchmark::DoNotOptimize(out.data());
    }
    set_flops(state, bench_common::teacher_flops(c, N, L));
}
BENCHMARK(BM_ar_greedy)->Arg(20)->Arg(50)->Arg(100)->Arg(200)->Unit(benchmark::kMicrosecond);

static void BM_ar_beam4(benchmark::State& state) {
    const int N = int(state.range(0)), L = 10;
    auto c = reference_config();
    ar_teacher<float> t(c);
    t.init(1);
    auto reqs = bench_common::make_requests(c, 16, N, 2);
    workspace ws;
    std::vector<int> out(L);
    std::size_t i = 0;
    for (auto _ : state) {
        decode::teacher_beam(t, reqs[i++ % reqs.size()].view(), L, 4, out.data(), ws);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(BM_ar_beam4)->Arg(50)->Unit(benchmark::kMicrosecond);

static void BM_nar_batch32(benchmark::State& state) {
    const int N = int(state.range(0)), L = 10, B = 32;
    auto c = reference_config();
    nar_student<float> s(c);
    s.init(1);
    auto reqs = bench_common::make_requests(c, B, N, 3);
    std::vector<request_view<float>> views;
    for (auto& r : reqs) views.push_back(r.view());
    workspace ws;
    std::vector<int> out(std::size_t(B) * L);
    for (auto _ : state) {
        decode::greedy_batch(s, views.data(), B, L, out.data(), ws);
        benchmark::DoNotOptimize(out.data());
    }
    set_flops(state, B * bench_common::student_flops(c, N, L));
    state.counters["us_per_request"] =
        benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["us_per_request"].value *= 1e6;
}
BENCHMARK(BM_nar_batch32)->Arg(50)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
