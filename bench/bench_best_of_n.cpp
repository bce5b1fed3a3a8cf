// Best-of-N serving latency next to NAR greedy, in one run (the Dual-Rerank issue's "latency at
// N = 16, 50 candidates: <= 3x NAR greedy"). Reference architecture (d = 64, h = 4, 2+2 layers,
// FFN 256, F = 32, L = 10); the argument is the number of candidates. Cases:
//   nar_greedy          student forward + masked argmax (the baseline)
//   best_of_16_teacher  student forward, greedy + 15 Gumbel-Max samples, the AR teacher scores all
//                       16 slates teacher-forced in one batched pass (its own encoding, once)
//   best_of_16_eval     the same with the list evaluator as the scorer
//   best_of_16_sample   student forward + greedy + 15 samples, no scorer (the proposal cost alone)
//
//   build/bench/bench_best_of_n --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "bench_common.hpp"

using namespace dualrerank;
using bench_common::reference_config;

namespace {

constexpr int L = 10, K = 16;

struct models {
    model_config c = reference_config();
    nar_student<float> student{c};
    ar_teacher<float> teacher{c};
    list_evaluator<float> evaluator{c};
    models() {
        student.init(1);
        teacher.init(2);
        evaluator.init(3);
    }
};

const models& shared_models() {
    static const models m;
    return m;
}

void BM_nar_greedy(benchmark::State& state) {
    const models& m = shared_models();
    const auto reqs = bench_common::make_requests(m.c, 16, int(state.range(0)), 2);
    workspace ws;
    std::vector<int> out(L);
    std::size_t i = 0;
    for (auto _ : state) {
        ws.reset();
        decode::greedy(m.student, reqs[i++ % reqs.size()].view(), L, out.data(), ws);
        benchmark::DoNotOptimize(out.data());
    }
}

template <class Scorer>
void run_best_of_n(benchmark::State& state, const Scorer& scorer) {
    const models& m = shared_models();
    const auto reqs = bench_common::make_requests(m.c, 16, int(state.range(0)), 2);
    decode::best_of_n_workspace<float> bw;
    std::vector<int> out(L);
    decode::best_of_n_config cfg;
    cfg.n = K;
    std::uint32_t counter = 0;
    std::size_t i = 0;
    for (auto _ : state) {
        const auto& r = reqs[i++ % reqs.size()];
        decode::best_of_n(m.student, scorer, r.view(), L, cfg, counter_key::from_seed(7), counter, out.data(), bw);
        counter += static_cast<std::uint32_t>(K * L * r.n);
        benchmark::DoNotOptimize(out.data());
    }
}

void BM_best_of_16_teacher(benchmark::State& state) {
    run_best_of_n(state, decode::teacher_scorer<float>{&shared_models().teacher});
}

void BM_best_of_16_eval(benchmark::State& state) {
    run_best_of_n(state, decode::evaluator_scorer<float>{&shared_models().evaluator});
}

/// A scorer that costs nothing: what Best-of-N costs before scoring.
struct null_scorer {
    void operator()(const request_view<float>&, int k, int, const int*, float* scores, workspace&) const {
        for (int j = 0; j < k; ++j) scores[j] = float(-j);
    }
};

void BM_best_of_16_sample(benchmark::State& state) { run_best_of_n(state, null_scorer{}); }

}  // namespace

BENCHMARK(BM_nar_greedy)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_best_of_16_sample)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_best_of_16_teacher)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_best_of_16_eval)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
