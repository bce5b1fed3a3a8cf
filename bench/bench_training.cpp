// One training step (forward, backward, AdamW) at batch 32, N = 50, L = 10 on the reference
// architecture (d = 64, h = 4, 2+2 layers, FFN 256, F = 32), teacher (teacher forcing) and
// student (slot-wise masked cross-entropy). Compare with python/bench_train.py (PyTorch, one
// thread) in the same session:
//   build/bench/bench_training --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "bench_common.hpp"

using namespace dualrerank;

namespace {
train::slate_dataset<float> make_data(const model_config& c, int count, int n, int L) {
    train::slate_dataset<float> d;
    d.L = L;
    d.requests = bench_common::make_requests(c, count, n, 5);
    for (int i = 0; i < count; ++i) {
        slate y(static_cast<std::size_t>(L));
        for (int t = 0; t < L; ++t) y[t] = (i * 7 + t) % n;  // distinct indices
        d.targets.push_back(y);
    }
    return d;
}

template <class Model>
void run(benchmark::State& state) {
    const int B = 32, N = 50, L = 10;
    auto c = bench_common::reference_config();
    Model m(c);
    m.init(1);
    auto data = make_data(c, 256, N, L);
    train::trainer_config tc;
    tc.batch_size = B;
    train::trainer<Model> tr(m, tc);
    train::fit_supervised(tr, data, 2);  // warm-up
    for (auto _ : state) train::fit_supervised(tr, data, 1);
    state.counters["requests_per_s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
}
}  // namespace

static void BM_train_step_teacher(benchmark::State& state) { run<ar_teacher<float>>(state); }
static void BM_train_step_student(benchmark::State& state) { run<nar_student<float>>(state); }
BENCHMARK(BM_train_step_teacher)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_train_step_student)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
