// The demo's oracle-free table from the models a demo run saved (examples/dualrerank_demo.cpp
// writes them to DIR = --out/seedS): the same evaluation requests, decoders, noise keys and gate
// as the demo, so the figures equal the demo's rows for that seed. Useful to re-evaluate a run, or
// to read a run's oracle-free table before its oracle-assisted half has finished.
//
//   oracle_free_table --models DIR --seed S [--quick] [--json PATH] [--dpo-pairs P]
//
// --dpo-pairs P also measures GReF's Rerank-DPO pairs on the first P logged pages of the demo's logs
// with the closed form (pipeline::dpo_pair_report; without --models only that).
#include <fstream>

#include <dualrerank/sim/sim.hpp>

#include "example_args.hpp"

using namespace dualrerank;
using pipeline::row;

int main(int argc, char** argv) {
    try {
        std::string dir, json_path;
        std::uint64_t seed = 1;
        bool quick = false;
        long dpo_pairs = 0;
        example_args a(argc, argv);
        while (a.next()) {
            if (a.is("--models")) dir = a.value();
            else if (a.is("--seed")) seed = a.u64();
            else if (a.is("--quick")) quick = true;
            else if (a.is("--json")) json_path = a.value();
            else if (a.is("--dpo-pairs")) dpo_pairs = a.integer(1, 10000000);
            else if (a.is("--help") || a.is("-h")) {
                std::puts("usage: oracle_free_table --models DIR --seed S [--quick] [--json PATH] [--dpo-pairs P]\n"
                          "  DIR is a demo run's seed directory; --quick when the demo ran with --quick\n"
                          "  --dpo-pairs P  the true utility of GReF's Rerank-DPO winners vs the shown slates on the first P\n"
                          "                 pages of the demo's logs (the demo pairs 20000, --quick 4000); --models optional");
                return 0;
            } else {
                throw input_error("unknown option " + a.name() + " (see --help)");
            }
        }
        if (dir.empty() && dpo_pairs == 0) throw input_error("--models DIR is required");
        const int eval_requests = quick ? 150 : 500, gate_requests = quick ? 40 : 100, best_of = 16;
        world w(world_config::small(), seed);
        if (dpo_pairs > 0) {
            // the demo's logs (dualrerank_demo: generate_logs(w, 0, --logs, behaviour_policy{}, seed * 7 + 1)): the
            // first P pages are the same whatever --logs was
            const auto logs = generate_logs(w, 0, std::size_t(dpo_pairs), behaviour_policy{}, seed * 7 + 1);
            std::printf("Rerank-DPO pairs, seed %llu, first %ld logged pages (true expected utility; alpha = 1):\n",
                        (unsigned long long)seed, dpo_pairs);
            std::printf("%-36s %7s %9s %9s %10s %10s %14s\n", "winner sorted by", "pairs", "U(w)>U(l)", "U(w)<U(l)", "mean U(l)",
                        "mean gain", "best-order gain");
            const struct {
                const char* name;
                double gamma, long_weight;
            } variants[] = {{"1/P + click (GReF)", 1.0, 0.0}, {"1/P + click + long view", 1.0, 1.0}, {"1/P + 2 click", 2.0, 0.0}};
            for (const auto& v : variants) {
                const auto q = pipeline::dpo_pair_report(w, logs, logs.size(), 1.0, v.gamma, v.long_weight);
                std::printf("%-36s %7zu %9.3f %9.3f %10.4f %+10.4f %+14.4f\n", v.name, q.pairs, q.winner_better, q.winner_worse,
                            q.mean_loser, q.mean_gain, q.mean_best_gain);
            }
            if (dir.empty()) return 0;
        }
        const int L = w.slate_size();
        const pipeline::eval_set ev = pipeline::make_eval_set(w, eval_requests);
        auto teacher = [&](const char* f) { return io::load_model<ar_teacher<float>>(dir + "/" + f); };
        auto student = [&](const char* f) { return io::load_model<nar_student<float>>(dir + "/" + f); };
        const ar_teacher<float> t_exp = teacher("teacher_exposure.safetensors"), t_log = teacher("teacher_log.safetensors"),
                                t_dpo = teacher("teacher_dpo.safetensors"), t_es = teacher("teacher_evaluator_search.safetensors");
        const nar_student<float> s_sup = student("student_supervised_oracle_free.safetensors"),
                                 s_skd = student("student_skd_oracle_free.safetensors");
        const page_evaluator<float> pe = io::load_page_evaluator<float>(dir + "/page_evaluator.safetensors");
        workspace ws;
        std::vector<row> rows;
        auto add = [&](row r) {
            r.oracle = false;
            rows.push_back(std::move(r));
        };
        add(pipeline::evaluate(w, ev, "upstream sort", [&](const sim_request& r) { return upstream_sort(w, r); }));
        auto tg = [&](const ar_teacher<float>& t) {
            return [&t, &ws, L](const sim_request& r) { return decode::teacher_greedy(t, r.observed.view(), L, ws); };
        };
        add(pipeline::evaluate(w, ev, "teacher (exposure)", tg(t_exp)));
        add(pipeline::evaluate(w, ev, "teacher (log recipe)", tg(t_log)));
        add(pipeline::evaluate(w, ev, "teacher (Rerank-DPO)", tg(t_dpo)));
        std::vector<slate> es_slates;
        add(pipeline::evaluate(w, ev, "teacher (evaluator search)", tg(t_es), nullptr, &es_slates));
        rows.back().ptar = 1.0;
        add(pipeline::evaluate(
            w, ev, "student supervised", [&](const sim_request& r) { return decode::greedy(s_sup, r.observed.view(), L, ws); }, &es_slates));
        rows.back().collapse = pipeline::collapse(s_sup, ev, L);
        add(pipeline::evaluate(
            w, ev, "student SKD", [&](const sim_request& r) { return decode::greedy(s_skd, r.observed.view(), L, ws); }, &es_slates));
        rows.back().collapse = pipeline::collapse(s_skd, ev, L);
        // the teacher scorer's record, measured as the demo does (the page evaluator's is in its file)
        decode::teacher_scorer<float> ts{&t_es};
        const auto corr = pipeline::scorer_correlation(w, ts, [](const sim_request&) {}, pipeline::slate_distribution::proposals, &s_skd,
                                                       gate_requests, best_of, decode::best_of_n_config{}.tau, seed);
        ts.validation = scorer_validation{"rank_correlation", corr.mean, corr.requests};
        std::fprintf(stderr, "seed %llu: page evaluator record %s %.3f over %d requests; evaluator-search teacher scorer %.3f over %d\n",
                     (unsigned long long)seed, pe.validation.check.c_str(), pe.validation.value, pe.validation.requests, corr.mean,
                     corr.requests);
        decode::best_of_n_config bon;
        bon.n = best_of;
        decode::best_of_n_workspace<float> bw;
        std::vector<int> out(static_cast<std::size_t>(L));
        auto serve = [&](const std::string& name, const auto& scorer) {
            std::uint32_t counter = 0;
            add(pipeline::evaluate(
                w, ev, name,
                [&](const sim_request& r) {
                    decode::best_of_n(s_skd, scorer, r.observed.view(), L, bon, counter_key::from_seed(seed + 77),
                                      (counter++) * std::uint32_t(bon.n * L * r.n()), out.data(), bw);
                    return slate(out.begin(), out.end());
                },
                &es_slates));
        };
        serve("Best-of-16 (SKD + evaluator scorer)", decode::page_evaluator_scorer<float>{&pe});
        serve("Best-of-16 (SKD + teacher scorer)", ts);
        std::printf("%-40s %9s %8s %8s %9s\n", "policy (oracle-free)", "norm.util", "NDCG@L", "PTAR", "collapse");
        for (const auto& r : rows)
            std::printf("%-40s %9.3f %8.3f %8.3f %9.3f\n", r.policy.c_str(), r.utility, r.ndcg, r.ptar, r.collapse);
        if (!json_path.empty()) {
            std::ofstream f(json_path);
            if (!f) throw error("cannot write " + json_path);
            f << "[\n";
            for (std::size_t i = 0; i < rows.size(); ++i) {
                io::json j = io::json::object();
                j["seed"] = std::int64_t(seed);
                j["policy"] = rows[i].policy;
                j["normalized_utility"] = rows[i].utility;
                j["ndcg"] = rows[i].ndcg;
                j["ptar"] = rows[i].ptar < 0 ? io::json(nullptr) : io::json(rows[i].ptar);
                j["collapse"] = rows[i].collapse < 0 ? io::json(nullptr) : io::json(rows[i].collapse);
                j["p50_us"] = rows[i].p50_us;
                j["oracle"] = false;
                f << (i ? ",\n  " : "  ") << j.dump();
            }
            f << "\n]\n";
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "oracle_free_table: %s\n", e.what());
        return 1;
    }
}
