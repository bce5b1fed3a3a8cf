// The CLI's page-evaluator commands on impression logs (docs/cli.md, docs/evaluator.md; issue #13
// item 6):
//
//   dualrerank fit-evaluator --logs FILE --out EV            a page evaluator fitted on logs alone
//   (train --logs FILE --targets search --evaluator EV: tools/cli/logs_commands.hpp)
//
// The evaluator's trust record (the Best-of-N gate, docs/evaluator.md) is written only when a
// check ran: with --world and --student, the within-request rank correlation of the evaluator with
// the world's closed form on the student's own proposals (the world only evaluates).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <dualrerank/sim/sim.hpp>

#include "args.hpp"
#include "common.hpp"
#include "logs_commands.hpp"
#include "progress.hpp"

namespace dualrerank_cli {

/// The objectives of the logs in the evaluator's order: --objectives (comma separated) or the
/// file's own order with an objective named "click" moved first; the first is the click
/// (objective 0), the others are counted given a click.
inline std::vector<int> evaluator_objectives(const std::vector<io::impression_page>& logs, const std::string& wanted,
                                             const std::string& path) {
    std::vector<std::string> names;
    if (wanted.empty()) {  // the file's order, but an objective named "click" first: the evaluator's click
        names = logs[0].objectives;
        const auto click = std::find(names.begin(), names.end(), std::string("click"));
        if (click != names.end()) std::rotate(names.begin(), click, click + 1);
    } else {
        std::string cur;
        for (char ch : wanted + ",") {
            if (ch != ',') {
                cur += ch;
                continue;
            }
            if (cur.empty()) throw usage_error("--objectives: an empty name in '" + wanted + "'");
            names.push_back(cur);
            cur.clear();
        }
    }
    if (names.size() > 16) throw usage_error("--objectives: at most 16 objectives");
    std::vector<int> idx;
    for (const auto& n : names) {
        const int k = logs[0].objective_index(n);
        if (k < 0) throw input_error(path + ": the pages have no feedback objective \"" + n + "\" (--objectives; the logs have " +
                                     objective_list(logs) + ")");
        idx.push_back(k);
    }
    return idx;
}

/// Pages [begin, end) of the logs as a page source: the shown rows in shown order (the evaluator's
/// loss reads only them), labels [L x O] clipped to [0, 1], an objective o >= 1 at most the click.
inline train::page_source<float> impression_source(const std::vector<io::impression_page>& logs, std::size_t begin,
                                                   std::size_t end, const std::vector<int>& objectives) {
    train::page_source<float> src;
    src.count = end - begin;
    src.get = [&logs, begin, objectives](std::size_t i, train::page_example<float>& p) {
        const io::impression_page& lp = logs[begin + i];
        const int L = lp.slots(), F = lp.candidates.f, O = static_cast<int>(objectives.size());
        p.req.n = L;
        p.req.f = F;
        p.req.features.resize(std::size_t(L) * F);
        for (int t = 0; t < L; ++t)
            std::copy_n(lp.candidates.features.begin() + std::ptrdiff_t(lp.shown[std::size_t(t)]) * F, F,
                        p.req.features.begin() + std::ptrdiff_t(t) * F);
        p.req.context = lp.candidates.context;
        p.req.upstream_rank.clear();
        p.shown.resize(std::size_t(L));
        for (int t = 0; t < L; ++t) p.shown[std::size_t(t)] = t;
        p.log_propensity = lp.has_propensity ? lp.log_propensity : std::numeric_limits<double>::quiet_NaN();
        p.labels.resize(std::size_t(L) * O);
        for (int t = 0; t < L; ++t) {
            const float click = std::min(1.0f, lp.objective_feedback(std::size_t(objectives[0]))[t]);
            p.labels[std::size_t(t) * O] = click;
            for (int o = 1; o < O; ++o)
                p.labels[std::size_t(t) * O + o] = std::min(click, std::min(1.0f, lp.objective_feedback(std::size_t(objectives[std::size_t(o)]))[t]));
        }
    };
    return src;
}

// ------------------------------------------------------------------ fit-evaluator

inline int cmd_fit_evaluator(int argc, char** argv) {
    arg_parser a("fit-evaluator", "dualrerank fit-evaluator --logs LOGS.jsonl --out EVALUATOR [options]",
                 "Fit a page evaluator (docs/evaluator.md: learned examination per position x appeal with user-item\n"
                 "and page-context terms, an objective head per extra objective given a click) on impression logs\n"
                 "alone. The last --valid-fraction of the pages (the most recent, in file order) are held out: early\n"
                 "stopping keeps the best held-out likelihood, and the report gives per slot the predicted and\n"
                 "observed rate and the AUC. With --world and --student the within-request rank correlation with\n"
                 "the world's closed form on the student's proposals is measured and saved as the evaluator's trust\n"
                 "record (Best-of-N's gate); without a check no record is written and Best-of-N serves greedy.");
    a.option("logs", "FILE", "", "impression logs (docs/logs.md)")
        .option("out", "MODEL", "", "page evaluator file to write")
        .option("objectives", "A,B,...", "", "objectives to model, the click first (default: the file's, \"click\" moved first)")
        .option("valid-fraction", "X", "0.1", "share of the pages held out (the last ones)")
        .option("steps", "N", "10000", "at most this many steps")
        .option("batch-size", "B", "128", "pages per step")
        .option("lr", "X", "0.002", "AdamW peak learning rate")
        .option("eval-every", "K", "1000", "steps between held-out evaluations")
        .option("patience", "P", "4", "held-out evaluations without improvement before stopping")
        .option("average-tail", "X", "0.5", "share of the steps, from the end, whose iterates are averaged (0: off)")
        .option("min-lr-ratio", "X", "0.1", "the cosine decay's floor, as a share of --lr")
        .option("student", "MODEL", "", "with --world: the student whose proposals the correlation is measured on")
        .option("check-requests", "M", "100", "with --world and --student: held-out requests of the check");
    add_world_options(a);
    a.option("seed", "S", "1", "initialization and batch-order seed");
    a.epilog("example:\n  dualrerank fit-evaluator --logs logs.jsonl --out evaluator.safetensors");
    a.parse(argc, argv, 2);

    const std::string path = a.str("logs"), out = a.str("out");
    if (!a.has("world")) a.no_effect({"check-requests", "world-seed"}, "without --world and --student (no check runs)");
    check_outputs(a);
    const std::uint64_t seed = static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max()));
    train::page_fit_config fc;
    fc.steps = static_cast<long>(a.integer("steps", 1, 100000000));
    fc.batch = a.int_value("batch-size", 1, 1 << 20);
    fc.lr = a.real("lr", 1e-9, 10.0);
    fc.eval_every = static_cast<long>(a.integer("eval-every", 1, 100000000));
    fc.patience = a.int_value("patience", 1, 1000000);
    fc.average_tail = a.real("average-tail", 0.0, 1.0);
    fc.min_lr_ratio = a.real("min-lr-ratio", 0.0, 1.0);
    fc.seed = seed;
    const double vf = a.real("valid-fraction", 0.0, 0.9);
    if (a.has("student") != a.has("world")) throw usage_error("the correlation check needs both --world and --student");
    // the check's world and student, loaded and matched before the fit (not after it: a wrong
    // --student must not cost the fit)
    std::unique_ptr<world> w;
    std::unique_ptr<nar_student<float>> student;
    if (a.has("world")) {
        w = std::make_unique<world>(world_config_from(a.str("world")),
                                    static_cast<std::uint64_t>(a.integer("world-seed", 0, std::numeric_limits<long long>::max())));
        student = std::make_unique<nar_student<float>>(io::load_model<nar_student<float>>(a.str("student")));
        check_model_fits_world(student->config(), w->config(), a.str("student"));
    }
    const int M = a.int_value("check-requests", 1, 100000);
    const std::vector<io::impression_page> logs = read_logs(path);
    const logs_shape s = shape_of_logs(logs, path);
    const std::vector<int> objectives = evaluator_objectives(logs, a.str_or("objectives", ""), path);
    for (std::size_t o = 0; o < objectives.size(); ++o) {  // the evaluator models events: a count of 3 is read as 1
        std::size_t above = 0, values = 0;
        for (const auto& p : logs) {
            const float* v = p.objective_feedback(std::size_t(objectives[o]));
            for (int t = 0; t < p.slots(); ++t) above += v[t] > 1.0f;
            values += std::size_t(p.slots());
        }
        if (above > 0)
            std::fprintf(stderr, "dualrerank: note: \"%s\": %zu of %zu feedback values are above 1 and are read as 1 (the page "
                                 "evaluator models per-slot events, docs/evaluator.md)\n",
                         logs[0].objectives[std::size_t(objectives[o])].c_str(), above, values);
    }
    const std::size_t n_valid = std::max<std::size_t>(1, std::size_t(std::lround(vf * double(logs.size()))));
    if (logs.size() < n_valid + 1) throw input_error(path + ": too few pages to hold " + std::to_string(n_valid) + " out");
    const std::size_t n_train = logs.size() - n_valid;

    page_evaluator_config pc;
    pc.features = s.features;
    pc.context = s.context;
    pc.max_slate = std::max(2, s.max_slots);
    // as train --logs: the evaluator scores requests larger than any logged page (N is no parameter shape)
    pc.max_candidates = std::min(limits::max_candidates, std::max(1024, s.max_candidates));
    pc.objectives = static_cast<int>(objectives.size());
    page_evaluator<float> ev(pc);
    ev.init(seed);
    const auto train_src = impression_source(logs, 0, n_train, objectives);
    const auto valid_src = impression_source(logs, n_train, logs.size(), objectives);
    const train::page_fit_result fit = train::fit_page_evaluator(ev, train_src, valid_src, fc);
    const train::page_fit_report rep = train::page_fit_evaluation(ev, valid_src);
    std::string used;
    for (std::size_t o = 0; o < objectives.size(); ++o)
        used += (o ? ", " : "") + logs[0].objectives[std::size_t(objectives[o])] + (o ? " (given a click)" : " (the click)");
    std::printf("objectives: %s\n", used.c_str());
    std::printf("page evaluator on %zu pages (%zu held out): %ld steps%s, held-out NLL per page %.4f (before %.4f, best at step %ld",
                n_train, n_valid, fit.steps, fit.stopped_early ? " (stopped early)" : "", fit.best_valid_loss,
                fit.initial_valid_loss, fit.best_step);
    if (fit.averaged_steps > 0) std::printf(", the average of the last %ld iterates", fit.averaged_steps);
    std::printf(")\n");
    std::printf("%-6s", "slot");
    for (int o = 0; o < rep.objectives; ++o)
        std::printf("  %-12s pred    obs     AUC  ", logs[0].objectives[std::size_t(objectives[std::size_t(o)])].substr(0, 12).c_str());
    std::printf("\n");
    for (int t = 0; t < rep.slots; ++t) {
        std::printf("%-6d", t + 1);
        for (int o = 0; o < rep.objectives; ++o) {
            const train::slot_calibration& c = rep.at(t, o);
            std::printf("  %-12s %.4f  %.4f  %.3f", "", c.predicted, c.observed, c.auc);
        }
        std::printf("\n");
    }
    std::map<std::string, std::string> meta;
    meta["written_by"] = std::string("dualrerank fit-evaluator ") + DUALRERANK_VERSION_STRING;
    meta["training"] = "page evaluator fitted on " + path + " (" + std::to_string(n_train) + " pages, " +
                       std::to_string(n_valid) + " held out), " + std::to_string(fit.steps) + " steps, seed " +
                       std::to_string(seed);
    if (w) {
        workspace ws;
        const auto scorer = [&](const request_view<float>& r, int K, int L, const int* slates, float* scores, workspace& w2) {
            ev.score(r, K, L, slates, static_cast<const float*>(nullptr), scores, w2);
        };
        const auto rc = pipeline::scorer_correlation(*w, scorer, [](const sim_request&) {}, pipeline::slate_distribution::proposals,
                                                     student.get(), M, 16, 0.5, seed);
        ev.validation = scorer_validation{"rank_correlation", rc.mean, M};
        std::printf("within-request rank correlation with the world's utility on %s's proposals (%d requests, 16 each): %.4f\n",
                    a.str("student").c_str(), M, rc.mean);
    } else {
        std::printf("no trust record written (no check ran): Best-of-N with this evaluator serves greedy; add --world and --student\n");
    }
    io::save_page_evaluator(ev, out, meta);
    std::printf("-> %s\n", out.c_str());
    return 0;
}

}  // namespace dualrerank_cli
