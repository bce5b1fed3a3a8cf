// dualrerank: the command-line tool (docs/cli.md).
//
//   dualrerank train    supervised teacher or student on LETOR files (or the built-in world)
//   dualrerank eval     NDCG@k / MAP@k of a model's slates on LETOR (or JSON lines with labels)
//   dualrerank distill  SKD student from a teacher, on the built-in world or LETOR queries
//   dualrerank ldro     LDRO or GRPO fine-tuning of a student on the built-in world's stream
//   dualrerank rerank   model + LETOR or JSON-lines requests in, slates out as JSON lines
//   dualrerank bench    latency of a model at given N
//   dualrerank info     a model file's kind, config, metadata and tensors
//
// Errors end the program with one line on stderr, `dualrerank: error: ...`, and exit status 1
// (2 for bad usage); --help prints on stdout and exits 0.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include <dualrerank/decode/full_order.hpp>
#include <dualrerank/sim/sim.hpp>
#include <dualrerank/train/feature_norm.hpp>
#include "args.hpp"
#include "common.hpp"
#include "plot.hpp"
#include "evaluator_commands.hpp"
#include "logs_commands.hpp"
#include "progress.hpp"

namespace dualrerank_cli {
namespace {

void add_progress_flags(arg_parser& p) {
    p.flag("progress", "draw progress bars on stderr even when it is not a terminal")
        .flag("no-progress", "never draw progress bars");
}
bool progress_on(const arg_parser& a) { return progress_wanted(a.flag_set("progress"), a.flag_set("no-progress")); }

std::string fixed(double v, int prec = 4) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, v);
    return b;
}

std::uint64_t seed_of(const arg_parser& a) {
    return static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max()));
}

/// Open an output path ("-" = stdout) for writing.
struct output_file {
    std::ofstream file;
    std::ostream* out = &std::cout;
    std::string name = "<stdout>";
    explicit output_file(const std::string& path) {
        if (path == "-") return;
        file.open(path, std::ios::binary | std::ios::trunc);
        if (!file) throw error("cannot write " + path);
        out = &file;
        name = path;
    }
    void close() {
        out->flush();
        if (!*out) throw error("write to " + name + " failed");
        if (file.is_open()) file.close();
    }
};

// ------------------------------------------------------------------ metrics over queries

struct ranking_metrics {
    std::vector<int> ks;
    std::vector<double> ndcg, map;
    std::size_t queries = 0;
};

ranking_metrics evaluate_rankings(const std::vector<query>& qs, const std::vector<slate>& rankings, const std::vector<int>& ks) {
    ranking_metrics m;
    m.ks = ks;
    m.ndcg.assign(ks.size(), 0.0);
    m.map.assign(ks.size(), 0.0);
    for (std::size_t i = 0; i < qs.size(); ++i) {
        for (std::size_t j = 0; j < ks.size(); ++j) {
            m.ndcg[j] += eval::ndcg_at_k(rankings[i], qs[i].relevance, ks[j]);
            m.map[j] += eval::map_at_k(rankings[i], qs[i].relevance, ks[j]);
        }
        ++m.queries;
    }
    for (std::size_t j = 0; j < ks.size(); ++j) {
        m.ndcg[j] /= double(std::max<std::size_t>(1, m.queries));
        m.map[j] /= double(std::max<std::size_t>(1, m.queries));
    }
    return m;
}

/// A slate completed to a ranking of all N candidates: the slate, then the candidates it left out
/// in the model's full order (decode/full_order.hpp: the last slot's logits rank the rest).
slate complete_ranking(const any_model& m, const request_view<float>& v, int slots, const slate& y, workspace& ws) {
    slate order(static_cast<std::size_t>(v.n));
    if (m.teacher) decode::teacher_full_order(*m.teacher, v, slots, order.data(), (float*)nullptr, ws);
    else decode::student_full_order(*m.student, v, slots, order.data(), (float*)nullptr, ws);
    std::vector<char> in(static_cast<std::size_t>(v.n), 0);
    for (int i : y) in[static_cast<std::size_t>(i)] = 1;
    slate out = y;
    for (int i : order)
        if (!in[static_cast<std::size_t>(i)]) out.push_back(i);
    return out;
}

/// Slates of a model on queries (with a progress bar); `full`: each completed to all N candidates.
std::vector<slate> rerank_all(const any_model& m, reranker& r, const std::vector<query>& qs, bool bar_on, const char* label,
                              bool full = false) {
    workspace ws;
    std::vector<slate> out;
    out.reserve(qs.size());
    progress_bar bar(label, long(qs.size()), bar_on);
    for (std::size_t i = 0; i < qs.size(); ++i) {
        double score = 0;
        try {
            check_query_fits(m, qs[i]);
            out.push_back(r.run(qs[i].req.view(), i, score));
            if (full) out.back() = complete_ranking(m, qs[i].req.view(), r.slate_length(), out.back(), ws);
        } catch (const input_error& e) {
            throw input_error(query_name(qs[i]) + ": " + one_line(e.what()));
        }
        bar.update(long(i + 1));
    }
    bar.finish();
    return out;
}

/// Queries whose documents all have the same label (no order to learn; NDCG 1 for any ranking).
std::size_t count_one_grade(const std::vector<query>& qs) {
    std::size_t n = 0;
    for (const auto& q : qs)
        n += !q.relevance.empty() && std::all_of(q.relevance.begin(), q.relevance.end(), [&](float x) { return x == q.relevance[0]; });
    return n;
}

void require_labels(const std::vector<query>& qs) {
    for (const auto& q : qs)
        if (q.relevance.empty()) throw input_error(query_name(q) + " has no \"relevance\" labels (needed to evaluate)");
}

// ------------------------------------------------------------------ training that watches itself

/// The full order of a model in memory on one request (decode/full_order.hpp).
template <class Model>
void full_order_of(const Model& m, const request_view<float>& v, int slots, slate& order, workspace& ws) {
    order.resize(std::size_t(v.n));
    if constexpr (Model::kind == model_kind::teacher) decode::teacher_full_order(m, v, slots, order.data(), (float*)nullptr, ws);
    else decode::student_full_order(m, v, slots, order.data(), (float*)nullptr, ws);
}

/// Mean NDCG@k of a model's full orders over queries.
template <class Model>
double mean_ndcg(const Model& m, const std::vector<query>& qs, int slots, int k) {
    workspace ws;
    slate order;
    double sum = 0;
    for (const auto& q : qs) {
        full_order_of(m, q.req.view(), slots, order, ws);
        sum += eval::ndcg_at_k(order, q.relevance, k);
    }
    return qs.empty() ? 0.0 : sum / double(qs.size());
}

/// The options of training with a validation set, early stopping, a curve, checkpoints.
void add_watch_options(arg_parser& a, const std::string& eval_every, const std::string& patience) {
    a.option("valid", "FILE", "", "LETOR validation file (labels): NDCG@k every --eval-every steps, early stopping")
        .option("valid-group", "FILE", "", "query sizes for a --valid file without qid:")
        .option("valid-fraction", "X", "", "carve this share of the --data queries out as the validation set (seeded by --seed)")
        .option("eval-every", "K", eval_every, "steps between validation checks (and curve points)")
        .option("patience", "P", patience, "stop after P checks without a better validation NDCG; the best weights are kept (0: never stop)")
        .option("valid-at", "K", "", "cutoff of the validation NDCG (default the slate length)")
        .option("curve", "FILE", "", "write the training curve: FILE.csv (step, loss, validation NDCG, seconds) and FILE.png")
        .option("checkpoint", "FILE", "", "write a training checkpoint (weights, optimizer, step, RNG) at every check and at the end")
        .option("resume", "FILE", "", "continue from a checkpoint written by --checkpoint (same model options)");
}

/// Split queries into (train, valid) by a seeded shuffle of the queries: the valid share is the
/// block-th run of round(fraction n) queries of the shuffled order (wrapping around), so blocks
/// 0..K-1 of one seed are disjoint when K fraction <= 1 (--ensemble-stop pooled).
void carve_validation(std::vector<query>& qs, double fraction, std::uint64_t seed, std::vector<query>& valid, std::size_t block = 0) {
    const std::size_t n = qs.size();
    std::size_t m = static_cast<std::size_t>(std::lround(fraction * double(n)));
    m = std::max<std::size_t>(1, std::min(m, n - 1));
    if (n < 2) throw input_error("--valid-fraction needs at least 2 queries in --data");
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t(0));
    rng g(seed * 0x9e3779b97f4a7c15ULL + 77);
    for (std::size_t i = n - 1; i > 0; --i) std::swap(idx[i], idx[std::size_t(g.below(i + 1))]);
    std::vector<char> is_valid(n, 0);
    for (std::size_t i = 0; i < m; ++i) is_valid[idx[(block * m + i) % n]] = 1;
    std::vector<query> keep;
    for (std::size_t i = 0; i < n; ++i) (is_valid[i] ? valid : keep).push_back(std::move(qs[i]));
    qs = std::move(keep);
}

struct watch_result {
    long steps = 0, best_step = 0;
    double last_loss = 0, best_valid = std::numeric_limits<double>::quiet_NaN();
    bool stopped_early = false;
};

/// Run `fit(hook)` (which calls hook(step, loss) every check and stops when it returns false) with
/// validation, early stopping (best weights restored), the curve and checkpoints.
template <class Model, class Fit>
watch_result watch_training(const arg_parser& a, train::trainer<Model>& tr, const std::vector<query>& valid, int slots, int at,
                            long steps, progress_bar& bar, Fit&& fit, const std::string& curve_suffix = "",
                            std::vector<curve_point>* curve_out = nullptr, const std::string& loss_unit = "") {
    Model& model = tr.model();
    const int patience = a.int_value("patience", 0, 1000000);
    train::early_stopping<Model> stop(patience);
    std::vector<curve_point> curve;
    const std::string ckpt = a.str_or("checkpoint", "");
    const auto t0 = std::chrono::steady_clock::now();
    watch_result r;
    std::unique_ptr<Model> avg;  // the averaged weights (--average-decay)
    const long start = tr.optimizer().steps();
    fit([&](long step, double loss) {
        curve_point p;
        p.step = step;
        p.train_loss = loss;
        p.valid = std::numeric_limits<double>::quiet_NaN();
        p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        r.last_loss = loss;
        r.steps = step - start;
        bool go_on = true;
        std::string extra = "loss " + fixed(loss) + (loss_unit.empty() ? "" : " " + loss_unit);
        if (!valid.empty()) {
            const Model* scored = &model;  // with --average-decay: the averaged weights are checked and kept
            if (tr.config().average_decay > 0) {
                if (!avg) avg.reset(new Model(model));
                std::copy(tr.averaged_params(), tr.averaged_params() + model.arena_size(), avg->params());
                scored = avg.get();
            }
            p.valid = mean_ndcg(*scored, valid, slots, at);
            go_on = !stop.update(*scored, step, p.valid);
            extra += "  valid NDCG@" + std::to_string(at) + " " + fixed(p.valid) + " (best " + fixed(stop.best_score()) + ")";
        }
        curve.push_back(p);
        if (!ckpt.empty()) train::save_checkpoint(tr, ckpt);
        bar.update(std::min(steps, step - start), extra);
        if (!go_on) r.stopped_early = true;
        return go_on;
    });
    bar.finish();
    if (valid.empty() && tr.config().average_decay > 0)
        std::copy(tr.averaged_params(), tr.averaged_params() + model.arena_size(), model.params());
    if (!valid.empty() && stop.has_best()) {
        stop.restore(model);
        r.best_step = stop.best_step();
        r.best_valid = stop.best_score();
    }
    if (curve_out) *curve_out = curve;
    if (a.has("curve")) {
        const std::string base = a.str("curve") + curve_suffix;
        if (!write_curve(curve, r.best_step, base + ".csv", base + ".png", "valid_ndcg@" + std::to_string(at)))
            throw error("cannot write the curve " + base + ".csv / .png");
    }
    return r;
}

// ------------------------------------------------------------------ train

int cmd_train(int argc, char** argv) {
    arg_parser a("train",
                 "dualrerank train --data FILE [--group FILE] --out MODEL [options]\n"
                 "       dualrerank train --world small|default --out MODEL [options]",
                 "Train an AR teacher or a NAR student, supervised. On LETOR data every query is used: the\n"
                 "target of a query is its documents sorted by graded relevance, ties in a random order drawn\n"
                 "each step, and a query with N < L documents fills min(L, N) slots. With --valid or\n"
                 "--valid-fraction the model is checked every --eval-every steps (NDCG of the full order) and\n"
                 "training stops after --patience checks without improvement, keeping the best weights.\n"
                 "Features are standardized with statistics of the training queries, folded into the model's\n"
                 "input layer so every reader of the model file applies them (--norm none: off). On the\n"
                 "built-in world the target is the beam-search slate on the world's closed form.");
    a.option("model", "teacher|student", "student", "what to train")
        .option("data", "FILE", "", "LETOR training file (label qid:Q index:value ...)")
        .option("group", "FILE", "", "query sizes for a --data file without qid: (LightGBM .query / XGBoost .group)")
        .option("out", "MODEL", "", "model file to write (safetensors)")
        .option("slate-length", "L", "10", "slots of the slate (LETOR; the world sets its own L)")
        .option("loss", "ce|listmle|approx-ndcg|ce-ties", "ce",
                "LETOR: slot cross-entropy, ListMLE over the full order, ApproxNDCG per slot, or the slot cross-entropy with ties as one target")
        .option("norm", "zscore|none", "zscore", "LETOR: feature standardization stored in the model")
        .option("features", "F", "", "input width (default: the largest feature index in --data + 1)")
        .option("max-candidates", "N", "", "largest N the model accepts (default max(1024, largest query))")
        .option("requests", "N", "4000", "world: training requests")
        .option("refit", "yes|no", "yes", "--valid-fraction: retrain on all queries (carved ones included) for the best check's steps")
        .option("average-decay", "X", "0.98", "keep an exponential moving average of the weights: validation checks it, the file gets it (0: off)")
        .option("ensemble", "K", "", "train K students (member k: seed S + 1000 k, its own validation carve) and save them as one\n"
                                     "model that averages their slot logits (default 5 for a student on LETOR data, else 1)")
        .option("ensemble-stop", "own|pooled", "own",
                "--ensemble K with --valid-fraction X: each member refits for its own best check's steps (own), or the\n"
                "members validate on disjoint carves (blocks of one shuffle seeded by S) and all refit for the best\n"
                "check of their mean validation curve (pooled: cross-validated early stopping)");
    add_watch_options(a, "25", "20");
    add_world_options(a);
    add_architecture_options(a, true);
    add_optimizer_options(a, "2000", "1e-3");
    a.option("seed", "S", "1", "initialization, batch-order and validation-split seed");
    add_progress_flags(a);
    a.epilog("examples:\n"
             "  dualrerank train --data train.txt --valid-fraction 0.2 --out s.safetensors --curve curve\n"
             "  dualrerank train --data train.txt --valid-fraction 0.2 --ensemble 1 --out single.safetensors\n"
             "  dualrerank train --data train.txt --valid vali.txt --model teacher --out t.safetensors\n"
             "  dualrerank train --world small --model teacher --steps 700 --out teacher.safetensors");
    a.parse(argc, argv, 2);

    const std::string kind = a.choice("model", {"teacher", "student"});
    const std::string out = a.str("out");
    const std::uint64_t seed = seed_of(a);
    const bool bar_on = progress_on(a);
    if (a.has("data") == a.has("world")) throw usage_error("give exactly one of --data FILE and --world small|default");
    // an option that does nothing in this run is an error, never silently dropped
    if (a.has("world")) a.no_effect({"group", "slate-length", "norm", "features", "max-candidates"}, "with --world (the world sets the shapes)");
    else a.no_effect({"requests", "world-seed"}, "with LETOR --data (they set up --world training)");
    if (!a.has("valid") && !a.has("valid-fraction"))
        a.no_effect({"patience", "valid-at", "valid-group", "refit"}, "without --valid or --valid-fraction (nothing is validated)");
    if (!a.has("valid")) a.no_effect({"valid-group"}, "without --valid");
    if (!a.has("valid-fraction")) a.no_effect({"refit"}, "without --valid-fraction (nothing is carved out to refit on)");
    check_outputs(a);
    const train::trainer_config tc0 = trainer_config_from(a, seed);  // options checked before any work
    const long steps = static_cast<long>(a.integer("steps", 1, 100000000));
    train::supervised_config sc;
    sc.loss = train::parse_supervised_loss(a.choice("loss", {"ce", "listmle", "approx-ndcg", "ce-ties"}));
    const bool norm = a.choice("norm", {"zscore", "none"}) == "zscore";
    if (a.has("valid") && a.has("valid-fraction")) throw usage_error("give at most one of --valid and --valid-fraction");
    if (a.has("world") && (a.has("valid") || a.has("valid-fraction")))
        throw usage_error("--valid / --valid-fraction need LETOR --data (labels)");
    if (a.has("world") && sc.loss != train::supervised_loss::cross_entropy)
        throw usage_error("--loss " + a.str("loss") + " needs LETOR --data (graded labels)");
    const long eval_every = static_cast<long>(a.integer("eval-every", 1, 100000000));
    {
        model_config probe;
        apply_architecture(a, probe);
    }

    // --ensemble K: member k is a whole run of its own (seed S + 1000 k: initialization, batches and
    // validation carve), and the members are saved as one student that averages their slot logits
    const bool letor_student = a.has("data") && kind == "student";
    const int K = a.has("ensemble") ? a.int_value("ensemble", 1, nar_student<float>::max_members) : (letor_student ? 5 : 1);
    if (K > 1 && !letor_student)
        throw usage_error("--ensemble " + std::to_string(K) + " needs --model student and LETOR --data (an ensemble averages "
                          "students' slot logits)");
    if (K > 1 && (a.has("checkpoint") || a.has("resume")))
        throw usage_error("--checkpoint / --resume train one model: add --ensemble 1");
    const bool pooled = a.choice("ensemble-stop", {"own", "pooled"}) == "pooled";
    if (pooled && (K < 2 || !a.has("valid-fraction") || a.choice("refit", {"yes", "no"}) != "yes"))
        throw usage_error("--ensemble-stop pooled needs --ensemble K >= 2, --valid-fraction and --refit yes");
    // pooled: pass 1 trains every member on its carve and keeps its validation curve; pass 2 refits
    // each member on all queries for the best step of the members' mean curve
    std::vector<std::vector<curve_point>> member_curves(pooled ? std::size_t(K) : 0);
    long pooled_step = 0;
    double pooled_score = 0;
    std::vector<nar_student<float>> members;
    std::vector<std::string> member_norms;
    std::string ensemble_how;
    std::string ensemble_base = "0";
    const std::uint64_t seed0 = seed;  // the ensemble's seed (member k's is seed0 + 1000 k)
    bool one_grade_noted = false;
    auto train_member = [&](const std::uint64_t seed, const int k, const bool probe) {
        train::trainer_config tc = tc0;
        tc.seed = seed;
        const std::string member =
            K > 1 ? "member " + std::to_string(k + 1) + "/" + std::to_string(K) + " (seed " + std::to_string(seed) + "): " : "";
        train::slate_dataset<float> data;
        std::vector<query> valid;
        model_config mc;
        std::string what;
        int index_base = 0;  // LETOR: 1 when the file is 1-based (no index 0), recorded in the model
        train::feature_norm fn;
        if (a.has("world")) {
            const world_config wc = world_config_from(a.str("world"));
            const world w(wc, static_cast<std::uint64_t>(a.integer("world-seed", 0, std::numeric_limits<long long>::max())));
            mc = config_for_world(wc);
            const std::size_t count = static_cast<std::size_t>(a.integer("requests", 1, 10000000));
            progress_bar bar("targets", long(count), bar_on);
            data.L = wc.slate_size;
            sim_request sr;
            for (std::size_t i = 0; i < count; ++i) {
                w.make_request(1000000 + i, sr);
                data.requests.push_back(sr.observed);
                data.targets.push_back(beam_search(w, sr));
                bar.update(long(i + 1));
            }
            bar.finish();
            what = "supervised on beam-search targets of the built-in world (" + a.str("world") + ", seed " + a.str("world-seed") + ")";
            index_base = 1;  // reads LETOR files as the world's export writes them (1-based, context columns after the features)
        } else {
            const int L = a.int_value("slate-length", 1, limits::max_slate);
            const int width = a.has("features") ? a.int_value("features", 1, limits::max_features) : 0;
            std::vector<query> qs = read_letor_queries(a.str("data"), a.str_or("group", ""), width, -1, &index_base);
            if (!one_grade_noted) {  // once per run: queries whose labels carry no order
                one_grade_noted = true;
                const std::size_t flat = count_one_grade(qs);
                if (flat > 0)
                    std::fprintf(stderr, "dualrerank: note: %zu of %zu queries of %s have every document at one grade: they "
                                         "teach no order (their targets are random orders of ties)\n",
                                 flat, qs.size(), a.str("data").c_str());
            }
            if (a.has("valid-fraction"))
                carve_validation(qs, a.real("valid-fraction", 1e-9, 0.999999), pooled ? seed0 : seed, valid, pooled ? std::size_t(k) : 0);
            int largest = 0;
            for (auto& q : qs) {
                largest = std::max(largest, q.req.n);
                data.targets.push_back(target_by_label(q.relevance, L));
                data.labels.push_back(q.relevance);
                data.requests.push_back(std::move(q.req));
            }
            data.L = L;
            mc.features = data.requests[0].f;
            if (mc.features > limits::max_features)
                throw input_error(a.str("data") + ": " + std::to_string(mc.features) + " features exceed the limit of " +
                                  std::to_string(limits::max_features));
            mc.context = 0;
            mc.max_slate = L;
            mc.max_candidates = a.has("max-candidates") ? a.int_value("max-candidates", 1, limits::max_candidates)
                                                        : std::min(limits::max_candidates, std::max(1024, largest));
            if (largest > mc.max_candidates)
                throw usage_error("--max-candidates " + std::to_string(mc.max_candidates) + " is below the largest query (" +
                                  std::to_string(largest) + " documents)");
            if (a.has("valid"))
                valid = read_letor_queries(a.str("valid"), a.str_or("valid-group", ""), mc.features, index_base);
            for (const auto& q : valid)
                if (q.req.n > mc.max_candidates)
                    throw input_error("validation " + query_name(q) + " has " + std::to_string(q.req.n) +
                                      " documents; the model accepts at most " + std::to_string(mc.max_candidates));
            if (norm) {
                fn = train::fit_feature_norm(data.requests);
                for (auto& r : data.requests) train::apply_feature_norm(fn, r);
                for (auto& q : valid) train::apply_feature_norm(fn, q.req);
            }
            what = "supervised (" + std::string(train::to_string(sc.loss)) + ") on label-sorted targets of " + a.str("data") +
                   (norm ? ", z-scored features" : "");
        }
        mc.d = 32;
        apply_architecture(a, mc);
        mc.validate();
        const int at = a.has("valid-at") ? a.int_value("valid-at", 1, 1 << 20) : data.L;

        std::size_t params = 0;
        watch_result wr;
        // --valid-fraction: after early stopping picked the step count, retrain on every query
        const bool refit = a.has("valid-fraction") && a.choice("refit", {"yes", "no"}) == "yes";
        std::size_t refit_queries = 0;
        auto run = [&](auto& model) {
            model.init(seed);
            params = model.parameter_count();
            using M = std::decay_t<decltype(model)>;
            train::trainer<M> tr(model, tc);
            if (a.has("resume")) train::load_checkpoint(tr, a.str("resume"));
            const long remaining = std::max(0L, steps - tr.optimizer().steps());
            if (pooled && !probe) {  // pass 2: pass 1 ran this member; only the refit is left
                const std::vector<curve_point>& cv = member_curves[std::size_t(k)];
                wr.steps = cv.empty() ? 0 : cv.back().step;
                wr.last_loss = cv.empty() ? 0.0 : cv.back().train_loss;
                wr.best_step = pooled_step;
                wr.best_valid = pooled_score;
            } else {
                progress_bar bar("train " + kind + (K > 1 ? " " + std::to_string(k + 1) + "/" + std::to_string(K) : std::string()),
                                 remaining, bar_on);
                wr = watch_training(a, tr, valid, data.L, at, remaining, bar, [&](auto&& hook) {
                    if (remaining > 0)
                        train::fit_supervised(tr, data, remaining, sc, eval_every,
                                              [&](const train::fit_check& c) { return hook(c.step, c.train_loss); }, "train");
                }, K > 1 ? ".member" + std::to_string(k + 1) : std::string(), probe ? &member_curves[std::size_t(k)] : nullptr,
                   train::loss_unit(sc.loss));
            }
            if (probe) return;
            if (!a.str_or("checkpoint", "").empty()) train::save_checkpoint(tr, a.str("checkpoint"));
            std::string how = what + ", " + std::to_string(wr.steps) + " steps, seed " + std::to_string(seed);
            if (refit && wr.best_step > 0) {
                // the carved queries go back in: a fresh model on all queries for the best check's steps
                train::slate_dataset<float> all = data;
                for (const auto& q : valid) {
                    all.requests.push_back(q.req);
                    all.targets.push_back(target_by_label(q.relevance, data.L));
                    all.labels.push_back(q.relevance);
                }
                model.init(seed);
                train::trainer<M> tr2(model, tc);
                train::fit_supervised(tr2, all, wr.best_step, sc, wr.best_step, [](const train::fit_check&) { return true; }, "refit");
                std::copy(tr2.averaged_params(), tr2.averaged_params() + model.arena_size(), model.params());
                refit_queries = all.size();
                how += "; refit on all " + std::to_string(all.size()) + " queries for " + std::to_string(wr.best_step) + " steps" +
                       (pooled ? " (the best check of the members' mean validation curve)" : "");
            }
            io::save_options so = provenance("train", how);
            so.metadata["letor_index_base"] = std::to_string(index_base);
            M saved = model;
            if (!fn.empty()) {
                train::fold_feature_norm(saved, fn);
                so.metadata["feature_norm"] = train::feature_norm_to_json(fn).dump();
            }
            if (K == 1) {
                io::save_model(saved, out, so);
            } else if constexpr (M::kind == model_kind::student) {  // kept for the ensemble, saved after the last member
                members.push_back(std::move(saved));
                if (!fn.empty()) member_norms.push_back(so.metadata["feature_norm"]);
                ensemble_how += (k == 0 ? "ensemble of " + std::to_string(K) + " students, slot logits averaged; " : "; ") +
                                std::string("member ") + std::to_string(k + 1) + ": " + how;
                ensemble_base = std::to_string(index_base);
            }
        };
        if (kind == "teacher") {
            ar_teacher<float> m(mc);
            run(m);
        } else {
            nar_student<float> m(mc);
            run(m);
        }
        if (probe) {
            const std::vector<curve_point>& cv = member_curves[std::size_t(k)];
            std::printf("%schecked on its carve (%zu queries) for %ld steps: best check at step %ld (NDCG@%d %.4f)\n", member.c_str(),
                        valid.size(), cv.empty() ? 0L : cv.back().step, wr.best_step, at, wr.best_valid);
            return;
        }
        std::printf("%strained %s (%zu parameters) on %zu requests, %ld steps: last training loss %.4f %s%s\n", member.c_str(),
                    kind == "teacher" ? "ar_teacher" : "nar_student", params, data.requests.size(), wr.steps, wr.last_loss,
                    train::loss_unit(sc.loss), K == 1 ? (" -> " + out).c_str() : "");
        if (refit_queries > 0)
            std::printf("%srefit on all %zu queries for %ld steps (%s); the validation figure below is of that model,\n"
                        "whose training data now include the validation queries\n", member.c_str(), refit_queries, wr.best_step,
                        pooled ? "the best check of the members' mean validation curve" : "the best check's");
        if (!valid.empty()) {
            // the saved file, read back: the check covers the folded normalization too (an ensemble's
            // member: the folded model in memory, before the ensemble is written)
            any_model m;
            if (K == 1) {
                m = load_any_model(out);
            } else {
                static_cast<serving::any_model&>(m) = serving::make_any_model(members.back(), member);
                m.kind = m.kind_name();
                m.letor_index_base = std::stoi(ensemble_base);
            }
            std::vector<query> vq =
                a.has("valid") ? read_letor_queries(a.str("valid"), a.str_or("valid-group", ""), m.config.features, m.letor_index_base)
                               : std::vector<query>();
            if (!a.has("valid")) {  // the carved queries, raw features again
                std::vector<query> qs = read_letor_queries(a.str("data"), a.str_or("group", ""), a.has("features") ? m.config.features : 0,
                                                           -1, nullptr);
                carve_validation(qs, a.real("valid-fraction", 1e-9, 0.999999), pooled ? seed0 : seed, vq, pooled ? std::size_t(k) : 0);
            }
            workspace ws;
            std::vector<slate> orders;
            for (const auto& q : vq) {
                orders.emplace_back();
                if (m.student) full_order_of(*m.student, q.req.view(), data.L, orders.back(), ws);
                else full_order_of(*m.teacher, q.req.view(), data.L, orders.back(), ws);
            }
            const ranking_metrics rm = evaluate_rankings(vq, orders, {at});
            std::printf("%svalidation (%zu queries): NDCG@%d %.4f  MAP@%d %.4f (the %s; best check at step %ld%s)\n", member.c_str(),
                        rm.queries, at, rm.ndcg[0], at, rm.map[0], K == 1 ? "saved model" : "member", wr.best_step,
                        wr.stopped_early ? ", stopped early" : "");
        }
    };
    if (pooled) {
        for (int k = 0; k < K; ++k) train_member(seed + 1000 * std::uint64_t(k), k, true);
        // the mean curve over the checks every member reached (a member stops after its own patience)
        std::size_t common = member_curves[0].size();
        for (const auto& cv : member_curves) common = std::min(common, cv.size());
        for (std::size_t i = 0; i < common; ++i) {
            double mean = 0;
            for (const auto& cv : member_curves) mean += cv[i].valid / double(K);
            if (i == 0 || mean > pooled_score) {
                pooled_score = mean;
                pooled_step = member_curves[0][i].step;
            }
        }
        std::printf("pooled early stopping: the members' mean validation NDCG@%d is best at step %ld (%.4f over %zu checks); "
                    "every member refits for %ld steps\n", a.has("valid-at") ? a.int_value("valid-at", 1, 1 << 20) : a.int_value("slate-length", 1, limits::max_slate),
                    pooled_step, pooled_score, common, pooled_step);
    }
    for (int k = 0; k < K; ++k) train_member(seed + 1000 * std::uint64_t(k), k, false);
    if (K > 1) {
        const nar_student<float> e = nar_student<float>::ensemble(std::move(members));
        io::save_options so = provenance("train", ensemble_how);
        so.metadata["letor_index_base"] = ensemble_base;
        if (!member_norms.empty()) {
            std::string arr = "[";
            for (std::size_t i = 0; i < member_norms.size(); ++i) arr += (i ? "," : "") + member_norms[i];
            so.metadata["feature_norm"] = arr + "]";
        }
        io::save_model(e, out, so);
        std::printf("ensemble of %d students (seeds %llu + 1000 k), slot logits averaged -> %s\n", K, (unsigned long long)seed,
                    out.c_str());
        if (a.has("valid")) {  // the file the user gets, read back and checked on --valid (the members' figures are their own)
            const any_model m = load_any_model(out);
            const std::vector<query> vq =
                read_letor_queries(a.str("valid"), a.str_or("valid-group", ""), m.config.features, m.letor_index_base);
            const int L = a.int_value("slate-length", 1, limits::max_slate);
            const int at = a.has("valid-at") ? a.int_value("valid-at", 1, 1 << 20) : L;
            workspace ws;
            std::vector<slate> orders(vq.size());
            for (std::size_t i = 0; i < vq.size(); ++i) full_order_of(*m.student, vq[i].req.view(), L, orders[i], ws);
            const ranking_metrics rm = evaluate_rankings(vq, orders, {at});
            std::printf("ensemble: validation (%zu queries): NDCG@%d %.4f  MAP@%d %.4f (the saved model)\n", rm.queries, at,
                        rm.ndcg[0], at, rm.map[0]);
        }
    }
    return 0;
}

// ------------------------------------------------------------------ eval

int cmd_eval(int argc, char** argv) {
    arg_parser a("eval", "dualrerank eval --model MODEL --data FILE [options]",
                 "NDCG@k and MAP@k (LightGBM conventions) of the model's rankings on LETOR data, or on JSON-lines\n"
                 "requests that carry \"relevance\". The ranking scored orders all N documents: the decoder's\n"
                 "slate (L = min(slate length, N)) first, then the rest in the model's full order (the last\n"
                 "slot's logits), so any k is meaningful (--slate-only scores the slate alone, missing\n"
                 "positions counting as misses). \"input order\" scores the file order, for reference.");
    a.option("model", "MODEL", "", "model file (teacher or student)")
        .option("data", "FILE", "", "LETOR file, or .jsonl requests with relevance labels")
        .option("group", "FILE", "", "query sizes for a LETOR file without qid:")
        .option("format", "auto|letor|jsonl", "auto", "input format (auto: .jsonl/.ndjson/.json are JSON lines)")
        .option("at", "K,K,...", "1,3,5,10", "cutoffs k")
        .flag("json", "print one JSON object instead of the table")
        .flag("slate-only", "score the slate alone (positions past L count as misses)");
    add_decoder_options(a);
    add_progress_flags(a);
    a.epilog("example:\n  dualrerank eval --model s.safetensors --data test.txt --at 1,5,10");
    a.parse(argc, argv, 2);

    const any_model m = load_any_model(a.str("model"));
    const decoder_settings ds = decoder_settings_from(a);
    reranker r(m, ds);
    const std::vector<int> ks = a.int_list("at", 1, 1 << 20);
    const std::string path = a.str("data");
    const std::string fmt = input_format(path, a.str("format"));
    if (fmt == "jsonl") a.no_effect({"group"}, "on JSON-lines input (a group file sizes LETOR queries)");
    std::vector<query> qs = fmt == "jsonl" ? read_jsonl_queries(path)
                                           : read_letor_queries(path, a.str_or("group", ""), letor_width(m.config), m.letor_index_base,
                                                                nullptr, m.config.context);
    require_labels(qs);
    const bool full = !a.flag_set("slate-only");
    const std::vector<slate> slates = rerank_all(m, r, qs, progress_on(a), "eval", full);
    std::vector<slate> input_order;
    for (std::size_t i = 0; i < qs.size(); ++i) {
        slate y(slates[i].size());
        std::iota(y.begin(), y.end(), 0);
        input_order.push_back(std::move(y));
    }
    const ranking_metrics rm = evaluate_rankings(qs, slates, ks);
    const ranking_metrics base = evaluate_rankings(qs, input_order, ks);
    if (a.flag_set("json")) {
        io::json j = io::json::object();
        j["model"] = a.str("model");
        j["kind"] = m.kind;
        j["data"] = path;
        j["queries"] = static_cast<std::uint64_t>(rm.queries);
        j["queries_one_grade"] = static_cast<std::uint64_t>(count_one_grade(qs));
        j["decoder"] = r.decoder();
        j["slate_length"] = r.slate_length();
        j["ranking"] = full ? "full" : "slate";
        io::json mj = io::json::object(), bj = io::json::object();
        for (std::size_t i = 0; i < ks.size(); ++i) {
            mj["ndcg@" + std::to_string(ks[i])] = rm.ndcg[i];
            mj["map@" + std::to_string(ks[i])] = rm.map[i];
            bj["ndcg@" + std::to_string(ks[i])] = base.ndcg[i];
            bj["map@" + std::to_string(ks[i])] = base.map[i];
        }
        j["model_metrics"] = std::move(mj);
        j["input_order_metrics"] = std::move(bj);
        std::printf("%s\n", j.dump().c_str());
        return 0;
    }
    std::printf("%s (%s, %s decoder, L = %d, %s) on %s: %zu queries\n", a.str("model").c_str(), m.kind.c_str(),
                r.decoder().c_str(), r.slate_length(), full ? "full rankings" : "slates only", path.c_str(), rm.queries);
    if (const std::size_t flat = count_one_grade(qs))
        std::printf("(%zu of them have every document at one grade: NDCG@k and MAP@k count them as 1 for any ranking, docs/metrics.md)\n",
                    flat);
    std::printf("%-8s %10s %10s %12s %12s\n", "k", "NDCG@k", "MAP@k", "input NDCG", "input MAP");
    for (std::size_t i = 0; i < ks.size(); ++i)
        std::printf("%-8d %10.4f %10.4f %12.4f %12.4f\n", ks[i], rm.ndcg[i], rm.map[i], base.ndcg[i], base.map[i]);
    return 0;
}

// ------------------------------------------------------------------ distill

int cmd_distill(int argc, char** argv) {
    arg_parser a("distill",
                 "dualrerank distill --teacher MODEL --world small|default --out MODEL [options]\n"
                 "       dualrerank distill --teacher MODEL --data FILE --out MODEL [options]",
                 "Sequential Knowledge Distillation (SKD): a NAR student learns the AR teacher's step\n"
                 "distributions along the teacher's greedy and sampled trajectories (decoded once, cached).\n"
                 "The student keeps the teacher's input shapes; its architecture defaults to the teacher's.");
    a.option("teacher", "MODEL", "", "ar_teacher model file")
        .option("out", "MODEL", "", "student model file to write")
        .option("data", "FILE", "", "LETOR file: distill on its queries (N >= L)")
        .option("group", "FILE", "", "query sizes for a --data file without qid:")
        .option("requests", "N", "2000", "world: requests to distill on")
        .option("slate-length", "L", "", "slots (default the teacher's max_slate)")
        .option("samples", "K", "15", "teacher samples per request, besides its greedy slate")
        .option("sample-tau", "X", "1.0", "temperature of the teacher's samples")
        .option("lambda-kl", "X", "5.0", "weight of the KL term")
        .option("kl-tau", "X", "1.0", "distillation temperature of the KL term")
        .option("lambda-gt", "X", "0", "weight of a supervised term toward the label order (LETOR) / search slate (world)")
        .option("eval-requests", "M", "200", "world: held-out requests for the report (0: none)");
    add_watch_options(a, "25", "0");
    add_world_options(a);
    add_architecture_options(a, false);
    add_optimizer_options(a, "1000", "2e-3");
    a.option("seed", "S", "1", "initialization, sampling and batch-order seed");
    add_progress_flags(a);
    a.epilog("example:\n  dualrerank distill --teacher teacher.safetensors --world small --steps 1400 --out student.safetensors");
    a.parse(argc, argv, 2);

    const bool bar_on = progress_on(a);
    const std::uint64_t seed = seed_of(a);
    const std::string out = a.str("out");
    if (a.has("data") == a.has("world")) throw usage_error("give exactly one of --data FILE and --world small|default");
    if (a.has("world")) a.no_effect({"group"}, "with --world");
    else a.no_effect({"requests", "eval-requests", "world-seed"}, "with LETOR --data (they set up --world distillation)");
    if (!a.has("valid") && !a.has("valid-fraction"))
        a.no_effect({"patience", "valid-at", "valid-group"}, "without --valid or --valid-fraction (nothing is validated)");
    if (!a.has("valid")) a.no_effect({"valid-group"}, "without --valid");
    const train::trainer_config tc = trainer_config_from(a, seed);  // options checked before any work
    check_outputs(a);
    const ar_teacher<float> teacher = io::load_model<ar_teacher<float>>(a.str("teacher"));
    model_config sc = teacher.config();
    apply_architecture(a, sc);
    sc.validate();
    const int L = a.has("slate-length") ? a.int_value("slate-length", 1, limits::max_slate) : sc.max_slate;
    if (L > sc.max_slate)
        throw usage_error("--slate-length " + std::to_string(L) + " exceeds the teacher's max_slate " + std::to_string(sc.max_slate));
    train::skd_config skd;
    skd.samples = a.int_value("samples", 0, 1024);
    skd.sample_tau = a.real("sample-tau", 1e-6, 1e6);
    skd.lambda_kl = a.real("lambda-kl", 0.0, 1e6);
    skd.tau = a.real("kl-tau", 1e-6, 1e6);
    skd.lambda_gt = a.real("lambda-gt", 0.0, 1e6);

    if (a.has("valid") && a.has("valid-fraction")) throw usage_error("give at most one of --valid and --valid-fraction");
    if (a.has("world") && (a.has("valid") || a.has("valid-fraction")))
        throw usage_error("--valid / --valid-fraction need LETOR --data (labels)");
    const long eval_every = static_cast<long>(a.integer("eval-every", 1, 100000000));
    train::slate_dataset<float> data;
    data.L = L;
    std::vector<query> valid;
    std::unique_ptr<world> w;
    std::string what;
    int index_base = 0;  // the teacher's LETOR index base, passed on to the student
    if (a.has("world")) {
        const world_config wc = world_config_from(a.str("world"));
        check_model_fits_world(teacher.config(), wc, a.str("teacher"));
        if (L != wc.slate_size) throw usage_error("--slate-length must be the world's L = " + std::to_string(wc.slate_size));
        w = std::make_unique<world>(wc, static_cast<std::uint64_t>(a.integer("world-seed", 0, std::numeric_limits<long long>::max())));
        const std::size_t count = static_cast<std::size_t>(a.integer("requests", 1, 10000000));
        sim_request sr;
        for (std::size_t i = 0; i < count; ++i) {
            w->make_request(1000000 + i, sr);
            data.requests.push_back(sr.observed);
            data.targets.push_back(skd.lambda_gt > 0 ? beam_search(*w, sr) : slate());
        }
        what = "SKD from " + a.str("teacher") + " on the built-in world (" + a.str("world") + ")";
        index_base = 1;  // as train --world: the world's LETOR export is 1-based
    } else {
        index_base = letor_index_base_of(a.str("teacher"));
        const int width = letor_width(teacher.config()), ctx = teacher.config().context;
        std::vector<query> qs = read_letor_queries(a.str("data"), a.str_or("group", ""), width, index_base, nullptr, ctx);
        if (a.has("valid-fraction")) carve_validation(qs, a.real("valid-fraction", 1e-9, 0.999999), seed, valid);
        if (a.has("valid"))
            valid = read_letor_queries(a.str("valid"), a.str_or("valid-group", ""), width, index_base, nullptr, ctx);
        for (auto& q : qs) {  // every query: one with N < L documents is distilled on min(L, N) slots
            if (q.req.n > teacher.config().max_candidates)
                throw input_error(query_name(q) + " has " + std::to_string(q.req.n) + " documents; the teacher accepts at most " +
                                  std::to_string(teacher.config().max_candidates));
            data.targets.push_back(target_by_label(q.relevance, L));
            data.requests.push_back(std::move(q.req));
        }
        if (data.requests.empty()) throw input_error(a.str("data") + ": no queries");
        what = "SKD from " + a.str("teacher") + " on " + a.str("data");
    }

    // teacher trajectories, decoded once
    std::vector<train::skd_targets<float>> targets;
    targets.reserve(data.size());
    {
        progress_bar bar("teacher targets", long(data.size()), bar_on);
        workspace ws;
        for (std::size_t i = 0; i < data.size(); ++i) {
            targets.push_back(train::make_skd_targets(teacher, data.requests[i].view(), L, skd, seed * 1000003ULL + i, ws));
            bar.update(long(i + 1));
        }
    }
    nar_student<float> student(sc);
    student.init(seed + 500);
    const long steps = static_cast<long>(a.integer("steps", 1, 100000000));
    {
        train::trainer<nar_student<float>> tr(student, tc);
        if (a.has("resume")) train::load_checkpoint(tr, a.str("resume"));
        const long remaining = std::max(0L, steps - tr.optimizer().steps());
        progress_bar bar("distill", remaining, bar_on);
        const int at = a.has("valid-at") ? a.int_value("valid-at", 1, 1 << 20) : L;
        const watch_result wr = watch_training(a, tr, valid, L, at, remaining, bar, [&](auto&& hook) {
            for (long done = 0; done < remaining;) {
                const long k = std::min(eval_every, remaining - done);
                double sum = 0;
                long cnt = 0;
                for (long i = 0; i < k; ++i) {  // one step at a time: the loss of every step is seen
                    train::fit_skd(tr, data, targets, skd, 1, "skd");
                    if (std::isfinite(tr.last_loss())) {
                        sum += tr.last_loss();
                        ++cnt;
                    }
                }
                done += k;
                if (!hook(tr.optimizer().steps(), cnt ? sum / double(cnt) : std::numeric_limits<double>::quiet_NaN())) break;
            }
        }, "", nullptr, "nats per request");
        if (!a.str_or("checkpoint", "").empty()) train::save_checkpoint(tr, a.str("checkpoint"));
        std::printf("distilled nar_student (%zu parameters) on %zu requests, %ld steps: last loss %.4f nats per request "
                    "(the SKD objective, summed over slots) -> %s\n",
                    student.parameter_count(), data.size(), wr.steps, wr.last_loss, out.c_str());
        if (!valid.empty())
            std::printf("validation (%zu queries): NDCG@%d %.4f (best check at step %ld%s)\n", valid.size(), at, wr.best_valid,
                        wr.best_step, wr.stopped_early ? ", stopped early" : "");
    }
    io::save_options so = provenance("distill", what + ", " + std::to_string(steps) + " steps, seed " + std::to_string(seed));
    so.metadata["letor_index_base"] = std::to_string(index_base);
    io::save_model(student, out, so);

    // report: agreement with the teacher (and utility on the world)
    workspace ws;
    if (w) {
        const int M = a.int_value("eval-requests", 0, 1000000);
        if (M > 0) {
            const pipeline::eval_set ev = pipeline::make_eval_set(*w, M);
            std::vector<slate> ts;
            const auto rt = pipeline::evaluate(*w, ev, "teacher", [&](const sim_request& r) {
                return decode::teacher_greedy(teacher, r.observed.view(), L, ws);
            }, nullptr, &ts);
            const auto rs = pipeline::evaluate(*w, ev, "student", [&](const sim_request& r) {
                return decode::greedy(student, r.observed.view(), L, ws);
            }, &ts);
            std::printf("held-out world requests (%d): normalized utility teacher %.4f, student %.4f; PTAR %.4f\n", M,
                        rt.utility, rs.utility, rs.ptar);
        }
    } else {
        double agree = 0;
        const std::size_t m = std::min<std::size_t>(data.size(), 500);
        for (std::size_t i = 0; i < m; ++i) {
            const auto v = data.requests[i].view();
            const int Lq = std::min(L, v.n);
            agree += eval::ptar(decode::greedy(student, v, Lq, ws), decode::teacher_greedy(teacher, v, Lq, ws));
        }
        std::printf("agreement with the teacher's greedy slates (PTAR, %zu requests): %.4f\n", m, agree / double(m));
    }
    return 0;
}

// ------------------------------------------------------------------ ldro

int cmd_ldro(int argc, char** argv) {
    arg_parser a("ldro", "dualrerank ldro --student MODEL --world small|default --out MODEL [options]",
                 "RL fine-tuning of a student on the built-in world's request stream: per request a group of\n"
                 "slates is sampled, scored by per-slot feedback (clicks, long views), and the student takes a\n"
                 "clipped policy-gradient step with LDRO (or GRPO) advantages, an entropy bonus and a KL to the\n"
                 "starting student (the anchor). Reports normalized utility before and after, under the\n"
                 "conditions at the end of the stream.");
    a.option("student", "MODEL", "", "starting nar_student (e.g. from distill); also the KL anchor")
        .option("out", "MODEL", "", "fine-tuned student to write")
        .option("method", "ldro|grpo|goalrank", "ldro", "advantage estimator (goalrank: cross-entropy to the group-relative reference)")
        .option("mode", "user-group|realistic", "user-group", "user-group: G simulated users per request; realistic: one shown slate, a model-based group scored by --evaluator (docs/rl.md)")
        .option("evaluator", "MODEL", "", "realistic mode: list_evaluator file (2 outputs: click, long view), refreshed online")
        .option("publish-every", "P", "1", "optimizer steps between published policy versions (the serving lag)")
        .option("eval-every", "K", "0", "every K requests: held-out evaluation (closed form) to --curve, and the publish guard rail")
        .option("publish-margin", "X", "0.02", "guard rail: publish only while not worse than the anchor by more than X")
        .option("curve", "FILE", "", "curve CSV for --eval-every (default: OUT.curve.csv) and a PNG next to it (FILE.png)")
        .option("drift", "NAME", "none", "none | swap (objective weights (1,0) -> (0,1) at half time) | engagement (x0.3 at half time) | sparse (x0.05)")
        .option("feedback", "sampled|expected", "sampled", "reward: sampled clicks or their closed-form expectation")
        .option("requests", "N", "3000", "requests drawn from the stream")
        .option("group", "G", "16", "slates sampled per request")
        .option("per-step", "R", "4", "requests per optimizer step")
        .option("lr", "X", "1e-4", "learning rate (AdamW, constant)")
        .option("beta", "X", "0.02", "KL weight toward the anchor")
        .option("eta", "X", "0.05", "entropy bonus")
        .option("clip", "X", "0.2", "PPO clip epsilon")
        .option("eval-requests", "M", "200", "held-out requests for the before/after report (0: none)");
    add_world_options(a);
    a.option("seed", "S", "1", "stream and sampling seed");
    add_progress_flags(a);
    a.epilog("example:\n  dualrerank ldro --student student.safetensors --world small --drift swap --requests 6000 --out ldro.safetensors");
    a.parse(argc, argv, 2);

    const bool bar_on = progress_on(a);
    const std::uint64_t seed = seed_of(a);
    const std::string out = a.str("out");
    if (!a.has("world")) throw usage_error("--world small|default is required (RL runs on the built-in world)");
    check_not_an_input(a, "out");
    check_writable(out, "out");
    const world_config wc = world_config_from(a.str("world"));
    const nar_student<float> anchor = io::load_model<nar_student<float>>(a.str("student"));
    check_model_fits_world(anchor.config(), wc, a.str("student"));
    const world w(wc, static_cast<std::uint64_t>(a.integer("world-seed", 0, std::numeric_limits<long long>::max())));
    const int L = w.slate_size();

    train::rl_run_config rc;
    const std::string method = a.choice("method", {"ldro", "grpo", "goalrank"});
    rc.rl.method = method == "grpo" ? train::rl_method::grpo : method == "goalrank" ? train::rl_method::goalrank : train::rl_method::ldro;
    const bool realistic = a.choice("mode", {"user-group", "realistic"}) == "realistic";
    rc.mode = realistic ? train::rl_feedback::realistic : train::rl_feedback::user_group;
    if (realistic && !a.has("evaluator")) throw usage_error("--mode realistic needs --evaluator MODEL (a list_evaluator)");
    rc.publish_every = a.int_value("publish-every", 1, 1 << 20);
    const long eval_every = static_cast<long>(a.integer("eval-every", 0, 1000000000));
    rc.eval_every = eval_every;
    rc.publish_margin = a.real("publish-margin", 0.0, 1e6);
    rc.requests = static_cast<long>(a.integer("requests", 1, 1000000000));
    rc.rl.group = a.int_value("group", 2, 4096);
    rc.requests_per_step = a.int_value("per-step", 1, 4096);
    rc.optimizer.lr = a.real("lr", 1e-12, 10.0);
    rc.rl.beta = a.real("beta", 0.0, 1e6);
    rc.rl.eta = a.real("eta", 0.0, 1e6);
    rc.rl.clip_eps = a.real("clip", 1e-6, 10.0);
    rc.expected_feedback = a.choice("feedback", {"sampled", "expected"}) == "expected";
    rc.seed = seed;
    rc.log_every = 0;
    rc.log = nullptr;
    const std::string drift_name = a.choice("drift", {"none", "swap", "engagement", "sparse"});
    drift d = drift::none();
    if (drift_name == "swap") d = drift::weight_swap(rc.requests / 2);
    else if (drift_name == "engagement") d.engagement = schedule::step(1.0, 0.3, rc.requests / 2);
    else if (drift_name == "sparse") d.engagement = schedule::constant(0.05);

    nar_student<float> policy = anchor;
    stream s(w, d, seed * 31 + 5, 3000000);
    const long steps = (rc.requests + rc.requests_per_step - 1) / rc.requests_per_step;
    // --eval-every: the closed form on held-out requests under the current conditions, as a curve
    const std::string curve_path = a.has("curve") ? a.str("curve") : out + ".curve.csv";
    if (eval_every > 0) check_writable(curve_path, "curve");
    if (eval_every == 0) a.no_effect({"curve", "publish-margin"}, "without --eval-every K (the curve and the guard rail come from its evaluations)");
    if (!realistic) a.no_effect({"evaluator"}, "without --mode realistic");
    std::ofstream curve;
    std::map<std::string, pipeline::eval_set> curve_sets;
    std::vector<dualrerank_cli::curve_point> png_points;
    workspace cws;
    long next_eval = eval_every;
    const int curve_requests = std::max(1, std::min(a.int_value("eval-requests", 0, 1000000), 200));
    auto add_point = [&](long at, const train::rl_progress* p) {
        const conditions c = d.at(at);
        const std::string key = std::to_string(c.engagement) + "/" + std::to_string(c.weights.click) + "/" + std::to_string(c.weights.long_view);
        if (!curve_sets.count(key)) curve_sets.emplace(key, pipeline::make_eval_set(w, curve_requests, c));
        const auto& es = curve_sets.at(key);
        auto u = [&](const nar_student<float>& m) {
            return pipeline::evaluate(w, es, "m", [&](const sim_request& r) { return decode::greedy(m, r.observed.view(), L, cws); }).utility;
        };
        const double up = u(policy);
        dualrerank_cli::curve_point cp;  // the PNG: utility on top, KL to the anchor below
        cp.step = at;
        cp.train_loss = up;
        cp.valid = p ? p->stats.kl : 0.0;
        png_points.push_back(cp);
        curve << at << ',' << up << ',' << u(anchor) << ',' << (p ? p->mean_reward : 0.0) << ',' << (p ? p->stats.entropy : 0.0) << ','
              << (p ? p->stats.kl : 0.0) << ',' << (p ? p->clip_frac : 0.0) << ',' << (p ? p->eval_policy : 0.0) << ','
              << (p ? p->eval_anchor : 0.0) << ',' << (p ? p->version : 0) << ',' << (p ? p->held_back : 0) << '\n';
        curve.flush();
    };
    if (eval_every > 0) {
        curve.open(curve_path);
        if (!curve) throw usage_error("cannot write " + curve_path);
        curve << "requests,utility_policy,utility_anchor,reward,entropy,kl,clip_frac,eval_policy,eval_anchor,version,held_back\n";
        add_point(0, nullptr);
    }
    std::unique_ptr<list_evaluator<float>> ev;
    if (realistic) {
        ev = std::make_unique<list_evaluator<float>>(io::load_model<list_evaluator<float>>(a.str("evaluator")));
        if (ev->config().outputs != 2 || ev->config().features != wc.feature_dim)
            throw usage_error(a.str("evaluator") + ": a list_evaluator with 2 outputs (click, long view) for this world is needed");
    }
    {
        progress_bar bar(method, steps * rc.requests_per_step, bar_on);
        auto on_step = [&](const train::rl_progress& p) {
            bar.update(p.requests, "reward " + fixed(p.mean_reward) + "  entropy " + fixed(p.stats.entropy, 3) + "  kl " +
                                        fixed(p.stats.kl) + "  clip " + fixed(p.clip_frac, 3) + "  v" + std::to_string(p.version) +
                                        (p.held_back ? "  held back " + std::to_string(p.held_back) : std::string()));
            if (eval_every > 0 && p.requests >= next_eval) {
                add_point(p.requests, &p);
                next_eval += eval_every;
            }
        };
        if (realistic) {
            train::online_evaluator_scorer<float> sc(*ev, train::online_evaluator_scorer<float>::config{});
            train::run_rl(policy, anchor, s, rc, sc, on_step);
        } else {
            train::run_rl(policy, anchor, s, rc, on_step);
        }
    }
    if (eval_every > 0) {
        curve.close();
        std::printf("curve: %s\n", curve_path.c_str());
        const std::string png = curve_path + ".png";
        if (dualrerank_cli::write_curve(png_points, -1, "", png, "kl")) std::printf("plot: %s (utility on top, KL below)\n", png.c_str());
    }
    io::save_options ldro_so = provenance("ldro", method + " on the built-in world (" + a.str("world") + "), drift " + drift_name + ", " +
                                                      std::to_string(rc.requests) + " requests, seed " + std::to_string(seed) +
                                                      ", anchor " + a.str("student"));
    ldro_so.metadata["letor_index_base"] = std::to_string(letor_index_base_of(a.str("student")));  // as the anchor reads LETOR
    io::save_model(policy, out, ldro_so);
    std::printf("%s: %ld requests (%ld steps, group %d) -> %s\n", method.c_str(), rc.requests, steps, rc.rl.group, out.c_str());
    const int M = a.int_value("eval-requests", 0, 1000000);
    if (M > 0) {
        const conditions fc = d.at(rc.requests);
        const pipeline::eval_set ev = pipeline::make_eval_set(w, M, fc);
        workspace ws;
        const auto before = pipeline::evaluate(w, ev, "anchor", [&](const sim_request& r) {
            return decode::greedy(anchor, r.observed.view(), L, ws);
        });
        const auto after = pipeline::evaluate(w, ev, "policy", [&](const sim_request& r) {
            return decode::greedy(policy, r.observed.view(), L, ws);
        });
        std::printf("normalized utility under the final conditions (%d held-out requests): before %.4f, after %.4f\n", M,
                    before.utility, after.utility);
        if (after.utility < before.utility - 0.01)
            std::fprintf(stderr, "warning: the fine-tuned student is %.4f below its start; do not ship it (see docs/rl.md)\n",
                         before.utility - after.utility);
    }
    return 0;
}

// ------------------------------------------------------------------ rerank

int cmd_rerank(int argc, char** argv) {
    arg_parser a("rerank", "dualrerank rerank --model MODEL [--input FILE] [--output FILE] [options]",
                 "Rerank requests: LETOR queries or JSON-lines requests in, one JSON line per request out:\n"
                 "  {\"id\":...,\"slate\":[best candidate index, ...],\"score\":...}\n"
                 "score is the slate's log-probability under the model (greedy, beam, confident, sample) or the\n"
                 "scorer's score (best-of-n). JSON lines are read and answered one at a time (streaming).");
    a.option("model", "MODEL", "", "model file (teacher or student)")
        .option("input", "FILE", "-", "requests (- = stdin)")
        .option("format", "auto|letor|jsonl", "auto", "input format (auto: .jsonl/.ndjson/.json or stdin are JSON lines)")
        .option("group", "FILE", "", "query sizes for a LETOR file without qid:")
        .option("output", "FILE", "-", "where the slates go (- = stdout)")
        .option("on-error", "fail|skip", "fail", "a bad request: stop with an error, or answer {\"id\":...,\"error\":...} and go on")
        .flag("full-ranking", "greedy: answer all N candidates in the model's full order, with \"scores\": each document's\n"
                              "log-probability at its place (decode/full_order.hpp)");
    add_decoder_options(a);
    a.epilog("examples:\n"
             "  dualrerank rerank --model s.safetensors --input requests.jsonl > slates.jsonl\n"
             "  dualrerank rerank --model s.safetensors --input test.txt --full-ranking\n"
             "  dualrerank rerank --model s.safetensors --input test.txt --decoder best-of-n --scorer t.safetensors");
    a.parse(argc, argv, 2);

    const any_model m = load_any_model(a.str("model"));
    const decoder_settings dset = decoder_settings_from(a);
    reranker r(m, dset);
    const bool skip = a.choice("on-error", {"fail", "skip"}) == "skip";
    const bool full_ranking = a.flag_set("full-ranking");
    if (full_ranking && dset.decoder != "greedy")
        throw usage_error("--full-ranking orders all candidates greedily; it does not combine with --decoder " + dset.decoder);
    const std::string in_path = a.str("input");
    const bool stdin_guess = in_path == "-" && a.str("format") == "auto";  // stdin without --format: JSON lines
    const std::string fmt = stdin_guess ? "jsonl" : input_format(in_path, a.str("format"));
    if (fmt == "jsonl") a.no_effect({"group"}, "on JSON-lines input (a group file sizes LETOR queries)");
    check_not_an_input(a, "output");
    check_writable(a.str("output"), "output");
    const std::string source_name = in_path == "-" ? "<stdin>" : in_path;
    workspace full_ws;
    std::vector<float> doc_scores;
    output_file out(a.str("output"));
    io::jsonl_writer writer(*out.out);
    std::uint64_t count = 0, failed = 0;
    auto answer = [&](const query& q) {
        io::slate_record rec;
        rec.id = q.id;
        try {
            check_query_fits(m, q);
            double score = 0;
            rec.items = r.run(q.req.view(), count, score);
            rec.has_score = true;
            rec.score = score;
            if (full_ranking) {
                const auto v = q.req.view();
                rec.items.resize(static_cast<std::size_t>(v.n));
                doc_scores.resize(static_cast<std::size_t>(v.n));
                if (m.teacher) decode::teacher_full_order(*m.teacher, v, r.slate_length(), rec.items.data(), doc_scores.data(), full_ws);
                else decode::student_full_order(*m.student, v, r.slate_length(), rec.items.data(), doc_scores.data(), full_ws);
                rec.scores.clear();
                for (int i : rec.items) rec.scores.push_back(double(doc_scores[static_cast<std::size_t>(i)]));
            }
        } catch (const input_error& e) {
            if (!skip) throw input_error(query_name(q) + ": " + one_line(e.what()));
            // the record carries the request's id and says where it is: source:line (JSON lines)
            // or source: query <qid> (LETOR)
            rec.error = (q.line > 0 ? source_name + ":" + std::to_string(q.line) : source_name + ": query " + q.id.dump()) +
                        ": " + one_line(e.what());
            ++failed;
        }
        writer.write(rec);
        ++count;
    };
    if (fmt == "letor") {
        // one query made dense at a time: memory is the sparse file plus one request
        const int width = letor_width(m.config);  // a model with context reads it from the columns after its features
        const letor_dataset ds = read_letor_sparse(in_path, a.str_or("group", ""), width, m.letor_index_base);
        ds.dense_width(width);
        for (std::size_t q = 0; q < ds.num_queries(); ++q) answer(letor_query_at(ds, q, width, m.config.context));
    } else {
        std::ifstream file;
        std::istream* in = &std::cin;
        if (in_path != "-") {
            file.open(in_path, std::ios::binary);
            if (!file) throw format_error(in_path + ": cannot open");
            in = &file;
        }
        io::jsonl_reader reader(*in, in_path == "-" ? "<stdin>" : in_path);
        io::jsonl_request req;
        for (;;) {
            try {
                if (!reader.next(req)) break;
            } catch (const format_error& e) {
                if (!skip && stdin_guess)  // LETOR piped in is the usual cause
                    throw format_error(std::string(e.what()) + " (stdin is read as JSON lines; for LETOR input pass --format letor)");
                if (!skip) throw;
                io::slate_record rec;
                rec.id = reader.last_id();  // the bad request's "id" when it could be read, else null
                rec.error = one_line(e.what());  // "source:line: ..."
                writer.write(rec);
                ++failed;
                ++count;
                continue;
            }
            query q;
            q.id = req.output_id();
            q.req = std::move(req.candidates);
            q.line = req.line;
            answer(q);
        }
    }
    out.close();
    if (failed > 0) std::fprintf(stderr, "dualrerank: note: %llu of %llu requests failed (answered with \"error\")\n",
                                 (unsigned long long)failed, (unsigned long long)count);
    return 0;
}

// ------------------------------------------------------------------ bench

int cmd_bench(int argc, char** argv) {
    arg_parser a("bench", "dualrerank bench --model MODEL [--n N,N,...] [options]",
                 "Latency of one request on one thread: random requests (standard normal features) of N\n"
                 "candidates, decoded as in rerank. Prints the median and 90th percentile microseconds per\n"
                 "request and requests per second (1 / mean).");
    a.option("model", "MODEL", "", "model file (teacher or student)")
        .option("n", "N,N,...", "20,50,100", "candidate counts (each <= the model's max_candidates)")
        .option("requests", "R", "1000", "timed requests per N")
        .option("warmup", "W", "50", "untimed requests first")
        .flag("json", "print JSON lines instead of the table");
    add_decoder_options(a);
    add_progress_flags(a);
    a.epilog("example:\n  dualrerank bench --model s.safetensors --n 50,100,200 --requests 2000");
    a.parse(argc, argv, 2);

    const any_model m = load_any_model(a.str("model"));
    const decoder_settings ds = decoder_settings_from(a);
    reranker r(m, ds);
    const std::vector<int> ns = a.int_list("n", 1, limits::max_candidates);
    const int R = a.int_value("requests", 1, 100000000);
    const int W = a.int_value("warmup", 0, 100000000);
    for (int n : ns)
        if (n > m.config.max_candidates)
            throw usage_error("--n " + std::to_string(n) + " exceeds the model's max_candidates " + std::to_string(m.config.max_candidates));
    const bool json = a.flag_set("json");
    if (!json)
        std::printf("%s (%s, %s decoder): one thread\n%-8s %-6s %12s %12s %12s %12s\n", a.str("model").c_str(), m.kind.c_str(),
                    r.decoder().c_str(), "N", "L", "p50 us", "p90 us", "mean us", "req/s");
    rng g(ds.seed);
    for (int n : ns) {
        // a few distinct requests, cycled (the cost does not depend on the values)
        const int distinct = 16;
        std::vector<request<float>> reqs(distinct);
        for (auto& q : reqs) {
            q.n = n;
            q.f = m.config.features;
            q.features.resize(std::size_t(n) * q.f);
            for (auto& x : q.features) x = float(g.normal());
            q.context.resize(std::size_t(m.config.context));
            for (auto& x : q.context) x = float(g.normal());
            if (m.config.rank_embedding) {
                q.upstream_rank.resize(std::size_t(n));
                std::iota(q.upstream_rank.begin(), q.upstream_rank.end(), 0);
            }
        }
        std::vector<double> us;
        us.reserve(std::size_t(R));
        double score = 0;
        progress_bar bar("bench N=" + std::to_string(n), long(W) + R, progress_on(a));
        for (int i = 0; i < W; ++i) {
            r.run(reqs[std::size_t(i % distinct)].view(), std::uint64_t(i), score);
            bar.update(i + 1);
        }
        const auto t_all = std::chrono::steady_clock::now();
        for (int i = 0; i < R; ++i) {
            const auto v = reqs[std::size_t(i % distinct)].view();
            const auto t0 = std::chrono::steady_clock::now();
            r.run(v, std::uint64_t(W + i), score);
            us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
            bar.update(long(W) + i + 1);
        }
        const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
        bar.finish();
        std::vector<double> sorted = us;
        std::sort(sorted.begin(), sorted.end());
        const double p50 = sorted[sorted.size() / 2];
        const double p90 = sorted[std::min(sorted.size() - 1, sorted.size() * 9 / 10)];
        double mean = 0;
        for (double x : us) mean += x;
        mean /= double(us.size());
        const double rps = double(R) / std::max(total, 1e-12);
        const int L = std::min(r.slate_length(), n);
        if (json) {
            io::json j = io::json::object();
            j["model"] = a.str("model");
            j["kind"] = m.kind;
            j["decoder"] = r.decoder();
            j["n"] = n;
            j["slate_length"] = L;
            j["requests"] = R;
            j["p50_us"] = p50;
            j["p90_us"] = p90;
            j["mean_us"] = mean;
            j["requests_per_second"] = rps;
            std::printf("%s\n", j.dump().c_str());
        } else {
            std::printf("%-8d %-6d %12.1f %12.1f %12.1f %12.0f\n", n, L, p50, p90, mean, rps);
        }
        std::fflush(stdout);
    }
    return 0;
}

// ------------------------------------------------------------------ info

std::string shape_text(const std::vector<std::size_t>& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

int cmd_info(int argc, char** argv) {
    arg_parser a("info", "dualrerank info MODEL [--json]",
                 "A model file's kind, config, metadata, tensors (name, dtype, shape) and parameter count. The\n"
                 "model is loaded in full, so its embedded self-test runs too.");
    a.option("model", "MODEL", "", "model file").positional("model").flag("json", "print one JSON object");
    a.parse(argc, argv, 2);
    const std::string path = a.str("model");
    const io::safetensors_file f = io::safetensors_file::from_file(path);
    const any_model m = load_any_model(path);  // full load: shapes, values, self-test
    std::size_t params = 0, verify = 0;
    for (const auto& t : f.tensors()) {
        if (t.name.rfind("verify.", 0) == 0) ++verify;
        else params += t.elements();
    }
    const auto verify_meta = f.metadata().find("verify");
    const bool self_test = verify_meta != f.metadata().end() && verify_meta->second == "1";
    // a page evaluator has its own config (model/page_evaluator.hpp): print it as stored
    const io::json config = m.page_eval ? io::page_evaluator_config_to_json(m.page_eval->config()) : io::config_to_json(m.config);
    if (a.flag_set("json")) {
        io::json j = io::json::object();
        j["path"] = path;
        j["kind"] = m.kind;
        j["members"] = m.student ? m.student->members() : 1;
        j["config"] = config;
        j["parameters"] = static_cast<std::uint64_t>(params);
        j["self_test"] = self_test ? "passed" : "absent";
        io::json meta = io::json::object();
        for (const auto& kv : f.metadata())
            if (kv.first != "config") meta[kv.first] = kv.second;
        j["metadata"] = std::move(meta);
        io::json ts = io::json::array();
        for (const auto& t : f.tensors()) {
            io::json e = io::json::object();
            e["name"] = t.name;
            e["dtype"] = io::dtype_name(t.type);
            io::json sh = io::json::array();
            for (std::size_t d : t.shape) sh.push_back(static_cast<std::uint64_t>(d));
            e["shape"] = std::move(sh);
            ts.push_back(std::move(e));
        }
        j["tensors"] = std::move(ts);
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("file        %s\n", path.c_str());
    std::printf("kind        %s\n", m.kind.c_str());
    if (m.student && m.student->members() > 1)
        std::printf("ensemble    %d members (format_version 3), slot logits averaged\n", m.student->members());
    std::printf("parameters  %zu in %zu tensors\n", params, f.tensors().size() - verify);
    std::printf("self-test   %s\n", self_test ? "passed (the stored probe output was reproduced)" : "absent");
    std::printf("config\n");
    for (const auto& kv : config.as_object()) std::printf("  %-16s %s\n", kv.first.c_str(), kv.second.dump().c_str());
    std::printf("metadata\n");
    for (const auto& kv : f.metadata())
        if (kv.first != "config") std::printf("  %-16s %s\n", kv.first.c_str(), kv.second.c_str());
    std::printf("tensors\n");
    std::size_t width = 0;
    for (const auto& t : f.tensors()) width = std::max(width, t.name.size());
    for (const auto& t : f.tensors())
        std::printf("  %-*s %-4s %-16s %zu\n", int(width), t.name.c_str(), io::dtype_name(t.type), shape_text(t.shape).c_str(),
                    t.elements());
    return 0;
}

// ------------------------------------------------------------------ dispatch

const char* top_help =
    "usage: dualrerank <command> [options]\n"
    "\n"
    "Generative list-wise reranking (Dual-Rerank): AR teacher, NAR student, SKD, LDRO.\n"
    "\n"
    "commands:\n"
    "  train     train a teacher or a student, supervised, on LETOR files (or the built-in world)\n"
    "  eval      NDCG@k and MAP@k of a model's slates on LETOR (or JSON lines with labels)\n"
    "  distill   SKD: a student from a teacher, on the built-in world or LETOR queries\n"
    "  ldro      LDRO or GRPO fine-tuning of a student on the built-in world\n"
    "  rerank    model + LETOR or JSON-lines requests in, slates out as JSON lines\n"
    "  bench     latency of a model at given N (p50/p90 us per request, requests/s)\n"
    "  info      a model's kind, config, metadata, tensors and parameter count\n"
    "\n"
    "on impression logs (docs/logs.md):\n"
    "  export-logs  the built-in world's exploratory logs as an impression-log file\n"
    "  train --logs FILE --targets exposure   a teacher or student on the logs' shown slates\n"
    "  dpo          Rerank-DPO: a teacher post-trained from logs against a frozen reference teacher\n"
    "  fit-evaluator  a page evaluator fitted on logs (calibration and AUC per slot on held-out pages)\n"
    "  train --logs FILE --targets search --evaluator EV   a teacher on beam-search targets of the evaluator\n"
    "  distill --logs FILE   SKD on the requests of the logs\n"
    "\n"
    "Run `dualrerank <command> --help` for a command's options. Every command reads options from\n"
    "--config FILE (key = value lines) too; the command line wins. Models are safetensors files.\n"
    "  --version   print the version\n";

int dispatch(int argc, char** argv) {
    if (argc < 2) {
        std::fputs(top_help, stderr);
        return 2;
    }
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        if (cmd == "help" && argc > 2) {
            char* args[] = {argv[0], argv[2], const_cast<char*>("--help")};
            return dispatch(3, args);
        }
        std::fputs(top_help, stdout);
        return 0;
    }
    if (cmd == "--version") {
        std::printf("dualrerank %s\n", DUALRERANK_VERSION_STRING);
        return 0;
    }
    if (cmd == "train" && gives_logs(argc, argv)) return cmd_train_logs(argc, argv);
    if (cmd == "distill" && gives_logs(argc, argv)) return cmd_distill_logs(argc, argv);
    if (cmd == "export-logs") return cmd_export_logs(argc, argv);
    if (cmd == "dpo") return cmd_dpo(argc, argv);
    if (cmd == "fit-evaluator") return cmd_fit_evaluator(argc, argv);
    if (cmd == "train") return cmd_train(argc, argv);
    if (cmd == "eval") return cmd_eval(argc, argv);
    if (cmd == "distill") return cmd_distill(argc, argv);
    if (cmd == "ldro") return cmd_ldro(argc, argv);
    if (cmd == "rerank") return cmd_rerank(argc, argv);
    if (cmd == "bench") return cmd_bench(argc, argv);
    if (cmd == "info") return cmd_info(argc, argv);
    throw usage_error("unknown command '" + cmd + "' (commands: train, eval, distill, ldro, rerank, bench, info, export-logs, dpo, fit-evaluator; see dualrerank --help)");
}

}  // namespace
}  // namespace dualrerank_cli

int main(int argc, char** argv) {
    using namespace dualrerank_cli;
    try {
        return dispatch(argc, argv);
    } catch (const help_requested& h) {
        std::fputs(h.text.c_str(), stdout);
        return 0;
    } catch (const usage_error& e) {
        std::fprintf(stderr, "dualrerank: error: %s\n", one_line(e.what()).c_str());
        return 2;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "dualrerank: error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dualrerank: error: %s\n", one_line(e.what()).c_str());
        return 1;
    } catch (...) {
        std::fprintf(stderr, "dualrerank: error: unknown failure\n");
        return 1;
    }
}
