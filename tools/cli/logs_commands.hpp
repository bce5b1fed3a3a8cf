// The CLI on impression logs (docs/cli.md, docs/logs.md; issue #13 item 6):
//
//   dualrerank export-logs   the built-in world's exploratory logs as an impression-log file
//   dualrerank dpo           Rerank-DPO: a teacher post-trained from logs against a reference teacher
//   dualrerank train --logs FILE --targets exposure   (cmd_train_logs)
//   dualrerank distill --teacher T --logs FILE        (cmd_distill_logs)
// main.cpp's dispatcher sends train and distill here when the command line gives --logs.
//
// Logs are read whole into memory (N x F floats per page) with io::read_impression_log_file,
// whose errors name file:line:field.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <dualrerank/sim/sim.hpp>

#include "args.hpp"
#include "common.hpp"
#include "progress.hpp"

namespace dualrerank_cli {

/// The pages of an impression-log file. A file that is not JSON lines (a LETOR file given to
/// --logs) gets a hint; a file without a page is an error.
inline std::vector<io::impression_page> read_logs(const std::string& path) {
    std::vector<io::impression_page> logs;
    try {
        logs = io::read_impression_log_file(path);
    } catch (const format_error& e) {
        const char c = first_text_byte(path);
        if (c != 0 && c != '{')
            throw format_error(std::string(e.what()) + " (impression logs are JSON lines, one page per line: docs/logs.md; a LETOR "
                                                         "file goes to train --data)");
        throw;
    }
    if (logs.empty()) throw input_error(path + ": no logged pages (the file holds no line; docs/logs.md has the format)");
    return logs;
}

/// input_error naming FILE:LINE and the field unless every feature and context value of the pages
/// is one a model accepts (|x| <= limits::max_feature_magnitude, docs/bad-input.md REQ-12): the
/// reader takes any float, and a model's error from inside a training batch could not say which
/// page it came from.
inline void check_logs_values(const std::vector<io::impression_page>& logs, const std::string& path) {
    const double cap = limits::max_feature_magnitude;
    for (const auto& p : logs) {
        const request<float>& r = p.candidates;
        for (std::size_t i = 0; i < r.features.size(); ++i)
            if (!(std::fabs(double(r.features[i])) <= cap))
                throw input_error(path + ":" + std::to_string(p.line) + ": \"features\"[" + std::to_string(i / std::size_t(r.f)) + "][" +
                                  std::to_string(i % std::size_t(r.f)) + "]: " + float_text(r.features[i]) +
                                  " exceeds limits::max_feature_magnitude (1e8) in magnitude (normalize such features, "
                                  "e.g. log1p of counts)");
        for (std::size_t k = 0; k < r.context.size(); ++k)
            if (!(std::fabs(double(r.context[k])) <= cap))
                throw input_error(path + ":" + std::to_string(p.line) + ": \"context\"[" + std::to_string(k) + "]: " +
                                  float_text(r.context[k]) +
                                  " exceeds limits::max_feature_magnitude (1e8) in magnitude (normalize such features)");
    }
}

/// The logs' objectives, for messages: "click, long_view".
inline std::string objective_list(const std::vector<io::impression_page>& logs) {
    std::string s;
    for (const auto& o : logs[0].objectives) s += (s.empty() ? "" : ", ") + o;
    return s;
}

/// The shapes of the logs' requests: every page must have the first page's F and Fc.
struct logs_shape {
    int features = 0, context = 0, max_candidates = 0, max_slots = 0, first_slots = 0;
    bool upstream_rank = true;  ///< every page carries upstream ranks
};

inline logs_shape shape_of_logs(const std::vector<io::impression_page>& logs, const std::string& path) {
    check_logs_values(logs, path);
    logs_shape s;
    s.features = logs[0].candidates.f;
    s.context = static_cast<int>(logs[0].candidates.context.size());
    s.first_slots = logs[0].slots();
    for (const auto& p : logs) {
        if (p.candidates.f != s.features || static_cast<int>(p.candidates.context.size()) != s.context)
            throw input_error(path + ":" + std::to_string(p.line) + ": the page has " + std::to_string(p.candidates.f) +
                              " features and " + std::to_string(p.candidates.context.size()) + " context values; line " +
                              std::to_string(logs[0].line) + " has " + std::to_string(s.features) + " and " +
                              std::to_string(s.context) + " (one model reads every page)");
        s.max_candidates = std::max(s.max_candidates, p.candidates.n);
        s.max_slots = std::max(s.max_slots, p.slots());
        s.upstream_rank = s.upstream_rank && !p.candidates.upstream_rank.empty();
    }
    return s;
}

/// input_error unless every page fits the model (F, Fc, N, L).
inline void check_model_fits_logs(const model_config& c, const logs_shape& s, const std::string& model, const std::string& path) {
    if (c.features != s.features || c.context != s.context)
        throw input_error(model + " has " + std::to_string(c.features) + " features and " + std::to_string(c.context) +
                          " context features; the pages of " + path + " have " + std::to_string(s.features) + " and " +
                          std::to_string(s.context));
    if (c.max_candidates < s.max_candidates || c.max_slate < s.max_slots)
        throw input_error(model + " was built for slates of " + std::to_string(c.max_slate) + " from " +
                          std::to_string(c.max_candidates) + " candidates; " + path + " has pages with " +
                          std::to_string(s.max_slots) + " shown slots or " + std::to_string(s.max_candidates) + " candidates");
    if (c.rank_embedding && !s.upstream_rank)
        throw input_error(model + " uses upstream ranks; some pages of " + path + " have none");
}

/// True when a `--config FILE` sets the key `logs` (the file is read again, bounded, by the
/// command's own parser, which reports its defects; here any doubt is "no").
inline bool config_gives_logs(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string line;
    std::size_t total = 0;
    while (in && total < arg_parser::max_config_bytes) {
        line.clear();
        for (int c; line.size() <= arg_parser::max_config_line && (c = in.get()) != std::char_traits<char>::eof() && c != '\n';)
            line.push_back(static_cast<char>(c));
        total += line.size() + 1;
        const std::size_t hash = line.find('#'), eq = line.find('=');
        if (eq == std::string::npos || (hash != std::string::npos && hash < eq)) continue;
        std::string key = line.substr(0, eq);
        key.erase(0, key.find_first_not_of(" \t\r"));
        key.erase(key.find_last_not_of(" \t\r") + 1);
        if (key == "logs" || key == "--logs") return true;
    }
    return false;
}

/// True when the command line gives --logs, or a --config file sets `logs` (train and distill
/// then read impression logs: the dispatcher routes them to cmd_train_logs / cmd_distill_logs).
inline bool gives_logs(int argc, char** argv) {
    for (int i = 2; i < argc; ++i) {
        const std::string s = argv[i];
        if (s == "--logs" || s.rfind("--logs=", 0) == 0) return true;
        if (s == "--config" && i + 1 < argc && config_gives_logs(argv[i + 1])) return true;
        if (s.rfind("--config=", 0) == 0 && config_gives_logs(s.substr(9))) return true;
    }
    return false;
}

/// Supervised fitting (slot cross-entropy) with a check every max(1, steps / 200) steps so the bar
/// moves; returns the mean training loss of the last max(25, steps / 20) steps in nats per slot
/// (train::loss_unit), the figure `train --data` prints.
template <class Model>
double fit_logs_with_progress(train::trainer<Model>& tr, const train::slate_dataset<float>& data, long steps, progress_bar& bar) {
    const long chunk = std::max(1L, steps / 200), tail = std::max(25L, steps / 20);
    std::vector<std::pair<long, double>> checks;  // (steps in the check, mean loss per slot)
    long last = 0;
    train::fit_supervised(tr, data, steps, train::supervised_config{}, chunk, [&](const train::fit_check& c) {
        checks.emplace_back(c.steps_this_run - last, c.train_loss);
        last = c.steps_this_run;
        char buf[48];
        std::snprintf(buf, sizeof buf, "loss %.4f nats/slot", c.train_loss);
        bar.update(c.steps_this_run, buf);
        return true;
    }, "train");
    bar.finish();
    double sum = 0;
    long n = 0;
    for (auto it = checks.rbegin(); it != checks.rend() && n < tail; ++it)
        if (std::isfinite(it->second)) {
            sum += it->second * double(it->first);
            n += it->first;
        }
    return n > 0 ? sum / double(n) : std::numeric_limits<double>::quiet_NaN();
}

inline bool logs_progress_on(const arg_parser& a) {
    return progress_wanted(a.flag_set("progress"), a.flag_set("no-progress"));
}
inline void add_logs_progress_flags(arg_parser& p) {
    p.flag("progress", "draw progress bars on stderr even when it is not a terminal")
        .flag("no-progress", "never draw progress bars");
}

/// With --world: the normalized utility (random 0, oracle 1) of a teacher's or student's greedy
/// slates on M held-out world requests (the world only evaluates; nothing was trained on it).
template <class Model>
double world_utility(const world& w, const pipeline::eval_set& ev, const Model& m) {
    workspace ws;
    const int L = w.slate_size();
    return pipeline::evaluate(w, ev, "model", [&](const sim_request& r) {
               if constexpr (Model::kind == model_kind::teacher) return decode::teacher_greedy(m, r.observed.view(), L, ws);
               else return decode::greedy(m, r.observed.view(), L, ws);
           }).utility;
}

// ------------------------------------------------------------------ train --logs

/// Targets of `train --logs FILE --targets search --evaluator EV`: beam search on the page
/// evaluator's utility per logged request (docs/design.md section 10.3, docs/evaluator.md).
inline std::vector<slate> evaluator_search_targets(const std::string& evaluator, const std::vector<request<float>>& reqs, int L,
                                                   bool bar_on, const logs_shape& s, const std::string& path) {
    const page_evaluator<float> ev = io::load_page_evaluator<float>(evaluator);
    const page_evaluator_config& c = ev.config();  // every page must fit it: say so before the search, naming both files
    if (c.features != s.features || c.context != s.context)
        throw input_error(evaluator + " has " + std::to_string(c.features) + " features and " + std::to_string(c.context) +
                          " context features; the pages of " + path + " have " + std::to_string(s.features) + " and " +
                          std::to_string(s.context) + " (was it fitted on these logs?)");
    if (c.max_candidates < s.max_candidates || c.max_slate < L)
        throw input_error(evaluator + " scores slates of at most " + std::to_string(c.max_slate) + " from " +
                          std::to_string(c.max_candidates) + " candidates; " + path + " has pages with " +
                          std::to_string(s.max_candidates) + " candidates and the targets have " + std::to_string(L) + " slots");
    std::vector<slate> out;
    out.reserve(reqs.size());
    progress_bar bar("search targets", long(reqs.size()), bar_on);
    workspace ws;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        ws.reset();
        out.push_back(decode::page_beam_search(ev, reqs[i].view(), L, decode::page_search_options{}, ws));
        bar.update(long(i + 1));
    }
    bar.finish();
    return out;
}

/// dualrerank train --logs FILE --targets exposure: a teacher or student trained on the shown
/// slates of impression logs (GReF's exposure pre-training; the reference teacher of Rerank-DPO).
inline int cmd_train_logs(int argc, char** argv) {
    arg_parser a("train", "dualrerank train --logs LOGS.jsonl --targets exposure --out MODEL [options]",
                 "Train an AR teacher or a NAR student, supervised, on impression logs (docs/logs.md). --targets\n"
                 "exposure: the target of a page is its shown slate (what the logging policy did; GReF's exposure\n"
                 "pre-training and the reference teacher of `dualrerank dpo`). --targets search --evaluator EV: beam\n"
                 "search on a page evaluator fitted on the logs (dualrerank fit-evaluator). L = the first page's shown\n"
                 "length or --slate-length; pages showing fewer slots are left out, longer ones are cut to L.");
    a.option("logs", "FILE", "", "impression logs")
        .option("targets", "exposure|search", "exposure", "the shown slates, or beam search on --evaluator")
        .option("evaluator", "EV", "", "--targets search: a page evaluator (dualrerank fit-evaluator)")
        .option("model", "teacher|student", "teacher", "what to train")
        .option("out", "MODEL", "", "model file to write (safetensors)")
        .option("slate-length", "L", "", "slots of the target (default the first page's shown length)")
        .option("max-candidates", "N", "", "largest N the model accepts (default max(1024, the largest logged page))")
        .option("eval-requests", "M", "300", "with --world: held-out world requests for the report (0: none)");
    add_world_options(a);
    add_architecture_options(a, true);
    add_optimizer_options(a, "500", "2e-3");
    a.option("seed", "S", "1", "initialization and batch-order seed");
    add_logs_progress_flags(a);
    a.epilog("example:\n  dualrerank train --logs logs.jsonl --targets exposure --model teacher --steps 1500 --out exposure.safetensors");
    a.parse(argc, argv, 2);

    const std::string kind = a.choice("model", {"teacher", "student"});
    const std::string targets = a.choice("targets", {"exposure", "search"});
    if ((targets == "search") != a.has("evaluator")) throw usage_error("--targets search goes with --evaluator EV (and only it)");
    const std::string out = a.str("out"), path = a.str("logs");
    if (!a.has("world")) a.no_effect({"eval-requests", "world-seed"}, "without --world (they set up the world's report)");
    const std::uint64_t seed = static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max()));
    const train::trainer_config tc = trainer_config_from(a, seed);
    const long steps = static_cast<long>(a.integer("steps", 1, 100000000));
    check_outputs(a);
    const int M = a.int_value("eval-requests", 0, 1000000);
    std::unique_ptr<world> w;
    if (a.has("world"))
        w = std::make_unique<world>(world_config_from(a.str("world")),
                                    static_cast<std::uint64_t>(a.integer("world-seed", 0, std::numeric_limits<long long>::max())));
    model_config mc;
    mc.d = 32;
    apply_architecture(a, mc);

    const std::vector<io::impression_page> logs = read_logs(path);
    const logs_shape s = shape_of_logs(logs, path);
    const int L = a.has("slate-length") ? a.int_value("slate-length", 1, limits::max_slate) : s.first_slots;
    train::slate_dataset<float> data;
    data.L = L;
    std::size_t skipped = 0;
    for (const auto& p : logs) {
        if (p.slots() < L) {
            ++skipped;
            continue;
        }
        data.requests.push_back(p.candidates);
        data.targets.push_back(slate(p.shown.begin(), p.shown.begin() + L));
    }
    if (data.requests.empty()) throw input_error(path + ": no page shows at least " + std::to_string(L) + " slots");
    if (skipped > 0)
        std::fprintf(stderr, "dualrerank: note: %zu of %zu pages show fewer than %d slots and are left out\n", skipped,
                     logs.size(), L);
    if (targets == "search") data.targets = evaluator_search_targets(a.str("evaluator"), data.requests, L, logs_progress_on(a), s, path);
    mc.features = s.features;
    mc.context = s.context;
    mc.max_slate = L;
    // like train --data: a model that serves requests larger than any logged page (N is not a
    // parameter shape unless rank_embedding is on)
    mc.max_candidates = a.has("max-candidates") ? a.int_value("max-candidates", 1, limits::max_candidates)
                                                : std::min(limits::max_candidates, std::max(1024, s.max_candidates));
    if (s.max_candidates > mc.max_candidates)
        throw usage_error("--max-candidates " + std::to_string(mc.max_candidates) + " is below the largest logged page (" +
                          std::to_string(s.max_candidates) + " candidates)");
    if (w) {
        mc.max_candidates = std::max(mc.max_candidates, w->num_candidates());
        if (L != w->slate_size()) throw usage_error("--world: the world's L is " + std::to_string(w->slate_size()) + ", the logs' " + std::to_string(L));
        check_model_fits_world(mc, w->config(), path);
    }
    mc.validate();
    const std::string what = targets == "search" ? "supervised on beam-search targets of the page evaluator " + a.str("evaluator") +
                                                       " on the requests of " + path
                                                 : "supervised on the shown slates (exposure) of " + path;

    double loss = 0, utility = -1;
    std::size_t params = 0;
    auto run = [&](auto& model) {
        model.init(seed);
        params = model.parameter_count();
        using Mdl = std::decay_t<decltype(model)>;
        train::trainer<Mdl> tr(model, tc);
        progress_bar bar("train " + kind, steps, logs_progress_on(a));
        loss = fit_logs_with_progress(tr, data, steps, bar);
        io::save_model(model, out, provenance("train", what + ", " + std::to_string(steps) + " steps, seed " + std::to_string(seed)));
        if (w && M > 0) utility = world_utility(*w, pipeline::make_eval_set(*w, M), model);
    };
    if (kind == "teacher") {
        ar_teacher<float> m(mc);
        run(m);
    } else {
        nar_student<float> m(mc);
        run(m);
    }
    std::printf("trained %s (%zu parameters) on %zu logged pages, %ld steps: final loss %.4f nats per slot (mean of the last "
                "%ld steps) -> %s\n",
                kind == "teacher" ? "ar_teacher" : "nar_student", params, data.requests.size(), steps, loss,
                std::min(steps, std::max(25L, steps / 20)), out.c_str());
    if (utility >= -0.5)
        std::printf("held-out world requests (%d, greedy): normalized utility %.4f\n", M, utility);
    return 0;
}

// ------------------------------------------------------------------ distill --logs

/// dualrerank distill --teacher MODEL --logs FILE: SKD on the requests of impression logs.
inline int cmd_distill_logs(int argc, char** argv) {
    arg_parser a("distill", "dualrerank distill --teacher MODEL --logs LOGS.jsonl --out MODEL [options]",
                 "Sequential Knowledge Distillation (SKD) on the requests of impression logs: a NAR student learns\n"
                 "the AR teacher's step distributions along the teacher's greedy and sampled trajectories (decoded\n"
                 "once, cached). --lambda-gt adds a supervised term toward each page's shown slate.");
    a.option("teacher", "MODEL", "", "ar_teacher model file")
        .option("logs", "FILE", "", "impression logs: their requests are distilled on")
        .option("out", "MODEL", "", "student model file to write")
        .option("slate-length", "L", "", "slots (default the teacher's max_slate)")
        .option("samples", "K", "15", "teacher samples per request, besides its greedy slate")
        .option("sample-tau", "X", "1.0", "temperature of the teacher's samples")
        .option("lambda-kl", "X", "5.0", "weight of the KL term")
        .option("kl-tau", "X", "1.0", "distillation temperature of the KL term")
        .option("lambda-gt", "X", "0", "weight of a supervised term toward the shown slates")
        .option("eval-requests", "M", "300", "with --world: held-out world requests for the report (0: none)");
    add_world_options(a);
    add_architecture_options(a, false);
    add_optimizer_options(a, "1000", "2e-3");
    a.option("seed", "S", "1", "initialization, sampling and batch-order seed");
    add_logs_progress_flags(a);
    a.epilog("example:\n  dualrerank distill --teacher dpo.safetensors --logs logs.jsonl --steps 1400 --out student.safetensors");
    a.parse(argc, argv, 2);

    const bool bar_on = logs_progress_on(a);
    const std::uint64_t seed = static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max()));
    const std::string out = a.str("out"), path = a.str("logs");
    if (!a.has("world")) a.no_effect({"eval-requests", "world-seed"}, "without --world (they set up the world's report)");
    const train::trainer_config tc = trainer_config_from(a, seed);
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
    const int M = a.int_value("eval-requests", 0, 1000000);
    std::unique_ptr<world> w;
    if (a.has("world")) {
        w = std::make_unique<world>(world_config_from(a.str("world")),
                                    static_cast<std::uint64_t>(a.integer("world-seed", 0, std::numeric_limits<long long>::max())));
        check_model_fits_world(teacher.config(), w->config(), a.str("teacher"));
    }

    const std::vector<io::impression_page> logs = read_logs(path);
    logs_shape fit = shape_of_logs(logs, path);
    fit.max_slots = 0;  // the shown length does not matter for distillation
    check_model_fits_logs(teacher.config(), fit, a.str("teacher"), path);
    train::slate_dataset<float> data;
    data.L = L;
    const bool gt = skd.lambda_gt > 0;
    for (const auto& p : logs) {  // a page with N < L candidates is distilled on min(L, N) slots
        const int Lp = std::min(L, p.candidates.n);
        if (gt && p.slots() < Lp) continue;  // --lambda-gt needs that many shown slots
        data.requests.push_back(p.candidates);
        data.targets.push_back(gt ? slate(p.shown.begin(), p.shown.begin() + Lp) : slate());
    }
    if (data.requests.empty()) throw input_error(path + ": no page shows min(L, N) slots (--lambda-gt needs them)");

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
    double ema = 0;
    {
        train::trainer<nar_student<float>> tr(student, tc);
        progress_bar bar("distill", steps, bar_on);
        const long chunk = std::max(1L, steps / 200);
        for (long done = 0; done < steps;) {
            const long k = std::min(chunk, steps - done);
            train::fit_skd(tr, data, targets, skd, k, "skd");
            done += k;
            ema = done == k ? tr.last_loss() : 0.9 * ema + 0.1 * tr.last_loss();
            char buf[64];
            std::snprintf(buf, sizeof buf, "loss %.4f nats/request", ema);
            bar.update(done, buf);
        }
        bar.finish();
    }
    io::save_model(student, out,
                   provenance("distill", "SKD from " + a.str("teacher") + " on the requests of " + path + ", " +
                                             std::to_string(steps) + " steps, seed " + std::to_string(seed)));
    std::printf("distilled nar_student (%zu parameters) on %zu logged requests, %ld steps: final loss %.4f nats per request "
                "(the SKD objective, summed over slots) -> %s\n",
                student.parameter_count(), data.size(), steps, ema, out.c_str());
    workspace ws;
    double agree = 0;
    const std::size_t m = std::min<std::size_t>(data.size(), 500);
    for (std::size_t i = 0; i < m; ++i) {
        const auto v = data.requests[i].view();
        const int Lq = std::min(L, v.n);
        agree += eval::ptar(decode::greedy(student, v, Lq, ws), decode::teacher_greedy(teacher, v, Lq, ws));
    }
    std::printf("agreement with the teacher's greedy slates (PTAR, %zu logged requests): %.4f\n", m, agree / double(m));
    if (w && M > 0) {
        const pipeline::eval_set ev = pipeline::make_eval_set(*w, M);
        std::printf("held-out world requests (%d, greedy): normalized utility teacher %.4f, student %.4f\n", M,
                    world_utility(*w, ev, teacher), world_utility(*w, ev, student));
    }
    return 0;
}

// ------------------------------------------------------------------ export-logs

inline int cmd_export_logs(int argc, char** argv) {
    arg_parser a("export-logs", "dualrerank export-logs --world small|default --logs N --out LOGS.jsonl [options]",
                 "Write the built-in world's exploratory logs as an impression-log file (docs/logs.md): per page the\n"
                 "observed features, context and upstream ranks, the behaviour policy's slate (Plackett-Luce over the\n"
                 "upstream scores) with its log-propensity, and the sampled per-slot \"click\" and \"long_view\". The\n"
                 "oracle-free commands (train --logs, dpo, distill --logs) then read it as they would a user's logs.");
    a.option("out", "FILE", "", "impression-log file to write (- = stdout)")
        .option("logs", "N", "10000", "logged pages")
        .option("first", "I", "0", "request index of the first page (the demo logs requests 0..N-1)")
        .option("temperature", "T", "0.4", "the behaviour policy's temperature")
        .option("seed", "S", "", "seed of the policy's draws and the feedback (default 7 * world-seed + 1, the demo's)");
    add_world_options(a);
    a.epilog("example:\n  dualrerank export-logs --world small --logs 20000 --out logs.jsonl");
    a.parse(argc, argv, 2);
    if (!a.has("world")) throw usage_error("--world small|default is required (the logs come from the built-in world)");
    const world_config wc = world_config_from(a.str("world"));
    const auto world_seed = static_cast<std::uint64_t>(a.integer("world-seed", 0, std::numeric_limits<long long>::max()));
    const auto count = static_cast<std::size_t>(a.integer("logs", 1, 100000000));
    const auto first = static_cast<std::uint64_t>(a.integer("first", 0, std::numeric_limits<long long>::max() / 2));
    behaviour_policy b;
    b.temperature = a.real("temperature", 1e-6, 1e6);
    const std::uint64_t seed =
        a.has("seed") ? static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max())) : world_seed * 7 + 1;
    const std::string out_path = a.str("out");
    const world w(wc, world_seed);
    std::ofstream file;
    std::ostream* out = &std::cout;
    if (out_path != "-") {
        file.open(out_path, std::ios::binary | std::ios::trunc);
        if (!file) throw error("cannot write " + out_path);
        out = &file;
    }
    const std::size_t wrote = write_world_logs(w, first, count, b, seed, *out);
    out->flush();
    if (!*out) throw error("write to " + out_path + " failed");
    std::fprintf(stderr, "export-logs: %zu pages (world %s, seed %llu, requests %llu..%llu, %s, draws seed %llu) -> %s\n", wrote,
                 a.str("world").c_str(), (unsigned long long)world_seed, (unsigned long long)first,
                 (unsigned long long)(first + count - 1), behaviour_policy_version(b).c_str(), (unsigned long long)seed,
                 out_path == "-" ? "<stdout>" : out_path.c_str());
    return 0;
}

// ------------------------------------------------------------------ dpo

inline int cmd_dpo(int argc, char** argv) {
    arg_parser a("dpo", "dualrerank dpo --reference MODEL --logs LOGS.jsonl --out MODEL [options]",
                 "Rerank-DPO (GReF): post-train an AR teacher from impression logs alone. Per page the winner is the\n"
                 "shown slate re-sorted by alpha / position + gamma * feedback (the --objective, default click), the\n"
                 "loser the shown order; loss -log sigmoid(beta * (log pi/pi_ref (winner) - log pi/pi_ref (loser))).\n"
                 "The reference pi_ref is frozen (the exposure-pretrained teacher: train --logs --targets exposure);\n"
                 "the trained teacher starts as a copy of it. Pages whose winner is the shown order give no pair.");
    a.option("reference", "MODEL", "", "ar_teacher: the frozen reference pi_ref and the starting point")
        .option("logs", "FILE", "", "impression logs (docs/logs.md)")
        .option("out", "MODEL", "", "teacher to write")
        .option("objective", "NAME", "click", "the feedback U of the pages")
        .option("alpha", "X", "1", "weight of 1 / shown position")
        .option("gamma", "X", "1", "weight of the feedback")
        .option("beta", "X", "0.1", "DPO temperature")
        .option("sft", "X", "0.1", "weight of a supervised anchor -log pi(winner) per pair (ours; 0 = GReF's loss exactly)")
        .option("eval-requests", "M", "300", "with --world: held-out world requests for the report (0: none)");
    add_optimizer_options(a, "1000", "1e-4", "0");  // the library's dpo_recipe_config: no weight decay
    add_world_options(a);
    a.option("seed", "S", "1", "batch-order seed");
    a.epilog("example:\n"
             "  dualrerank train --logs logs.jsonl --targets exposure --model teacher --out exposure.safetensors\n"
             "  dualrerank dpo --reference exposure.safetensors --logs logs.jsonl --out dpo.safetensors --world small");
    a.parse(argc, argv, 2);

    const std::uint64_t seed = static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max()));
    train::dpo_recipe_config rc;
    rc.trainer = trainer_config_from(a, seed);
    rc.steps = static_cast<long>(a.integer("steps", 1, 100000000));
    rc.dpo.alpha = a.real("alpha", 0.0, 1e6);
    rc.dpo.gamma = a.real("gamma", 0.0, 1e6);
    rc.dpo.beta = a.real("beta", 1e-9, 1e6);
    rc.dpo.objective = a.str("objective");
    rc.dpo.sft = a.real("sft", 0.0, 1e6);
    const int M = a.int_value("eval-requests", 0, 1000000);
    if (!a.has("world")) a.no_effect({"eval-requests", "world-seed"}, "without --world (they set up the world's report)");
    std::unique_ptr<world> w;
    if (a.has("world"))
        w = std::make_unique<world>(world_config_from(a.str("world")),
                                    static_cast<std::uint64_t>(a.integer("world-seed", 0, std::numeric_limits<long long>::max())));
    const std::string ref_path = a.str("reference"), logs_path = a.str("logs"), out = a.str("out");
    check_outputs(a);
    const ar_teacher<float> ref = io::load_model<ar_teacher<float>>(ref_path);
    const std::vector<io::impression_page> logs = read_logs(logs_path);
    check_model_fits_logs(ref.config(), shape_of_logs(logs, logs_path), ref_path, logs_path);
    if (w) check_model_fits_world(ref.config(), w->config(), ref_path);
    bool any_pair = false;  // a page whose winner differs from the shown order (make_dpo_pairs' rule)
    for (const auto& p : logs) {
        const float* u = p.objective_feedback(rc.dpo.objective);
        if (!u)
            throw input_error(logs_path + ":" + std::to_string(p.line) + ": the page has no feedback objective \"" +
                              rc.dpo.objective + "\" (--objective; the logs have " + objective_list(logs) + ")");
        any_pair = any_pair || train::rerank_dpo_winner(p.shown, u, rc.dpo.alpha, rc.dpo.gamma) != p.shown;
    }
    if (!any_pair)
        throw input_error(logs_path + ": no preference pairs: on no page does the shown slate re-sorted by alpha / position + "
                          "gamma x \"" + rc.dpo.objective + "\" differ from the shown order (a pair needs feedback on a slot "
                          "below one with less; check --objective: the logs have " + objective_list(logs) + ")");

    train::dpo_report rep;
    const ar_teacher<float> dpo = train::train_rerank_dpo_teacher(ref, logs, rc, &rep);
    io::save_model(dpo, out,
                   provenance("dpo", "Rerank-DPO from " + logs_path + " against " + ref_path + " (alpha " + a.str("alpha") +
                                         ", gamma " + a.str("gamma") + ", beta " + a.str("beta") + ", sft " + a.str("sft") +
                                         ", objective " + rc.dpo.objective +
                                         "), " + std::to_string(rc.steps) + " steps, seed " + std::to_string(seed)));
    std::printf("rerank-dpo: %zu pages -> %zu pairs (%zu with the winner equal to the shown order left out); %ld steps -> %s\n",
                rep.pages, rep.pairs, rep.skipped_equal, rc.steps, out.c_str());
    std::printf("on %zu pairs: loss %.4f (the reference: log 2 = 0.6931), the teacher prefers the winner more than the "
                "reference does on %.1f%%\n",
                rep.evaluated, rep.final_loss, 100.0 * rep.final_accuracy);
    if (w && M > 0) {
        const pipeline::eval_set ev = pipeline::make_eval_set(*w, M);
        std::printf("held-out world requests (%d, greedy): normalized utility reference %.4f, rerank-dpo %.4f\n", M,
                    world_utility(*w, ev, ref), world_utility(*w, ev, dpo));
        // where the top slot comes from: DPO's pairs all have an unclicked item on top of the loser
        auto top_rank = [&](const ar_teacher<float>& t) {
            workspace ws;
            double sum = 0;
            for (const auto& r : ev.requests)
                sum += r.observed.upstream_rank[std::size_t(decode::teacher_greedy(t, r.observed.view(), w->slate_size(), ws)[0])];
            return sum / double(ev.requests.size());
        };
        std::printf("mean upstream rank of the top slot (0 = the upstream's first): reference %.3f, rerank-dpo %.3f\n",
                    top_rank(ref), top_rank(dpo));
    }
    return 0;
}

}  // namespace dualrerank_cli
