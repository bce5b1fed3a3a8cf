// Best-of-N serving, measured per scorer (issue 5): the SKD student proposes (its greedy slate plus
// N-1 Gumbel-Max samples), a scorer picks. Three scorers:
//   * teacher   — the search-distilled AR teacher's teacher-forced log-likelihood with rank-decay
//                 weights (decode::teacher_scorer, the demo's default);
//   * evaluator — a list evaluator trained here on the exploratory logs' per-slot feedback
//                 (two outputs: click, long view; per-slot BCE with train::evaluator_bce_step), so
//                 sum_t sum_o sigmoid(e_t,o) estimates the page utility (decode::evaluator_scorer);
//   * closed form — the world's exact expected page utility of each slate (the upper bound of any
//                 scorer: Best-of-N with it picks the truly best of the N candidates).
// For each: the within-request rank correlation with true utility on held-out requests (the demo's
// gate measurement: 16 student samples per request, eval::scorer_rank_correlation), what the gate
// decides, and the normalized utility (the demo's definition, pipeline::evaluate) of Best-of-N for
// N in {1, 4, 16} (N = 1 is greedy). All scorers see the same candidate slates (same noise key).
//
// The world, the evaluation set and the student are the demo's for that seed: run the demo first
// (it writes DIR/student_skd.safetensors and DIR/teacher_search.safetensors).
//
// The util@N columns are Best-of-N with the library's gate off (best_of_n_config::gate = -inf) so
// that every scorer's effect is visible; the gate column says what the 0.5 gate serves.
// With --page-evaluator FILE (the demo saves DIR/page_evaluator.safetensors) the page evaluator
// fitted on logs alone is a fourth scorer; --student picks the proposing student in DIR (e.g.
// student_skd_oracle_free.safetensors) and --teacher the teacher scorer.
//
//   best_of_n_table --models runs/demo/seed1 --seed 1 [--requests 500] [--gate-requests 100]
//                   [--evaluator-pages 20000] [--evaluator-steps 3000] [--gate 0.5] [--csv PATH]
//                   [--student FILE] [--teacher FILE] [--page-evaluator FILE]
#include <fstream>
#include <limits>

#include <dualrerank/sim/sim.hpp>

#include "example_args.hpp"

using namespace dualrerank;

namespace {

struct options {
    std::string models;
    std::uint64_t seed = 1;
    int requests = 500;
    int gate_requests = 100;
    int evaluator_pages = 20000;
    long evaluator_steps = 3000;
    double gate = 0.5;
    double tau = decode::best_of_n_config{}.tau;
    bool expected_labels = false;
    bool evaluator = true;
    std::string csv_path;
    std::string student_file = "student_skd.safetensors";
    std::string teacher_file = "teacher_search.safetensors";
    std::string page_evaluator_path;
};

void usage() {
    std::puts(
        "usage: best_of_n_table --models DIR [options]\n"
        "  --models DIR            a demo output directory (student_skd.safetensors, teacher_search.safetensors)\n"
        "  --seed S                the seed the demo ran with (world and noise; default 1)\n"
        "  --requests M            held-out evaluation requests for the utility columns (default 500)\n"
        "  --gate-requests G       held-out requests for the correlation gate (default 100, as the demo)\n"
        "  --evaluator-pages P     exploratory log pages the list evaluator is trained on (default 20000)\n"
        "  --evaluator-steps K     evaluator training steps, batch 32 (default 3000)\n"
        "  --gate X                correlation threshold for serving Best-of-N (default 0.5)\n"
        "  --tau X                 the student's sampling temperature for the proposals (default 1)\n"
        "  --no-evaluator          skip the list evaluator (no training; teacher and closed form only)\n"
        "  --expected-labels       diagnostic: train the evaluator on the logged slates' expected per-slot\n"
        "                          feedback (closed form) instead of the sampled clicks / long views\n"
        "  --csv PATH              also write the table as CSV\n"
        "  --student FILE          the proposing student's file in DIR (default student_skd.safetensors)\n"
        "  --teacher FILE          the teacher scorer's file in DIR (default teacher_search.safetensors)\n"
        "  --page-evaluator PATH   also measure a saved page evaluator (e.g. DIR/page_evaluator.safetensors)\n");
}

options parse(int argc, char** argv) {
    options o;
    example_args a(argc, argv);
    while (a.next()) {
        if (a.is("--models")) {
            o.models = a.value();
        } else if (a.is("--seed")) {
            o.seed = a.u64();
        } else if (a.is("--requests")) {
            o.requests = a.integer();
        } else if (a.is("--gate-requests")) {
            o.gate_requests = a.integer();
        } else if (a.is("--evaluator-pages")) {
            o.evaluator_pages = a.integer();
        } else if (a.is("--evaluator-steps")) {
            o.evaluator_steps = a.integer(LLONG_MIN, LLONG_MAX);
        } else if (a.is("--gate")) {
            o.gate = a.real();
        } else if (a.is("--tau")) {
            o.tau = a.real();
            if (!(o.tau > 0) || !std::isfinite(o.tau)) throw input_error("--tau must be a positive number");
        } else if (a.is("--no-evaluator")) {
            o.evaluator = false;
        } else if (a.is("--expected-labels")) {
            o.expected_labels = true;
        } else if (a.is("--csv")) {
            o.csv_path = a.value();
        } else if (a.is("--student")) {
            o.student_file = a.value();
        } else if (a.is("--teacher")) {
            o.teacher_file = a.value();
        } else if (a.is("--page-evaluator")) {
            o.page_evaluator_path = a.value();
        } else if (a.is("--help") || a.is("-h")) {
            usage();
            std::exit(0);
        } else {
            throw input_error("unknown option " + a.name() + " (see --help)");
        }
    }
    if (o.models.empty()) throw input_error("--models DIR is required (see --help)");
    if (o.requests < 1 || o.gate_requests < 1) throw input_error("--requests and --gate-requests must be >= 1");
    if (o.evaluator_pages < 1 || o.evaluator_steps < 1) throw input_error("--evaluator-pages and --evaluator-steps must be >= 1");
    return o;
}

/// The world's closed-form expected page utility as a Best-of-N scorer (the upper bound). It
/// needs the simulator's hidden request, so the caller points `current` at it before each call.
struct closed_form_scorer {
    const world* w = nullptr;
    const sim_request* current = nullptr;
    conditions cond{};
    void operator()(const request_view<float>&, int K, int L, const int* slates, float* scores, workspace&) const {
        for (int k = 0; k < K; ++k) scores[k] = float(w->utility_unchecked(*current, slates + std::size_t(k) * L, L, cond));
    }
};

/// Per-slot BCE on the logged pages' sampled feedback (outputs: click, long view), batch of pages.
/// With `expected_labels` the targets are the closed-form per-slot probabilities (a diagnostic).
void fit_evaluator(list_evaluator<float>& ev, const world& w, const std::vector<logged_page>& logs, long steps,
                   std::uint64_t seed, bool expected_labels) {
    std::vector<request<float>> reqs(logs.size());
    std::vector<page_feedback> fb(logs.size());
    sim_request sr;
    for (std::size_t i = 0; i < logs.size(); ++i) {
        w.make_request(logs[i].request_index, sr);
        reqs[i] = sr.observed;
        fb[i] = expected_labels ? w.expected_feedback(sr, logs[i].shown) : logs[i].feedback;
    }
    const int L = w.slate_size();
    train::trainer_config tc;
    tc.batch_size = 32;
    tc.seed = seed;
    tc.optimizer.lr = 2e-3;
    tc.optimizer.warmup_steps = std::min(200L, steps / 10);
    tc.optimizer.total_steps = steps;
    tc.optimizer.weight_decay = 0.01;
    tc.log_every = 250;
    tc.log = stderr;
    train::trainer<list_evaluator<float>> tr(ev, tc);
    const int B = tc.batch_size;
    std::vector<int> idx;
    std::vector<float> labels(std::size_t(L) * 2);
    tr.run(
        steps,
        [&](float* g, workspace& ws, rng& gen) {
            train::draw_batch(gen, logs.size(), B, idx);
            double loss = 0;
            for (int b = 0; b < B; ++b) {
                const logged_page& p = logs[std::size_t(idx[b])];
                const page_feedback& f = fb[std::size_t(idx[b])];
                for (int t = 0; t < L; ++t) {
                    labels[std::size_t(t) * 2] = f.clicks[std::size_t(t)];
                    labels[std::size_t(t) * 2 + 1] = f.long_views[std::size_t(t)];
                }
                const double l = train::evaluator_bce_step(tr.model(), reqs[std::size_t(idx[b])].view(), 1, L, p.shown.data(),
                                                           labels.data(), g, ws, 1.0f / float(B));
                if (!std::isfinite(l)) return l;
                loss += l;
            }
            return loss / B;
        },
        "evaluator");
}

struct result_row {
    std::string scorer;
    double correlation = 0;
    int corr_requests = 0;
    bool passes = false;
    double utility[3] = {0, 0, 0};  // N = 1, 4, 16
};

constexpr int kN[3] = {1, 4, 16};

template <class Scorer, class Before>
result_row measure(const std::string& name, const Scorer& scorer, Before before, const world& w, const pipeline::eval_set& ev,
                   const nar_student<float>& student, const options& o) {
    const int L = w.slate_size();
    result_row row;
    row.scorer = name;
    // the demo's gate measurement: 16 student samples per held-out request, Spearman per request
    {
        const int K = 16;
        const double tau = o.tau;
        std::vector<std::vector<float>> sc;
        std::vector<std::vector<double>> ut;
        decode::best_of_n_workspace<float> bw;
        std::vector<int> slates(std::size_t(K) * L);
        std::vector<float> scores(K);
        for (int i = 0; i < o.gate_requests; ++i) {
            sim_request r = w.eval_request(100000 + std::uint64_t(i));
            before(r);
            decode::student_sample(student, r.observed.view(), L, K, tau, counter_key::from_seed(o.seed), 0, slates.data(),
                                   static_cast<float*>(nullptr), bw.student);
            scorer(r.observed.view(), K, L, slates.data(), scores.data(), bw.scorer);
            std::vector<double> u;
            for (int k = 0; k < K; ++k) u.push_back(w.expected_utility(r, slate(slates.begin() + k * L, slates.begin() + (k + 1) * L)));
            sc.emplace_back(scores.begin(), scores.end());
            ut.push_back(std::move(u));
        }
        const auto corr = eval::scorer_rank_correlation(sc, ut);
        row.correlation = corr.mean;
        row.corr_requests = corr.requests;
        row.passes = corr.mean >= o.gate;
    }
    // Best-of-N utility on the evaluation set (the demo's noise key and counters), the scorer with
    // its measured record attached
    const decode::validated_scorer<const Scorer&> trusted{scorer, scorer_validation{"rank_correlation", row.correlation, row.corr_requests}};
    for (int j = 0; j < 3; ++j) {
        decode::best_of_n_config bon;
        bon.n = kN[j];
        bon.tau = o.tau;
        bon.gate = -std::numeric_limits<double>::infinity();  // the table measures every scorer, gate aside
        decode::best_of_n_workspace<float> bw;
        std::vector<int> out(static_cast<std::size_t>(L));
        std::uint32_t req_counter = 0;
        const auto res = pipeline::evaluate(w, ev, name, [&](const sim_request& r) {
            before(r);
            decode::best_of_n(student, trusted, r.observed.view(), L, bon, counter_key::from_seed(o.seed + 77),
                              (req_counter++) * std::uint32_t(bon.n * L * r.n()), out.data(), bw);
            return slate(out.begin(), out.end());
        });
        row.utility[j] = res.utility;
    }
    return row;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const options o = parse(argc, argv);
        const auto t0 = std::chrono::steady_clock::now();
        auto phase = [&](const char* what) {
            std::fprintf(stderr, "[best_of_n seed %llu %6.1fs] %s\n", (unsigned long long)o.seed,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), what);
        };
        const world_config wc = world_config::small();  // the demo's world
        world w(wc, o.seed);
        const int L = w.slate_size();
        const auto student = io::load_model<nar_student<float>>(o.models + "/" + o.student_file);
        const auto teacher = io::load_model<ar_teacher<float>>(o.models + "/" + o.teacher_file);
        if (student.config().features != wc.feature_dim || student.config().max_slate < L)
            throw input_error("the models in " + o.models + " do not match the demo's world");

        phase("evaluation requests (beam-search oracle per request)");
        const pipeline::eval_set ev = pipeline::make_eval_set(w, o.requests);

        std::vector<result_row> rows;
        auto none = [](const sim_request&) {};
        phase("teacher scorer");
        std::size_t trie_rows = 0;
        const decode::teacher_scorer<float> ts{&teacher, &trie_rows};
        rows.push_back(measure("teacher", ts, none, w, ev, student, o));
        // the positions the teacher was asked to score: the gate's 16 slates per request, then each
        // N > 1 of kN on the evaluation set (best_of_n does not call the scorer for N = 1)
        double positions = 16.0 * L * o.gate_requests;
        for (int n : kN)
            if (n > 1) positions += double(n) * L * o.requests;
        if (o.evaluator) {
            phase("exploratory logs and the list evaluator");
            const auto logs = generate_logs(w, 0, std::size_t(o.evaluator_pages), behaviour_policy{}, o.seed * 7 + 1);
            model_config mc = student.config();  // the demo's student config (d = 32, h = 4, 2 layers, ffn 128)
            mc.outputs = 2;                      // click, long view
            list_evaluator<float> evaluator(mc);
            evaluator.init(o.seed + 600);
            fit_evaluator(evaluator, w, logs, o.evaluator_steps, o.seed, o.expected_labels);
            phase("evaluator scorer");
            rows.push_back(measure("evaluator", decode::evaluator_scorer<float>{&evaluator}, none, w, ev, student, o));
        }
        if (!o.page_evaluator_path.empty()) {
            phase("page evaluator scorer");
            const auto pe = io::load_page_evaluator<float>(o.page_evaluator_path);
            rows.push_back(measure("page evaluator", decode::page_evaluator_scorer<float>{&pe}, none, w, ev, student, o));
        }
        phase("closed-form scorer (upper bound)");
        closed_form_scorer cf{&w, nullptr, ev.cond};
        rows.push_back(measure("closed form (bound)", cf, [&](const sim_request& r) { cf.current = &r; }, w, ev, student, o));
        phase("done");

        std::printf("\nBest-of-N per scorer, seed %llu: %d evaluation requests, correlation over %d gate requests (gate %.2f);\n"
                    "evaluator trained on %d log pages, %ld steps, %s labels\n",
                    (unsigned long long)o.seed, o.requests, o.gate_requests, o.gate, o.evaluator_pages, o.evaluator_steps,
                    o.expected_labels ? "expected (diagnostic)" : "sampled");
        std::printf("%-20s %11s %12s %9s %9s %9s %10s\n", "scorer", "correlation", "gate", "util@N=1", "util@N=4", "util@N=16",
                    "served@16");
        for (const auto& r : rows)
            std::printf("%-20s %11.3f %12s %9.3f %9.3f %9.3f %10.3f\n", r.scorer.c_str(), r.correlation,
                        r.passes ? "Best-of-N" : "greedy", r.utility[0], r.utility[1], r.utility[2],
                        r.passes ? r.utility[2] : r.utility[0]);
        std::printf("(normalized utility: random 0, beam-search oracle 1; N = 1 is the student's greedy slate; served@16 is\n"
                    " what the gate serves at N = 16; proposals sampled at tau = %g)\n", o.tau);
        std::printf("teacher scorer: its prefix trie decoded %.1f%% of the N * L positions (mean over every scored request)\n",
                    100.0 * double(trie_rows) / positions);
        if (!o.csv_path.empty()) {
            std::ofstream f(o.csv_path);
            if (!f) throw error("cannot write " + o.csv_path);
            f << "seed,scorer,correlation,correlation_requests,gate,utility_n1,utility_n4,utility_n16,served_n16\n";
            for (const auto& r : rows)
                f << o.seed << ',' << r.scorer << ',' << r.correlation << ',' << r.corr_requests << ','
                  << (r.passes ? "best_of_n" : "greedy") << ',' << r.utility[0] << ',' << r.utility[1] << ',' << r.utility[2]
                  << ',' << (r.passes ? r.utility[2] : r.utility[0]) << '\n';
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "best_of_n_table: %s\n", e.what());
        return 1;
    }
}
