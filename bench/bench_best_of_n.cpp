// Best-of-N serving latency next to NAR greedy, in one run (the Dual-Rerank issue's "latency at
// N = 16, 50 candidates: <= 3x NAR greedy"). Reference architecture (d = 64, h = 4, 2+2 layers,
// FFN 256, F = 32, L = 10); the argument is the number of candidates. Cases:
//   nar_greedy          student forward + masked argmax (the baseline)
//   best_of_16_teacher  student forward, greedy + 15 Gumbel-Max samples, the AR teacher scores all
//                       16 slates (its own encoding, once; each distinct prefix decoded once
//                       through the prefix trie); "prefixes" = decoded positions / (16 * L)
//   best_of_16_teacher_flat  the same scores from one teacher-forced pass over all 16 * L positions
//   best_of_16_eval     the same with the list evaluator as the scorer
//   best_of_16_sample   student forward + greedy + 15 samples, no scorer (the proposal cost alone)
//
// The models above have random weights: the student's rows are nearly flat, so its samples share
// few prefixes (the worst case for the trie). The *_trained cases use a student trained on the
// default built-in world (N = 50, L = 10, d = 64, FFN 256, as the reference) and that world's
// requests; set DUALRERANK_BENCH_STUDENT to its file (tools/bench.sh trains one with
//   dualrerank train --world default --model student --d 64 --ffn 256 --steps 1500 --out FILE).
// Their teacher has random weights and the student's config: its cost does not depend on its
// weights, only on how many distinct prefixes the student's samples have.
//
//   build/bench/bench_best_of_n --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <dualrerank/sim/sim.hpp>

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

/// The trained case (nullptr when DUALRERANK_BENCH_STUDENT is not set).
struct trained_models {
    world w{world_config{}, 1};
    nar_student<float> student;
    ar_teacher<float> teacher;
    std::vector<request<float>> reqs;
    explicit trained_models(const std::string& path)
        : student(io::load_model<nar_student<float>>(path)), teacher(student.config()) {
        teacher.init(2);
        if (student.config().features != w.config().feature_dim || student.config().max_slate < L)
            throw input_error(path + ": not a student for the default built-in world (F = 32, L = 10)");
        sim_request sr;
        for (int i = 0; i < 16; ++i) {
            w.make_request(5000000 + std::uint64_t(i), sr);
            reqs.push_back(sr.observed);
        }
    }
};

const trained_models* trained() {
    static const std::unique_ptr<trained_models> m = []() -> std::unique_ptr<trained_models> {
        const char* p = std::getenv("DUALRERANK_BENCH_STUDENT");
        if (!p || !*p) return nullptr;
        return std::make_unique<trained_models>(p);
    }();
    return m.get();
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

/// The benchmarks time the scorers, so every scorer is trusted: the gate (decode/best_of_n.hpp)
/// would otherwise serve the greedy slate and score nothing. Each run checks the gate was open.
template <class Scorer>
decode::validated_scorer<Scorer> trusted(const Scorer& s) {
    scorer_validation v;
    v.check = "benchmark";  // timing only
    v.value = 1.0;
    v.requests = 1;
    return decode::validated_scorer<Scorer>{s, v};
}

template <class Scorer>
void run_best_of_n(benchmark::State& state, const Scorer& scorer) {
    const models& m = shared_models();
    const auto reqs = bench_common::make_requests(m.c, 16, int(state.range(0)), 2);
    decode::best_of_n_workspace<float> bw;
    std::vector<int> out(L);
    decode::best_of_n_config cfg;
    cfg.n = K;
    const auto scored = trusted(scorer);
    std::uint32_t counter = 0;
    std::size_t i = 0;
    for (auto _ : state) {
        const auto& r = reqs[i++ % reqs.size()];
        decode::best_of_n(m.student, scored, r.view(), L, cfg, counter_key::from_seed(7), counter, out.data(), bw);
        counter += static_cast<std::uint32_t>(K * L * r.n);
        benchmark::DoNotOptimize(out.data());
    }
    if (!bw.gate_open) state.SkipWithError("the Best-of-N gate served greedy: nothing was scored");
}

/// The share of the K * L positions the trie scorer decodes on these requests (same noise as the
/// timed loop; measured outside it).
double trie_share(const nar_student<float>& student, const ar_teacher<float>& teacher, const std::vector<request<float>>& reqs) {
    std::size_t rows = 0;
    const decode::teacher_scorer<float> ts{&teacher, &rows};
    decode::best_of_n_workspace<float> bw;
    std::vector<int> out(L);
    decode::best_of_n_config cfg;
    cfg.n = K;
    std::uint32_t counter = 0;
    for (const auto& r : reqs) {
        decode::best_of_n(student, trusted(ts), r.view(), L, cfg, counter_key::from_seed(7), counter, out.data(), bw);
        counter += static_cast<std::uint32_t>(K * L * r.n);
    }
    return double(rows) / (double(K) * L * double(reqs.size()));
}

void BM_best_of_16_teacher(benchmark::State& state) {
    run_best_of_n(state, decode::teacher_scorer<float>{&shared_models().teacher});
    const models& m = shared_models();
    state.counters["prefixes"] = trie_share(m.student, m.teacher, bench_common::make_requests(m.c, 16, int(state.range(0)), 2));
}

/// The flat scorer: one teacher-forced pass over all K * L positions (no trie).
struct teacher_flat_scorer {
    const ar_teacher<float>* teacher = nullptr;
    void operator()(const request_view<float>& r, int k, int l, const int* slates, float* scores, workspace& ws) const {
        float w[limits::max_slate];
        decode::rank_decay_weights(l, w);
        teacher->score_slates_flat(r, k, l, slates, w, scores, ws);
    }
};

void BM_best_of_16_teacher_flat(benchmark::State& state) {
    run_best_of_n(state, teacher_flat_scorer{&shared_models().teacher});
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

template <class Scorer>
void run_trained(benchmark::State& state, const Scorer& scorer, bool greedy_only) {
    const trained_models* m = trained();
    if (!m) {
        state.SkipWithError("set DUALRERANK_BENCH_STUDENT to a student trained on the default world (see the header)");
        return;
    }
    workspace ws;
    decode::best_of_n_workspace<float> bw;
    std::vector<int> out(L);
    decode::best_of_n_config cfg;
    cfg.n = K;
    const auto scored = trusted(scorer);
    std::uint32_t counter = 0;
    std::size_t i = 0;
    for (auto _ : state) {
        const auto& r = m->reqs[i++ % m->reqs.size()];
        if (greedy_only) {
            ws.reset();
            decode::greedy(m->student, r.view(), L, out.data(), ws);
        } else {
            decode::best_of_n(m->student, scored, r.view(), L, cfg, counter_key::from_seed(7), counter, out.data(), bw);
            counter += static_cast<std::uint32_t>(K * L * r.n);
        }
        benchmark::DoNotOptimize(out.data());
    }
    if (!greedy_only && !bw.gate_open) state.SkipWithError("the Best-of-N gate served greedy: nothing was scored");
}

void BM_trained_nar_greedy(benchmark::State& state) { run_trained(state, null_scorer{}, true); }

void BM_trained_best_of_16_sample(benchmark::State& state) { run_trained(state, null_scorer{}, false); }

void BM_trained_best_of_16_teacher(benchmark::State& state) {
    const trained_models* m = trained();
    run_trained(state, decode::teacher_scorer<float>{m ? &m->teacher : nullptr}, false);
    if (m) state.counters["prefixes"] = trie_share(m->student, m->teacher, m->reqs);
}

void BM_trained_best_of_16_teacher_flat(benchmark::State& state) {
    const trained_models* m = trained();
    run_trained(state, teacher_flat_scorer{m ? &m->teacher : nullptr}, false);
}

}  // namespace

BENCHMARK(BM_nar_greedy)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_best_of_16_sample)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_best_of_16_teacher)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_best_of_16_teacher_flat)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_best_of_16_eval)->Arg(20)->Arg(50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_trained_nar_greedy)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_trained_best_of_16_sample)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_trained_best_of_16_teacher)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_trained_best_of_16_teacher_flat)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
