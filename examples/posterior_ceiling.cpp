// The information ceiling of a logs-only page evaluator on the built-in world (issue 13;
// docs/evaluator.md, "The information ceiling"): the within-request rank correlation with the true
// utility of the posterior (Bayes) scorer, which sees only the observed features but knows the
// world's parameters (sim/posterior.hpp; an oracle diagnostic), on exactly the proposals of the
// demo's gate record (pipeline::scorer_correlation with the same student, requests, K, tau and
// seed), next to the learned page evaluator and the closed form.
//
//   posterior_ceiling --models DIR [--seed S] [--student FILE] [--evaluator FILE] [--samples M1,M2,..]
//                     [--sampler-seed X] [--requests R] [--no-plug-in] [--slates D] [--csv PATH]
//
// DIR holds the demo's oracle-free SKD student and page evaluator of world seed S (small world),
// e.g. dualrerank_demo --skd-only --logs 1000000 --seed S --save DIR.
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <dualrerank/sim/sim.hpp>

#include "example_args.hpp"

using namespace dualrerank;

namespace {

struct options {
    std::string models;
    std::string student_file = "student_skd_oracle_free.safetensors";
    std::string evaluator_file = "page_evaluator.safetensors";  // "none": skip the learned evaluator
    std::uint64_t seed = 1;
    std::vector<int> samples = {1000, 4000};
    std::uint64_t sampler_seed = 1;
    int requests = 100;
    bool plug_in = true;
    pipeline::slate_distribution slates = pipeline::slate_distribution::proposals;
    std::string csv_path;
};

void usage() {
    std::puts(
        "usage: posterior_ceiling --models DIR [options]\n"
        "  --models DIR        directory with the student (and the page evaluator) of world seed S\n"
        "  --seed S            world seed (small world; default 1)\n"
        "  --student FILE      the student's file name in DIR (default student_skd_oracle_free.safetensors)\n"
        "  --evaluator FILE    the learned page evaluator's file name in DIR (default page_evaluator.safetensors;\n"
        "                      none: skip it)\n"
        "  --samples M1,M2,..  posterior draws per request, one row set per value (default 1000,4000)\n"
        "  --sampler-seed X    seed of the posterior draws (default 1)\n"
        "  --requests R        held-out requests (default 100, the demo's gate)\n"
        "  --no-plug-in        skip the plug-in rows (closed form at the posterior means of the latents)\n"
        "  --slates D          proposals (the student's, the demo's gate; default), logged (behaviour-policy samples)\n"
        "                      or random: pipeline::slate_distribution\n"
        "  --csv PATH          append one CSV row per scorer: seed,scorer,M,correlation,requests,ess_mean,ess_min\n");
}

options parse(int argc, char** argv) {
    options o;
    example_args a(argc, argv);
    while (a.next()) {
        if (a.is("--models")) o.models = a.value();
        else if (a.is("--seed")) o.seed = a.u64();
        else if (a.is("--student")) o.student_file = a.value();
        else if (a.is("--evaluator")) o.evaluator_file = a.value();
        else if (a.is("--samples")) {
            o.samples.clear();
            std::stringstream ss(a.value());
            std::string item;
            while (std::getline(ss, item, ',')) {
                char* end = nullptr;
                const long v = std::strtol(item.c_str(), &end, 10);
                if (item.empty() || *end != '\0' || v < 1 || v > (1 << 20)) throw input_error("--samples: '" + item + "' is not in [1, 2^20]");
                o.samples.push_back(int(v));
            }
            if (o.samples.empty()) throw input_error("--samples needs at least one value");
        } else if (a.is("--sampler-seed")) o.sampler_seed = a.u64();
        else if (a.is("--requests")) o.requests = int(a.integer(1, 100000));
        else if (a.is("--no-plug-in")) o.plug_in = false;
        else if (a.is("--slates")) {
            const std::string d = a.value();
            if (d == "proposals") o.slates = pipeline::slate_distribution::proposals;
            else if (d == "logged") o.slates = pipeline::slate_distribution::logged;
            else if (d == "random") o.slates = pipeline::slate_distribution::random;
            else throw input_error("--slates must be proposals, logged or random");
        }
        else if (a.is("--csv")) o.csv_path = a.value();
        else if (a.is("--help") || a.is("-h")) {
            usage();
            std::exit(0);
        } else {
            throw input_error("unknown option " + a.name() + " (see --help)");
        }
    }
    if (o.models.empty()) throw input_error("--models DIR is required (see --help)");
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const options o = parse(argc, argv);
        const world w(world_config::small(), o.seed);
        const auto student = io::load_model<nar_student<float>>(o.models + "/" + o.student_file);
        // the demo's gate record: K = best_of (16) proposals at best_of_n_config's tau, world seed as the proposals' seed
        const int K = 16;
        const double tau = decode::best_of_n_config{}.tau;
        std::vector<std::string> csv;
        // each scorer runs through pipeline::scorer_correlation (the demo's proposals); a wrapper also
        // keeps its per-request Spearman, so that scorers can be compared request by request
        const sim_request* current = nullptr;
        auto before = [&](const sim_request& r) { current = &r; };
        std::vector<double> reference_rho;  // the first scorer's (the learned evaluator, else the closed form)
        auto measure = [&](const auto& scorer, std::vector<double>& rho) {
            rho.clear();
            auto wrapped = [&](const request_view<float>& r, int K2, int L2, const int* s, float* out, workspace& ws) {
                scorer(r, K2, L2, s, out, ws);
                std::vector<double> u(static_cast<std::size_t>(K2));
                for (int k = 0; k < K2; ++k) u[std::size_t(k)] = w.utility_unchecked(*current, s + std::size_t(k) * L2, L2, conditions{});
                bool ok = false;
                const double c = eval::spearman(std::vector<float>(out, out + K2), u, &ok);
                rho.push_back(ok ? c : std::numeric_limits<double>::quiet_NaN());
            };
            return pipeline::scorer_correlation(w, wrapped, before, o.slates, &student, o.requests, K, tau, o.seed);
        };
        auto row = [&](const std::string& name, int M, const eval::rank_correlation_summary& c, const std::vector<double>& rho,
                       const posterior_stats* st) {
            std::printf("  %-34s %6s  %.3f  (%d requests, %d skipped)", name.c_str(), M > 0 ? std::to_string(M).c_str() : "-", c.mean,
                        c.requests, c.skipped);
            if (reference_rho.empty()) {
                reference_rho = rho;
            } else {  // paired difference to the reference over the requests where both are defined
                double sum = 0, sum2 = 0;
                int n = 0;
                for (std::size_t i = 0; i < rho.size(); ++i)
                    if (std::isfinite(rho[i]) && std::isfinite(reference_rho[i])) {
                        const double d = rho[i] - reference_rho[i];
                        sum += d;
                        sum2 += d * d;
                        ++n;
                    }
                const double mean = n ? sum / n : 0.0, sd = n > 1 ? std::sqrt(std::max(0.0, (sum2 - n * mean * mean) / (n - 1))) : 0.0;
                std::printf("  %+.3f +- %.3f", mean, n ? sd / std::sqrt(double(n)) : 0.0);
            }
            if (st) std::printf("  ESS mean %.0f min %.0f", st->ess_mean(), st->ess_min);
            std::printf("\n");
            std::ostringstream line;
            line << o.seed << ',' << name << ',' << M << ',' << c.mean << ',' << c.requests << ',' << (st ? st->ess_mean() : 0.0) << ','
                 << (st ? st->ess_min : 0.0);
            csv.push_back(line.str());
        };
        if (o.slates == pipeline::slate_distribution::proposals)
            std::printf("world seed %llu (small), %s: within-request rank correlation with the true utility, %d held-out requests x %d "
                        "proposals (greedy + %d Gumbel-Max at tau %g)\n",
                        (unsigned long long)o.seed, o.student_file.c_str(), o.requests, K, K - 1, tau);
        else
            std::printf("world seed %llu (small): within-request rank correlation with the true utility, %d held-out requests x %d %s slates\n",
                        (unsigned long long)o.seed, o.requests, K,
                        o.slates == pipeline::slate_distribution::logged ? "logged (behaviour-policy)" : "random");
        std::printf("(after the first row: the paired mean difference to it per request, +- its standard error)\n");
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<double> rho;
        if (o.evaluator_file != "none") {
            const auto ev = io::load_page_evaluator<float>(o.models + "/" + o.evaluator_file);
            const auto c = measure(decode::page_evaluator_scorer<float>{&ev}, rho);
            row("learned page evaluator", 0, c, rho, nullptr);  // logs only unless fitted on expected labels
            if (ev.validation.requests > 0)
                std::printf("    (its saved record: %s %.3f over %d requests)\n", ev.validation.check.c_str(), ev.validation.value,
                            ev.validation.requests);
        }
        {
            auto truth = [&](const request_view<float>&, int K2, int L2, const int* s, float* out, workspace&) {
                for (int k = 0; k < K2; ++k) out[k] = float(w.utility_unchecked(*current, s + std::size_t(k) * L2, L2, conditions{}));
            };
            const auto c = measure(truth, rho);
            row("closed form (hidden state)", 0, c, rho, nullptr);
        }
        struct kind {
            const char* name;
            posterior_target target;
        };
        std::vector<kind> kinds = {{"posterior E[U | observed]", posterior_target::expected_utility},
                                   {"posterior E[rank | observed]", posterior_target::expected_rank}};
        if (o.plug_in) kinds.push_back({"plug-in (U at posterior means)", posterior_target::plug_in});
        for (int M : o.samples)
            for (const kind& k : kinds) {
                posterior_stats st;
                const posterior_scorer ps{&w, posterior_options{M, o.sampler_seed}, k.target, conditions{}, &st};
                const auto c = measure(ps, rho);
                row(k.name, M, c, rho, &st);
            }
        std::fprintf(stderr, "[posterior_ceiling seed %llu] %.1f s\n", (unsigned long long)o.seed,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        if (!o.csv_path.empty()) {
            std::ofstream f(o.csv_path, std::ios::app);
            if (!f) throw error("cannot write " + o.csv_path);
            for (const auto& l : csv) f << l << '\n';
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "posterior_ceiling: %s\n", e.what());
        return 1;
    }
}
