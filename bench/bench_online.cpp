// The logging path of online RL (train/online.hpp): feedback_joiner::log_shown + deliver per request,
// as a serving process calls them, when a fraction of the shown slates never gets feedback (the
// user left, the event was lost). The argument is that fraction in percent. With max_pending
// 100 000 the joiner holds up to 100 000 pending slates; expiry scans them once the count passes
// max_pending, which drops every slate older than max_pending requests at once, so the scan's cost
// is spread over the next tens of thousands of requests (amortized, not per request).
// "per_request" is the CPU time per logged request (the inverse of items_per_second).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <utility>
#include <vector>

#include <dualrerank/core/request.hpp>
#include <dualrerank/train/online.hpp>

namespace {

using namespace dualrerank;

constexpr int L = 10, objectives = 2;
constexpr std::size_t max_pending = 100000;

void BM_joiner_log_and_deliver(benchmark::State& state) {
    const std::uint64_t lost_percent = static_cast<std::uint64_t>(state.range(0));
    train::feedback_joiner<float> joiner(max_pending);
    request<float> req;  // the joiner stores the request; a small one keeps the copy cheap
    req.n = L;
    req.f = 1;
    req.features.assign(L, 0.5f);
    const std::vector<double> feedback(std::size_t(L) * objectives, 0.0);
    std::uint64_t id = 0;
    auto log_one = [&] {
        train::shown_slate<float> s;
        s.request_id = id;
        s.items.resize(L);
        for (int t = 0; t < L; ++t) s.items[std::size_t(t)] = t;
        s.log_propensity.assign(L, -1.0f);
        joiner.log_shown(req, std::move(s));
        // feedback for request id - 50 (50 requests late), unless it is one of the lost ones
        if (id >= 50 && (id - 50) % 100 >= lost_percent) joiner.deliver(id - 50, feedback);
        ++id;
    };
    // warm-up: fill the joiner to its steady state (max_pending lost slates pending)
    while (id < max_pending * 100 / (lost_percent ? lost_percent : 1) + 100 && id < 3 * max_pending) log_one();
    for (auto _ : state) {
        log_one();
        if (id % 1024 == 0) benchmark::DoNotOptimize(joiner.take_ready());
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["pending"] = static_cast<double>(joiner.pending());
    state.counters["per_request"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_joiner_log_and_deliver)->Arg(0)->Arg(10)->Arg(50);

}  // namespace

BENCHMARK_MAIN();
