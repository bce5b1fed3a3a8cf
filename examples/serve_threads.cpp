// Embedding in a multi-threaded request loop through the front door (dualrerank/serve.hpp): one
// serving::reranker (the loaded model, immutable) shared by every thread, one serving::session
// (the workspaces) per thread, requests from the built-in world.
//
//   serve_threads [--model FILE] [--decoder NAME] [--scorer FILE] [--threads 1,2,4] [--requests R]
//                 [--world small|default] [--seed S]
//
// For each thread count the requests are served by that many threads (each takes the next request
// from a shared counter, its index is the request id, so sampled decoders draw the same noise on
// any thread); the program prints the throughput and the p50 / p99 latency of one request, and
// checks that every slate equals the single-thread result (exit 1 if not). Without --model it serves
// a freshly initialised student of the world's shape (the speed does not depend on the weights).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dualrerank/serve.hpp>
#include <dualrerank/sim/world.hpp>

#include "example_args.hpp"

using namespace dualrerank;

namespace {

struct options {
    std::string model, decoder = "greedy", scorer;
    std::vector<int> threads{1, 2, 4};
    int requests = 2000;
    std::string world_name = "small";
    std::uint64_t seed = 1;
};

void usage() {
    std::puts(
        "usage: serve_threads [options]\n"
        "  --model FILE      a student or teacher model file (default: an initialised student)\n"
        "  --decoder NAME    greedy | confident | beam | sample | best-of-n (default greedy)\n"
        "  --scorer FILE     the teacher or evaluator that scores best-of-n's slates\n"
        "  --threads LIST    thread counts to measure, comma separated (default 1,2,4)\n"
        "  --requests R      requests per measurement (default 2000)\n"
        "  --world small|default   request shape: N 20, L 6 (default) or N 50, L 10\n"
        "  --seed S          world seed (default 1)\n");
}

options parse(int argc, char** argv) {
    options o;
    example_args a(argc, argv);
    while (a.next()) {
        if (a.is("--model")) o.model = a.value();
        else if (a.is("--decoder")) o.decoder = a.value();
        else if (a.is("--scorer")) o.scorer = a.value();
        else if (a.is("--threads")) {
            o.threads.clear();
            std::stringstream ss(a.value());
            std::string item;
            while (std::getline(ss, item, ',')) {
                const int t = std::stoi(item);
                if (t < 1 || t > 256) throw input_error("--threads: each count must be in [1, 256]");
                o.threads.push_back(t);
            }
            if (o.threads.empty()) throw input_error("--threads: empty list");
        } else if (a.is("--requests")) o.requests = a.integer();
        else if (a.is("--world")) o.world_name = a.value();
        else if (a.is("--seed")) o.seed = a.u64();
        else if (a.is("--help") || a.is("-h")) {
            usage();
            std::exit(0);
        } else
            throw input_error("unknown option " + a.name() + " (see --help)");
    }
    if (o.requests < 1) throw input_error("--requests must be >= 1");
    if (o.world_name != "small" && o.world_name != "default") throw input_error("--world must be small or default");
    return o;
}

double percentile(std::vector<double> v, double p) {
    const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * double(v.size())));
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
    return v[k];
}

struct result {
    double seconds = 0;
    std::vector<double> latency_us;  // one per request
    std::vector<int> slates;         // [R x L]
};

/// Serve every request with `threads` threads, one session each; request i has request id i.
result serve(const serving::reranker& ranker, const std::vector<request<float>>& reqs, int L, int threads) {
    result r;
    const std::size_t R = reqs.size();
    r.latency_us.assign(R, 0.0);
    r.slates.assign(R * std::size_t(L), -1);
    std::atomic<std::size_t> next{0};
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    auto worker = [&]() {
        serving::session session(ranker);  // per thread; grows to the largest request, then never allocates
        std::vector<int> scratch(static_cast<std::size_t>(L));
        session.rerank(reqs[0].view(), 0, scratch.data(), scratch.size());  // warm-up (sizes the workspaces)
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        for (std::size_t i; (i = next.fetch_add(1)) < R;) {
            const auto t0 = std::chrono::steady_clock::now();
            session.rerank(reqs[i].view(), i, r.slates.data() + i * std::size_t(L), std::size_t(L));
            r.latency_us[i] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
        }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    while (ready.load() < threads) std::this_thread::yield();
    const auto t0 = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    for (auto& th : pool) th.join();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

int run(const serving::reranker& ranker, const options& o, const std::vector<request<float>>& reqs, int L) {
    const serving::any_model& m = ranker.model();
    std::printf("model: %s (%zu parameters, d %d), decoder %s, %zu requests of N %d, L %d; hardware threads %u\n",
                m.kind_name(), m.teacher ? m.teacher->parameter_count() : m.student->parameter_count(), m.config.d,
                serving::to_string(ranker.decoder()), reqs.size(), reqs[0].n, L, std::thread::hardware_concurrency());
    {
        serving::session session(ranker);  // validate once here: bad input throws input_error before any thread starts
        std::vector<int> y(static_cast<std::size_t>(L));
        for (const auto& r : reqs) session.rerank(r.view(), 0, y.data(), y.size());
    }
    const result ref = serve(ranker, reqs, L, 1);
    std::printf("\n| threads | requests/s | p50 latency | p99 latency | slates equal to 1 thread |\n");
    std::printf("|---:|---:|---:|---:|---|\n");
    bool all_equal = true;
    for (int t : o.threads) {
        const result r = t == 1 ? ref : serve(ranker, reqs, L, t);
        const bool equal = r.slates == ref.slates;
        all_equal &= equal;
        std::printf("| %d | %.0f | %.1f us | %.1f us | %s |\n", t, double(reqs.size()) / r.seconds,
                    percentile(r.latency_us, 0.50), percentile(r.latency_us, 0.99), equal ? "yes" : "NO");
    }
    if (!all_equal) {
        std::fprintf(stderr, "serve_threads: multi-threaded slates differ from the single-thread slates\n");
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) try {
    const options o = parse(argc, argv);
    const world_config wc = o.world_name == "small" ? world_config::small() : world_config{};
    const world w(wc, o.seed);
    std::vector<request<float>> reqs;
    sim_request sr;
    for (int i = 0; i < o.requests; ++i) {
        w.make_request(world::eval_base + std::uint64_t(i), sr);
        reqs.push_back(sr.observed);
    }
    const int L = w.slate_size();

    serving::reranker_options ro;
    ro.decoder = serving::parse_decoder(o.decoder);
    ro.slate_length = L;
    ro.seed = o.seed;
    serving::any_model model;
    if (!o.model.empty()) {
        model = serving::load_any_model(o.model);
    } else {
        model_config mc;
        mc.features = wc.feature_dim;
        mc.context = wc.context_dim;
        mc.d = 32;
        mc.ffn = 128;
        mc.max_slate = L;
        mc.max_candidates = wc.num_candidates;
        nar_student<float> s(mc);
        s.init(o.seed);
        model = serving::make_any_model(std::move(s), "an initialised student");
    }
    const serving::reranker ranker(model, ro, o.scorer.empty() ? serving::any_model{} : serving::load_any_model(o.scorer));
    return run(ranker, o, reqs, L);
} catch (const std::exception& e) {
    std::fprintf(stderr, "serve_threads: %s\n", e.what());
    return 1;
}
