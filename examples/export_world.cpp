// Export requests of the built-in world with target slates, for training elsewhere (the PyTorch
// side, python/train_ddp.py) or for the LETOR tools.
//
//   export_world --out FILE.safetensors [--requests R] [--first I] [--eval] [--seed S] [--world small|default]
//                [--targets search|appeal|upstream] [--letor FILE.txt]
//   export_world --logs-out LOGS.jsonl [--logs N] [--logs-first I] [--logs-seed S] [--temperature T]
//                [--seed S] [--world small|default]
//
// The request file (format "dualrerank-requests", layout in examples/dataset_io.hpp) holds the
// observed features, context and upstream ranks of requests first .. first+R-1 (with --eval: the
// world's fixed evaluation requests), the target slate of each (default: beam search on the closed
// form, the demo's search-distilled recipe) and graded labels (the true item value scaled to
// [0, 4]). --letor also writes the same requests as a LETOR file (sim/log_export.hpp,
// write_letor_query): integer grades round(label), qid = first + i, 1-based indices, the F item
// features at 1..F and the request's context at F+1..F+Fc on every document (LETOR's query-level
// features), so `dualrerank rerank --model <world-trained model>` reads it with its context; no
// upstream ranks (LETOR has no field for them; feature 2 is the upstream rank / (N - 1)).
//
// --logs-out writes the world's exploratory logs as impression logs (docs/logs.md, one logged page
// per line: observed features, context, upstream ranks, the behaviour policy's slate with its
// log-propensity, sampled per-slot "click" and "long_view"), N pages of requests logs-first ..
// logs-first + N - 1 (sim/log_export.hpp); the oracle-free pipeline then reads them as a user's logs.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include <dualrerank/sim/log_export.hpp>
#include <dualrerank/sim/sim.hpp>

#include "example_args.hpp"
#include "dataset_io.hpp"

using namespace dualrerank;

namespace {

void usage() {
    std::puts(
        "usage: export_world --out FILE.safetensors [options]\n"
        "  --requests R        how many requests (default 256)\n"
        "  --first I           index of the first request (default 0)\n"
        "  --eval              the world's evaluation requests (index eval_base + first + i)\n"
        "  --seed S            world seed (default 1)\n"
        "  --world small|default  world_config::small() (N 20, L 6; default) or the full world (N 50, L 10)\n"
        "  --targets search|appeal|upstream  target slates: beam search on the closed form (default),\n"
        "                      true-appeal sort, or the upstream ranker's order\n"
        "  --letor FILE        also write the requests as a LETOR file (graded labels, qid:, the context\n"
        "                      as the columns after the features)\n"
        "  --logs-out FILE     write exploratory logs as impression logs (JSON lines, docs/logs.md)\n"
        "  --logs N            pages in --logs-out (default 10000)\n"
        "  --logs-first I      request index of the first logged page (default 0)\n"
        "  --logs-seed S       seed of the behaviour policy's draws and the feedback (default 7 * seed + 1,\n"
        "                      the demo's)\n"
        "  --temperature T     the behaviour policy's Plackett-Luce temperature (default 0.4)\n"
        "  (at least one of --out and --logs-out)\n");
}

}  // namespace

int main(int argc, char** argv) try {
    std::string out, letor, targets = "search", world_name = "small", logs_out;
    std::uint64_t first = 0, seed = 1, logs_first = 0, logs_seed = 0;
    bool logs_seed_given = false;
    long count = 256, logs = 10000;
    double temperature = behaviour_policy{}.temperature;
    bool eval = false;
    example_args a(argc, argv);
    while (a.next()) {
        if (a.is("--out")) out = a.value();
        else if (a.is("--requests")) count = a.integer(LLONG_MIN, LLONG_MAX);
        else if (a.is("--first")) first = a.u64();
        else if (a.is("--eval")) eval = true;
        else if (a.is("--seed")) seed = a.u64();
        else if (a.is("--world")) world_name = a.value();
        else if (a.is("--targets")) targets = a.value();
        else if (a.is("--letor")) letor = a.value();
        else if (a.is("--logs-out")) logs_out = a.value();
        else if (a.is("--logs")) logs = a.integer(LLONG_MIN, LLONG_MAX);
        else if (a.is("--logs-first")) logs_first = a.u64();
        else if (a.is("--logs-seed")) {
            logs_seed = a.u64();
            logs_seed_given = true;
        } else if (a.is("--temperature")) temperature = a.real();
        else if (a.is("--help") || a.is("-h")) {
            usage();
            return 0;
        } else
            throw input_error("unknown option " + a.name() + " (see --help)");
    }
    if (out.empty() && logs_out.empty()) throw input_error("give --out or --logs-out (see --help)");
    if (count < 1) throw input_error("--requests must be >= 1");
    if (logs < 1) throw input_error("--logs must be >= 1");
    if (!(temperature > 0 && std::isfinite(temperature))) throw input_error("--temperature must be finite and > 0");
    if (world_name != "small" && world_name != "default") throw input_error("--world must be small or default");
    if (targets != "search" && targets != "appeal" && targets != "upstream")
        throw input_error("--targets must be search, appeal or upstream");

    const world_config wc = world_name == "small" ? world_config::small() : world_config{};
    const world w(wc, seed);
    if (!logs_out.empty()) {
        std::ofstream f(logs_out, std::ios::binary | std::ios::trunc);
        if (!f) throw input_error("cannot write " + logs_out);
        behaviour_policy b;
        b.temperature = temperature;
        const std::uint64_t ls = logs_seed_given ? logs_seed : seed * 7 + 1;
        const std::size_t wrote = write_world_logs(w, logs_first, std::size_t(logs), b, ls, f);
        f.close();
        if (!f) throw input_error("error writing " + logs_out);
        std::printf("export_world: %zu logged pages (world %s, seed %llu, requests %llu.., behaviour %s, log seed %llu) -> %s\n",
                    wrote, world_name.c_str(), (unsigned long long)seed, (unsigned long long)logs_first,
                    behaviour_policy_version(b).c_str(), (unsigned long long)ls, logs_out.c_str());
        if (out.empty()) return 0;
    }
    dataset_io::request_set s;
    s.L = w.slate_size();
    sim_request sr;
    for (long i = 0; i < count; ++i) {
        const std::uint64_t index = (eval ? world::eval_base : 0) + first + std::uint64_t(i);
        w.make_request(index, sr);
        slate y = targets == "search"   ? beam_search(w, sr)
                  : targets == "appeal" ? appeal_sort(w, sr)
                                        : upstream_sort(w, sr);
        std::vector<double> v = true_item_values(sr);
        double mx = 0;
        for (double x : v) mx = std::max(mx, x);
        std::vector<float> lab(v.size());
        for (std::size_t j = 0; j < v.size(); ++j) lab[j] = float(mx > 0 ? 4.0 * v[j] / mx : 0.0);
        s.requests.push_back(sr.observed);
        s.targets.push_back(std::move(y));
        s.labels.push_back(std::move(lab));
    }
    s.metadata["world"] = world_name;
    s.metadata["seed"] = std::to_string(seed);
    s.metadata["first"] = std::to_string(first);
    s.metadata["eval"] = eval ? "1" : "0";
    s.metadata["targets"] = targets;
    dataset_io::write_requests(out, s);
    std::printf("export_world: %ld requests (N %d, F %d, context %d, L %d, targets %s) -> %s\n", count,
                wc.num_candidates, wc.feature_dim, wc.context_dim, s.L, targets.c_str(), out.c_str());

    if (!letor.empty()) {
        std::ofstream f(letor, std::ios::binary);
        if (!f) throw input_error("cannot write " + letor);
        f << "# dualrerank export_world: world " << world_name << ", seed " << seed << ", grades round(4 * value / max)\n";
        f << "# features 1.." << wc.feature_dim << ", context " << wc.feature_dim + 1 << ".."
          << wc.feature_dim + wc.context_dim << " (the same on every document of a query)\n";
        for (std::size_t q = 0; q < s.requests.size(); ++q) write_letor_query(f, s.requests[q], s.labels[q], first + q);
        if (!f.flush()) throw input_error("error writing " + letor);
        std::printf("export_world: LETOR copy -> %s\n", letor.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "export_world: %s\n", e.what());
    return 1;
}
