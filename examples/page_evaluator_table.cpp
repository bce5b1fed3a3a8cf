// The page evaluator on the built-in world (issue 13; docs/evaluator.md): fit it on logged pages
// alone, report per-slot calibration and AUC on held-out logs, its within-request rank correlation
// with the true utility on three slate distributions (logged, random, a student's proposals), and
// its error decomposed: each learned component (examination, appeal, page context) swapped for the
// world's true one, the correlation on the proposals measured again.
//
//   page_evaluator_table --models DIR [--seed S] [--pages P] [--explore-share X] [--serving-pages P2]
//                        [--steps K] [--batch B] [--min-lr-ratio X] [--average-tail X] [--requests R]
//                        [--expected-labels] [--csv PATH]
//                        [--target-weight-alpha A] [--target-weight-cap C] [--target-weights page|prefix]
//
// DIR holds a student (student_skd.safetensors, e.g. from dualrerank_demo) whose proposals are
// scored; with --serving-pages it also serves the policy-local logging bucket.
#include <fstream>

#include <dualrerank/sim/sim.hpp>

#include "example_args.hpp"

using namespace dualrerank;

namespace {

struct options {
    std::string models;
    std::string student_file = "student_skd.safetensors";
    std::uint64_t seed = 1;
    std::uint64_t fit_seed = 0;  // the fit's initialization and batch order (0: from --seed, as before)
    bool demo_split = false;     // fit on the first 95% of the pages, the last 5% held out, evaluated every steps / 10 (the demo's)
    int fits = 1;                // > 1: that many fits (fit seeds fit_seed, fit_seed + 1, ...), reported one by one; the
                                 // evaluator reported in full is their parameter average
    int pages = 100000;          // exploratory (behaviour-policy) pages
    int serving_pages = 0;       // policy-local pages (the student + Gumbel-Max exploration, plus an exploration bucket)
    double explore_share = 0.2;  // share of the policy-local traffic in the exploration bucket
    double explore_temperature = 0.4;
    long steps = 10000;
    int batch = 128;
    double lr = 0.002;
    double weight_decay = train::page_fit_config{}.weight_decay;
    double page_weight_decay = train::page_fit_config{}.page_weight_decay;
    double min_lr_ratio = train::page_fit_config{}.min_lr_ratio;
    double average_tail = train::page_fit_config{}.average_tail;
    int requests = 100;
    double tau = 0.5;
    bool expected_labels = false;
    bool init_true_exam = false;
    page_centering centering = page_centering::none;  // page_evaluator_config::centering  // diagnostic: start the fit from the world's true examination
    std::string csv_path;
    std::string save_path;       // where the fitted page evaluator goes (optional)
    std::string evaluator_path;  // a fitted page evaluator (the demo's): no fit, held-out = the last 5% of the pages
    std::string save_members;    // with --fits K > 1: each fit saved to PREFIX<k>.safetensors
    std::string swap_from;       // diagnostic: copy one parameter tensor at a time from this evaluator into the reported one
    double target_alpha = 0;     // > 0: importance weights toward the student at --tau (train::importance_weight_config::alpha)
    double target_cap = train::importance_weight_config{}.cap;
    bool target_prefix = true;   // per-slot prefix weights (page_example::slot_weights), else one weight per page
};

void usage() {
    std::puts(
        "usage: page_evaluator_table --models DIR [options]\n"
        "  --models DIR             directory with the student whose proposals are scored\n"
        "  --student FILE           the student's file name in DIR (default student_skd.safetensors)\n"
        "  --seed S                 world seed (default 1)\n"
        "  --fit-seed S             seed of the fit's initialization and batch order (default: from --seed)\n"
        "  --demo-split             fit as dualrerank_demo does: the last 5% of the pages held out (not every 20th),\n"
        "                           evaluated every steps / 10 (not / 20)\n"
        "  --fits K                 K fits from fit seeds S, S + 1, ... (diagnostic of the fit-to-fit spread): each\n"
        "                           one's held-out NLL and correlation on the proposals, the ensemble of their\n"
        "                           utilities, and the full report on their parameter average (default 1)\n"
        "  --pages P                exploratory log pages (behaviour policy; default 100000)\n"
        "  --explore-temperature T  temperature of the exploration bucket's Plackett-Luce (default 0.4)\n"
        "  --serving-pages P        policy-local pages: the student at tau 0.5 plus the exploration bucket (default 0)\n"
        "  --explore-share X        share of the policy-local traffic in the exploration bucket (default 0.2)\n"
        "  --steps K                fit steps at most (default 10000; early stopping on held-out pages)\n"
        "  --batch B                pages per step (default 128)\n"
        "  --lr X                   peak learning rate (default 0.002)\n"
        "  --weight-decay X         AdamW decoupled weight decay on the bilinear forms (default: page_fit_config's)\n"
        "  --page-weight-decay X    extra decoupled weight decay on the page terms only (default: page_fit_config's)\n"
        "  --min-lr-ratio X         floor of the cosine learning-rate decay, as a share of --lr (default: page_fit_config's)\n"
        "  --average-tail X         share of the steps, at the end, whose iterates are averaged (0: off; default:\n"
        "                           page_fit_config's)\n"
        "  --requests R             held-out requests for the correlations (default 100)\n"
        "  --expected-labels        diagnostic: fit on the closed-form per-slot probabilities (not oracle-free)\n"
        "  --init-true-exam         diagnostic: start the fit from the world's true examination (not oracle-free)\n"
        "  --page-centering M       none, request or logs: page_evaluator_config::centering (default none)\n"
        "  --csv PATH               append one CSV row with every figure\n"
        "  --save PATH              save the fitted page evaluator (e.g. to score another student's proposals\n"
        "                           later with --evaluator)\n"
        "  --save-members PREFIX    with --fits K > 1: save each fit to PREFIX<k>.safetensors (k = 0 .. K-1)\n"
        "  --swap-from PATH         diagnostic: copy each parameter tensor (and groups of them) of the evaluator at\n"
        "                           PATH into the reported one, one at a time, and report the held-out NLL/page and\n"
        "                           the correlation on the proposals of each hybrid (which block carries a difference)\n"
        "  --target-weight-alpha A  importance-weight the fit toward the student's sampling policy at tau 0.5 (the\n"
        "                           proposals' policy): weights exp(A (log pi_student - log pi_log)), A in (0, 1],\n"
        "                           self-normalized, capped (default 0: unweighted; exploratory pages only)\n"
        "  --target-weight-cap C    the weights' cap after normalization to mean 1 (default 10)\n"
        "  --target-weights M       prefix (slot t weighted by its prefix's ratio; default) or page (the slate's ratio)\n"
        "  --evaluator PATH         report on a fitted page evaluator instead of fitting one (the demo's\n"
        "                           DIR/page_evaluator.safetensors with --pages equal to the demo's --logs:\n"
        "                           held out are the last 5% of the pages, as in the demo)\n");
}

options parse(int argc, char** argv) {
    options o;
    example_args a(argc, argv);
    while (a.next()) {
        if (a.is("--models")) o.models = a.value();
        else if (a.is("--student")) o.student_file = a.value();
        else if (a.is("--seed")) o.seed = a.u64();
        else if (a.is("--fit-seed")) o.fit_seed = a.u64();
        else if (a.is("--fits")) o.fits = a.integer(1, 64);
        else if (a.is("--demo-split")) o.demo_split = true;
        else if (a.is("--pages")) o.pages = a.integer();
        else if (a.is("--explore-temperature")) o.explore_temperature = a.real();
        else if (a.is("--serving-pages")) o.serving_pages = a.integer();
        else if (a.is("--explore-share")) o.explore_share = a.real();
        else if (a.is("--steps")) o.steps = a.integer(LLONG_MIN, LLONG_MAX);
        else if (a.is("--batch")) o.batch = a.integer();
        else if (a.is("--lr")) o.lr = a.real();
        else if (a.is("--weight-decay")) o.weight_decay = a.real();
        else if (a.is("--page-weight-decay")) o.page_weight_decay = a.real();
        else if (a.is("--min-lr-ratio")) o.min_lr_ratio = a.real();
        else if (a.is("--average-tail")) o.average_tail = a.real();
        else if (a.is("--requests")) o.requests = a.integer();
        else if (a.is("--expected-labels")) o.expected_labels = true;
        else if (a.is("--init-true-exam")) o.init_true_exam = true;
        else if (a.is("--page-centering")) {
            const std::string m = a.value();
            if (m == "none") o.centering = page_centering::none;
            else if (m == "request") o.centering = page_centering::request;
            else if (m == "logs") o.centering = page_centering::logs;
            else throw input_error("--page-centering must be none, request or logs");
        }
        else if (a.is("--csv")) o.csv_path = a.value();
        else if (a.is("--evaluator")) o.evaluator_path = a.value();
        else if (a.is("--save")) o.save_path = a.value();
        else if (a.is("--save-members")) o.save_members = a.value();
        else if (a.is("--swap-from")) o.swap_from = a.value();
        else if (a.is("--target-weight-alpha")) o.target_alpha = a.real();
        else if (a.is("--target-weight-cap")) o.target_cap = a.real();
        else if (a.is("--target-weights")) {
            const std::string m = a.value();
            if (m == "prefix") o.target_prefix = true;
            else if (m == "page") o.target_prefix = false;
            else throw input_error("--target-weights must be prefix or page");
        }
        else if (a.is("--help") || a.is("-h")) {
            usage();
            std::exit(0);
        } else {
            throw input_error("unknown option " + a.name() + " (see --help)");
        }
    }
    if (o.models.empty()) throw input_error("--models DIR is required (see --help)");
    if (o.pages < 0 || o.serving_pages < 0 || o.pages + o.serving_pages < 100) throw input_error("need at least 100 pages");
    if (o.requests < 1) throw input_error("--requests must be >= 1");
    if (o.target_alpha != 0) {
        train::importance_weight_config ic;
        ic.alpha = o.target_alpha;
        ic.cap = o.target_cap;
        ic.validate();
        if (o.serving_pages > 0) throw input_error("--target-weight-alpha needs exploratory pages only (no --serving-pages)");
    }
    return o;
}

/// Which learned components are replaced by the world's true ones.
struct swap_set {
    bool exam = false, appeal = false, page = false;
    std::string name() const {
        if (!exam && !appeal && !page) return "learned";
        std::string s = "true";
        if (exam) s += " exam";
        if (appeal) s += std::string(s.size() > 4 ? " +" : "") + " appeal";
        if (page) s += std::string(s.size() > 4 ? " +" : "") + " page";
        return s;
    }
};

/// The page evaluator's utility with some terms swapped for the truth (needs the hidden request).
struct hybrid_scorer {
    const world* w = nullptr;
    const page_evaluator<float>* ev = nullptr;
    swap_set swap;
    const sim_request* current = nullptr;
    void operator()(const request_view<float>& r, int K, int L, const int* slates, float* scores, workspace& ws) const {
        ws.reset();
        detail::page_terms<float> pt = ev->terms(r, L, ws);
        const int n = r.n;
        const auto& cfg = w->config();
        if (swap.exam)
            for (int t = 0; t < L; ++t) pt.exam[t] = float(w->examination()[std::size_t(t)]);
        if (swap.appeal)
            for (int i = 0; i < n; ++i) {
                pt.base[i] = float(current->base_logit[std::size_t(i)]);
                const double p = std::min(std::max(current->long_view_prob[std::size_t(i)], 1e-9), 1 - 1e-9);
                pt.base[std::size_t(n) + i] = float(std::log(p / (1 - p)));
            }
        if (swap.page)
            for (int i = 0; i < n; ++i)
                for (int j = 0; j < n; ++j) {
                    const int ci = current->category[std::size_t(i)], cj = current->category[std::size_t(j)];
                    pt.above[std::size_t(i) * n + j] = ci == cj ? float(-cfg.redundancy) : 0.0f;
                    pt.prev[std::size_t(i) * n + j] = w->complement(cj) == ci ? float(cfg.complementarity) : 0.0f;
                }
        for (int k = 0; k < K; ++k) scores[k] = page_evaluator<float>::slate_utility(pt, slates + std::size_t(k) * L, L, nullptr);
    }
};

/// Per-slot log-probabilities [L] of slate y under Plackett-Luce over scores / temperature (the
/// behaviour policy's slot factors; their sum is plackett_luce_log_prob).
std::vector<double> plackett_luce_slot_log_probs(const std::vector<double>& scores, const slate& y, double temperature) {
    const int n = int(scores.size());
    double mx = -std::numeric_limits<double>::infinity();
    for (int j = 0; j < n; ++j) mx = std::max(mx, scores[std::size_t(j)] / temperature);
    std::vector<double> e(static_cast<std::size_t>(n));
    for (int j = 0; j < n; ++j) e[std::size_t(j)] = std::exp(scores[std::size_t(j)] / temperature - mx);
    std::vector<char> used(std::size_t(n), 0);
    std::vector<double> out;
    for (int i : y) {
        double sum = 0.0;
        for (int j = 0; j < n; ++j)
            if (!used[std::size_t(j)]) sum += e[std::size_t(j)];
        out.push_back(scores[std::size_t(i)] / temperature - mx - std::log(sum));
        used[std::size_t(i)] = 1;
    }
    return out;
}

/// Importance weights of `logs` toward the student's sampling policy at tau: per page [L] slot
/// weights (prefix) or one weight per page (page); prints each slot's effective sample size.
std::vector<double> target_weights(const world& w, const std::vector<logged_page>& logs, const nar_student<float>& student, double tau,
                                   double explore_temperature, const train::importance_weight_config& ic, bool prefix,
                                   const char* name) {
    const int L = w.slate_size();
    const std::size_t N = logs.size();
    std::vector<double> ratio(N * std::size_t(L));
    sim_request r;
    workspace ws;
    std::vector<double> lt(static_cast<std::size_t>(L));
    double worst = 0;  // the per-slot behaviour factors against the logged log-propensity
    for (std::size_t i = 0; i < N; ++i) {
        w.make_request(logs[i].request_index, r);
        train::student_slot_log_probs(student, r.observed.view(), L, logs[i].shown.data(), tau, lt.data(), ws);
        const std::vector<double> lb = plackett_luce_slot_log_probs(r.upstream_score, logs[i].shown, explore_temperature);
        double total = 0;
        for (int t = 0; t < L; ++t) {
            ratio[i * std::size_t(L) + std::size_t(t)] = lt[std::size_t(t)] - lb[std::size_t(t)];
            total += lb[std::size_t(t)];
        }
        worst = std::max(worst, std::fabs(total - logs[i].log_propensity));
    }
    if (worst > 1e-6) throw error("target weights: the behaviour's slot factors do not sum to the logged log-propensity");
    std::vector<double> weights;
    std::printf("importance weights (%s, %zu pages, alpha %g, cap %g, %s): ESS share per slot (capped share)", name, N, ic.alpha,
                ic.cap, prefix ? "prefix" : "page");
    if (prefix) {
        weights.resize(N * std::size_t(L));
        const auto sums = train::prefix_importance_weights(ratio.data(), N, L, ic, weights.data());
        for (const auto& su : sums)
            std::printf(" %.3f (%.4f)", su.ess / double(N), double(su.capped) / double(N));
        std::printf("; whole slate uncapped %.4f\n", sums.back().ess_uncapped / double(N));
    } else {
        std::vector<double> page(N);
        for (std::size_t i = 0; i < N; ++i)
            for (int t = 0; t < L; ++t) page[i] += ratio[i * std::size_t(L) + std::size_t(t)];
        weights.resize(N);
        const auto su = train::importance_weights(page.data(), N, ic, weights.data());
        std::printf(" %.3f (%.4f) uncapped %.4f\n", su.ess / double(N), double(su.capped) / double(N), su.ess_uncapped / double(N));
    }
    return weights;
}

/// `src` with each page's weights set from `weights` (per page [L] slot weights, or one per page).
train::page_source<float> weighted(train::page_source<float> src, std::shared_ptr<const std::vector<double>> weights, int L, bool prefix) {
    auto inner = src.get;
    src.get = [inner, weights, L, prefix](std::size_t i, train::page_example<float>& p) {
        inner(i, p);
        if (prefix) {
            p.slot_weights.resize(std::size_t(L));
            for (int t = 0; t < L; ++t) p.slot_weights[std::size_t(t)] = float((*weights)[i * std::size_t(L) + std::size_t(t)]);
        } else {
            p.weight = (*weights)[i];
        }
    };
    return src;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const options o = parse(argc, argv);
        const auto t0 = std::chrono::steady_clock::now();
        auto phase = [&](const char* what) {
            std::fprintf(stderr, "[page_evaluator seed %llu %6.1fs] %s\n", (unsigned long long)o.seed,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), what);
        };
        const world_config wc = world_config::small();
        world w(wc, o.seed);
        const int L = w.slate_size();
        const auto student = io::load_model<nar_student<float>>(o.models + "/" + o.student_file);

        phase("logs");
        behaviour_policy bp;
        bp.temperature = o.explore_temperature;
        std::vector<logged_page> logs = generate_logs(w, 0, std::size_t(o.pages), bp, o.seed * 7 + 1);
        if (o.serving_pages > 0) {
            pipeline::logging_buckets b;
            b.serving = &student;
            b.explore_share = o.explore_share;
            b.explore_temperature = o.explore_temperature;
            auto more = pipeline::bucket_logs(w, 5000000, std::size_t(o.serving_pages), b, o.seed * 7 + 2);
            logs.insert(logs.end(), more.begin(), more.end());
        }
        // shuffle-free split: every 20th page is held out (with --evaluator or --demo-split: the last 5%, the demo's split)
        std::vector<logged_page> train_logs, valid_logs;
        if (o.evaluator_path.empty() && !o.demo_split) {
            for (std::size_t i = 0; i < logs.size(); ++i) (i % 20 == 19 ? valid_logs : train_logs).push_back(logs[i]);
            if (valid_logs.size() > 20000) valid_logs.resize(20000);
        } else {
            const std::size_t held = std::max<std::size_t>(logs.size() / 20, 1);
            train_logs.assign(logs.begin(), logs.end() - std::ptrdiff_t(held));
            valid_logs.assign(logs.end() - std::ptrdiff_t(held), logs.end());
        }
        auto train_src = pipeline::log_source(w, train_logs, 0, train_logs.size(), o.expected_labels);
        auto valid_src = pipeline::log_source(w, valid_logs, 0, valid_logs.size(), o.expected_labels);
        const auto valid_unweighted = valid_src;
        if (o.target_alpha != 0) {  // importance weights toward the student's proposals (train and held-out apart)
            phase("importance weights toward the student");
            train::importance_weight_config ic;
            ic.alpha = o.target_alpha;
            ic.cap = o.target_cap;
            auto wt = std::make_shared<const std::vector<double>>(
                target_weights(w, train_logs, student, o.tau, o.explore_temperature, ic, o.target_prefix, "training"));
            auto wv = std::make_shared<const std::vector<double>>(
                target_weights(w, valid_logs, student, o.tau, o.explore_temperature, ic, o.target_prefix, "held-out"));
            train_src = weighted(train_src, wt, L, o.target_prefix);
            valid_src = weighted(valid_src, wv, L, o.target_prefix);
        }

        phase("fitting the page evaluator");
        page_evaluator_config pc;
        pc.features = wc.feature_dim;
        pc.context = wc.context_dim;
        pc.max_slate = L;
        pc.max_candidates = wc.num_candidates;
        pc.objectives = 2;
        pc.centering = o.centering;
        page_evaluator<float> ev = o.evaluator_path.empty() ? page_evaluator<float>(pc) : io::load_page_evaluator<float>(o.evaluator_path);
        train::page_fit_result fit;
        std::vector<page_evaluator<float>> members;  // with --fits K > 1
        std::vector<train::page_fit_result> member_fits;
        for (int k = 0; o.evaluator_path.empty() && k < o.fits; ++k) {
            const std::uint64_t fit_seed = (o.fit_seed != 0 ? o.fit_seed : o.seed) + std::uint64_t(k);
            ev.init(fit_seed + 600);
            if (o.init_true_exam)
                for (int t = 1; t < L; ++t) {
                    const double e = std::min(std::max(w.examination()[std::size_t(t)], 1e-6), 1 - 1e-6);
                    ev.tensor("exam_logit")[t - 1] = float(std::log(e / (1 - e)));
                }
            train::page_fit_config fc;
            fc.steps = o.steps;
            fc.batch = o.batch;
            fc.lr = o.lr;
            fc.weight_decay = o.weight_decay;
            fc.page_weight_decay = o.page_weight_decay;
            fc.min_lr_ratio = o.min_lr_ratio;
            fc.average_tail = o.average_tail;
            fc.seed = fit_seed;
            fc.log = stderr;
            fc.eval_every = std::max(1L, o.steps / (o.demo_split ? 10 : 20));
            fit = train::fit_page_evaluator(ev, train_src, valid_src, fc);
            if (o.fits > 1) {
                members.push_back(ev);
                member_fits.push_back(fit);
            }
        }
        if (!o.evaluator_path.empty()) {
            workspace ws;
            fit.best_valid_loss = train::page_source_loss(ev, valid_src, ws);
        } else if (o.fits > 1) {  // the parameter average of the K fits
            for (std::size_t i = 0; i < ev.arena_size(); ++i) {
                double sum = 0;
                for (const auto& m : members) sum += double(m.params()[i]);
                ev.params()[i] = float(sum / double(members.size()));
            }
            workspace ws;
            fit.best_valid_loss = train::page_source_loss(ev, valid_src, ws);
        }
        if (!o.save_path.empty() && o.evaluator_path.empty()) io::save_page_evaluator(ev, o.save_path);
        for (std::size_t k = 0; k < members.size() && !o.save_members.empty(); ++k)
            io::save_page_evaluator(members[k], o.save_members + std::to_string(k) + ".safetensors");
        phase("held-out report");
        const auto rep = train::page_fit_evaluation(ev, valid_unweighted);

        std::printf("\nPage evaluator, seed %llu: %zu training pages (%d exploratory at T = %g, %d policy-local with %.0f%% "
                    "exploration), %s labels\n",
                    (unsigned long long)o.seed, train_logs.size(), o.pages, o.explore_temperature, o.serving_pages,
                    100 * o.explore_share, o.expected_labels ? "expected (diagnostic)" : "sampled");
        std::printf("fit: %ld steps of %d pages, best at step %ld%s%s; held-out NLL/page %.4f (start %.4f)\n", fit.steps, o.batch,
                    fit.best_step, fit.averaged_steps > 0 ? (" (the average of its last " + std::to_string(fit.averaged_steps) + " iterates)").c_str() : "",
                    fit.stopped_early ? " (early stop)" : "", fit.best_valid_loss, fit.initial_valid_loss);
        if (o.target_alpha != 0) {
            workspace ws;
            std::printf("(weighted toward the student, alpha %g, cap %g, %s; unweighted held-out NLL/page %.5f)\n", o.target_alpha,
                        o.target_cap, o.target_prefix ? "prefix" : "page", train::page_source_loss(ev, valid_unweighted, ws));
        }
        std::printf("\nheld-out logs (%zu pages), per slot:\n%-5s %10s %10s %8s %12s %12s %8s %8s\n", valid_logs.size(), "slot",
                    "click pred", "click obs", "AUC", "long pred", "long obs", "AUC", "exam");
        for (int t = 0; t < L; ++t)
            std::printf("%-5d %10.4f %10.4f %8.3f %12.4f %12.4f %8.3f %8.3f (true %.3f)\n", t + 1, rep.at(t, 0).predicted,
                        rep.at(t, 0).observed, rep.at(t, 0).auc, rep.at(t, 1).predicted, rep.at(t, 1).observed, rep.at(t, 1).auc,
                        double(ev.examination(t)), w.examination()[std::size_t(t)]);

        phase("correlations");
        auto none = [](const sim_request&) {};
        auto learned = [&](const request_view<float>& r, int K, int LL, const int* s, float* out, workspace& ws) {
            ev.score(r, K, LL, s, nullptr, out, ws);
        };
        const int K = 16;
        const char* dist_names[3] = {"logged", "random", "proposals"};
        const pipeline::slate_distribution dists[3] = {pipeline::slate_distribution::logged, pipeline::slate_distribution::random,
                                                       pipeline::slate_distribution::proposals};
        double corr[3];
        std::printf("\nwithin-request rank correlation with the true utility (%d held-out requests, %d slates each):\n",
                    o.requests, K);
        for (int d = 0; d < 3; ++d) {
            corr[d] = pipeline::scorer_correlation(w, learned, none, dists[d], &student, o.requests, K, o.tau, o.seed).mean;
            std::printf("  %-10s %.3f\n", dist_names[d], corr[d]);
        }
        if (o.fits > 1) {  // the fit-to-fit spread: each member, and the ensemble of their utilities (mean predictions)
            std::printf("\n%d fits (fit seeds %llu..): held-out NLL/page and correlation on the proposals\n", o.fits,
                        (unsigned long long)(o.fit_seed != 0 ? o.fit_seed : o.seed));
            workspace mws;
            for (std::size_t k = 0; k < members.size(); ++k) {
                const auto& m = members[k];
                auto one = [&](const request_view<float>& r, int K2, int LL, const int* sl, float* out, workspace& ws) {
                    m.score(r, K2, LL, sl, nullptr, out, ws);
                };
                const double c = pipeline::scorer_correlation(w, one, none, pipeline::slate_distribution::proposals, &student,
                                                              o.requests, K, o.tau, o.seed).mean;
                std::printf("  fit %zu: NLL %.5f (best step %ld)  proposals %.3f\n", k, member_fits[k].best_valid_loss,
                            member_fits[k].best_step, c);
            }
            std::vector<float> tmp;
            auto ensemble = [&](const request_view<float>& r, int K2, int LL, const int* sl, float* out, workspace& ws) {
                tmp.assign(std::size_t(K2), 0.0f);
                std::vector<double> acc(std::size_t(K2), 0.0);
                for (const auto& m : members) {
                    m.score(r, K2, LL, sl, nullptr, tmp.data(), ws);
                    for (int k2 = 0; k2 < K2; ++k2) acc[std::size_t(k2)] += double(tmp[std::size_t(k2)]);
                }
                for (int k2 = 0; k2 < K2; ++k2) out[k2] = float(acc[std::size_t(k2)] / double(members.size()));
            };
            const double ce = pipeline::scorer_correlation(w, ensemble, none, pipeline::slate_distribution::proposals, &student,
                                                           o.requests, K, o.tau, o.seed).mean;
            std::printf("  ensemble of the %d (mean utility): proposals %.3f\n  parameter average: NLL %.5f  proposals %.3f\n",
                        o.fits, ce, fit.best_valid_loss, corr[2]);
        }
        if (!o.swap_from.empty()) {  // which parameter block carries the difference between two fits
            const auto other = io::load_page_evaluator<float>(o.swap_from);
            if (!other.table().same_layout(ev.table())) throw input_error("--swap-from: " + o.swap_from + " has another layout");
            std::vector<std::pair<std::string, std::vector<std::string>>> groups;
            for (const auto& t : ev.table().tensors()) groups.push_back({t.name, {t.name}});
            auto group = [&](const std::string& name, const std::string& prefix, bool complement) {
                std::vector<std::string> names;
                for (const auto& t : ev.table().tensors())
                    if ((t.name.compare(0, prefix.size(), prefix) == 0) != complement) names.push_back(t.name);
                groups.push_back({name, names});
            };
            group("appeal.*", "appeal.", false);
            group("objective1.*", "objective1.", false);
            group("page.*", "page.", false);
            group("all but page.*", "page.", true);
            group("all", "", false);
            std::printf("\nswapped in from %s (held-out NLL/page, correlation on the proposals); none: NLL %.5f  %.3f\n",
                        o.swap_from.c_str(), fit.best_valid_loss, corr[2]);
            workspace sws;
            for (const auto& g : groups) {
                page_evaluator<float> h = ev;
                for (const auto& name : g.second) {
                    const tensor_spec* t = ev.table().find(name);
                    std::copy(other.params() + t->offset, other.params() + t->offset + t->size, h.params() + t->offset);
                }
                auto hs = [&](const request_view<float>& r, int K2, int LL, const int* sl, float* out, workspace& ws) {
                    h.score(r, K2, LL, sl, nullptr, out, ws);
                };
                const double c = pipeline::scorer_correlation(w, hs, none, pipeline::slate_distribution::proposals, &student,
                                                              o.requests, K, o.tau, o.seed).mean;
                std::printf("  %-22s NLL %.5f  proposals %.3f\n", g.first.c_str(), train::page_source_loss(h, valid_src, sws), c);
            }
        }
        std::printf("\nerror decomposition (proposals at tau %g): learned components swapped for the world's true ones\n", o.tau);
        std::vector<std::pair<std::string, double>> decomposition;
        for (int mask = 0; mask < 8; ++mask) {
            hybrid_scorer h{&w, &ev, swap_set{(mask & 1) != 0, (mask & 2) != 0, (mask & 4) != 0}, nullptr};
            const double c = pipeline::scorer_correlation(w, h, [&](const sim_request& r) { h.current = &r; },
                                                          pipeline::slate_distribution::proposals, &student, o.requests, K, o.tau,
                                                          o.seed)
                                 .mean;
            decomposition.push_back({h.swap.name(), c});
            std::printf("  %-28s %.3f\n", h.swap.name().c_str(), c);
        }
        phase("done");
        if (!o.csv_path.empty()) {
            std::ofstream f(o.csv_path, std::ios::app);
            if (!f) throw error("cannot write " + o.csv_path);
            f << o.seed << ',' << o.pages << ',' << o.serving_pages << ',' << o.explore_temperature << ',' << o.explore_share << ','
              << (o.expected_labels ? "expected" : "sampled") << ',' << fit.steps << ',' << fit.best_valid_loss << ',' << corr[0]
              << ',' << corr[1] << ',' << corr[2];
            for (const auto& d : decomposition) f << ',' << d.second;
            f << '\n';
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "page_evaluator_table: %s\n", e.what());
        return 1;
    }
}
