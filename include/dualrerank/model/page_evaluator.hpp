// Page evaluator (ours; docs/design.md sections 3 and 10.2): a list evaluator built the way clicks
// arise, so that it can be fitted on logs alone and trusted on slates the logs never showed.
//
// For a slate y of one request (candidate features x_i [F], context c [Fc]):
//   examination  e_0 = 1, e_t = sigmoid(theta_t) for t >= 1   (learned per position; slot 0 is the
//                reference, as in every position-based model: only ratios are identifiable)
//   appeal       a_t = b + w . x_i + x_i^T M c                      (item and user-item term)
//                      + x_i^T A (sum_{s<t} x_{y_s})                  (page context: items above)
//                      + x_i^T P x_{y_(t-1)}                          (page context: item right above)
//                with i = y_t; A and P are general bilinear forms over the observed features (same-
//                category redundancy, complementary pairs and any other pairwise effect are learned,
//                nothing is hard-coded)
//   click        p_t = e_t * sigmoid(a_t)
//   objective o >= 1 given a click (e.g. a long view):
//                q_{o,t} = sigmoid(b_o + w_o . x_i + x_i^T M_o c),  P(o at slot t) = p_t * q_{o,t}
// Page utility u(y) = sum_t p_t (omega_0 + sum_{o>=1} omega_o q_{o,t}) with objective weights omega
// (all ones by default). The model is causal: a slot's predictions depend only on the items above
// it, so a prefix's utility is exact and beam search on it needs no look-ahead (decode/page_search.hpp).
//
// Loss on a logged page with per-slot labels c_t (click) and v_{o,t} (objective o), in [0, 1]
// (0/1 from traffic; fractions allowed, e.g. expected feedback), v_{o,t} <= c_t:
//   sum_t BCE(c_t, p_t) + sum_{o>=1} [ -v_{o,t} log q_{o,t} - (c_t - v_{o,t}) log(1 - q_{o,t}) ]
// (the second term is the objective's likelihood given the click, weighted by the click).
//
// Centered page context (page_evaluator_config::centering, none by default): the page terms see the
// items above relative to a center m,
//                x_i^T A (sum_{s<t} (x_{y_s} - m)) + x_i^T P (x_{y_(t-1)} - m),
// with m the request's mean candidate (page_centering::request) or a fixed vector, the logs' mean
// candidate (page_centering::logs: set_page_center, which fit_page_evaluator calls; saved with the
// model as the tensor page.center, not a trained parameter). A set of features that sums to a
// constant (a category one-hot) then contributes no pure function of the slot index weighted by the
// item (x_i^T A m t, x_i^T P m [t > 0]) to the page terms: such an item-specific slope or step in the
// position, which the logging policy confounds with the position's own effect, cannot sit there
// (docs/evaluator.md, "Fitting it"). With request centering, a slope that depends on the request's
// mix (e.g. a redundancy count's share of it) cannot be expressed either.
//
// Tensor names: exam_logit [L-1], appeal.{bias [1], weight [F], user [F x Fc]},
// page.{above, prev} [F x F], objective<o>.{bias, weight, user} for o = 1 .. O-1.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../core/aligned.hpp"
#include "../core/params.hpp"
#include "../core/rng.hpp"
#include "../core/workspace.hpp"
#include "config.hpp"

DUALRERANK_NAMESPACE_BEGIN

/// Centering of a page evaluator's page context (model/page_evaluator.hpp's header comment).
enum class page_centering {
    none,     ///< raw features of the items above
    request,  ///< minus the request's mean candidate
    logs,     ///< minus a fixed center (the logs' mean candidate; page_evaluator::set_page_center)
};

/// Shapes of a page evaluator.
struct page_evaluator_config {
    int features = 32;         ///< F
    int context = 0;           ///< Fc (0: no user-item term)
    int max_slate = 10;        ///< L: positions with a learned examination (>= 2)
    int max_candidates = 512;  ///< largest N accepted
    int objectives = 2;        ///< O: objective 0 is the click, 1 .. O-1 are "given a click" (e.g. long view)
    /// What the page terms subtract from the items above (see the header comment); changes the
    /// model (saved in its file).
    page_centering centering = page_centering::none;

    void validate() const {
        auto bad = [](const std::string& m) { detail::throw_input("invalid page_evaluator_config: " + m); };
        if (features < 1 || features > limits::max_features) bad("features must be in [1, 65536]");
        if (context < 0 || context > limits::max_features) bad("context must be in [0, 65536]");
        if (max_slate < 2 || max_slate > limits::max_slate) bad("max_slate must be in [2, 1024]");
        if (max_candidates < 2 || max_candidates > limits::max_candidates) bad("max_candidates must be in [2, 16384]");
        if (objectives < 1 || objectives > 16) bad("objectives must be in [1, 16]");
        // the bilinear forms hold F^2 and F * Fc values each: cap them before anything is allocated
        if (std::size_t(features) * std::size_t(features + context) > (std::size_t(1) << 26))
            bad("features * (features + context) must be <= 2^26");
    }
    bool operator==(const page_evaluator_config& o) const noexcept {
        return features == o.features && context == o.context && max_slate == o.max_slate &&
               max_candidates == o.max_candidates && objectives == o.objectives && centering == o.centering;
    }
    bool operator!=(const page_evaluator_config& o) const noexcept { return !(*this == o); }
};

/// A scorer's trust record: what check it passed, on what. Best-of-N serves its samples only when
/// the record's value reaches the gate (decode::best_of_n_config::gate); stored in the model file.
struct scorer_validation {
    /// "rank_correlation": mean within-request Spearman correlation between the scorer and a trusted
    /// utility on held-out requests' candidate slates (eval::scorer_rank_correlation); any other name
    /// is a user-defined check on the same scale (higher is better, 1 is perfect).
    std::string check;
    double value = std::numeric_limits<double>::quiet_NaN();
    int requests = 0;  ///< held-out requests (or pages) the value was measured on

    bool passes(double gate) const noexcept { return requests > 0 && std::isfinite(value) && value >= gate; }
};

namespace detail {

/// Per-request terms of a page evaluator, computed once and shared by every slate of the request.
template <class T>
struct page_terms {
    int n = 0, L = 0, O = 0;
    T* exam = nullptr;   ///< [L]
    T* base = nullptr;   ///< [O x n]: appeal without page context (o = 0), objective logits (o >= 1)
    T* above = nullptr;  ///< [n x n]: above[i n + j] = x_i^T A x_j (centered: x_i^T A (x_j - m))
    T* prev = nullptr;   ///< [n x n]: prev[i n + j] = x_i^T P x_j (centered: x_i^T P (x_j - m))
};

template <class T>
T stable_sigmoid(T z) noexcept {
    if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
    const T e = std::exp(z);
    return e / (T(1) + e);
}

/// log sigmoid(z) and log(1 - sigmoid(z)) without overflow.
template <class T>
T log_sigmoid(T z) noexcept {
    return z >= T(0) ? -std::log1p(std::exp(-z)) : z - std::log1p(std::exp(z));
}

}  // namespace detail

template <class T>
class page_evaluator {
public:
    using value_type = T;

    /// `max_parameters`: a loader passes the number of values its file holds, so a config declaring
    /// more is rejected before the arena is allocated.
    explicit page_evaluator(const page_evaluator_config& c, std::size_t max_parameters = static_cast<std::size_t>(-1))
        : config_(c) {
        c.validate();
        const std::size_t F = std::size_t(c.features), Fc = std::size_t(c.context);
        exam_ = table_.add("exam_logit", {std::size_t(c.max_slate - 1)}, false, tensor_init::zero());
        for (int o = 0; o < c.objectives; ++o) {
            const std::string p = o == 0 ? "appeal" : "objective" + std::to_string(o);
            head h;
            h.bias = table_.add(p + ".bias", {1}, false, tensor_init::zero());
            h.weight = table_.add(p + ".weight", {F}, false, tensor_init::gaussian(0.01));
            if (Fc > 0) h.user = table_.add(p + ".user", {F, Fc}, true, tensor_init::gaussian(0.01));
            heads_.push_back(h);
        }
        above_ = table_.add("page.above", {F, F}, true, tensor_init::gaussian(0.01));
        prev_ = table_.add("page.prev", {F, F}, true, tensor_init::gaussian(0.01));
        if (table_.parameter_count() > max_parameters)
            detail::throw_input("page_evaluator config declares " + std::to_string(table_.parameter_count()) +
                                " parameters, more than the " + std::to_string(max_parameters) + " allowed");
        params_.assign(table_.total(), T(0));
        center_.assign(std::size_t(c.features), T(0));
    }

    const page_evaluator_config& config() const noexcept { return config_; }
    const tensor_table& table() const noexcept { return table_; }
    T* params() noexcept { return params_.data(); }
    const T* params() const noexcept { return params_.data(); }
    std::size_t arena_size() const noexcept { return params_.size(); }
    std::size_t parameter_count() const noexcept { return table_.parameter_count(); }

    /// The record of the check this evaluator passed as a Best-of-N scorer (saved with it).
    scorer_validation validation;

    /// Initialise for fitting: small random bilinear forms, examination logits 2 (e ~ 0.88), the
    /// appeal bias at -2 (about 12% clicks when examined).
    void init(std::uint64_t seed) {
        rng g(seed);
        initialize(table_, params_.data(), g);
        std::fill(params_.data() + exam_, params_.data() + exam_ + config_.max_slate - 1, T(2));
        params_[heads_[0].bias] = T(-2);
    }

    /// Pointer to a named tensor (input_error for an unknown name).
    T* tensor(const std::string& name) {
        const tensor_spec* s = table_.find(name);
        if (!s) detail::throw_input("page_evaluator: unknown tensor " + name);
        return params_.data() + s->offset;
    }

    /// The fixed center of page_centering::logs [F] (zeros until set; unused by the other modes).
    const std::vector<T>& page_center() const noexcept { return center_; }
    /// Set the fixed center [F] (input_error for a non-finite value); fit_page_evaluator sets it to
    /// the training pages' mean candidate when the config asks for page_centering::logs.
    void set_page_center(const T* m) {
        for (int f = 0; f < config_.features; ++f)
            if (!std::isfinite(double(m[f]))) detail::throw_input("page_evaluator: page center value " + std::to_string(f) + " is not finite");
        center_.assign(m, m + config_.features);
    }

    /// Examination of slot t (0-based).
    T examination(int t) const noexcept { return t == 0 ? T(1) : detail::stable_sigmoid(params_[exam_ + std::size_t(t - 1)]); }

    /// Per-request terms for slates of length L (validated; memory from ws: 2 n^2 + (O + 1) n + L values).
    detail::page_terms<T> terms(const request_view<T>& r, int L, workspace& ws) const {
        check_request(r, L);
        const int n = r.n, F = config_.features, O = config_.objectives;
        const T* P = params_.data();
        detail::page_terms<T> pt;
        pt.n = n;
        pt.L = L;
        pt.O = O;
        pt.exam = ws.alloc<T>(std::size_t(L));
        for (int t = 0; t < L; ++t) pt.exam[t] = examination(t);
        pt.base = ws.alloc<T>(std::size_t(O) * n);
        T* Mc = ws.alloc<T>(std::size_t(F));
        for (int o = 0; o < O; ++o) {
            effective_weights(o, r.context, Mc);
            const T b = P[heads_[std::size_t(o)].bias];
            for (int i = 0; i < n; ++i) pt.base[std::size_t(o) * n + i] = b + dot(r.features + std::size_t(i) * F, Mc, F);
        }
        pt.above = ws.alloc<T>(std::size_t(n) * n);
        pt.prev = ws.alloc<T>(std::size_t(n) * n);
        T* Ax = ws.alloc<T>(std::size_t(n) * F);
        for (int pass = 0; pass < 2; ++pass) {
            const T* A = P + (pass == 0 ? above_ : prev_);
            T* out = pass == 0 ? pt.above : pt.prev;
            for (int j = 0; j < n; ++j) {  // Ax_j = A x_j
                const T* x = r.features + std::size_t(j) * F;
                T* y = Ax + std::size_t(j) * F;
                for (int f = 0; f < F; ++f) {
                    const T* a = A + std::size_t(f) * F;
                    T s = 0;
                    for (int g = 0; g < F; ++g) s += a[g] * x[g];
                    y[f] = s;
                }
            }
            if (config_.centering == page_centering::request)  // A (x_j - xbar) = A x_j - mean_k A x_k
                for (int f = 0; f < F; ++f) {
                    T mean = 0;
                    for (int j = 0; j < n; ++j) mean += Ax[std::size_t(j) * F + f];
                    mean /= T(n);
                    for (int j = 0; j < n; ++j) Ax[std::size_t(j) * F + f] -= mean;
                }
            else if (config_.centering == page_centering::logs)  // A (x_j - m)
                for (int f = 0; f < F; ++f) {
                    const T* a = A + std::size_t(f) * F;
                    T am = 0;
                    for (int g = 0; g < F; ++g) am += a[g] * center_[std::size_t(g)];
                    for (int j = 0; j < n; ++j) Ax[std::size_t(j) * F + f] -= am;
                }
            for (int i = 0; i < n; ++i) {
                const T* x = r.features + std::size_t(i) * F;
                for (int j = 0; j < n; ++j) {
                    const T* y = Ax + std::size_t(j) * F;
                    T s = 0;
                    for (int f = 0; f < F; ++f) s += x[f] * y[f];
                    out[std::size_t(i) * n + j] = s;
                }
            }
        }
        return pt;
    }

    /// Appeal logit of candidate i at slot t below the items y[0..t) (unchecked).
    static T appeal(const detail::page_terms<T>& pt, const int* y, int t, int i) noexcept {
        T a = pt.base[i];
        const T* row = pt.above + std::size_t(i) * pt.n;
        for (int s = 0; s < t; ++s) a += row[y[s]];
        if (t > 0) a += pt.prev[std::size_t(i) * pt.n + y[t - 1]];
        return a;
    }

    /// Value of candidate i if clicked: omega_0 + sum_{o>=1} omega_o q_o (w null: all ones).
    static T click_value(const detail::page_terms<T>& pt, int i, const T* w) noexcept {
        T v = w ? w[0] : T(1);
        for (int o = 1; o < pt.O; ++o) v += (w ? w[o] : T(1)) * detail::stable_sigmoid(pt.base[std::size_t(o) * pt.n + i]);
        return v;
    }

    /// Per-slot predictions of K slates [K x L]: out [K x L x O] = P(click_t), P(objective o at t).
    void predict(const request_view<T>& r, int K, int L, const int* slates, T* out, workspace& ws) const {
        ws.reset();
        check_slates(r, K, L, slates);
        const detail::page_terms<T> pt = terms(r, L, ws);
        const int O = config_.objectives;
        for (int k = 0; k < K; ++k) {
            const int* y = slates + std::size_t(k) * L;
            for (int t = 0; t < L; ++t) {
                const T p = pt.exam[t] * detail::stable_sigmoid(appeal(pt, y, t, y[t]));
                T* o = out + (std::size_t(k) * L + t) * O;
                o[0] = p;
                for (int j = 1; j < O; ++j) o[j] = p * detail::stable_sigmoid(pt.base[std::size_t(j) * pt.n + y[t]]);
            }
        }
    }

    /// Page utilities of K slates [K x L] into utility [K]; w [O] objective weights (null: all ones).
    void score(const request_view<T>& r, int K, int L, const int* slates, const T* w, T* utility, workspace& ws) const {
        ws.reset();
        check_slates(r, K, L, slates);
        const detail::page_terms<T> pt = terms(r, L, ws);
        for (int k = 0; k < K; ++k) utility[k] = slate_utility(pt, slates + std::size_t(k) * L, L, w);
    }

    /// Utility of y[0..len) from precomputed terms (unchecked; len <= pt.L).
    static T slate_utility(const detail::page_terms<T>& pt, const int* y, int len, const T* w) noexcept {
        T u = 0;
        for (int t = 0; t < len; ++t) u += pt.exam[t] * detail::stable_sigmoid(appeal(pt, y, t, y[t])) * click_value(pt, y[t], w);
        return u;
    }

    /// Negative log-likelihood of one logged page (shown slate y [L], labels [L x O] in [0, 1] with
    /// labels[t O + o] <= labels[t O] for o >= 1); when G is not null, accumulates d loss / d params
    /// times `scale` into G (the arena layout). Only the shown items are touched: O(L F (F + Fc)).
    /// slot_weight [L] (optional, finite and >= 0; train::prefix_importance_weights): slot t's terms
    /// (its click and its objectives given a click) weighted by slot_weight[t], in the loss and the
    /// gradient; null: every slot weighs 1 (bit-identical to no weights).
    double page_loss(const request_view<T>& r, int L, const int* y, const float* labels, T* G, T scale, workspace& ws,
                     const T* slot_weight = nullptr) const {
        ws.reset();
        check_slates(r, 1, L, y);
        check_labels(L, labels);
        const int F = config_.features, O = config_.objectives;
        const T* P = params_.data();
        T* S = ws.alloc_zero<T>(std::size_t(F));                     // sum of the features above
        T* u = ws.alloc<T>(std::size_t(F));                          // A^T x_t, then P^T x_t
        T* m = ws.alloc<T>(std::size_t(O) * F);                      // per head: w_o + M_o c
        T* gm = ws.alloc_zero<T>(std::size_t(O) * F);                // per head: sum_t d_t x_t
        T* gb = ws.alloc_zero<T>(std::size_t(O));                    // per head: sum_t d_t
        T* xbar = ws.alloc_zero<T>(std::size_t(F));                  // the page context's center m (zero: none)
        T* dp = ws.alloc<T>(std::size_t(F));                         // the item right above minus m
        if (config_.centering == page_centering::request) {
            for (int i = 0; i < r.n; ++i) axpy(T(1), r.features + std::size_t(i) * F, xbar, F);
            for (int f = 0; f < F; ++f) xbar[f] /= T(r.n);
        } else if (config_.centering == page_centering::logs) {
            std::copy(center_.begin(), center_.end(), xbar);
        }
        for (int o = 0; o < O; ++o) effective_weights(o, r.context, m + std::size_t(o) * F);
        if (slot_weight)
            for (int t = 0; t < L; ++t)
                if (!(std::isfinite(slot_weight[t]) && slot_weight[t] >= T(0)))
                    detail::throw_input("page_evaluator: slot weight " + std::to_string(t) + " must be finite and >= 0");
        double loss = 0;
        for (int t = 0; t < L; ++t) {
            const T* x = r.features + std::size_t(y[t]) * F;
            const T* xp = nullptr;
            // slot t's weight: its gradients use sscale; weighted, its loss terms are summed apart
            // (acc) and added times the weight (unweighted, straight into loss, in the same order)
            const T sscale = slot_weight ? scale * slot_weight[t] : scale;
            double slot_loss = 0;
            double& acc = slot_weight ? slot_loss : loss;
            if (t > 0) {
                const T* raw = r.features + std::size_t(y[t - 1]) * F;
                for (int f = 0; f < F; ++f) dp[f] = raw[f] - xbar[f];
                xp = dp;
            }
            // appeal
            T a = P[heads_[0].bias] + dot(x, m, F);
            if (t > 0) {
                transposed_matvec(P + above_, x, u);
                a += dot(u, S, F);
                transposed_matvec(P + prev_, x, u);
                a += dot(u, xp, F);
            }
            const T e = examination(t);
            const T sg = detail::stable_sigmoid(a);
            const T c = T(labels[std::size_t(t) * O]);
            // BCE(c, p), p = e sigmoid(a); log p = log e + log sigmoid(a)
            const T log_e = t == 0 ? T(0) : detail::log_sigmoid(P[exam_ + std::size_t(t - 1)]);
            const T p = e * sg;
            const T log_1mp = std::log1p(-std::min(p, T(1) - T(1e-12)));
            acc += double(-c * (log_e + detail::log_sigmoid(a)) - (T(1) - c) * log_1mp);
            if (G) {
                const T q = (T(1) - c) / std::max(T(1) - p, T(1e-12));
                const T da = sscale * (-c * (T(1) - sg) + q * e * sg * (T(1) - sg));
                if (t > 0) G[exam_ + std::size_t(t - 1)] += sscale * (-c * (T(1) - e) + q * sg * e * (T(1) - e));
                gb[0] += da;
                axpy(da, x, gm, F);
                if (t > 0)
                    for (int f = 0; f < F; ++f) {
                        const T dx = da * x[f];
                        axpy(dx, S, G + above_ + std::size_t(f) * F, F);
                        axpy(dx, xp, G + prev_ + std::size_t(f) * F, F);
                    }
            }
            // objectives given a click
            for (int o = 1; o < O; ++o) {
                const T l = P[heads_[std::size_t(o)].bias] + dot(x, m + std::size_t(o) * F, F);
                const T v = T(labels[std::size_t(t) * O + o]);
                acc += double(-v * detail::log_sigmoid(l) - (c - v) * detail::log_sigmoid(-l));
                if (G) {
                    const T d = sscale * (c * detail::stable_sigmoid(l) - v);
                    gb[o] += d;
                    axpy(d, x, gm + std::size_t(o) * F, F);
                }
            }
            if (slot_weight) loss += double(slot_weight[t]) * slot_loss;
            for (int f = 0; f < F; ++f) S[f] += x[f] - xbar[f];
        }
        if (G)
            for (int o = 0; o < O; ++o) head_backward(o, r.context, gb[o], gm + std::size_t(o) * F, G);
        return loss;
    }

private:
    struct head {
        std::size_t bias = no_tensor, weight = no_tensor, user = no_tensor;
    };

    model_config as_model_config() const {
        model_config m;
        m.features = config_.features;
        m.context = config_.context;
        m.max_slate = config_.max_slate;
        m.max_candidates = config_.max_candidates;
        return m;
    }
    void check_request(const request_view<T>& r, int L) const {
        detail::validate_request(as_model_config(), r, L, "page_evaluator");
    }
    void check_slates(const request_view<T>& r, int K, int L, const int* slates) const {
        check_request(r, L);
        if (K < 1) detail::throw_input("page_evaluator: need at least one slate");
        if (!slates) detail::throw_input("page_evaluator: slates pointer is null");
        for (int k = 0; k < K; ++k) detail::validate_slate(slates + std::size_t(k) * L, L, r.n, "page_evaluator");
    }
    void check_labels(int L, const float* labels) const {
        if (!labels) detail::throw_input("page_evaluator: labels pointer is null");
        const int O = config_.objectives;
        for (int t = 0; t < L; ++t) {
            const float c = labels[std::size_t(t) * O];
            for (int o = 0; o < O; ++o) {
                const float v = labels[std::size_t(t) * O + o];
                if (!(v >= 0.0f && v <= 1.0f))
                    detail::throw_input("page_evaluator: label of slot " + std::to_string(t) + ", objective " + std::to_string(o) +
                                        " must be in [0, 1]");
                if (o > 0 && v > c)
                    detail::throw_input("page_evaluator: slot " + std::to_string(t) + " has objective " + std::to_string(o) +
                                        " without a click (objectives 1.. are given a click)");
            }
        }
    }
    static T dot(const T* a, const T* b, int n) noexcept {
        T s = 0;
        for (int i = 0; i < n; ++i) s += a[i] * b[i];
        return s;
    }
    static void axpy(T a, const T* x, T* y, int n) noexcept {
        for (int i = 0; i < n; ++i) y[i] += a * x[i];
    }
    /// y = A^T x for A [F x F] row-major (rows scaled and added: vectorizable).
    void transposed_matvec(const T* A, const T* x, T* y) const noexcept {
        const int F = config_.features;
        std::fill(y, y + F, T(0));
        for (int f = 0; f < F; ++f) axpy(x[f], A + std::size_t(f) * F, y, F);
    }
    /// m = w_o + M_o c (the head's weights on the item features for this request's context).
    void effective_weights(int o, const T* ctx, T* m) const noexcept {
        const head& h = heads_[std::size_t(o)];
        const T* P = params_.data();
        const int F = config_.features, Fc = config_.context;
        for (int f = 0; f < F; ++f) m[f] = P[h.weight + std::size_t(f)] + (Fc > 0 ? dot(P + h.user + std::size_t(f) * Fc, ctx, Fc) : T(0));
    }
    /// Backward of the head given d loss / d bias (db) and d loss / d m (gm, = sum_t d_t x_t).
    void head_backward(int o, const T* ctx, T db, const T* gm, T* G) const noexcept {
        const head& h = heads_[std::size_t(o)];
        const int F = config_.features, Fc = config_.context;
        G[h.bias] += db;
        for (int f = 0; f < F; ++f) {
            G[h.weight + std::size_t(f)] += gm[f];
            if (Fc > 0) axpy(gm[f], ctx, G + h.user + std::size_t(f) * Fc, Fc);
        }
    }

    page_evaluator_config config_;
    tensor_table table_;
    aligned_vector<T> params_;
    std::vector<T> center_;  ///< page_centering::logs: the fixed center [F]
    std::size_t exam_ = no_tensor, above_ = no_tensor, prev_ = no_tensor;
    std::vector<head> heads_;
};

DUALRERANK_NAMESPACE_END
