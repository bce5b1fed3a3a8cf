// Reference policies on the built-in world: normalized utility (random 0, oracle 1) of the behaviour
// policy, upstream sort and true-appeal sort over several world seeds, with mean and spread.
//
//   world_reference                       default world (N = 50, L = 10), seeds 1..3, 500 requests
//   world_reference --small               the prototype's small world (N = 20, L = 6, viewport 4)
//   world_reference --seed 7 --seeds 5 --n 100 --l 12 --requests 1000 --width 64
//   world_reference --rho 0 --kappa 0     without context effects (appeal sort = oracle)
#include <dualrerank/dualrerank.hpp>
#include <dualrerank/sim/sim.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void usage() {
    std::printf(
        "usage: world_reference [--small] [--seed S] [--seeds K] [--requests R] [--n N] [--l L]\n"
        "                       [--viewport V] [--rho X] [--kappa X] [--temperature T] [--width W]\n"
        "                       [--no-polish]\n");
}

struct row {
    const char* name;
    std::vector<double> values;
};

double mean_of(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}
double std_of(const std::vector<double>& v) {
    if (v.size() < 2) return 0.0;
    const double m = mean_of(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

int main(int argc, char** argv) {
    using namespace dualrerank;
    world_config cfg;
    std::uint64_t seed = 1;
    int seeds = 3, requests = 500;
    reference_options opt;
    for (int a = 1; a < argc; ++a) {
        const std::string k = argv[a];
        auto value = [&]() -> const char* {
            if (a + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return argv[++a];
        };
        if (k == "--small") {
            const world_config s = world_config::small();
            cfg.num_candidates = s.num_candidates;
            cfg.slate_size = s.slate_size;
            cfg.viewport = s.viewport;
            cfg.click_bias = s.click_bias;
        } else if (k == "--seed") seed = std::strtoull(value(), nullptr, 10);
        else if (k == "--seeds") seeds = std::atoi(value());
        else if (k == "--requests") requests = std::atoi(value());
        else if (k == "--n") cfg.num_candidates = std::atoi(value());
        else if (k == "--l") cfg.slate_size = std::atoi(value());
        else if (k == "--viewport") cfg.viewport = std::atoi(value());
        else if (k == "--rho") cfg.redundancy = std::atof(value());
        else if (k == "--kappa") cfg.complementarity = std::atof(value());
        else if (k == "--temperature") opt.behaviour.temperature = std::atof(value());
        else if (k == "--width") opt.beam.width = std::atoi(value());
        else if (k == "--no-polish") opt.beam.polish = false;
        else if (k == "-h" || k == "--help") {
            usage();
            return 0;
        } else {
            std::fprintf(stderr, "unknown argument %s\n", k.c_str());
            usage();
            return 2;
        }
    }
    if (seeds < 1 || requests < 1) {
        usage();
        return 2;
    }

    try {
        std::printf("world: N=%d L=%d F=%d viewport=%d rho=%.2f kappa=%.2f | behaviour temperature %.2f | "
                    "oracle: beam width %d%s | %d requests per seed\n\n",
                    cfg.num_candidates, cfg.slate_size, cfg.feature_dim, cfg.viewport, cfg.redundancy,
                    cfg.complementarity, opt.behaviour.temperature, opt.beam.width,
                    opt.beam.polish ? " + polish" : "", requests);
        std::vector<row> rows = {{"random", {}}, {"behaviour (PL)", {}}, {"upstream sort", {}},
                                 {"true-appeal sort", {}}, {"oracle (beam)", {}}};
        std::vector<double> u_oracle, u_random, ctr;
        const auto t0 = std::chrono::steady_clock::now();
        for (int s = 0; s < seeds; ++s) {
            const world w(cfg, seed + static_cast<std::uint64_t>(s));
            const reference_utilities r = evaluate_reference_policies(w, world::eval_base, requests, opt);
            rows[0].values.push_back(r.normalized(r.random));
            rows[1].values.push_back(r.normalized(r.behaviour));
            rows[2].values.push_back(r.normalized(r.upstream));
            rows[3].values.push_back(r.normalized(r.appeal));
            rows[4].values.push_back(r.normalized(r.oracle));
            u_oracle.push_back(r.oracle);
            u_random.push_back(r.random);
            ctr.push_back(r.clicks_per_examined_slot);
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

        std::printf("%-18s", "normalized utility");
        for (int s = 0; s < seeds; ++s) std::printf("  seed %-4llu", static_cast<unsigned long long>(seed + s));
        std::printf("     mean    std   (max-min)\n");
        for (const row& r : rows) {
            std::printf("%-18s", r.name);
            for (double v : r.values) std::printf("  %9.3f", v);
            const auto mm = std::minmax_element(r.values.begin(), r.values.end());
            std::printf("  %7.3f  %5.3f  (%.3f)\n", mean_of(r.values), std_of(r.values), *mm.second - *mm.first);
        }
        std::printf("\n%-18s", "U random (raw)");
        for (double v : u_random) std::printf("  %9.4f", v);
        std::printf("\n%-18s", "U oracle (raw)");
        for (double v : u_oracle) std::printf("  %9.4f", v);
        std::printf("\n%-18s", "clicks/examined");
        for (double v : ctr) std::printf("  %9.3f", v);
        std::printf("\n\n%.2f s\n", secs);
    } catch (const dualrerank::error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
