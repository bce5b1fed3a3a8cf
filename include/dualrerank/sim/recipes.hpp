// Where teacher targets come from (docs/design.md section 4): the recipes, each selectable.
//  * exposure: the logged slate itself (GReF pre-training; reproduces the behaviour policy).
//  * click_model: a position-based click model fitted on exploratory logs,
//      p(click at slot t) = exam_t * sigmoid(f(x)),
//    with exam_t known (simulator) or estimated; the target is the request's candidates sorted by
//    f. Re-sorting "clicked first" does not work: clicks are position-biased.
//  * search: beam search on an evaluator (the simulator's closed form stands in for a strong one;
//    oracle-assisted).
//  * evaluator_search: beam search (+ polish) on a page evaluator fitted on logs alone
//    (decode::page_beam_search; docs/design.md section 10.3): the search recipe without the oracle.
#pragma once

#include <algorithm>
#include <numeric>
#include <vector>

#include "simulator.hpp"
#include "../decode/page_search.hpp"
#include "../model/page_evaluator.hpp"
#include "../model/pointwise.hpp"
#include "../train/trainer.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

enum class teacher_recipe { exposure, click_model, search, evaluator_search };

inline const char* to_string(teacher_recipe r) noexcept {
    switch (r) {
        case teacher_recipe::exposure: return "exposure";
        case teacher_recipe::click_model: return "click_model";
        case teacher_recipe::search: return "search";
        case teacher_recipe::evaluator_search: return "evaluator_search";
    }
    return "unknown";
}

/// Loss of the position-based click model for one shown item: p = exam * sigmoid(f); returns the
/// binary cross-entropy of `clicked` under p and writes d loss / d f.
inline double position_click_loss(double f, double exam, bool clicked, double& dfout) noexcept {
    const double s = f >= 0 ? 1.0 / (1.0 + std::exp(-f)) : std::exp(f) / (1.0 + std::exp(f));
    const double p = std::min(std::max(exam * s, 1e-12), 1.0 - 1e-12);
    if (clicked) {
        dfout = -(1.0 - s);
        return -std::log(p);
    }
    dfout = exam * s * (1.0 - s) / (1.0 - p);
    return -std::log1p(-p);
}

/// Fit f on logged pages (the requests are regenerated from the world by index).
template <class T>
void fit_click_model(trainer<pointwise_scorer<T>>& tr, const world& w, const std::vector<logged_page>& logs, long steps,
                     const std::string& label = "click model") {
    if (logs.empty()) dualrerank::detail::throw_input("fit_click_model: no logs");
    std::vector<request<T>> reqs(logs.size());
    sim_request sr;
    for (std::size_t i = 0; i < logs.size(); ++i) {
        w.make_request(logs[i].request_index, sr);
        reqs[i].n = sr.observed.n;
        reqs[i].f = sr.observed.f;
        reqs[i].features.assign(sr.observed.features.begin(), sr.observed.features.end());
        reqs[i].context.assign(sr.observed.context.begin(), sr.observed.context.end());
        reqs[i].upstream_rank = sr.observed.upstream_rank;
    }
    const auto& exam = w.examination();
    const int B = tr.config().batch_size;
    std::vector<int> idx;
    std::vector<request_view<T>> views(static_cast<std::size_t>(B));
    tr.run(
        steps,
        [&](T* g, workspace& ws, rng& gen) {
            draw_batch(gen, logs.size(), B, idx);
            for (int b = 0; b < B; ++b) views[b] = reqs[idx[b]].view();
            auto c = tr.model().forward(views.data(), B, ws);
            T* df = ws.alloc_zero<T>(std::size_t(B) * c.n);
            double loss = 0;
            for (int b = 0; b < B; ++b) {
                const logged_page& p = logs[idx[b]];
                for (std::size_t t = 0; t < p.shown.size(); ++t) {
                    double d;
                    const int i = p.shown[t];
                    loss += position_click_loss(double(c.f[std::size_t(b) * c.n + i]), exam[t], p.feedback.clicks[t] > 0.5f, d);
                    df[std::size_t(b) * c.n + i] += T(d / B);
                }
            }
            tr.model().backward(c, df, g, ws);
            return loss / B;
        },
        label);
}

/// Build a supervised dataset of `count` requests (from `first`) with targets from a recipe.
/// `logs` is needed for exposure (pages are matched by position: logs[i] is request first + i),
/// `click` for click_model, `evaluator` for evaluator_search (searched with `search`).
template <class T>
slate_dataset<T> make_teacher_targets(const world& w, teacher_recipe recipe, std::uint64_t first, std::size_t count,
                                      const std::vector<logged_page>* logs, const pointwise_scorer<T>* click,
                                      const beam_options& beam = {}, const page_evaluator<T>* evaluator = nullptr,
                                      const decode::page_search_options& search = {}) {
    if (recipe == teacher_recipe::evaluator_search && !evaluator)
        dualrerank::detail::throw_input("make_teacher_targets: evaluator_search needs a fitted page evaluator");
    slate_dataset<T> d;
    const int L = w.slate_size();
    d.L = L;
    d.requests.reserve(count);
    d.targets.reserve(count);
    sim_request sr;
    workspace ws;
    std::vector<T> f;
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint64_t idx = recipe == teacher_recipe::exposure && logs ? (*logs)[i].request_index : first + i;
        w.make_request(idx, sr);
        request<T> r;
        r.n = sr.observed.n;
        r.f = sr.observed.f;
        // constructed, not assign()ed into the fresh vectors: GCC 12 at -O2 and above warns
        // (-Wnonnull, a false positive) on assign() into a vector it knows is empty
        r.features = std::vector<T>(sr.observed.features.begin(), sr.observed.features.end());
        r.context = std::vector<T>(sr.observed.context.begin(), sr.observed.context.end());
        r.upstream_rank = sr.observed.upstream_rank;
        slate y;
        switch (recipe) {
            case teacher_recipe::exposure:
                if (!logs || i >= logs->size()) dualrerank::detail::throw_input("make_teacher_targets: exposure needs logs");
                y = (*logs)[i].shown;
                break;
            case teacher_recipe::click_model:
                if (!click) dualrerank::detail::throw_input("make_teacher_targets: click_model needs a fitted click model");
                f.resize(std::size_t(r.n));
                click->score(r.view(), f.data(), ws);
                y = top_by_score(f.data(), r.n, L);
                break;
            case teacher_recipe::search: y = beam_search(w, sr, conditions{}, beam); break;
            case teacher_recipe::evaluator_search: y = decode::page_beam_search(*evaluator, r.view(), L, search, ws); break;
        }
        d.requests.push_back(std::move(r));
        d.targets.push_back(std::move(y));
    }
    return d;
}

}  // namespace train
DUALRERANK_NAMESPACE_END
