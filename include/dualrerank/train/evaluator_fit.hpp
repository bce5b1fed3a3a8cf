// Fitting a page evaluator (model/page_evaluator.hpp) on logged pages, and the held-out report a
// user checks before trusting it (docs/evaluator.md; docs/design.md section 10.2).
//
// Pages come from a `page_source` (a count and a callback that fills one page), so logs far larger
// than memory (e.g. regenerated from a simulator, or streamed from a file) can be used. Fitting is
// minibatch AdamW on the per-page negative log-likelihood, with a held-out source evaluated every
// `eval_every` steps: the best parameters seen are kept (early stopping after `patience`
// evaluations without improvement). Over the last `average_tail` of the steps the evaluated (and
// kept) parameters are the running average of the iterates (Polyak-Ruppert averaging). The report gives, per slot and objective, the mean predicted
// and observed rates (calibration) and the AUC of the per-slot predictions.
//
// Importance weighting toward a target policy (covariate shift: the logs come from a behaviour
// policy, the evaluator will rank another policy's slates): each page (page_example::weight) or each
// slot of a page (page_example::slot_weights) weighs its likelihood by the ratio of the target's
// probability of the shown slate (or of its prefix down to that slot) to the logging policy's,
// tempered, self-normalized and capped (importance_weights, prefix_importance_weights; the
// target's slot log-probabilities of a shown slate: student_slot_log_probs). docs/evaluator.md.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include "../model/nar_student.hpp"
#include "../model/page_evaluator.hpp"
#include "adamw.hpp"
#include "rl.hpp"

DUALRERANK_NAMESPACE_BEGIN
namespace train {

/// One logged page: the request, the shown slate, per-slot labels [L x O] (objective 0 the click,
/// then each objective given a click, in [0, 1]) and the logging policy's log-propensity (NaN when
/// not logged). The page's weight in the fit: `weight` (finite, >= 0) times, when `slot_weights`
/// is not empty ([L], finite, >= 0), slot t's own weight on slot t's terms. Defaults (1, empty):
/// unweighted, bit-identical to a fit without weights.
template <class T>
struct page_example {
    request<T> req;
    slate shown;
    std::vector<float> labels;
    double log_propensity = std::numeric_limits<double>::quiet_NaN();
    double weight = 1.0;
    std::vector<T> slot_weights;
};

namespace detail {

/// The NLL of page p under its weights (weight, slot_weights); gradients times `scale` into G when
/// not null. slot_buffer: scratch for the combined slot weights.
template <class T>
double weighted_page_loss(const page_evaluator<T>& ev, const page_example<T>& p, T* G, T scale, std::vector<T>& slot_buffer,
                          workspace& ws) {
    if (!(std::isfinite(p.weight) && p.weight >= 0))
        dualrerank::detail::throw_input("page_example: weight must be finite and >= 0");
    const int L = int(p.shown.size());
    if (p.slot_weights.empty())
        return p.weight * ev.page_loss(p.req.view(), L, p.shown.data(), p.labels.data(), G, scale * T(p.weight), ws);
    if (p.slot_weights.size() != p.shown.size())
        dualrerank::detail::throw_input("page_example: slot_weights must be empty or hold one weight per shown slot");
    slot_buffer.resize(p.slot_weights.size());
    for (std::size_t t = 0; t < slot_buffer.size(); ++t) slot_buffer[t] = T(p.weight) * p.slot_weights[t];
    return ev.page_loss(p.req.view(), L, p.shown.data(), p.labels.data(), G, scale, ws, slot_buffer.data());
}

}  // namespace detail

/// `count` pages; get(i, out) fills page i (0 <= i < count) into out, reusing its buffers.
template <class T>
struct page_source {
    std::size_t count = 0;
    std::function<void(std::size_t, page_example<T>&)> get;
};

struct page_fit_config {
    // Defaults: the fit measured best on proposals (docs/results.md, "What makes the evaluator
    // trustworthy"): at lr 0.02 / batch 64 the held-out likelihood stops improving after about 500
    // steps and the correlation on a student's proposals stays at 0.17-0.24; lr 0.002 / batch 128 /
    // 10 000 steps reach 0.650 on the same 100 000 pages.
    int batch = 128;            ///< pages per step
    long steps = 10000;         ///< at most this many steps (fewer if early stopping triggers)
    double lr = 0.002;          ///< AdamW peak learning rate (cosine decay to min_lr_ratio * lr over `steps`)
    double min_lr_ratio = 0.1;  ///< the cosine schedule's floor, as a share of lr (in [0, 1])
    double weight_decay = 1e-4; ///< on the bilinear forms only
    /// Extra decoupled weight decay on the page terms only (page.above, page.prev), added to
    /// weight_decay there: shrinks the page terms' weakly identified directions (e.g. a slope common
    /// to every item, which trades with the examination) and not the user-item terms. 0: off.
    double page_weight_decay = 0;
    /// Parameter averaging (Polyak-Ruppert, on the tail of the fit): the share of the steps, counted
    /// from the end, whose iterates are averaged (in double). From step (1 - average_tail) * steps
    /// on, the held-out evaluations score the running average, and the kept parameters are the
    /// best of those scored (the average when it is best). 0: off (the last iterate is scored).
    /// Default 0.5 (docs/evaluator.md): on the small world's 1M logged pages (30 000 steps) it lowers
    /// the held-out NLL/page by 0.0010-0.0018 on 3 seeds, as much as decaying the step size to 0.
    double average_tail = 0.5;
    long eval_every = 1000;     ///< steps between held-out evaluations
    int patience = 4;           ///< evaluations without improvement before stopping
    std::uint64_t seed = 1;     ///< batch order
    std::FILE* log = nullptr;   ///< one line per held-out evaluation when set

    void validate() const {
        auto bad = [](const char* m) { dualrerank::detail::throw_input(std::string("invalid page_fit_config: ") + m); };
        if (batch < 1 || batch > (1 << 20)) bad("batch must be in [1, 2^20]");
        if (steps < 1) bad("steps must be >= 1");
        if (!(std::isfinite(lr) && lr > 0)) bad("lr must be finite and > 0");
        if (!(min_lr_ratio >= 0 && min_lr_ratio <= 1)) bad("min_lr_ratio must be in [0, 1]");
        if (!(std::isfinite(weight_decay) && weight_decay >= 0)) bad("weight_decay must be finite and >= 0");
        if (!(std::isfinite(page_weight_decay) && page_weight_decay >= 0)) bad("page_weight_decay must be finite and >= 0");
        if (!(average_tail >= 0 && average_tail <= 1)) bad("average_tail must be in [0, 1]");
        if (eval_every < 1) bad("eval_every must be >= 1");
        if (patience < 1) bad("patience must be >= 1");
    }
};

struct page_fit_result {
    long steps = 0;                 ///< steps taken
    long best_step = 0;             ///< step of the kept parameters
    long averaged_steps = 0;        ///< iterates in the kept parameters' average (0: the kept parameters are an iterate)
    double best_valid_loss = 0;     ///< held-out NLL per page of the kept parameters
    double initial_valid_loss = 0;  ///< before fitting
    bool stopped_early = false;
};

/// Mean negative log-likelihood per page of `src`, each page under its weights (page_example::weight
/// and slot_weights; importance weights of mean 1 over the source make it an estimate of the
/// target policy's NLL per page; all weights 1: the plain mean).
template <class T>
double page_source_loss(const page_evaluator<T>& ev, const page_source<T>& src, workspace& ws) {
    if (src.count == 0) dualrerank::detail::throw_input("page_source_loss: no pages");
    page_example<T> p;
    std::vector<T> slot_buffer;
    double sum = 0;
    for (std::size_t i = 0; i < src.count; ++i) {
        src.get(i, p);
        sum += detail::weighted_page_loss(ev, p, static_cast<T*>(nullptr), T(0), slot_buffer, ws);
    }
    return sum / double(src.count);
}

/// Fit on `train`, early-stopped on `valid` (both non-empty). The evaluator keeps the best
/// parameters seen on `valid`.
template <class T>
page_fit_result fit_page_evaluator(page_evaluator<T>& ev, const page_source<T>& train, const page_source<T>& valid,
                                   const page_fit_config& cfg) {
    cfg.validate();
    if (train.count == 0 || !train.get) dualrerank::detail::throw_input("fit_page_evaluator: no training pages");
    if (valid.count == 0 || !valid.get) dualrerank::detail::throw_input("fit_page_evaluator: no held-out pages");
    if (ev.config().centering == page_centering::logs) {  // the fixed center: the training pages' mean candidate
        const std::size_t m = std::min<std::size_t>(train.count, 20000);  // evenly spaced pages
        const int F = ev.config().features;
        std::vector<double> sum(std::size_t(F), 0.0);
        double rows = 0;
        page_example<T> pg;
        for (std::size_t k = 0; k < m; ++k) {
            train.get(k * train.count / m, pg);
            const request_view<T> v = pg.req.view();
            for (int i = 0; i < v.n; ++i)
                for (int f = 0; f < F; ++f) sum[std::size_t(f)] += double(v.features[std::size_t(i) * F + f]);
            rows += v.n;
        }
        std::vector<T> center(static_cast<std::size_t>(F));
        for (int f = 0; f < F; ++f) center[std::size_t(f)] = T(sum[std::size_t(f)] / rows);
        ev.set_page_center(center.data());
    }
    adamw_config oc;
    oc.lr = cfg.lr;
    oc.min_lr_ratio = cfg.min_lr_ratio;
    oc.weight_decay = cfg.weight_decay;
    oc.warmup_steps = std::min(200L, cfg.steps / 10);
    oc.total_steps = cfg.steps;
    oc.clip_norm = 0;  // per-page mean loss: gradients are bounded by the features' scale
    adamw<T> opt(ev.table(), oc);
    aligned_vector<T> grads(ev.arena_size(), T(0)), best(ev.params(), ev.params() + ev.arena_size());
    workspace ws;
    page_fit_result res;
    res.initial_valid_loss = page_source_loss(ev, valid, ws);
    res.best_valid_loss = res.initial_valid_loss;
    rng gen(cfg.seed);
    // epochs over a shuffled order of the training pages
    std::vector<std::size_t> order(train.count);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::size_t pos = order.size();
    page_example<T> p;
    std::vector<T> slot_buffer;
    int bad_evals = 0;
    const T scale = T(1) / T(cfg.batch);
    // tail averaging: the sum of the iterates after step `average_start` (in double), and the
    // current iterate while the average is scored
    const std::size_t P = ev.arena_size();
    const long average_start = cfg.average_tail > 0 ? cfg.steps - std::max(1L, long(std::llround(cfg.average_tail * double(cfg.steps)))) : cfg.steps;
    std::vector<double> average_sum(cfg.average_tail > 0 ? P : 0, 0.0);
    aligned_vector<T> iterate(cfg.average_tail > 0 ? P : 0, T(0));
    long averaged = 0;
    for (long step = 0; step < cfg.steps; ++step) {
        std::fill(grads.begin(), grads.end(), T(0));
        for (int b = 0; b < cfg.batch; ++b) {
            if (pos == order.size()) {
                for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
                pos = 0;
            }
            train.get(order[pos++], p);
            detail::weighted_page_loss(ev, p, grads.data(), scale, slot_buffer, ws);
        }
        const step_result sr = opt.step(ev.params(), grads.data());
        if (cfg.page_weight_decay > 0 && sr.applied)  // decoupled, as AdamW's own: p *= 1 - lr_t * decay
            for (const char* name : {"page.above", "page.prev"}) {
                const tensor_spec* t = ev.table().find(name);
                const T f = T(1.0 - sr.lr * cfg.page_weight_decay);
                for (std::size_t i = 0; i < t->size; ++i) ev.params()[t->offset + i] *= f;
            }
        res.steps = step + 1;
        if (step >= average_start) {
            const T* w = ev.params();
            for (std::size_t i = 0; i < P; ++i) average_sum[i] += double(w[i]);
            ++averaged;
        }
        if (res.steps % cfg.eval_every == 0 || res.steps == cfg.steps) {
            if (averaged > 0) {  // score the average: swap it in, the iterate goes back below
                std::copy(ev.params(), ev.params() + P, iterate.begin());
                for (std::size_t i = 0; i < P; ++i) ev.params()[i] = T(average_sum[i] / double(averaged));
            }
            const double vl = page_source_loss(ev, valid, ws);
            if (cfg.log)
                std::fprintf(cfg.log, "[page evaluator] step %ld held-out NLL/page %.5f%s (best %.5f at step %ld)\n", res.steps, vl,
                             averaged > 0 ? " (average of the last iterates)" : "", res.best_valid_loss, res.best_step);
            const bool better = vl < res.best_valid_loss;
            if (better) {
                res.best_valid_loss = vl;
                res.best_step = res.steps;
                res.averaged_steps = averaged;
                std::copy(ev.params(), ev.params() + P, best.begin());
            }
            if (averaged > 0) std::copy(iterate.begin(), iterate.end(), ev.params());
            if (better) {
                bad_evals = 0;
            } else if (++bad_evals >= cfg.patience) {
                res.stopped_early = true;
                break;
            }
        }
    }
    std::copy(best.begin(), best.end(), ev.params());
    return res;
}

/// Calibration and discrimination of one (slot, objective) cell on held-out pages.
struct slot_calibration {
    long pages = 0;
    double predicted = 0;  ///< mean predicted rate
    double observed = 0;   ///< mean observed label
    double auc = std::numeric_limits<double>::quiet_NaN();  ///< NaN when all labels agree
};

/// Held-out report: cells [L x O] (slot-major) and the NLL per page.
struct page_fit_report {
    int slots = 0, objectives = 0;
    double loss = 0;
    std::vector<slot_calibration> cells;
    const slot_calibration& at(int t, int o) const { return cells[std::size_t(t) * objectives + o]; }
};

namespace detail {

/// AUC of scores against binary labels (label >= 0.5 is positive), ties counted half.
inline double auc(std::vector<std::pair<double, bool>>& v) {
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    double pos = 0, neg = 0, rank_sum = 0;
    for (std::size_t i = 0; i < v.size();) {
        std::size_t j = i;
        while (j < v.size() && v[j].first == v[i].first) ++j;
        const double mid = 0.5 * double(i + 1 + j);  // average 1-based rank of the tie group
        for (std::size_t k = i; k < j; ++k)
            if (v[k].second) {
                rank_sum += mid;
                ++pos;
            }
        neg += double(j - i);
        i = j;
    }
    neg -= pos;
    if (pos == 0 || neg == 0) return std::numeric_limits<double>::quiet_NaN();
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

}  // namespace detail

/// Per-slot calibration and AUC of `ev` on `valid` (all pages must have the same slate length).
template <class T>
page_fit_report page_fit_evaluation(const page_evaluator<T>& ev, const page_source<T>& valid) {
    if (valid.count == 0 || !valid.get) dualrerank::detail::throw_input("page_fit_evaluation: no pages");
    const int O = ev.config().objectives;
    page_example<T> p;
    workspace ws;
    page_fit_report rep;
    rep.objectives = O;
    std::vector<std::vector<std::pair<double, bool>>> pairs;
    std::vector<T> pred;
    double loss = 0;
    for (std::size_t i = 0; i < valid.count; ++i) {
        valid.get(i, p);
        const int L = int(p.shown.size());
        if (rep.slots == 0) {
            rep.slots = L;
            rep.cells.assign(std::size_t(L) * O, slot_calibration{});
            pairs.assign(std::size_t(L) * O, {});
        } else if (L != rep.slots) {
            dualrerank::detail::throw_input("page_fit_evaluation: pages have different slate lengths");
        }
        pred.resize(std::size_t(L) * O);
        ev.predict(p.req.view(), 1, L, p.shown.data(), pred.data(), ws);
        loss += ev.page_loss(p.req.view(), L, p.shown.data(), p.labels.data(), static_cast<T*>(nullptr), T(0), ws);
        for (std::size_t c = 0; c < pred.size(); ++c) {
            slot_calibration& cell = rep.cells[c];
            ++cell.pages;
            cell.predicted += double(pred[c]);
            cell.observed += double(p.labels[c]);
            pairs[c].push_back({double(pred[c]), p.labels[c] >= 0.5f});
        }
    }
    for (std::size_t c = 0; c < rep.cells.size(); ++c) {
        slot_calibration& cell = rep.cells[c];
        cell.predicted /= double(cell.pages);
        cell.observed /= double(cell.pages);
        cell.auc = detail::auc(pairs[c]);
    }
    rep.loss = loss / double(valid.count);
    return rep;
}

// ---------------------------------------------------------------- importance weights toward a target policy

/// Tempering and capping of importance weights (importance_weights).
struct importance_weight_config {
    double alpha = 1.0;  ///< tempering: w proportional to exp(alpha * log ratio); in (0, 1] (1: the plain ratio)
    /// The largest weight after self-normalization to mean 1 (>= 1; infinity: no cap). The weights
    /// are min(s r, cap) with s chosen so that their mean is exactly 1.
    double cap = 10.0;

    void validate() const {
        if (!(alpha > 0 && alpha <= 1)) dualrerank::detail::throw_input("importance_weight_config: alpha must be in (0, 1]");
        if (!(cap >= 1)) dualrerank::detail::throw_input("importance_weight_config: cap must be >= 1 (or infinity)");
    }
};

/// What a set of importance weights holds.
struct importance_weight_summary {
    std::size_t count = 0;
    double ess = 0;            ///< effective sample size (sum w)^2 / sum w^2 of the final weights
    double ess_uncapped = 0;   ///< the same for the tempered weights before the cap
    double max_weight = 0;     ///< largest final weight (<= cap)
    std::size_t capped = 0;    ///< weights at the cap
};

/// Importance weights [count] (at stride `stride` in both arrays) from log ratios
/// log pi_target(y) - log pi_log(y): w_i = min(s exp(alpha (log_ratio_i - max)), cap) with s such
/// that the weights have mean 1 (self-normalized), so no weight exceeds cap. Finite log ratios
/// only (input_error otherwise). O(count log count).
inline importance_weight_summary importance_weights(const double* log_ratio, std::size_t count, const importance_weight_config& cfg,
                                                    double* weights, std::size_t stride = 1) {
    cfg.validate();
    if (count == 0) dualrerank::detail::throw_input("importance_weights: no pages");
    if (stride < 1) dualrerank::detail::throw_input("importance_weights: stride must be >= 1");
    double mx = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < count; ++i) {
        const double v = log_ratio[i * stride];
        if (!std::isfinite(v)) dualrerank::detail::throw_input("importance_weights: log ratio " + std::to_string(i) + " is not finite");
        mx = std::max(mx, v);
    }
    std::vector<double> r(count);
    for (std::size_t i = 0; i < count; ++i) r[i] = std::exp(cfg.alpha * (log_ratio[i * stride] - mx));  // the largest is 1
    auto ess_of = [](const std::vector<double>& w) {
        double a = 0, b = 0;
        for (double x : w) {
            a += x;
            b += x * x;
        }
        return a * a / b;
    };
    importance_weight_summary sum;
    sum.count = count;
    sum.ess_uncapped = ess_of(r);
    // the k largest at the cap, the rest scaled by s = (count - k cap) / (sum of the rest): the
    // smallest k with s r_(k+1) <= cap (r_(1) >= r_(2) >= ...)
    std::vector<double> sorted(r);
    std::sort(sorted.begin(), sorted.end(), std::greater<double>());
    std::vector<double> tail(count + 1, 0.0);  // tail[k] = sum of sorted[k..)
    for (std::size_t k = count; k-- > 0;) tail[k] = tail[k + 1] + sorted[k];
    const double n = double(count);
    // (while s r_(k) > cap: s r_(k) > cap implies n - (k + 1) cap > 0, so s stays positive and k < count)
    double s = n / tail[0];
    std::size_t k = 0;
    if (std::isfinite(cfg.cap))
        while (k < count && s * sorted[k] > cfg.cap) {
            ++k;
            if (k == count || !(tail[k] > 0))  // the rest underflowed (ratios below e^-745 of the largest)
                dualrerank::detail::throw_input("importance_weights: the cap cannot hold the weights' mean at 1 (the log ratios "
                                                "span more than exp can represent; lower alpha)");
            s = (n - double(k) * cfg.cap) / tail[k];
        }
    std::vector<double> w(count);
    for (std::size_t i = 0; i < count; ++i) {
        w[i] = std::min(s * r[i], cfg.cap);
        if (w[i] >= cfg.cap) ++sum.capped;
        sum.max_weight = std::max(sum.max_weight, w[i]);
        weights[i * stride] = w[i];
    }
    sum.ess = ess_of(w);
    return sum;
}

/// Per-slot (prefix) importance weights [count x L] from per-slot log ratios [count x L]
/// (log pi_target(y_t | y_<t) - log pi_log(y_t | y_<t)): slot t of page i weighs
/// exp(alpha sum_{u <= t} log_ratio[i][u]), self-normalized and capped per slot
/// (importance_weights on each column). Slot t's likelihood depends only on the items down to
/// slot t, so the ratio of that prefix is enough: its variance is far below the whole slate's at
/// the top slots. Returns one summary per slot.
inline std::vector<importance_weight_summary> prefix_importance_weights(const double* slot_log_ratio, std::size_t count, int L,
                                                                        const importance_weight_config& cfg, double* weights) {
    if (L < 1) dualrerank::detail::throw_input("prefix_importance_weights: need L >= 1");
    std::vector<double> prefix(count * std::size_t(L));
    for (std::size_t i = 0; i < count; ++i) {
        double acc = 0;
        for (int t = 0; t < L; ++t) {
            acc += slot_log_ratio[i * std::size_t(L) + std::size_t(t)];
            prefix[i * std::size_t(L) + std::size_t(t)] = acc;
        }
    }
    std::vector<importance_weight_summary> out;
    for (int t = 0; t < L; ++t) out.push_back(importance_weights(prefix.data() + t, count, cfg, weights + t, std::size_t(L)));
    return out;
}

/// Slot log-probabilities out [L] of slate y [L] under the student's sampling policy at temperature
/// tau (log softmax(Z_t / tau) masked along the slate's prefix: decode::sample_slates' and
/// decode::student_sample's distribution), for a target policy's importance weights. Resets ws.
template <class T>
void student_slot_log_probs(const nar_student<T>& m, const request_view<T>& r, int L, const int* y, double tau, double* out,
                            workspace& ws) {
    if (!(std::isfinite(tau) && tau > 0)) dualrerank::detail::throw_input("student_slot_log_probs: tau must be finite and > 0");
    ws.reset();
    const auto c = m.infer(&r, 1, L, ws);  // validates r and L
    dualrerank::detail::validate_slate(y, L, r.n, "student_slot_log_probs");
    T* scratch = ws.alloc<T>(2 * std::size_t(r.n));
    T* lp = ws.alloc<T>(std::size_t(L));
    slot_log_probs(c.Z, L, r.n, r.n, y, 1, lp, scratch, tau);
    for (int t = 0; t < L; ++t) out[t] = double(lp[t]);
}

}  // namespace train
DUALRERANK_NAMESPACE_END
