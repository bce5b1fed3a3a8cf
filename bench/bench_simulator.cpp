// Throughput of the built-in world: generating requests, sampling feedback, logs from the behaviour
// policy, the closed form, the exact random-slate utility and the beam-search oracle.
// `requests/s` (items_per_second) gives the "100k requests with feedback in X s" figure; BM_logs_100k
// measures it directly (one iteration = 100k logged pages).
//
//   build/bench/bench_simulator --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <dualrerank/dualrerank.hpp>
#include <dualrerank/sim/sim.hpp>

using namespace dualrerank;

static world_config config_for(int small) { return small ? world_config::small() : world_config{}; }

static void set_label(benchmark::State& state, const world_config& c) {
    state.SetLabel("N=" + std::to_string(c.num_candidates) + " L=" + std::to_string(c.slate_size) +
                   " F=" + std::to_string(c.feature_dim));
}

// A request (hidden state + observed features), buffers reused.
static void BM_make_request(benchmark::State& state) {
    const world w(config_for(int(state.range(0))), 1);
    sim_request r;
    std::uint64_t i = 0;
    for (auto _ : state) {
        w.make_request(i++, r);
        benchmark::DoNotOptimize(r.observed.features.data());
    }
    state.SetItemsProcessed(state.iterations());
    set_label(state, w.config());
}
BENCHMARK(BM_make_request)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// A request, a behaviour-policy slate with its propensity, and sampled per-slot feedback: one logged page.
static void BM_request_with_feedback(benchmark::State& state) {
    const world w(config_for(int(state.range(0))), 1);
    const behaviour_policy pol;
    sim_request r;
    page_feedback fb;
    rng g(7);
    std::uint64_t i = 0;
    for (auto _ : state) {
        w.make_request(i++, r);
        double lp = 0.0;
        const slate y = pol.sample(w, r, g, &lp);
        w.sample_feedback(r, y, g, conditions{}, fb);
        benchmark::DoNotOptimize(fb.clicks.data());
        benchmark::DoNotOptimize(lp);
    }
    state.SetItemsProcessed(state.iterations());
    set_label(state, w.config());
}
BENCHMARK(BM_request_with_feedback)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// The same through the stream API with an upstream-sorted slate (what an RL loop does per request).
static void BM_stream_step(benchmark::State& state) {
    const world w(config_for(int(state.range(0))), 1);
    stream s(w, drift::weight_swap(1 << 30), 3);
    for (auto _ : state) {
        const sim_request& r = s.next();
        const page_feedback fb = s.feedback(upstream_sort(w, r));
        benchmark::DoNotOptimize(fb.clicks.data());
    }
    state.SetItemsProcessed(state.iterations());
    set_label(state, w.config());
}
BENCHMARK(BM_stream_step)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// 100k logged pages of the default world in one call (the figure to quote).
static void BM_logs_100k(benchmark::State& state) {
    const world w(config_for(int(state.range(0))), 1);
    for (auto _ : state) {
        auto logs = generate_logs(w, 0, 100000, behaviour_policy{}, 5);
        benchmark::DoNotOptimize(logs.data());
    }
    state.SetItemsProcessed(state.iterations() * 100000);
    set_label(state, w.config());
}
BENCHMARK(BM_logs_100k)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(2);

// Closed-form expected utility of one slate.
static void BM_expected_utility(benchmark::State& state) {
    const world w(config_for(int(state.range(0))), 1);
    const sim_request r = w.make_request(0);
    const slate y = upstream_sort(w, r);
    for (auto _ : state) benchmark::DoNotOptimize(w.expected_utility(r, y));
    state.SetItemsProcessed(state.iterations());
    set_label(state, w.config());
}
BENCHMARK(BM_expected_utility)->Arg(0)->Arg(1);

// Exact expected utility of a uniformly random slate.
static void BM_random_utility(benchmark::State& state) {
    const world w(config_for(int(state.range(0))), 1);
    const sim_request r = w.make_request(0);
    for (auto _ : state) benchmark::DoNotOptimize(w.random_utility(r));
    state.SetItemsProcessed(state.iterations());
    set_label(state, w.config());
}
BENCHMARK(BM_random_utility)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Beam-search oracle (width from the argument, with polish).
static void BM_beam_search(benchmark::State& state) {
    const world w(config_for(int(state.range(0))), 1);
    beam_options opt;
    opt.width = int(state.range(1));
    std::uint64_t i = 0;
    std::vector<sim_request> reqs;
    for (int q = 0; q < 32; ++q) reqs.push_back(w.eval_request(q));
    for (auto _ : state) {
        double u = 0.0;
        const slate y = beam_search(w, reqs[i++ % reqs.size()], {}, opt, &u);
        benchmark::DoNotOptimize(u);
    }
    state.SetItemsProcessed(state.iterations());
    set_label(state, w.config());
}
BENCHMARK(BM_beam_search)->Args({0, 8})->Args({0, 32})->Args({1, 32})->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
